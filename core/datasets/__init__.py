"""Stored datasets: saving an ingested upload (store), the files of a stored dataset (files), the example data."""
