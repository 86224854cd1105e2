"""Entry point for `python -m claude_telemetry_cli`."""

from claude_telemetry_cli.cli import main

main()
