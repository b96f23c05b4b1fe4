"""A Hugging Face hub cache laid out as ``huggingface_hub`` writes it (``models--org--name`` with ``refs/main``,
``snapshots/<commit>/`` links into ``blobs/``), filled from local files, so the offline GPU path can load a
model by hub id with no download, exactly as on a machine that downloaded it earlier."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def fake_hub_cache(root: Path, repo_id: str, files: dict[str, Path]) -> Path:
    """``root`` becomes a hub cache holding ``repo_id`` with ``files`` (name -> source); returns ``root``.
    Blobs link to the sources (no copy of the weights); everything is world-readable like a real cache."""
    repo = root / ("models--" + repo_id.replace("/", "--"))
    commit = hashlib.sha1(repo_id.encode()).hexdigest()
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    (repo / "blobs").mkdir()
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for name, source in files.items():
        blob = hashlib.sha256(f"{repo_id}/{name}".encode()).hexdigest()
        (repo / "blobs" / blob).symlink_to(source.resolve())
        (snapshot / name).symlink_to(Path("..", "..", "blobs", blob))
    for folder in [root, *root.rglob("*")]:
        if folder.is_dir() and not folder.is_symlink():
            os.chmod(folder, 0o755)
    return root
