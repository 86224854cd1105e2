"""Distributed load on Locust: each Locust user is one simulated Claude Code session.

`locust -f claude_telemetry_cli/locust/locustfile.py` runs the same simulated sessions as
`claude-telemetry load` (fleet mode) on Locust's master/worker engine: every OTLP export is a Locust
request (`OTLP/grpc` or `OTLP/http`, named `metrics` or `logs`), and with `--ct-totals-out FILE` the
master writes the exact totals the collector acknowledged, for `claude-telemetry receive --expect-totals`.
"""

from pathlib import Path

# What `claude-telemetry load --locustfile` prints, for `locust -f`: the installed copy, wherever that is.
LOCUSTFILE = Path(__file__).resolve().with_name("locustfile.py")
