"""Method code snapshots: deterministic tar.gz packing (client side) and safe unpacking (server side).

Unpacking never calls ``extractall``: every member is checked (a regular file, a relative name made of
safe characters, no ``..``, no links or devices), sizes are capped from the header *and* while reading
(a lying header or a gzip bomb cannot fill the disk), and files are written by us under the destination.
"""

from __future__ import annotations

import gzip
import io
import re
import tarfile
from pathlib import Path

from aar.errors import AarError

MAX_ARCHIVE_BYTES = 1024 * 1024
MAX_FILES = 64
MAX_FILE_BYTES = 1024 * 1024
MAX_TOTAL_BYTES = 4 * 1024 * 1024
MEMBER = re.compile(r"^(?:[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}/){0,4}[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$")
ENTRY = re.compile(r"^((?:[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}/){0,4}[A-Za-z0-9_][A-Za-z0-9_-]{0,99}\.py)"
                   r":([A-Za-z_][A-Za-z0-9_]{0,99})$")


def pack(root: Path, files: list[str] | None = None) -> bytes:
    """A reproducible archive of ``files`` (relative to ``root``; default every ``*.py`` under it), for
    trusted folders; an agent's workspace is read through :mod:`aar.researchers.workspace` instead."""
    names = sorted(files if files is not None else
                   [p.relative_to(root).as_posix() for p in root.rglob("*.py") if "__pycache__" not in p.parts])
    if not names:
        raise AarError(f"no files to pack under {root}")
    for name in names:
        if not MEMBER.match(name):
            raise AarError(f"file name {name!r} is not allowed in a snapshot (letters, digits, _ . -)")
    return pack_files({name: (root / name).read_bytes() for name in names})


def pack_files(files: dict[str, bytes]) -> bytes:
    """A reproducible archive of named contents: sorted, zeroed times and owners, so the same code always
    has the same content hash."""
    if not files:
        raise AarError("no files to pack")
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(files):
            if not MEMBER.match(name):
                raise AarError(f"file name {name!r} is not allowed in a snapshot (letters, digits, _ . -)")
            data = files[name]
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def _read_capped(data: bytes) -> bytes:
    if len(data) > MAX_ARCHIVE_BYTES:
        raise AarError(f"snapshot is {len(data)} bytes; the limit is {MAX_ARCHIVE_BYTES}")
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as gz:
            raw = gz.read(MAX_TOTAL_BYTES + 64 * 1024 * MAX_FILES + 1)
    except (OSError, EOFError) as exc:
        raise AarError(f"snapshot is not a valid tar.gz ({exc})") from None
    if len(raw) > MAX_TOTAL_BYTES + 64 * 1024 * MAX_FILES:
        raise AarError(f"snapshot unpacks to more than {MAX_TOTAL_BYTES} bytes")
    return raw


def members(data: bytes) -> dict[str, bytes]:
    """Validate an archive and return its files by name; AarError on the first violation."""
    raw = _read_capped(data)
    files: dict[str, bytes] = {}
    total = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tar:
            for info in tar:
                if info.isdir():
                    continue
                if not info.isreg():
                    raise AarError(f"snapshot member {info.name!r} is a link or special file; only regular files")
                name = info.name.removeprefix("./")
                if not MEMBER.match(name) or ".." in name.split("/"):
                    raise AarError(f"snapshot member {info.name!r} has an unsafe name (absolute, '..' or odd "
                                   f"characters)")
                if name in files:
                    raise AarError(f"snapshot has {name!r} twice")
                if info.size > MAX_FILE_BYTES:
                    raise AarError(f"snapshot member {name!r} is larger than {MAX_FILE_BYTES} bytes")
                total += info.size
                if len(files) >= MAX_FILES or total > MAX_TOTAL_BYTES:
                    raise AarError(f"snapshot exceeds {MAX_FILES} files or {MAX_TOTAL_BYTES} bytes")
                stream = tar.extractfile(info)
                content = stream.read(MAX_FILE_BYTES + 1) if stream else b""
                if len(content) != info.size:
                    raise AarError(f"snapshot member {name!r} is truncated or lies about its size")
                files[name] = content
    except tarfile.TarError as exc:
        raise AarError(f"snapshot is not a valid tar archive ({exc})") from None
    if not files:
        raise AarError("snapshot holds no files")
    return files


def check_entry(entry: str, files: dict[str, bytes]) -> tuple[str, str]:
    """``file.py:ClassName`` naming a file in the snapshot."""
    match = ENTRY.match(entry)
    if not match:
        raise AarError(f"entry {entry!r} must look like path/to/method.py:ClassName")
    if match.group(1) not in files:
        raise AarError(f"entry file {match.group(1)!r} is not in the snapshot ({', '.join(sorted(files))})")
    return match.group(1), match.group(2)


def unpack(data: bytes, dest: Path) -> dict[str, bytes]:
    files = members(data)
    root = dest.resolve()
    for name, content in files.items():
        target = (root / name).resolve()
        if not target.is_relative_to(root):  # defence in depth; MEMBER already forbids it
            raise AarError(f"snapshot member {name!r} escapes the destination")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    return files
