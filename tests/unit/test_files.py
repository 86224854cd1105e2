"""A file the tool writes is whole or absent: never half-written in place, whatever stops the writing."""

from __future__ import annotations

import errno
import os
import stat
import threading
from pathlib import Path

import pytest

from claude_telemetry_cli.errors import UsageError
from claude_telemetry_cli.files import check_writable, replacing, write_atomically, writing


def test_the_file_appears_only_when_the_writing_ends(tmp_path):
    path = tmp_path / "out.yaml"
    with replacing(path, encoding="utf-8") as fh:
        fh.write("half")
        assert not path.exists()
        fh.write(" and the rest\n")
    assert path.read_text() == "half and the rest\n"
    assert os.listdir(tmp_path) == ["out.yaml"]


@pytest.mark.parametrize("stop", [RuntimeError("a failure"), KeyboardInterrupt()])
def test_a_stop_half_way_leaves_the_old_file_and_no_temporary_one(tmp_path, stop):
    path = tmp_path / "totals.json"
    path.write_text("the old totals\n")
    with pytest.raises(type(stop)), replacing(path, encoding="utf-8") as fh:
        fh.write("half")
        raise stop
    assert path.read_text() == "the old totals\n"
    assert os.listdir(tmp_path) == ["totals.json"]


def test_a_new_file_gets_the_mode_an_ordinary_one_would(tmp_path):
    mask = os.umask(0o022)
    try:
        write_atomically(tmp_path / "new.json", "{}\n")
    finally:
        os.umask(mask)
    assert stat.S_IMODE((tmp_path / "new.json").stat().st_mode) == 0o644


def test_a_replaced_file_keeps_its_mode(tmp_path):
    path = tmp_path / "kept.yaml"
    path.write_text("old")
    path.chmod(0o600)
    write_atomically(path, "new")
    assert path.read_text() == "new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_directory_fails_before_anything_is_written(tmp_path):
    with pytest.raises(IsADirectoryError), replacing(tmp_path):
        pytest.fail("the block must not run")


def test_a_missing_directory_fails_at_once(tmp_path):
    with pytest.raises(FileNotFoundError):
        write_atomically(tmp_path / "missing" / "x.yaml", "text")


def test_a_special_file_is_written_in_place():
    with replacing(os.devnull, "wb") as fh:
        fh.write(b"discarded")
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)


# --- checked before any work, and failures named by the option ------------------------------------


def _device_copy(tmp_path, name: str, of: str):
    """A copy of a character device node (/dev/null, /dev/full), where this user may make one."""
    path = tmp_path / name
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.stat(of).st_rdev)
    except (PermissionError, OSError):
        pytest.skip("this user may not make device nodes")
    return path


@pytest.mark.parametrize(
    ("where", "complaint"),
    [
        ("missing/x.yaml", "directory '{tmp}/missing' does not exist"),
        ("a-file/x.yaml", "'{tmp}/a-file' is not a directory"),
        (".", "is a directory"),
    ],
)
def test_an_unwritable_path_is_one_line_naming_the_option(tmp_path, where, complaint):
    (tmp_path / "a-file").write_text("")
    path = tmp_path / where

    with pytest.raises(UsageError) as error:
        check_writable(path, "--out")

    assert error.value.message == f"--out {path}: {complaint.format(tmp=tmp_path)}"
    assert sorted(os.listdir(tmp_path)) == ["a-file"]


def test_a_directory_nobody_may_write_in_is_refused_even_for_root():
    with pytest.raises(UsageError, match=r"^--totals-out /proc/x.json: cannot write in '/proc': "):
        check_writable("/proc/x.json", "--totals-out")


def test_a_read_only_directory_is_refused(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        if os.access(ro, os.W_OK):
            pytest.skip("this user writes in read-only directories (root)")
        with pytest.raises(UsageError, match="cannot write in .*Permission denied"):
            check_writable(ro / "x.yaml", "--out")
        assert os.listdir(ro) == []
    finally:
        ro.chmod(0o755)


def test_a_fifo_is_checked_without_being_opened(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)

    # Opening it would wait for a reader, or end the reader's stream before the data.
    check_writable(fifo, "--out")

    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_a_fifo_is_written_in_place_for_its_reader(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()))
    reader.start()

    write_atomically(fifo, "through the pipe\n")
    reader.join(timeout=30)

    assert received == ["through the pipe\n"]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert os.listdir(tmp_path) == ["fifo"]


def test_a_device_copy_is_written_in_place_and_stays_a_device(tmp_path):
    null = _device_copy(tmp_path, "null", os.devnull)

    check_writable(null, "--out")
    write_atomically(null, "discarded")

    assert stat.S_ISCHR(os.stat(null).st_mode)
    assert os.listdir(tmp_path) == ["null"]


def test_a_symbolic_link_stays_a_link_to_the_file_it_names(tmp_path):
    real = tmp_path / "real.yaml"
    real.write_text("old")
    link = tmp_path / "link.yaml"
    link.symlink_to(real)

    write_atomically(link, "new")

    assert link.is_symlink() and real.read_text() == "new"
    assert sorted(os.listdir(tmp_path)) == ["link.yaml", "real.yaml"]


def test_a_symbolic_link_to_dev_null_stays_one(tmp_path):
    link = tmp_path / "null"
    link.symlink_to(os.devnull)

    check_writable(link, "--out")
    write_atomically(link, "discarded")

    assert link.is_symlink() and stat.S_ISCHR(os.stat(os.devnull).st_mode)


@pytest.mark.parametrize("full", ["/dev/full", "copy"])
def test_a_full_device_is_one_line_naming_the_option(tmp_path, full):
    path = _device_copy(tmp_path, "full", "/dev/full") if full == "copy" else Path(full)

    with pytest.raises(UsageError) as error, writing(path, "--out") as fh:
        fh.write("x" * 100_000)

    assert error.value.message == f"--out {path}: No space left on device"
    assert stat.S_ISCHR(os.stat(path).st_mode)


def test_a_failed_rename_is_one_line_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "totals.json"

    def busy(source, target):
        raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), source, None, target)

    with pytest.raises(UsageError, match=r"^--totals-out .*totals.json: Device or resource busy$"):
        with writing(path, "--totals-out") as fh:
            fh.write("whole")
            monkeypatch.setattr(os, "replace", busy)

    assert os.listdir(tmp_path) == []


def test_an_error_about_another_file_is_not_the_targets(tmp_path):
    with pytest.raises(FileNotFoundError), writing(tmp_path / "out.yaml", "--out"):
        open(tmp_path / "elsewhere" / "input.yaml")
