"""Run the real `claude-telemetry` command in a subprocess, as a user or a CI job would."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

# The subprocess must run the tree under test, whatever copy pip last installed.
REPO = str(pathlib.Path(__file__).resolve().parents[2])


def telemetry_env(**overrides: str) -> dict[str, str]:
    """The current environment minus every telemetry variable (and what the client reports from its own:
    ANTHROPIC_BASE_URL, TERM), plus `overrides`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OTEL_", "CLAUDE_CODE_")) and k not in ("ANTHROPIC_BASE_URL", "TERM")
    }
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [REPO, env.get("PYTHONPATH")]))
    env.update(overrides)
    return env


def otlp_env(endpoint: str, protocol: str = "grpc", *, logs: bool = True, **overrides: str) -> dict[str, str]:
    """Telemetry on, metrics (and events) to `endpoint` over `protocol`: what most tests configure."""
    env = {
        "CLAUDE_CODE_ENABLE_TELEMETRY": "1",
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
    }
    if logs:
        env["OTEL_LOGS_EXPORTER"] = "otlp"
    return telemetry_env(**env, **overrides)


def run_cli(
    args: list[str], env: dict[str, str], *, timeout: float = 120, cwd=None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "claude_telemetry_cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_cli(args: list[str], env: dict[str, str], *, cwd=None, **popen) -> subprocess.Popen:
    """The command started in the background, its output captured as text (`popen`: more Popen options)."""
    return subprocess.Popen(
        [sys.executable, "-m", "claude_telemetry_cli", *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def run_json(args: list[str], env: dict[str, str], **kw) -> dict:
    proc = run_cli([*args, "--json"], env, **kw)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)
