"""Every file a command writes: its path checked before any work, one line when it cannot be written,
never half a file, and a device, FIFO or link written through rather than replaced."""

from __future__ import annotations

import os
import stat
import subprocess
import threading
from pathlib import Path

import pytest

from tests.conftest import free_port, wait_for_port
from tests.support.cli import otlp_env, run_cli, start_cli, telemetry_env

# What each command is given, PATH standing for the file it writes.
WRITERS = {
    "generate --out": ["generate", "--preset", "small-team", "--days", "1", "--out", "PATH"],
    "scenarios schema --out": ["scenarios", "schema", "--out", "PATH"],
    "export --out": ["export", "quickstart", "--end-at", "now", "--out", "PATH"],
    # These two would listen, and wait, if the path were checked only at the end.
    "record --out": ["record", "--grpc-port", "0", "--http-port", "0", "--timeout", "30s", "--out", "PATH"],
    "receive --dump": [
        "receive",
        "--grpc-port",
        "0",
        "--http-port",
        "0",
        "--timeout",
        "30s",
        "--dump",
        "PATH",
    ],
    # No configuration at all: the path is checked before it, and before any load.
    "load --totals-out": ["load", "--sessions", "1", "--duration", "30s", "--totals-out", "PATH"],
}
# Commands whose whole output is the file: a device works as it would with `> device`.
FILE_WRITERS = ["generate --out", "scenarios schema --out", "export --out"]


def _args(writer: str, path) -> list[str]:
    return [str(path) if a == "PATH" else a for a in WRITERS[writer]]


def _option(writer: str) -> str:
    return writer.split()[-1]


def _one_error_line(proc: subprocess.CompletedProcess) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


def _device_copy(directory: Path, name: str, of: str) -> Path:
    path = directory / name
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.stat(of).st_rdev)
    except OSError:
        pytest.skip("this user may not make device nodes")
    return path


@pytest.mark.parametrize("writer", WRITERS)
@pytest.mark.parametrize(
    ("where", "complaint"),
    [
        ("{tmp}/missing/out", "directory '{tmp}/missing' does not exist"),
        ("{tmp}/a-file/out", "'{tmp}/a-file' is not a directory"),
        # Not even root may create a file in /proc.
        ("/proc/claude-telemetry-out", "cannot write in '/proc'"),
        ("{tmp}", "is a directory"),
    ],
)
def test_an_unwritable_path_is_one_line_exit_2_before_any_work(tmp_path, writer, where, complaint):
    (tmp_path / "a-file").write_text("")
    path = where.format(tmp=tmp_path)

    proc = run_cli(_args(writer, path), telemetry_env(), cwd=tmp_path, timeout=60)

    assert proc.returncode == 2, proc.stderr
    line = _one_error_line(proc)
    assert line.startswith(f"error: {_option(writer)} {path}: {complaint.format(tmp=tmp_path)}"), line
    assert sorted(os.listdir(tmp_path)) == ["a-file"]


@pytest.mark.parametrize("writer", WRITERS)
def test_a_read_only_directory_is_refused_before_any_work(tmp_path, writer):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        if os.access(ro, os.W_OK):
            pytest.skip("this user writes in read-only directories (root)")
        proc = run_cli(_args(writer, ro / "out"), telemetry_env(), cwd=tmp_path, timeout=60)
        assert proc.returncode == 2, proc.stderr
        assert "cannot write in" in _one_error_line(proc)
        assert os.listdir(ro) == []
    finally:
        ro.chmod(0o755)


@pytest.mark.parametrize("writer", FILE_WRITERS)
@pytest.mark.parametrize("full", ["/dev/full", "a copy of /dev/full"])
def test_a_full_device_is_one_line_exit_2_and_stays_a_device(tmp_path, writer, full):
    path = Path("/dev/full") if full == "/dev/full" else _device_copy(tmp_path, "full", "/dev/full")

    proc = run_cli(_args(writer, path), telemetry_env(), cwd=tmp_path)

    assert proc.returncode == 2, proc.stderr
    assert _one_error_line(proc) == f"error: --out {path}: No space left on device"
    assert stat.S_ISCHR(os.stat(path).st_mode)
    assert [p for p in os.listdir(tmp_path) if p != "full"] == []


@pytest.mark.parametrize("writer", FILE_WRITERS)
def test_a_copy_of_dev_null_and_a_link_to_it_are_written_through(tmp_path, writer):
    null = _device_copy(tmp_path, "null", os.devnull)
    link = tmp_path / "link"
    link.symlink_to(os.devnull)

    for path in (null, link):
        proc = run_cli(_args(writer, path), telemetry_env(), cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr

    assert stat.S_ISCHR(os.stat(null).st_mode) and link.is_symlink()
    assert sorted(os.listdir(tmp_path)) == ["link", "null"]


class _FifoReader:
    """A FIFO and a thread reading all of it, as `cat fifo` would."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "fifo"
        os.mkfifo(self.path)
        self.data = b""
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        with open(self.path, "rb") as fh:
            self.data = fh.read()

    def wait(self) -> bytes:
        self._thread.join(timeout=60)
        return self.data


@pytest.mark.parametrize("writer", FILE_WRITERS)
def test_a_fifo_is_written_for_its_reader_and_stays_a_fifo(tmp_path, writer):
    fifo = _FifoReader(tmp_path)

    proc = run_cli(_args(writer, fifo.path), telemetry_env(), cwd=tmp_path)

    assert proc.returncode == 0, proc.stderr
    assert len(fifo.wait()) > 1000
    assert stat.S_ISFIFO(os.stat(fifo.path).st_mode)
    assert os.listdir(tmp_path) == ["fifo"]


def _load(path: Path, sink, cwd: Path) -> subprocess.CompletedProcess:
    args = ["load", "--sessions", "2", "--interval", "1s", "--duration", "2s", "--workers", "1"]
    return run_cli([*args, "--totals-out", str(path)], otlp_env(sink.endpoint, logs=False), cwd=cwd)


def test_load_totals_onto_a_full_device_is_one_line_and_the_device_stays(tmp_path, otlp_sink):
    full = _device_copy(tmp_path, "full", "/dev/full")

    proc = _load(full, otlp_sink, tmp_path)

    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == f"error: --totals-out {full}: No space left on device"
    assert "Traceback" not in proc.stderr
    assert stat.S_ISCHR(os.stat(full).st_mode) and os.listdir(tmp_path) == ["full"]


def test_load_totals_into_a_fifo_reach_its_reader(tmp_path, otlp_sink):
    fifo = _FifoReader(tmp_path)

    proc = _load(fifo.path, otlp_sink, tmp_path)

    assert proc.returncode == 0, proc.stderr
    assert fifo.wait().startswith(b"{")
    assert stat.S_ISFIFO(os.stat(fifo.path).st_mode) and os.listdir(tmp_path) == ["fifo"]


def test_record_onto_a_full_device_is_one_line_and_the_device_stays(tmp_path):
    full = _device_copy(tmp_path, "full", "/dev/full")
    grpc_port = free_port()
    recorder = start_cli(
        ["record", "--out", str(full)]
        + ["--grpc-port", str(grpc_port), "--http-port", "0", "--idle", "1s", "--timeout", "60s"],
        env=telemetry_env(),
        cwd=tmp_path,
    )
    try:
        wait_for_port(grpc_port, recorder)
        sent = run_cli(["run", "quickstart", "--instant"], otlp_env(f"http://127.0.0.1:{grpc_port}"))
        assert sent.returncode == 0, sent.stderr
        _, stderr = recorder.communicate(timeout=60)
    finally:
        if recorder.poll() is None:
            recorder.kill()
            recorder.communicate()
    assert recorder.returncode == 2, stderr
    assert stderr.strip().splitlines()[-1] == f"error: --out {full}: No space left on device"
    assert stat.S_ISCHR(os.stat(full).st_mode) and os.listdir(tmp_path) == ["full"]
