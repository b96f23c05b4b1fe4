"""The documentation holds: the README stays a guide, the generated reference pages match the code, the site builds
with MkDocs in strict mode (every link and page resolves), and every command of the guides runs as written (a
block that cannot run here says why on its first line: ``# not run: <reason>``)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GUIDES = sorted((ROOT / "docs" / "guides").glob("*.md"))
BLOCK = re.compile(r"^```bash\n(.*?)^```", re.S | re.M)


def _blocks() -> list[tuple[str, int, str]]:
    return [(path.name, i, block) for path in GUIDES for i, block in enumerate(BLOCK.findall(path.read_text()))]


def test_the_readme_is_a_guide_and_its_links_resolve() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 220
    assert readme.splitlines()[3:5] == ["make run    # set everything up, run a research campaign offline (4 heuristic "
                                        "researchers, 3 tasks), print results",
                                        "make test   # set everything up, run the whole test suite (lint, types, docs, "
                                        "pytest)"]
    targets = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme)
    assert targets and all((ROOT / t).is_file() for t in targets), [t for t in targets if not (ROOT / t).is_file()]


def test_the_generated_pages_match_the_code() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "docs" / "gen_reference.py"), "--check"], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr


def test_the_site_builds_in_strict_mode(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    methods = (tmp_path / "site" / "reference" / "methods" / "index.html").read_text()
    assert "MethodContext" in methods and "weak_soft" in methods  # the interface rendered from its docstrings


def test_every_guide_block_runs_or_says_why_not() -> None:
    blocks = _blocks()
    assert len(blocks) >= 8
    for name, _, block in blocks:
        first = block.splitlines()[0]
        if first.startswith("#"):
            assert re.match(r"# not run: \S", first), f"{name}: a commented block must say why it is not run"


@pytest.mark.parametrize("name, index, block", [b for b in _blocks() if not b[2].startswith("# not run:")],
                         ids=lambda v: str(v)[:30] if isinstance(v, str) else str(v))
def test_the_guides_commands_run_as_written(name: str, index: int, block: str, tmp_path: Path) -> None:
    """Each runnable block, line by line in one shell (``set -e``), in a fresh working folder with the suite's
    AAR_HOME (its task samples are built), on the installed `aar`."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    done = subprocess.run(["bash", "-e", "-c", block], cwd=tmp_path, capture_output=True, text=True, timeout=900,
                          env=env)
    assert done.returncode == 0, f"{name} block {index}:\n{block}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
