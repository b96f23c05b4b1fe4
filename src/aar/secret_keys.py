"""Installation secrets: random keys made once in ``<AAR_HOME>/secrets/`` on the trusted side.

Anything a researcher must not be able to recompute from public inputs and our source (opaque seeds, the
verification seeds, how a built-in task is paired, ordered and split) is a keyed hash under one of these keys.
The folder is never mounted into a sandbox, and the files are readable by their owner only.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import secrets

from aar.errors import AarError
from aar.paths import home

_NAME = re.compile(r"^[a-z][a-z0-9-]{0,31}$")


def installation_key(name: str) -> bytes:
    """The 32-byte key ``name``, created on first use; concurrent first users agree on one (link wins)."""
    if not _NAME.match(name):
        raise AarError(f"invalid secret name {name!r}")
    path = home() / "secrets" / f"{name}.key"
    try:
        return bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError):
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".{name}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
        try:
            os.link(tmp, path)  # first writer wins; a concurrent one reads the winner's key
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
        return bytes.fromhex(path.read_text().strip())


def keyed_unit(key_name: str, text: str) -> float:
    """A uniform number in [0, 1) that only the key's holder can compute from ``text``."""
    digest = hashlib.blake2b(text.encode(), key=installation_key(key_name), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def keyed_rng(key_name: str, purpose: str) -> random.Random:
    """A generator seeded by the key and ``purpose``: stable for this installation, unguessable elsewhere."""
    digest = hashlib.blake2b(purpose.encode(), key=installation_key(key_name), digest_size=16).digest()
    return random.Random(int.from_bytes(digest, "big"))
