"""claude-telemetry: replay scripted Claude Code sessions as real OpenTelemetry telemetry."""

__version__ = "0.1.0"
