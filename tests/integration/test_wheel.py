"""The product as someone who never cloned the repository gets it: a built wheel, installed into a fresh
virtual environment, run from a directory with no source tree in sight."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

from tests.conftest import Rotel
from tests.support.cli import REPO

pytestmark = pytest.mark.integration


def _run(cmd, *, cwd, env=None, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A venv with the wheel built from this tree (a copy of it, so no stale build/ can leak in)."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "constraints.txt"):
        shutil.copy(pathlib.Path(REPO) / name, source / name)
    shutil.copytree(
        pathlib.Path(REPO) / "claude_telemetry_cli",
        source / "claude_telemetry_cli",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    dist = root / "dist"
    built = _run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(source)], cwd=root
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = dist.glob("claude_telemetry-*.whl")
    venv = root / "venv"
    made = _run([sys.executable, "-m", "venv", str(venv)], cwd=root)
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    got = _run([*pip, "-c", str(source / "constraints.txt"), f"{wheel}[locust]"], cwd=root, timeout=900)
    assert got.returncode == 0, got.stderr
    work = root / "work"
    work.mkdir()
    # Nothing of this tree on the path: the installed package is all there is.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OTEL_", "CLAUDE_CODE_", "PYTHONPATH", "VIRTUAL_ENV"))
    }
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return {"bin": venv / "bin", "python": python, "work": work, "env": env}


def _cli(installed, *args, env=None, timeout=300):
    return _run(
        [str(installed["bin"] / "claude-telemetry"), *args],
        cwd=installed["work"],
        env={**installed["env"], **(env or {})},
        timeout=timeout,
    )


def test_the_package_comes_from_the_wheel_with_its_data(installed):
    proc = _run(
        [
            str(installed["python"]),
            "-c",
            "import pathlib, claude_telemetry_cli as m; p = pathlib.Path(m.__file__).parent;"
            " print(p); print((p / 'py.typed').is_file())",
        ],
        cwd=installed["work"],
        env=installed["env"],
    )
    location, typed = proc.stdout.split()
    assert "site-packages" in location and not location.startswith(REPO)
    assert typed == "True"


def test_scenarios_list_shows_the_bundled_scenarios_and_presets(installed):
    proc = _cli(installed, "scenarios", "list")
    assert proc.returncode == 0, proc.stderr
    for name in ("quickstart", "feature-branch", "team-day", "failures", "small-team", "enterprise"):
        assert name in proc.stdout
    shown = _cli(installed, "scenarios", "show", "enterprise")
    assert shown.returncode == 0 and "developers:" in shown.stdout


def test_smoke_verifies_the_whole_pipeline(installed):
    proc = _cli(installed, "smoke", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["ok"] is True


def test_generate_from_a_preset_gives_the_same_bytes_as_the_source_tree(installed, tmp_path):
    args = ["generate", "--preset", "small-team", "--days", "2", "--seed", "7"]
    proc = _cli(installed, *args, "--out", "team.yaml")
    assert proc.returncode == 0, proc.stderr
    from tests.support.cli import run_cli, telemetry_env

    here = run_cli([*args, "--out", str(tmp_path / "team.yaml")], telemetry_env())
    assert here.returncode == 0, here.stderr
    assert (installed["work"] / "team.yaml").read_bytes() == (tmp_path / "team.yaml").read_bytes()
    valid = _cli(installed, "scenarios", "validate", "team.yaml")
    assert valid.returncode == 0, valid.stderr


def test_a_short_load_is_acknowledged_by_a_collector(installed):
    rotel = Rotel(None, exporters=["--exporter", "blackhole"])
    try:
        proc = _cli(
            installed,
            "load",
            "--sessions",
            "20",
            "--interval",
            "1s",
            "--ramp-up",
            "1s",
            "--duration",
            "3s",
            "--workers",
            "1",
            "--json",
            env={
                "CLAUDE_CODE_ENABLE_TELEMETRY": "1",
                "OTEL_METRICS_EXPORTER": "otlp",
                "OTEL_LOGS_EXPORTER": "otlp",
                "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                "OTEL_EXPORTER_OTLP_ENDPOINT": rotel.endpoint("grpc"),
            },
        )
    finally:
        rotel.stop()
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["points"]["acknowledged"] == report["points"]["sent"] > 0


def test_the_locustfile_is_installed_and_found(installed):
    proc = _cli(installed, "load", "--locustfile")
    assert proc.returncode == 0, proc.stderr
    path = pathlib.Path(proc.stdout.strip())
    assert path.is_file() and "site-packages" in str(path)
    # Locust loads it and lists its user class without starting a test.
    listed = _run(
        [str(installed["bin"] / "locust"), "-f", str(path), "--list"],
        cwd=installed["work"],
        env={**installed["env"], "CLAUDE_CODE_ENABLE_TELEMETRY": "1", "OTEL_METRICS_EXPORTER": "otlp"},
        timeout=120,
    )
    assert listed.returncode == 0, listed.stderr
    assert "Session" in listed.stdout or "User" in listed.stdout, listed.stdout
