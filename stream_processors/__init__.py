"""Faust stream processors: identity resolution, the per-customer timeline and live KPIs.

Data path: ``interactions`` → router → ``identity-commands`` (keyed by identifier) →
resolver → ``customer-commands`` (keyed by customer id) → customer agent →
``customer-context`` snapshots, ``kpi-partials`` → KPI agent → ``kpis`` / ``alerts``.
"""
