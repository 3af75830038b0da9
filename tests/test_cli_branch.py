"""branch: the fixes as one commit on a new branch, with nothing of the user's touched."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from clikit import SERVICE, TWO_FIXES, flushguard, git, make_project, snapshot

NAME = "flushguard/refresh-after-flush"
REFRESH = 'await session.refresh(user, ["created_at"])'


def state(worktree: Path) -> dict:
    """Everything branch must leave alone: files (bytes, mode, mtime), index, HEAD, refs."""
    gitdir = Path(git("rev-parse", "--absolute-git-dir", cwd=worktree).strip())
    common = Path(git("rev-parse", "--path-format=absolute", "--git-common-dir",
                      cwd=worktree).strip())
    index = (gitdir / "index").read_bytes()  # first: nothing below may refresh it
    refs = git("--no-optional-locks", "for-each-ref", "--format=%(refname) %(objectname)",
               cwd=worktree)
    return {
        "files": snapshot(worktree),
        "index": index,
        "HEAD": (gitdir / "HEAD").read_bytes(),
        "head": git("rev-parse", "HEAD", cwd=worktree),
        "refs": [line for line in refs.splitlines() if f"refs/heads/{NAME}" not in line],
        "status": git("--no-optional-locks", "status", "--porcelain=v2", "--untracked-files=all",
                      cwd=worktree),
        "stash": (common / "refs" / "stash").exists(),
    }


def dirty(root: Path) -> None:
    """A modified tracked file, a staged change and an untracked file."""
    service = SERVICE.replace("email: str", "email: str, extra=None")
    (root / "app" / "service.py").write_text(service)
    (root / "app" / "models.py").write_text((root / "app" / "models.py").read_text() + "# staged\n")
    git("add", "app/models.py", cwd=root)
    (root / "notes.txt").write_text("untracked\n")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_project(tmp_path / "my repo", service=TWO_FIXES)  # a path with a space


def test_branch_commits_the_fixes_of_the_committed_files_and_touches_nothing(
        repo: Path, tmp_path: Path) -> None:
    dirty(repo)
    before = state(repo)
    result = flushguard("branch", cwd=repo)
    assert result.returncode == 0, result.stderr
    assert state(repo) == before
    lines = result.stdout.splitlines()
    commit = git("rev-parse", NAME, cwd=repo).strip()
    assert lines == [f"branch: {NAME}", f"commit: {commit}", f"review: git diff HEAD...{NAME}"]
    assert git("rev-parse", f"{NAME}^", cwd=repo).strip() == before["head"].strip()
    assert git("diff", "--name-only", f"HEAD...{NAME}", cwd=repo).split() == ["app/service.py"]
    # The committed file is what `fix` makes of the committed (not the dirty) file.
    clean = make_project(tmp_path / "clean", service=TWO_FIXES, repo=False)
    assert flushguard("fix", cwd=clean).returncode == 0
    fixed = (clean / "app" / "service.py").read_text()
    assert git("show", f"{NAME}:app/service.py", cwd=repo) == fixed


def test_the_commit_message_lists_every_fix(repo: Path) -> None:
    assert flushguard("branch", cwd=repo).returncode == 0
    message = git("log", "-1", "--format=%B", NAME, cwd=repo)
    summary, blank, *body = message.splitlines()
    assert summary == "Refresh objects read after flush/commit (2 fixes in 1 file)"
    assert blank == "" and len(summary) <= 72
    assert "- app/service.py:10 FG001 user (User): created_at; refreshed after line 9" in body
    assert "- app/service.py:17 FG003 user (User): email; refreshed after line 16" in body


def test_an_existing_branch_is_an_error_unless_force(repo: Path) -> None:
    assert flushguard("branch", cwd=repo).returncode == 0
    first = git("rev-parse", NAME, cwd=repo)
    again = flushguard("branch", cwd=repo)
    assert again.returncode == 2
    assert f"branch '{NAME}' already exists" in again.stderr and again.stdout == ""
    assert git("rev-parse", NAME, cwd=repo) == first
    (repo / "app" / "extra.py").write_text(SERVICE)
    git("add", ".", cwd=repo)
    git("commit", "-q", "-m", "more", cwd=repo)
    forced = flushguard("branch", "--force", cwd=repo)
    assert forced.returncode == 0, forced.stderr
    assert git("rev-parse", f"{NAME}^", cwd=repo) == git("rev-parse", "HEAD", cwd=repo)
    assert "app/extra.py" in git("diff", "--name-only", f"HEAD...{NAME}", cwd=repo)


def test_force_never_moves_the_checked_out_branch(repo: Path) -> None:
    before = state(repo)
    result = flushguard("branch", "--name", "main", "--force", cwd=repo)
    assert result.returncode == 2 and "checked out" in result.stderr
    assert state(repo) == before


def test_name_and_base_options(repo: Path) -> None:
    base = git("rev-parse", "HEAD", cwd=repo).strip()
    (repo / "README").write_text("later\n")
    git("add", "README", cwd=repo)
    git("commit", "-q", "-m", "later", cwd=repo)
    result = flushguard("branch", "--name", "fixes/mine", "--base", "HEAD~1", cwd=repo)
    assert result.returncode == 0, result.stderr
    assert "review: git diff HEAD~1...fixes/mine" in result.stdout
    assert git("rev-parse", "fixes/mine^", cwd=repo).strip() == base
    assert flushguard("branch", "--base", "no-such-rev", cwd=repo).returncode == 2
    bad = flushguard("branch", "--name", "bad..name", cwd=repo)
    assert bad.returncode == 2 and "not a valid branch name" in bad.stderr


def test_branch_from_a_subfolder_with_paths(repo: Path) -> None:
    (repo / "other").mkdir()
    (repo / "other" / "copy.py").write_text(SERVICE)
    git("add", ".", cwd=repo)
    git("commit", "-q", "-m", "other", cwd=repo)
    before = state(repo)
    result = flushguard("branch", "service.py", cwd=repo / "app")
    assert result.returncode == 0, result.stderr
    assert state(repo) == before
    assert git("diff", "--name-only", f"HEAD...{NAME}", cwd=repo).split() == ["app/service.py"]
    assert "- app/service.py:10 FG001" in git("log", "-1", "--format=%B", NAME, cwd=repo)


def test_branch_in_a_linked_worktree(repo: Path, tmp_path: Path) -> None:
    worktree = tmp_path / "linked tree"
    git("worktree", "add", "-q", "-b", "feature", str(worktree), cwd=repo)
    (worktree / "app" / "service.py").write_text("# dirty in the worktree\n")
    main_before, linked_before = state(repo), state(worktree)
    result = flushguard("branch", cwd=worktree)
    assert result.returncode == 0, result.stderr
    assert state(repo) == main_before and state(worktree) == linked_before
    assert git("rev-parse", f"{NAME}^", cwd=repo) == git("rev-parse", "feature", cwd=repo)
    assert REFRESH in git("show", f"{NAME}:app/service.py", cwd=repo)


def test_a_file_mode_and_crlf_survive_in_the_commit(tmp_path: Path) -> None:
    crlf = TWO_FIXES.replace("\n", "\r\n").encode()
    repo = make_project(tmp_path / "p", extra={"app/tool.py": crlf})
    os.chmod(repo / "app" / "tool.py", 0o755)
    git("add", ".", cwd=repo)
    git("commit", "-q", "-m", "tool", cwd=repo)
    assert flushguard("branch", cwd=repo).returncode == 0
    entry = git("ls-tree", NAME, "app/tool.py", cwd=repo)
    assert entry.startswith("100755 blob ")
    blob = entry.split()[2]
    content = subprocess.run(["git", "cat-file", "blob", blob], cwd=repo, capture_output=True,
                             check=True).stdout
    assert f"    {REFRESH}\r\n".encode() in content
    assert content.count(b"\r\n") == content.count(b"\n")


def test_nothing_to_fix_creates_no_branch(tmp_path: Path) -> None:
    repo = make_project(tmp_path / "p", service="async def f(s):\n    await s.flush()\n")
    result = flushguard("branch", cwd=repo)
    assert result.returncode == 0 and result.stdout == ""
    assert "nothing to fix" in result.stderr
    assert NAME not in git("branch", "--list", cwd=repo)


def test_outside_a_repository_branch_is_an_error(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", repo=False)
    result = flushguard("branch", cwd=project, env={"GIT_CEILING_DIRECTORIES": str(tmp_path)})
    assert result.returncode == 2
    assert "not inside a git repository" in result.stderr and "Traceback" not in result.stderr


def test_a_path_missing_from_the_base_and_stdin_are_errors(repo: Path) -> None:
    (repo / "app" / "new.py").write_text(SERVICE)  # on disk, not committed
    before = state(repo)
    missing = flushguard("branch", "app/new.py", cwd=repo)
    assert missing.returncode == 2 and "app/new.py: not in HEAD" in missing.stderr
    piped = flushguard("branch", "-", cwd=repo, input=SERVICE)
    assert piped.returncode == 2 and "stdin" in piped.stderr
    assert state(repo) == before
