"""The admin token: from AAR_ADMIN_TOKEN, else generated once into <AAR_HOME>/admin_token (mode 0600)."""

from __future__ import annotations

import os
import secrets

from aar import paths
from aar.server.app import token_digest


def admin_token_digest() -> str:
    token = os.environ.get("AAR_ADMIN_TOKEN")
    if not token:
        path = paths.home() / "admin_token"
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write("aar_admin_" + secrets.token_urlsafe(32) + "\n")
        token = path.read_text().strip()
    return token_digest(token)
