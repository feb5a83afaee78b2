"""Tuneboard core: data, catalog, tuning methods, training, metrics, inference, worker, CLI.

Nothing in here imports streamlit: the same code runs under the dashboard, the worker and the CLI.
"""
