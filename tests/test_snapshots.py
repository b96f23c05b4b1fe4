"""Snapshot packing is reproducible and unpacking refuses every unsafe archive before writing anything."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import pytest

from aar.errors import AarError
from aar.snapshots import MAX_FILES, check_entry, members, pack, unpack


def _tar(add) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        add(tar)
    return gzip.compress(raw.getvalue())


def _file(tar: tarfile.TarFile, name: str, data: bytes = b"x = 1\n", size: int | None = None) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data) if size is None else size
    tar.addfile(info, io.BytesIO(data))


def test_pack_is_reproducible_and_round_trips(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "pkg").mkdir(parents=True)
    (src / "method.py").write_text("from pkg.util import k\n")
    (src / "pkg" / "util.py").write_text("k = 3\n")
    first = pack(src)
    (src / "method.py").touch()  # a newer mtime must not change the content hash
    assert pack(src) == first
    files = unpack(first, tmp_path / "out")
    assert set(files) == {"method.py", "pkg/util.py"}
    assert (tmp_path / "out" / "pkg" / "util.py").read_text() == "k = 3\n"
    assert check_entry("method.py:Mine", files) == ("method.py", "Mine")


def _symlink(tar: tarfile.TarFile) -> None:
    info = tarfile.TarInfo("link.py")
    info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
    tar.addfile(info)


def _hardlink(tar: tarfile.TarFile) -> None:
    _file(tar, "a.py")
    info = tarfile.TarInfo("b.py")
    info.type, info.linkname = tarfile.LNKTYPE, "a.py"
    tar.addfile(info)


def _device(tar: tarfile.TarFile) -> None:
    info = tarfile.TarInfo("dev.py")
    info.type = tarfile.CHRTYPE
    tar.addfile(info)


def _many(tar: tarfile.TarFile) -> None:
    for i in range(MAX_FILES + 1):
        _file(tar, f"m{i}.py")


@pytest.mark.parametrize(("build", "message"), [
    (lambda t: _file(t, "/etc/cron.d/evil.py"), "unsafe name"),
    (lambda t: _file(t, "../escape.py"), "unsafe name"),
    (lambda t: _file(t, "a/../../escape.py"), "unsafe name"),
    (lambda t: _file(t, "sp ace.py"), "unsafe name"),
    (_symlink, "link or special"),
    (_hardlink, "link or special"),
    (_device, "link or special"),
    (_many, "exceeds"),
    (lambda t: (_file(t, "a.py"), _file(t, "a.py")), "twice"),
    (lambda t: _file(t, "big.py", b"0" * (1024 * 1024 + 1)), "larger than"),
])
def test_unsafe_archives_are_refused_before_anything_is_written(tmp_path: Path, build, message: str) -> None:
    with pytest.raises(AarError, match=message):
        unpack(_tar(build), tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "escape.py").exists()


def test_bombs_garbage_and_bad_entries_are_refused() -> None:
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024))  # 64 MiB of zeros in ~64 KiB
    assert len(bomb) < 1024 * 1024
    with pytest.raises(AarError, match="unpacks to more than"):
        members(bomb)
    with pytest.raises(AarError, match=r"not a valid tar\.gz"):
        members(b"definitely not gzip")
    with pytest.raises(AarError, match="limit"):
        members(b"\0" * (1024 * 1024 + 1))
    files = {"method.py": b""}
    for entry in ("method.py", "method.py:", "../method.py:A", "method.py:A;rm -rf /", "other.py:A"):
        with pytest.raises(AarError):
            check_entry(entry, files)
