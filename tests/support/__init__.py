"""Shared test data: seeded channel scenarios and independent KPI reference calculations.

Nothing here imports the stream processors: the references are what their output is checked
against. Benchmarks never import this package.
"""
