"""The documentation site builds with ``mkdocs build --strict``: a broken link, a missing image or
anchor, or an API reference that cannot be collected fails the tests (mkdocs.yml, docs/).

mkdocs and mkdocstrings come with the ``test`` extra (the same pins as ``docs``): without them
this test fails rather than skips, so that the strict build is never silently left out."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_docs_site_builds_strict(tmp_path):
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1", OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
        check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"
    site = tmp_path / "site"
    assert (site / "index.html").is_file()
    # The API reference was generated, channels included (they install as linksim.channels).
    channels = (site / "api" / "channels" / "index.html").read_text(encoding="utf-8")
    assert "linksim.channels.uma" in channels
    assert "linksim.channels.cost2100" in channels
