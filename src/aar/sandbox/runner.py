"""Run a command under a :class:`SandboxPolicy` with bubblewrap, or (refused unless asked for) without.

Limits: wall time is enforced here (the whole process group is SIGKILLed); CPU seconds, address space,
file size and process count with rlimits set before ``exec``, inherited by everything it starts; ``/tmp``
is a tmpfs with a size cap. Output is captured to a file and the caller gets its head and tail. bubblewrap
unshares the namespaces (no network at all, own PIDs, own hostname), dies with its parent, and clears the
environment.

Privilege: the sandboxed code never runs as root. RLIMIT_NPROC is not enforced for a real uid 0, even
mapped to another uid inside a user namespace (measured: 300 processes under a limit of 256), so when aar
runs as root, bubblewrap builds the mounts as root without a user namespace and the command starts through
``setpriv`` as the policy's identity uid (:func:`aar.sandbox.policy.identity_uid`: one per agent, one per
verification), with no capabilities and ``no_new_privs`` (setuid binaries stay inert). The process limit
counts per uid, so one agent holding its 256 processes cannot make another's ``fork`` fail (it did when
every sandbox ran as ``nobody``). The writable workspace is handed to that user first (without following
links). Run as a normal user, bubblewrap's unprivileged user namespace is used and the code keeps that
user's (non-zero) uid: identities then share the process limit, and the memory watch below is off.

While the command runs, a watch (every ``heartbeat_every_s``) sums the resident memory of every process of
the identity's uid (sandboxes with an identity only) and kills the run past ``total_memory_bytes``
(RLIMIT_AS caps each process, not their sum: one experiment held 9.5 GiB across its processes), and sums the
workspace's size and kills it past ``workspace_bytes`` (RLIMIT_FSIZE caps each file, not their total).

Descriptors in ``pass_fds`` are inherited by the command: the execution layer's result and audit
channels (:mod:`aar.execution`), opened by the parent before any untrusted code runs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import resource
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from aar.errors import AarError
from aar.execution_settings import ExecutionSettings
from aar.sandbox.policy import ETC_ENTRIES, SYSTEM_DIRS, SandboxPolicy, python_roots

log = logging.getLogger("aar.sandbox")
UNSAFE_WARNING = ("WARNING: running agent code WITHOUT a sandbox (bubblewrap not found or disabled): it can "
                  "read every file this user can, reach the network and see nothing of these limits but "
                  "rlimits. Install the Debian package 'bubblewrap'.")


def bubblewrap_available() -> bool:
    return shutil.which("bwrap") is not None


def default_sandbox(settings: ExecutionSettings | None = None) -> Sandbox:
    """The sandbox under ``settings`` (default: what this process was started with): unsafe only when the
    operator said so (``--allow-unsandboxed``)."""
    return Sandbox(unsafe=(settings or ExecutionSettings.from_environment()).allow_unsandboxed)


@dataclass
class SandboxResult:
    returncode: int
    output: str  # head and tail of stdout+stderr, with a note when truncated
    wall_s: float
    cpu_s: float
    timed_out: bool
    sandboxed: bool
    limit: str | None = None  # "memory" or "workspace": the watch killed the run past that limit
    limit_detail: str = ""  # what the watch saw, in a sentence (also the last line of ``output``)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out


class Sandbox:
    """``Sandbox(unsafe=False)`` raises if bubblewrap is missing; ``unsafe=True`` runs plain processes
    after a loud warning (for machines where bubblewrap cannot run)."""

    def __init__(self, unsafe: bool = False):
        self.bwrap = shutil.which("bwrap")
        if self.bwrap is None and not unsafe:
            raise AarError("bubblewrap (bwrap) is not installed, so agent code cannot be sandboxed; install the "
                           "Debian package 'bubblewrap' (make does) or pass --allow-unsandboxed to run unsandboxed")
        if self.bwrap is None:
            log.warning(UNSAFE_WARNING)

    @property
    def isolated(self) -> bool:
        return self.bwrap is not None

    @property
    def drops_root(self) -> bool:
        """Running as root: build the sandbox as root, run the code as the policy's identity uid."""
        return self.bwrap is not None and os.geteuid() == 0

    def argv(self, policy: SandboxPolicy, command: list[str], cwd: Path | None = None) -> list[str]:
        if self.bwrap is None:
            return command
        if self.drops_root:  # no user namespace: the uid drop below must be a real one (see the module doc)
            args = [self.bwrap, "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
                    "--unshare-cgroup-try"]
        else:
            args = [self.bwrap, "--unshare-all"]
        args += ["--die-with-parent", "--new-session", "--clearenv", "--proc", "/proc", "--dev", "/dev",
                 "--perms", "1777", "--size", str(policy.tmp_bytes), "--tmpfs", "/tmp", "--hostname", "sandbox"]
        mounts = _Mounts(args)
        for d in SYSTEM_DIRS:
            if Path(d).exists():
                if Path(d).is_symlink():
                    args += ["--symlink", os.readlink(d), d]
                else:
                    mounts.bind("--ro-bind", d, d)
        args += ["--perms", "0755", "--dir", "/etc"]
        for name in ETC_ENTRIES:
            if os.path.lexists(f"/etc/{name}"):
                mounts.bind("--ro-bind", f"/etc/{name}", f"/etc/{name}")
        for root in python_roots():
            mounts.bind("--ro-bind", str(root), str(root))
        for masked in policy.masked_dirs():
            args += ["--tmpfs", str(masked.resolve())]
        for host, inside in policy.read_only.items():
            mounts.bind("--ro-bind", str(Path(host).resolve()), str(inside))
        for device in policy.devices:
            args += ["--dev-bind", device, device]
        workspace = str(policy.workspace.resolve())
        mounts.bind("--bind", workspace, workspace)
        for key, value in policy.environment().items():
            args += ["--setenv", key, value]
        args += ["--chdir", str(cwd or workspace), "--"]
        if self.drops_root:
            args += [shutil.which("setpriv") or "/usr/bin/setpriv", f"--reuid={policy.uid}",
                     f"--regid={policy.uid}", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all",
                     "--no-new-privs", "--"]
        return args + command

    def run(self, policy: SandboxPolicy, command: list[str], cwd: Path | None = None,
            stdin: bytes | None = None, heartbeat: Callable[[], None] | None = None,
            heartbeat_every_s: float = 1.0, pass_fds: tuple[int, ...] = ()) -> SandboxResult:
        """Run to completion or the wall limit. ``heartbeat`` is called while the command runs; if it
        raises, the command's process group is killed and the exception propagates."""
        policy.workspace.mkdir(parents=True, exist_ok=True)
        if self.drops_root:
            hand_over(policy.workspace, policy.uid)
        argv = self.argv(policy, command, cwd)

        argv, limits = _with_limits(argv, policy)

        with tempfile.TemporaryFile() as out:
            start = time.monotonic()
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                    preexec_fn=limits, cwd=str(cwd or policy.workspace), pass_fds=pass_fds,
                                    env=policy.environment() if self.bwrap is None else {"PATH": "/usr/bin:/bin"})
            timed_out, limit = False, None
            watch = _Watch(policy, self.drops_root)
            try:
                if stdin is not None and proc.stdin:
                    proc.stdin.write(stdin)
                    proc.stdin.close()
                deadline = start + policy.wall_s
                while proc.poll() is None:
                    if time.monotonic() >= deadline:
                        timed_out = True
                        break
                    limit = watch.exceeded()
                    if limit:
                        break
                    if heartbeat:
                        heartbeat()
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        proc.wait(timeout=min(heartbeat_every_s, max(0.01, deadline - time.monotonic())))
            finally:
                with contextlib.suppress(ProcessLookupError):  # the whole group: no orphan keeps running
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            out.seek(0)
            output = _head_tail(out.read(), policy.output_bytes)
        detail = watch.describe(limit) if limit else ""
        if limit:
            output += f"\n[killed: {detail}]"
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return SandboxResult(proc.returncode, output, time.monotonic() - start, cpu, timed_out, self.isolated, limit,
                             detail)


class _Watch:
    """The run's memory (all processes of the identity's uid) and workspace size against the policy's caps.
    Memory is read from ``/proc/*/status`` (VmRSS), the workspace by a walk that never follows links; the
    walk is skipped when the last one found the workspace far below its cap, so a large workspace costs a
    walk every few seconds, not every tick."""

    def __init__(self, policy: SandboxPolicy, by_uid: bool):
        # only a sandbox with an identity has a uid of its own: without one (uid 65534) the sum would count every
        # other anonymous sandbox running at the time (the gauntlet runs several) against this run's cap
        self.policy = policy
        self.by_uid = by_uid and bool(policy.identity) and policy.total_memory_bytes is not None
        self.memory = self.workspace = 0
        self.next_walk = 0.0

    def exceeded(self) -> str | None:
        if self.by_uid:
            self.memory = uid_resident_bytes(self.policy.uid)
            if self.memory > (self.policy.total_memory_bytes or 0):
                return "memory"
        cap = self.policy.workspace_bytes
        if cap is not None and time.monotonic() >= self.next_walk:
            self.workspace = tree_bytes(self.policy.workspace)
            self.next_walk = time.monotonic() + (0.0 if self.workspace > cap / 2 else 2.0)
            if self.workspace > cap:
                return "workspace"
        return None

    def describe(self, limit: str) -> str:
        if limit == "memory":
            return (f"the run's processes held {self.memory / 1024**3:.2f} GiB, over its cap of "
                    f"{(self.policy.total_memory_bytes or 0) / 1024**3:.2f} GiB")
        return (f"the workspace grew to {self.workspace / 1024**2:.0f} MiB, over its quota of "
                f"{(self.policy.workspace_bytes or 0) / 1024**2:.0f} MiB; delete files to go on")


def uid_resident_bytes(uid: int) -> int:
    """Resident memory of every process whose real uid is ``uid`` (Linux ``/proc``; 0 elsewhere)."""
    total = 0
    try:
        pids = [name for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status", "rb") as f:
                status = f.read()
        except OSError:  # exited meanwhile
            continue
        uid_line = status.find(b"\nUid:")
        if uid_line < 0 or int(status[uid_line + 5:].split(None, 1)[0]) != uid:
            continue
        rss = status.find(b"\nVmRSS:")
        if rss >= 0:
            total += int(status[rss + 7:].split(None, 1)[0]) * 1024
    return total


def tree_bytes(root: Path, limit_entries: int = 1_000_000) -> int:
    """Disk use of a folder (allocated blocks), links not followed, iteratively."""
    total, pending, seen = 0, [str(root)], 0
    while pending and seen < limit_entries:
        folder = pending.pop()
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    seen += 1
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    total += st.st_blocks * 512
                    if stat.S_ISDIR(st.st_mode):
                        pending.append(entry.path)
        except OSError:
            continue
    return total


def _with_limits(argv: list[str], policy: SandboxPolicy) -> tuple[list[str], Callable[[], None] | None]:
    """Resource limits inherited by bwrap and everything below it. util-linux ``prlimit`` sets them and
    execs the command, so no Python runs between fork and exec: a ``preexec_fn`` is unsafe in a threaded
    parent (the transfer gauntlet runs several sandboxes from threads) and can deadlock the child. Without
    ``prlimit`` (non-Linux, unsafe mode) the limits fall back to a ``preexec_fn``."""
    prlimit = shutil.which("prlimit")
    if prlimit:
        memory = [f"--as={policy.memory_bytes}"] if policy.memory_bytes is not None else []
        return [prlimit, f"--cpu={policy.cpu_s}:{policy.cpu_s + 5}", *memory, f"--fsize={policy.file_bytes}",
                f"--nproc={policy.max_processes}", "--core=0", "--", *argv], None

    def limits() -> None:  # in the child, before exec
        resource.setrlimit(resource.RLIMIT_CPU, (policy.cpu_s, policy.cpu_s + 5))
        if policy.memory_bytes is not None:
            resource.setrlimit(resource.RLIMIT_AS, (policy.memory_bytes, policy.memory_bytes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (policy.file_bytes, policy.file_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_NPROC, (policy.max_processes, policy.max_processes))

    return argv, limits


class _Mounts:
    """bubblewrap creates a missing mount point's parents with the modes of the host's parents: a bind
    below a private folder (``mkdtemp``'s 0700) would be unreachable for the unprivileged user. Parents that
    no earlier mount provides are made 0755 first."""

    def __init__(self, args: list[str]):
        self.args, self.dirs, self.binds = args, {"/", "/tmp", "/etc"}, set[str]()

    def bind(self, flag: str, host: str, inside: str) -> None:
        for parent in reversed(Path(inside).parents):
            p = str(parent)
            if p in self.dirs or any(p == b or p.startswith(b + "/") for b in self.binds):
                continue  # made already, or part of a mounted host folder
            self.args += ["--perms", "0755", "--dir", p]
            self.dirs.add(p)
        self.args += [flag, host, inside]
        self.binds.add(inside.rstrip("/") or "/")


def hand_over(workspace: Path, uid: int) -> None:
    """Give a workspace (folders and files, never what a link points to) to the sandbox's user, so that its
    code can write there. Folders are entered through descriptors opened with ``O_NOFOLLOW`` (``os.fwalk``
    opens a linked folder before noticing the link), iteratively (a hostile tree may be very deep). Files
    with more than one link are skipped: a hard link the code made to a file outside would otherwise hand
    that file over too."""
    os.chown(workspace, uid, uid, follow_symlinks=False)
    pending = [os.open(workspace, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)]
    while pending:
        fd = pending.pop()
        try:
            with os.scandir(fd) as entries:
                names = [entry.name for entry in entries]
            for name in names:
                try:
                    st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                    if st.st_uid != uid and (not stat.S_ISREG(st.st_mode) or st.st_nlink == 1):
                        os.chown(name, uid, uid, dir_fd=fd, follow_symlinks=False)
                    if stat.S_ISDIR(st.st_mode):
                        pending.append(os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                                               dir_fd=fd))
                except OSError:  # vanished or replaced meanwhile, or out of descriptors: skip it (the
                    # code then cannot write there: a self-inflicted, safe failure)
                    continue
        finally:
            os.close(fd)


def _head_tail(data: bytes, limit: int) -> str:
    if len(data) <= limit:
        return data.decode(errors="replace")
    half = limit // 2
    return (data[:half].decode(errors="replace") + f"\n[... {len(data) - limit} bytes of output omitted ...]\n"
            + data[-half:].decode(errors="replace"))
