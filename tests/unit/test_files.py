"""A file the tool writes is whole or absent: never half-written in place, whatever stops the writing."""

from __future__ import annotations

import os
import stat

import pytest

from claude_telemetry_cli.files import replacing, write_atomically


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
