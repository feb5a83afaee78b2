"""How numbers read to a person on the pages: durations, memory and file sizes, parameter counts. Written once in
core.report.numbers, since the downloaded report shows them too."""

from __future__ import annotations

from core.report.numbers import bytes_text, duration_text, params_text, percent_text

__all__ = ["bytes_text", "duration_text", "params_text", "percent_text"]
