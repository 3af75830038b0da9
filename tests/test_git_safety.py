"""branch in every awkward state a repository can be in: it works without touching the
working tree, the index or HEAD, or it refuses with one clear line (exit 2).

A refusal leaves every file and folder under the work tree and ``.git`` as it was (path,
kind, mode, bytes, mtime): not even an object is written. A run that works adds objects
and the new branch (its ref and its reflog) and nothing else: the work tree (untracked files
included), the index, HEAD and every other ref are byte-identical afterwards.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path
from typing import Dict, Optional, Tuple

import pytest

from clikit import SERVICE, TWO_FIXES, environment, flushguard, git, make_project

NAME = "flushguard/refresh-after-flush"
REFRESH = 'await session.refresh(user, ["created_at"])'

Entry = Tuple[str, int, Optional[bytes], int]


def tree(root: Path) -> Dict[str, Entry]:
    """Every file, folder and link under ``root``: kind, mode, content, mtime."""
    state: Dict[str, Entry] = {}
    for folder, folders, files in os.walk(root):
        for name in folders + files:
            path = Path(folder, name)
            info = path.lstat()
            relative = path.relative_to(root).as_posix()
            if stat.S_ISLNK(info.st_mode):
                state[relative] = ("link", info.st_mode, os.fsencode(os.readlink(path)),
                                   info.st_mtime_ns)
            elif stat.S_ISDIR(info.st_mode):
                state[relative] = ("dir", info.st_mode, None, info.st_mtime_ns)
            else:
                state[relative] = ("file", info.st_mode, path.read_bytes(), info.st_mtime_ns)
    return state


def run_git(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """git that may fail (a merge that stops on a conflict), with the tests' identity."""
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False,
                          env=environment())


def refs(repo: Path) -> Dict[str, str]:
    listing = git("--no-optional-locks", "for-each-ref", "--format=%(refname) %(objectname)",
                  cwd=repo)
    return dict(line.split(" ", 1) for line in listing.splitlines())


def refuses(repo: Path, *args: str, cwd: Optional[Path] = None,
            root: Optional[Path] = None) -> str:
    """Run branch, expect a one-line refusal, prove nothing under ``root`` changed."""
    root = root or repo
    before = tree(root)
    done = flushguard("branch", *args, cwd=cwd or repo)
    after = tree(root)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("flushguard: error: "), done.stderr
    changed = sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))
    assert changed == [], changed
    return lines[0].removeprefix("flushguard: error: ")


def works(repo: Path, *args: str, name: str = NAME, cwd: Optional[Path] = None,
          base: str = "HEAD") -> str:
    """Run branch, expect a commit on ``name``; only objects and that branch may appear."""
    gitdir = repo / ".git"
    base_commit = git("rev-parse", f"{base}^{{commit}}", cwd=repo).strip()
    before, before_refs = tree(repo), refs(repo)
    index, head = (gitdir / "index").read_bytes(), (gitdir / "HEAD").read_bytes()
    done = flushguard("branch", *args, cwd=cwd or repo)
    after = tree(repo)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    # The work tree (untracked files included), the index, HEAD and the other refs.
    worktree = {p: e for p, e in before.items() if not p.startswith(".git")}
    assert {p: e for p, e in after.items() if not p.startswith(".git")} == worktree
    assert (gitdir / "index").read_bytes() == index
    assert (gitdir / "HEAD").read_bytes() == head
    new_refs = refs(repo)
    commit = new_refs.pop(f"refs/heads/{name}")
    assert new_refs == before_refs
    # Nothing else in .git: every entry as it was, new ones only objects and the branch.
    ref, log = f".git/refs/heads/{name}", f".git/logs/refs/heads/{name}"
    added = sorted(set(after) - set(before))
    assert all(p.startswith(".git/objects/") or p in (ref, log) or f"{ref}/".startswith(f"{p}/")
               or f"{log}/".startswith(f"{p}/") for p in added), added
    parents = {p.rpartition("/")[0] for p in added}
    for path, entry in before.items():
        if path in parents:  # a folder that gained an entry: only its mtime moves
            assert after[path][:3] == entry[:3], path
        else:
            assert after.get(path) == entry, path
    # The commit: on top of the base, holding the fix of the committed file.
    assert done.stdout.splitlines()[:2] == [f"branch: {name}", f"commit: {commit}"]
    assert git("rev-parse", f"{commit}^", cwd=repo).strip() == base_commit
    assert REFRESH in git("show", f"{commit}:app/service.py", cwd=repo)
    assert git("diff", "--name-only", base_commit, commit, cwd=repo).split() == ["app/service.py"]
    return commit


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_project(tmp_path / "repo", service=TWO_FIXES)


def commit_file(repo: Path, name: str, text: str, message: str) -> None:
    (repo / name).write_text(text)
    git("add", name, cwd=repo)
    git("commit", "-q", "-m", message, cwd=repo)


def diverge(repo: Path) -> None:
    """``side`` and ``main`` change ``notes.txt`` differently: merging them conflicts."""
    commit_file(repo, "notes.txt", "base\n", "notes")
    git("checkout", "-q", "-b", "side", cwd=repo)
    commit_file(repo, "notes.txt", "side\n", "side notes")
    git("checkout", "-q", "main", cwd=repo)
    commit_file(repo, "notes.txt", "main\n", "main notes")


# Works -------------------------------------------------------------------------------------


def test_dirty_tree_staged_changes_and_untracked_files(repo: Path) -> None:
    (repo / "app" / "service.py").write_text(SERVICE.replace("email: str", "email: str, x=0"))
    (repo / "app" / "models.py").write_text((repo / "app" / "models.py").read_text() + "# s\n")
    git("add", "app/models.py", cwd=repo)
    (repo / "notes.txt").write_text("untracked\n")
    (repo / "app" / "new.py").write_text(SERVICE)  # untracked, and would have a fix
    (repo / ".gitignore").write_text("ignored/\n")
    (repo / "ignored").mkdir()
    (repo / "ignored" / "x.py").write_text(SERVICE)
    commit = works(repo)
    # The commit holds the committed service fixed, not the dirty one nor the untracked file.
    shown = git("show", f"{commit}:app/service.py", cwd=repo)
    assert "x=0" not in shown and "async def rename" in shown
    assert git("show", f"{commit}:app/models.py", cwd=repo) == git("show", "HEAD:app/models.py",
                                                                   cwd=repo)
    assert git("ls-tree", "-r", "--name-only", commit, cwd=repo) == git(
        "ls-tree", "-r", "--name-only", "HEAD", cwd=repo)


def test_detached_head_bases_the_branch_on_its_commit(repo: Path) -> None:
    commit_file(repo, "later.txt", "later\n", "later")
    git("checkout", "-q", "--detach", "HEAD~1", cwd=repo)
    works(repo)


def test_bisect_is_a_detached_head(repo: Path) -> None:
    commit_file(repo, "later.txt", "later\n", "later")
    commit_file(repo, "later.txt", "later still\n", "later still")
    git("bisect", "start", "HEAD", "HEAD~2", cwd=repo)
    assert (repo / ".git" / "BISECT_LOG").exists()
    works(repo)


def test_shallow_clone(repo: Path, tmp_path: Path) -> None:
    commit_file(repo, "later.txt", "later\n", "later")
    clone = tmp_path / "shallow"
    git("clone", "-q", "--depth", "1", repo.as_uri(), str(clone), cwd=tmp_path)
    assert (clone / ".git" / "shallow").exists()
    commit = works(clone)
    assert git("rev-list", "--count", commit, cwd=clone).strip() == "2"


@pytest.mark.parametrize("lock", ["index.lock", "HEAD.lock", "packed-refs.lock",
                                  "refs/heads/main.lock"])
def test_a_lock_on_something_branch_does_not_write(repo: Path, lock: str) -> None:
    """The commit is built in a temporary index, HEAD and the other refs are only read."""
    git("pack-refs", "--all", cwd=repo)
    (repo / ".git" / lock).write_bytes(b"")
    works(repo)
    assert (repo / ".git" / lock).read_bytes() == b""


def test_from_a_subfolder_of_a_linked_worktree_with_a_detached_head(repo: Path,
                                                                    tmp_path: Path) -> None:
    linked = tmp_path / "linked"
    git("worktree", "add", "-q", "--detach", str(linked), cwd=repo)
    (linked / "app" / "service.py").write_text("# dirty\n")
    before = tree(linked)
    main_before = tree(repo)
    done = flushguard("branch", "service.py", cwd=linked / "app")
    assert done.returncode == 0, done.stderr
    assert tree(linked) == before
    assert {p: e for p, e in tree(repo).items() if not p.startswith(".git/")} == \
        {p: e for p, e in main_before.items() if not p.startswith(".git/")}
    assert REFRESH in git("show", f"{NAME}:app/service.py", cwd=repo)


# Refuses -----------------------------------------------------------------------------------


def test_bare_repository(repo: Path, tmp_path: Path) -> None:
    bare = tmp_path / "bare.git"
    git("clone", "-q", "--bare", str(repo), str(bare), cwd=tmp_path)
    message = refuses(bare, root=bare)
    assert "bare repository" in message and "no working tree" in message


def test_inside_the_git_folder(repo: Path) -> None:
    message = refuses(repo, cwd=repo / ".git" / "refs")
    assert "inside the .git folder" in message


@pytest.mark.parametrize("path", [".git", ".git/refs"])
def test_a_path_inside_the_git_folder(repo: Path, path: str) -> None:
    head = git("rev-parse", "--short=12", "HEAD", cwd=repo).strip()
    assert refuses(repo, path) == f"{path}: not in HEAD ({head})"


def test_a_repository_without_a_commit(tmp_path: Path) -> None:
    repo = make_project(tmp_path / "empty", repo=False)
    git("init", "-q", "-b", "main", cwd=repo)
    git("add", ".", cwd=repo)
    message = refuses(repo)
    assert message == "HEAD has no commit yet: there is nothing committed to fix"


OPERATIONS = {
    "merge": (["merge", "side"], "MERGE_HEAD"),
    "merge --no-commit": (["merge", "--no-commit", "--no-ff", "side"], "MERGE_HEAD"),
    "rebase": (["rebase", "side"], "rebase-merge"),
    "rebase --apply": (["rebase", "--apply", "side"], "rebase-apply"),
    # No conflict: stopped at an `edit`, the working tree clean, HEAD detached.
    "rebase -i (edit)": (["-c", "sequence.editor=sed -i s/^pick/edit/", "rebase", "-i",
                          "HEAD~1"], "rebase-merge"),
    "cherry-pick": (["cherry-pick", "side"], "CHERRY_PICK_HEAD"),
    "revert": (["revert", "--no-edit", "HEAD~1"], "REVERT_HEAD"),
    "am": (["am", "--3way", "patch"], "rebase-apply/applying"),
}


def start(repo: Path, operation: str) -> str:
    """Leave ``operation`` stopped half-way; return its git word (merge, rebase, am...)."""
    args, marker = OPERATIONS[operation]
    diverge(repo)
    if operation == "merge --no-commit":
        git("checkout", "-q", "-B", "main", "side~1", cwd=repo)
    if operation == "revert":
        commit_file(repo, "notes.txt", "main again\n", "main notes again")
    if operation == "am":
        (repo / "patch").write_text(git("format-patch", "-1", "--stdout", "side", cwd=repo))
        git("add", "patch", cwd=repo)
        git("commit", "-q", "-m", "patch", cwd=repo)
    done = run_git(*args, cwd=repo)
    assert (repo / ".git" / marker).exists(), done.stdout + done.stderr
    return "am" if operation == "am" else next(a for a in args if not a.startswith("-")
                                               and "=" not in a)


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_an_operation_in_progress(repo: Path, operation: str) -> None:
    word = start(repo, operation)
    message = refuses(repo)
    assert message.startswith(f"git {word} is in progress"), message
    assert f"git {word} --abort" in message and "--base" in message
    assert refuses(repo, "--base", "HEAD") == message


def test_an_operation_in_progress_with_another_base(repo: Path) -> None:
    start(repo, "rebase")
    works(repo, "--base", "main", base="main")


@pytest.mark.parametrize("name", ["a..b", "-x", "foo.lock", "has space", "@{", "@{-1}", "HEAD",
                                  "x~1", "a:b", "a?b", "a*b", "a[b", "a\\b", "end/", "/start",
                                  "a//b", "a.", ".a", "a/.b", "tab\tx", "new\nline"])
def test_an_invalid_branch_name(repo: Path, name: str) -> None:
    git("checkout", "-q", "-b", "previous", cwd=repo)
    git("checkout", "-q", "main", cwd=repo)  # so that @{-1} means something
    message = refuses(repo, "--name", name)
    shown = repr(name) if not name.isprintable() else f"'{name}'"
    assert message == f"{shown} is not a valid branch name (git check-ref-format)"


@pytest.mark.parametrize("name,existing", [("main/fixes", "main"), ("nested", "nested/deeper")])
def test_a_name_that_collides_with_a_branch_folder(repo: Path, name: str, existing: str) -> None:
    if existing != "main":
        git("branch", existing, cwd=repo)
    message = refuses(repo, "--name", name)
    assert message == (f"branch '{name}' conflicts with the existing branch '{existing}' "
                       "(git cannot hold both)")
    assert refuses(repo, "--name", name, "--force") == message


@pytest.mark.parametrize("name", [NAME, "fixes"])
@pytest.mark.parametrize("packed", [False, True])
def test_a_lock_on_the_branch_itself(repo: Path, name: str, packed: bool) -> None:
    if packed:
        git("branch", name, cwd=repo)
        git("pack-refs", "--all", cwd=repo)
    lock = repo / ".git" / "refs" / "heads" / f"{name}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_bytes(b"")
    message = refuses(repo, "--name", name, *(["--force"] if packed else []))
    assert message == (f"branch '{name}' is locked by another git process "
                       f"({lock} exists; delete it if no git command is running)")


def test_an_unborn_branch_checked_out_under_that_name(repo: Path) -> None:
    """`git checkout --orphan NAME`: creating NAME would give the checkout a commit."""
    git("checkout", "-q", "--orphan", NAME, cwd=repo)
    message = refuses(repo, "--base", "main")
    assert message == (f"branch '{NAME}' is checked out; flushguard never moves a checked-out "
                       "branch")


def test_a_checked_out_branch_is_refused_before_offering_force(repo: Path) -> None:
    message = refuses(repo, "--name", "main")
    assert message == "branch 'main' is checked out; flushguard never moves a checked-out branch"
    assert refuses(repo, "--name", "main", "--force") == message + ", even with --force"


def test_a_branch_checked_out_in_another_worktree(repo: Path, tmp_path: Path) -> None:
    git("worktree", "add", "-q", "-b", "busy", str(tmp_path / "busy"), cwd=repo)
    message = refuses(repo, "--name", "busy", "--force")
    assert message == "branch 'busy' is checked out; flushguard never moves a checked-out " \
                      "branch, even with --force"
