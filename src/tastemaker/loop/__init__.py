"""The operating loop: retrain a candidate, gate it against the live version, promote or keep, watch, roll back.

``gate.py`` (the checks a candidate must pass), ``cycle.py`` (one turn, the watch after a promotion,
the audit log), ``metrics.py`` (the server's latency from its ``/metrics``). ``docs/loop.md``.
"""
