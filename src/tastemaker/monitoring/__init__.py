"""Monitoring: drift on the event stream, online quality per surface from impressions, guardrails and alerts.

``drift.py`` (each signal of a window against the weeks before), ``quality.py`` (what each surface's
lists led to), ``config.py`` (thresholds, ``<workspace>/monitoring.toml``), ``report.py`` (one run:
report, alert log, Prometheus gauges), ``rules.yml`` (Prometheus alerting rules). ``docs/monitoring.md``.
"""
