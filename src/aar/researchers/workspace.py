"""An agent's workspace as the trusted side sees it: a folder whose every entry the agent's code may have
made, links included.

Every path is walked one component at a time from a descriptor of the workspace root with ``O_NOFOLLOW``:
a symbolic link anywhere in a path is refused, never followed, so no read, write, listing or ``mkdir`` of
ours can leave the workspace or touch what a link points to. Files are opened without following links,
checked to be regular files and read with a bound. Listings use ``lstat`` only (a link is shown as a link,
never stat-ed through), and an entry vanishing mid-listing is skipped, not raised.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path

from aar.errors import AarError

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class WorkspaceError(AarError):
    pass


class Workspace:
    def __init__(self, root: Path):
        self.root = Path(root)

    # --- paths ---------------------------------------------------------------------------------------------
    @staticmethod
    def parts(relative: str) -> list[str]:
        """The components of a workspace-relative path; '..' and absolute paths are refused."""
        text = str(relative).strip()
        if "\x00" in text:
            raise WorkspaceError("path contains a NUL byte")
        if text.startswith("/") or text.startswith("~"):
            raise WorkspaceError(f"path {relative!r} is outside your workspace (use a path relative to it)")
        parts = [p for p in text.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise WorkspaceError(f"path {relative!r} is outside your workspace ('..' is not allowed)")
        return parts

    def _root_fd(self) -> int:
        self.root.mkdir(parents=True, exist_ok=True)
        return os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)

    def _walk(self, parts: list[str], create: bool = False) -> int:
        """A descriptor of the folder ``parts`` (caller closes it), never through a link."""
        fd = self._root_fd()
        try:
            for i, name in enumerate(parts):
                try:
                    nxt = os.open(name, DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        raise WorkspaceError(f"no folder {'/'.join(parts[:i + 1])!r} in your workspace") from None
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(name, 0o755, dir_fd=fd)
                    nxt = os.open(name, DIR_FLAGS, dir_fd=fd)
                except OSError as exc:
                    raise WorkspaceError(_refusal("/".join(parts[:i + 1]), exc, "folder")) from None
                os.close(fd)
                fd = nxt
            return fd
        except BaseException:
            os.close(fd)
            raise

    # --- reading -------------------------------------------------------------------------------------------
    def read_bytes(self, relative: str, limit: int) -> bytes:
        """At most ``limit`` bytes of a regular file (WorkspaceError if it is larger, missing or a link)."""
        parts = self.parts(relative)
        if not parts:
            raise WorkspaceError("a file path is needed")
        folder = self._walk(parts[:-1])
        try:
            try:
                fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=folder)
            except FileNotFoundError:
                raise WorkspaceError(f"no file {relative!r} in your workspace") from None
            except OSError as exc:
                raise WorkspaceError(_refusal(relative, exc, "file")) from None
        finally:
            os.close(folder)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise WorkspaceError(f"{relative!r} is not a regular file")
            if st.st_size > limit:
                raise WorkspaceError(f"{relative!r} is {st.st_size} bytes; the limit is {limit}")
            chunks, left = [], limit + 1
            while left > 0 and (chunk := os.read(fd, min(left, 1 << 20))):
                chunks.append(chunk)
                left -= len(chunk)
            data = b"".join(chunks)
        finally:
            os.close(fd)
        if len(data) > limit:
            raise WorkspaceError(f"{relative!r} is larger than {limit} bytes")
        return data

    def read_text(self, relative: str, limit: int) -> str:
        return self.read_bytes(relative, limit).decode(errors="replace")

    def kind(self, relative: str) -> str | None:
        """'file', 'dir', 'link', 'other' or None (missing), by ``lstat`` (never through a link)."""
        parts = self.parts(relative)
        if not parts:
            return "dir"
        try:
            folder = self._walk(parts[:-1])
        except WorkspaceError:
            return None
        try:
            st = os.stat(parts[-1], dir_fd=folder, follow_symlinks=False)
        except OSError:
            return None
        finally:
            os.close(folder)
        return _kind(st.st_mode)

    # --- writing -------------------------------------------------------------------------------------------
    def mkdirs(self, relative: str) -> None:
        os.close(self._walk(self.parts(relative), create=True))

    def write_bytes(self, relative: str, data: bytes) -> None:
        """Atomically (a temporary file renamed into place); the rename replaces a link, never follows it."""
        parts = self.parts(relative)
        if not parts:
            raise WorkspaceError("a file path is needed")
        folder = self._walk(parts[:-1], create=True)
        tmp = f".{parts[-1][:80]}.{secrets.token_hex(4)}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644,
                         dir_fd=folder)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)
            try:
                os.rename(tmp, parts[-1], src_dir_fd=folder, dst_dir_fd=folder)
            except IsADirectoryError:
                raise WorkspaceError(f"{relative!r} is a folder") from None
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=folder)
            raise
        finally:
            os.close(folder)

    def write_text(self, relative: str, text: str) -> None:
        self.write_bytes(relative, text.encode("utf-8"))

    # --- listing -------------------------------------------------------------------------------------------
    def entries(self, relative: str = ".", limit: int = 500, skip_top: tuple[str, ...] = ()) -> Iterator[tuple]:
        """(path relative to the root, kind, size) under ``relative``, depth first and sorted; folders are
        entered through descriptors with ``O_NOFOLLOW``, links are listed as links and never stat-ed through."""
        base = self.parts(relative)
        left = [limit]

        def walk(fd: int, prefix: list[str]) -> Iterator[tuple]:
            try:
                with os.scandir(fd) as it:
                    names = sorted(e.name for e in it)
            except OSError:
                return
            for name in names:
                if left[0] <= 0 or name == "__pycache__" or (not prefix and name in skip_top and not base):
                    continue
                try:
                    st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                except OSError:  # vanished meanwhile, or unreadable: skip it
                    continue
                kind = _kind(st.st_mode)
                left[0] -= 1
                yield "/".join([*base, *prefix, name]), kind, st.st_size
                if kind == "dir":
                    try:
                        sub = os.open(name, DIR_FLAGS, dir_fd=fd)
                    except OSError:
                        continue
                    try:
                        yield from walk(sub, [*prefix, name])
                    finally:
                        os.close(sub)

        top = self._walk(base)
        try:
            yield from walk(top, [])
        finally:
            os.close(top)

    def python_files(self, skip_top: tuple[str, ...] = ("experiments",)) -> list[str]:
        return sorted(path for path, kind, _ in self.entries(".", 10_000, skip_top)
                      if kind == "file" and path.endswith(".py"))


def _refusal(path: str, exc: OSError, wanted: str) -> str:
    if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
        return (f"{path!r} is a symbolic link or not a {wanted}: tools never follow links (they may point "
                f"outside your workspace)")
    return f"cannot open {path!r}: {exc.strerror}"


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "link"
    if stat.S_ISDIR(mode):
        return "dir"
    return "file" if stat.S_ISREG(mode) else "other"
