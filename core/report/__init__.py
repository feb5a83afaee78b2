"""A finished run as one self-contained HTML file (core.report.build), and the plotly figures the pages and the
report share (core.report.charts). Imported by module: pages that only need a chart do not load the report."""
