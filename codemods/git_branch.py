"""The fixes as one commit on a new branch, built from a committed revision (GitPython).

Nothing the user has is touched: not the working tree, not the index, not HEAD or the
branch checked out. The base revision's files are read from the object database into a
temporary folder, analysed there like any project, and the fixed files go back in as
blobs; the tree is written through a temporary index file (``GIT_INDEX_FILE``), the commit
with ``commit-tree``, and the branch with ``update-ref``. A dirty tree, untracked files,
a linked worktree, a detached HEAD, a shallow clone or a held ``index.lock`` make no
difference.

What would make git fail half-way is refused before anything is written, so that a refusal
leaves the repository exactly as it was: a bare repository, a name that ``git branch`` would
reject or that collides with another branch's folder, a branch checked out in any worktree
(an unborn one included), a lock held on the branch, and HEAD as the base while a merge,
rebase, cherry-pick, revert or ``git am`` is stopped half-way.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from codemods import interrupts
from codemods.engine import ROOT_MARKERS, RunResult
from codemods.types import Finding

DEFAULT_NAME = "flushguard/refresh-after-flush"

_SYMLINK = 0o120000
_EXECUTABLE = 0o100755

#: ``analyse(paths, cwd, root)``: the run over the base revision's files, laid out in a
#: temporary folder; paths show relative to ``cwd``, and ``root`` is the project.
Analyse = Callable[[Sequence[Path], Path, Path], RunResult]


class BranchError(Exception):
    """A mistake the user can fix (no repository, unknown revision, branch exists...)."""


@dataclass(frozen=True)
class BranchResult:
    name: str
    base: str
    base_commit: str
    #: The new commit, or None when there was nothing to fix.
    commit: Optional[str]
    result: RunResult
    #: The findings whose fixes the commit holds, in path and line order.
    fixed: Tuple[Finding, ...]
    #: Changed files, relative to the repository's top.
    paths: Tuple[str, ...]


def commit_fixes(paths: Sequence[Path], analyse: Analyse, name: str = DEFAULT_NAME,
                 base: str = "HEAD", force: bool = False,
                 cwd: Optional[Path] = None) -> BranchResult:
    """Fix the base revision's files under ``paths`` and commit them on branch ``name``.

    ``paths`` are as the user typed them, relative to ``cwd``. Raises BranchError for
    anything the user can fix; the repository is unchanged then. When nothing needs a
    fix no commit and no branch is made (``commit`` is None).
    """
    import git

    cwd = Path(os.path.abspath(cwd or Path.cwd()))
    try:
        repo = git.Repo(cwd, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise BranchError("not inside a git repository") from None
    with repo:
        if repo.bare or repo.working_tree_dir is None:
            raise BranchError("this is a bare repository (no working tree): run flushguard "
                              "branch in a clone or a worktree of it")
        top = Path(os.path.abspath(repo.working_tree_dir))
        gitdir = Path(repo.git.rev_parse("--absolute-git-dir"))
        if any(cwd.resolve().is_relative_to(Path(d).resolve()) for d in (gitdir, repo.common_dir)):
            raise BranchError(f"{cwd} is inside the .git folder: run flushguard branch in the "
                              "working tree")
        _inside(cwd, top)
        ref = _check_name(repo, name, force)
        base_commit = _resolve(repo, base)
        _check_operation(repo, gitdir, base_commit)
        with tempfile.TemporaryDirectory(prefix="flushguard-branch-") as folder:
            tree_root = Path(folder)
            _materialize(repo, base_commit, tree_root)
            # The copy's top is a project's top, as the checkout's is: configuration and
            # project detection stop here instead of climbing into the temporary folder's parents.
            (tree_root / ".git").mkdir(exist_ok=True)
            targets = []
            for given in paths or [Path(".")]:
                relative = _inside(Path(os.path.abspath(cwd / given)), top)
                target = tree_root / relative
                if relative.parts[:1] == (".git",) or not target.exists():
                    raise BranchError(f"{given}: not in {base} ({base_commit[:12]})")
                targets.append(target)
            # Paths show relative to the repository's top, as in the commit message.
            result = analyse(targets, tree_root, _project_root(targets[0], tree_root))
            changed = [o for o in result.outcomes if o.changed and o.new_data is not None]
            fixed = tuple(sorted(
                (f for o in changed for f in o.findings if f.fix is not None
                 and (f.fix.applicability == "safe" or result.settings.unsafe_fixes)),
                key=lambda f: f.sort_key))
            entries = []
            for outcome in changed:
                relative_path = outcome.path.resolve().relative_to(tree_root.resolve()).as_posix()
                entries.append((relative_path, outcome.new_data))
        if not entries:
            return BranchResult(name, base, base_commit, None, result, (), ())
        message = _message(base, base_commit, fixed, result, [p for p, _ in entries])
        try:
            commit = _commit(repo, base_commit, entries, message)
            # The point of no return: the branch is made and reported whatever Ctrl-C says
            # from here, and git moves the ref in a session of its own, out of reach of the
            # terminal's Ctrl-C. Before it, an interrupt leaves only unreachable objects.
            interrupts.ignore_rest()
            repo.git.execute([git.Git.GIT_PYTHON_GIT_EXECUTABLE or "git", "update-ref", "-m",
                              f"flushguard: fixes on {base}", ref, commit,
                              _current(repo, ref) or ""], start_new_session=True)
        except git.GitCommandError as exc:  # no identity configured, a lock held, a hook...
            raise BranchError(f"git {exc.command[1] if len(exc.command) > 1 else ''} failed: "
                              f"{_git_message(exc)}") from None
        return BranchResult(name, base, base_commit, commit, result, fixed,
                            tuple(sorted(p for p, _ in entries)))


def _inside(path: Path, top: Path) -> Path:
    try:
        return path.relative_to(top)
    except ValueError:
        # A symlinked checkout: compare real paths.
        try:
            return path.resolve().relative_to(top.resolve())
        except ValueError:
            raise BranchError(f"{path}: outside the repository at {top}") from None


def _git_message(exc) -> str:
    text = exc.stderr.strip() if isinstance(exc.stderr, str) else str(exc)
    text = text.removeprefix("stderr:").strip().strip("'").strip()
    return " ".join(text.split()) or f"exit status {exc.status}"


def _current(repo, ref: str) -> Optional[str]:
    import git

    try:
        return repo.git.rev_parse("--verify", "--quiet", ref)
    except git.GitCommandError:
        return None


def _check_name(repo, name: str, force: bool) -> str:
    """``refs/heads/NAME`` once NAME is a valid branch name that may be (re)written now.

    Everything that would make ``update-ref`` fail is checked here, before any object is
    written: a refusal leaves the repository exactly as it was.
    """
    import git

    ref = f"refs/heads/{name}"
    try:
        # --branch: git branch's rules (no leading '-', not HEAD); the full name: no
        # '@{-1}' (which --branch would expand to the previous branch).
        repo.git.check_ref_format("--branch", name)
        repo.git.check_ref_format(ref)
    except git.GitCommandError:
        raise BranchError(f"{_quote(name)} is not a valid branch name (git check-ref-format)"
                          ) from None
    listing = repo.git.worktree("list", "--porcelain")
    if f"branch {ref}" in listing.splitlines():  # an unborn (orphan) checkout included
        raise BranchError(f"branch '{name}' is checked out; flushguard never moves a checked-out "
                          f"branch{', even with --force' if force else ''}")
    for other in repo.git.for_each_ref("--format=%(refname)", "refs/heads/").splitlines():
        if other.startswith(f"{ref}/") or ref.startswith(f"{other}/"):
            raise BranchError(f"branch '{name}' conflicts with the existing branch "
                              f"'{other.removeprefix('refs/heads/')}' (git cannot hold both)")
    if _current(repo, ref) is not None and not force:
        raise BranchError(f"branch '{name}' already exists (use --force to replace it)")
    lock = Path(os.path.abspath(repo.common_dir), *f"{ref}.lock".split("/"))
    if lock.exists():
        raise BranchError(f"branch '{name}' is locked by another git process ({lock} exists; "
                          "delete it if no git command is running)")
    return ref


def _quote(name: str) -> str:
    """``name`` in quotes, on one line whatever it holds."""
    return f"'{name}'" if name.isprintable() else repr(name)


#: Per-worktree state files of an operation that stopped half-way, and the operation.
_OPERATIONS = (("rebase-merge", "rebase"), ("rebase-apply/applying", "am"),
               ("rebase-apply", "rebase"), ("MERGE_HEAD", "merge"),
               ("CHERRY_PICK_HEAD", "cherry-pick"), ("REVERT_HEAD", "revert"))


def _check_operation(repo, gitdir: Path, base_commit: str) -> None:
    """Refuse to take HEAD as the base while a merge, rebase... holds it half-way.

    HEAD is then not what the user is making (a rebase's intermediate commit, a merge's
    first parent) and the working tree holds the conflicts; a base named with ``--base``
    that is another commit is fine.
    """
    for marker, operation in _OPERATIONS:
        if (gitdir / marker).exists():
            break
    else:
        return
    if base_commit != _current(repo, "HEAD"):
        return
    raise BranchError(f"git {operation} is in progress: finish it or run 'git {operation} "
                      "--abort' first, or name the revision to fix with --base")


def _resolve(repo, base: str) -> str:
    import git

    try:
        return repo.git.rev_parse("--verify", "--quiet", "--end-of-options", f"{base}^{{commit}}")
    except git.GitCommandError:
        if base == "HEAD":  # HEAD always names a branch: an unborn one
            raise BranchError("HEAD has no commit yet: there is nothing committed to fix"
                              ) from None
        raise BranchError(f"unknown revision {_quote(base)} (no commit by that name)") from None


def _materialize(repo, commit: str, folder: Path) -> None:
    """Write the committed files of ``commit`` under ``folder``, byte for byte (no filters)."""
    for item in repo.commit(commit).tree.traverse():
        if item.type != "blob" or item.mode == _SYMLINK:
            continue  # folders come with their files; links could point out of the copy
        target = folder / item.path
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "wb") as handle:
            stream = item.data_stream
            while chunk := stream.read(1 << 20):
                handle.write(chunk)
        if item.mode == _EXECUTABLE:
            os.chmod(target, 0o755)


def _project_root(start: Path, top: Path) -> Path:
    """The nearest folder from ``start`` up to ``top`` that looks like a project's root."""
    folder = start if start.is_dir() else start.parent
    while True:
        if any((folder / marker).exists() for marker in ROOT_MARKERS):
            return folder
        if folder == top or folder.parent == folder:
            return top
        folder = folder.parent


#: Files hashed by one ``git hash-object`` (its command line stays short).
_HASH_BATCH = 256


def _commit(repo, base_commit: str, entries: Sequence[Tuple[str, bytes]], message: str) -> str:
    """A commit of ``base_commit``'s tree with ``entries`` replaced; nothing else is written.

    Every object is written by git itself (``hash-object``, ``write-tree``, ``commit-tree``),
    which writes a temporary file and renames it: whatever stops the run, an object in the
    repository is whole, and what was written before the branch is merely unreachable.
    """
    modes = {}
    base_tree = repo.commit(base_commit).tree
    for path, _ in entries:
        modes[path] = base_tree[path].mode
    with tempfile.TemporaryDirectory(prefix="flushguard-index-") as folder:
        env = {"GIT_INDEX_FILE": str(Path(folder, "index"))}
        repo.git.read_tree(base_commit, env=env)
        copies = []
        for number, (_, data) in enumerate(entries):
            copy = Path(folder, f"blob-{number}")
            copy.write_bytes(data)
            copies.append(str(copy))
        blobs: List[str] = []
        for start in range(0, len(copies), _HASH_BATCH):
            blobs += repo.git.hash_object("-w", "--no-filters", "--",
                                          *copies[start:start + _HASH_BATCH]).split()
        cacheinfo: List[str] = []
        for (path, _), blob in zip(entries, blobs):
            cacheinfo += ["--cacheinfo", f"{modes[path]:o},{blob},{path}"]
        repo.git.update_index(*cacheinfo, env=env)
        tree = repo.git.write_tree(env=env)
    return repo.git.commit_tree(tree, "-p", base_commit, "-m", message)


def _message(base: str, base_commit: str, fixed: Sequence[Finding], result: RunResult,
             paths: Sequence[str]) -> str:
    """Summary line, then every fix: ``path:line CODE object: attributes``."""
    statements = {(f.path, f.fix.line, f.fix.text) for f in fixed if f.fix is not None}
    count = len(statements)
    files = len(paths)
    summary = (f"Refresh objects read after flush/commit ({count} fix{'es' if count != 1 else ''} "
               f"in {files} file{'s' if files != 1 else ''})")
    lines = [
        summary,
        "",
        "flushguard inserted the refreshes that keep these reads from raising MissingGreenlet",
        f"(async SQLAlchemy), on {base} ({base_commit[:12]}):",
        "",
    ]
    # One line per read: the findings of one read (one per attribute) share it.
    grouped: Dict[Tuple[str, int, str, str, str, int], List[str]] = {}
    for finding in fixed:
        assert finding.fix is not None
        key = (finding.path, finding.line, finding.code, finding.object, finding.model,
               finding.fix.line)
        names = grouped.setdefault(key, [])
        names.extend(a for a in finding.attributes if a not in names)
    for (path, line, code, obj, model, after), names in grouped.items():
        lines.append(f"- {path}:{line} {code} {obj} ({model}): {', '.join(names)}; "
                     f"refreshed after line {after}")
    settings = result.settings
    lines += ["", f"Backend: {settings.backend} ({settings.backend_source}); "
                  f"SQLAlchemy {settings.sqlalchemy} ({settings.sqlalchemy_source})."]
    return "\n".join(lines) + "\n"
