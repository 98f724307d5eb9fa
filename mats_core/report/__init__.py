"""Comparisons of rows: comparison.json, printed tables and Markdown/CSV reports."""
