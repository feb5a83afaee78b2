"""Tuneboard storage: the database engine, typed models and data-access functions.

Nothing in here imports torch: the database layer must load fast and stay usable by the pages.
"""
