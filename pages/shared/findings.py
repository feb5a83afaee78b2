"""An upload's findings (core.ingest.Report) as the Data and Predict pages show them: one plain message each,
coloured by severity, with every file or row it names folded away when there are more than a few."""

from __future__ import annotations

import streamlit as st

from core.ingest import Report
from core.ingest.report import SHOWN_NAMES
from pages.shared.user_text import md

SHOW = {"error": st.error, "warning": st.warning, "info": st.info}


def findings_ui(report: Report, key_prefix: str = "details") -> None:
    for finding in report.findings:
        SHOW[finding.severity](md(finding.message, limit=None))  # findings quote names from the upload
        if len(finding.details) > SHOWN_NAMES:  # the message itself names that many
            with st.expander(f"Show all {len(finding.details):,}", key=f"{key_prefix}_{finding.code}"):
                st.text("\n".join(finding.details))
