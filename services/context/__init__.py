"""The gRPC context service: serves the customer context, live updates, handoffs and KPIs.

Data path: stream processors -> ``customer-context`` / ``kpis`` / ``handoffs`` topics ->
:mod:`services.context.view` (in-memory query view) -> :mod:`services.context.server`.
"""
