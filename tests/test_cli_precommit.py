"""The pre-commit hooks of .pre-commit-hooks.yaml, run by the real pre-commit (try-repo).

pre-commit builds the hooks' environment from this repository (``language: python``: a
virtualenv and ``pip install .``), so the test needs PyPI or a warm pip cache, and takes
a few seconds more than the others; both hooks run in one pre-commit session to pay for
that environment once.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from clikit import SERVICE, environment, git, make_project

REPO = Path(__file__).resolve().parent.parent


def test_check_and_fix_hooks_run_through_pre_commit_try_repo(tmp_path: Path) -> None:
    pytest.importorskip("pre_commit")
    if not (REPO / ".git").exists():
        pytest.skip("pre-commit try-repo needs this checkout to be a git repository")
    project = make_project(tmp_path / "p", extra={
        "pyproject.toml": '[tool.flushguard]\nextend-exclude = ["legacy"]\n',
        "legacy/old.py": SERVICE,
    })
    legacy = (project / "legacy" / "old.py").read_bytes()
    done = subprocess.run(
        [sys.executable, "-m", "pre_commit", "try-repo", str(REPO), "--all-files",
         "--color", "never"],
        cwd=project, capture_output=True, text=True, timeout=600,
        env=environment({"PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home")}),
    )
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    check, fix = output.split("flushguard fix")
    assert "flushguard check" in check and "Failed" in check
    assert "app/service.py:10:38: FG001" in check
    assert "legacy/old.py" not in output  # --force-exclude: named files obey extend-exclude
    assert "files were modified by this hook" in fix
    fixed = (project / "app" / "service.py").read_text()
    assert 'await session.refresh(user, ["created_at"])' in fixed
    assert (project / "legacy" / "old.py").read_bytes() == legacy
    assert "app/service.py" in git("status", "--porcelain", cwd=project)
