"""Loyalty analytics: SQL aggregation into snapshots (compute), keeping them fresh (refresh),
and turning them into metrics for dashboards, reports and exports (read)."""
