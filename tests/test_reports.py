"""Report files are written whole or not at all, with the usual file mode."""

import os

import pytest

from seal_desk import files as reports


def test_write_atomic_keeps_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "out" / "report.json"
    reports.write_atomic(path, '{"a": 1}')
    mask = os.umask(0)
    os.umask(mask)
    assert path.read_text() == '{"a": 1}' and path.stat().st_mode & 0o777 == 0o666 & ~mask

    def broken(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(reports.os, "replace", broken)
    with pytest.raises(OSError):
        reports.write_atomic(path, '{"a": 2}')
    assert path.read_text() == '{"a": 1}'
    assert [p.name for p in path.parent.iterdir()] == ["report.json"]  # no temporary file left behind
