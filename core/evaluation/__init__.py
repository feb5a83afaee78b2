"""Judging a run: metrics, untuned baselines, the two-class threshold, results tables, comparing runs."""
