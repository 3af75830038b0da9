"""Finding the files of a run, reading them faithfully, writing them back safely.

Discovery never follows a directory outside the tree it was given, skips the
folders no user wants scanned, and checks cheap byte markers before anything
is parsed.  Reading keeps what writing needs to give the file back exactly as
it was: the encoding, the BOM and the line endings.
"""

from __future__ import annotations

import codecs
import contextlib
import fnmatch
import functools
import io
import os
import subprocess
import tempfile
import tokenize
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Set, Tuple

#: Folders never searched: version control, vendored code, virtualenvs, build output.
#: Any folder whose name starts with a dot, and any virtualenv (a folder holding
#: ``pyvenv.cfg``, whatever its name), is skipped as well.
SKIPPED_DIRS = frozenset({
    "venv", "env", "__pycache__", "node_modules", "build", "dist", "site-packages",
})

# A file can only hold a site if it mentions one of these.
SITE_MARKERS = (b".flush(", b".commit(", b".rollback(", b".expire", b".begin(", b".begin_nested(")
GENERATED_MARKER = b"@generated"
#: Only a marker near the top of a file counts, where code generators write it.
GENERATED_SCAN_BYTES = 2048


class ReadError(Exception):
    """A file that cannot be read or decoded; the message is for the user."""


@dataclass(frozen=True)
class SourceFile:
    """A decoded file and what it takes to write it back byte-faithfully."""

    path: Path
    text: str
    encoding: str
    bom: bool


def is_python_file(path: Path) -> bool:
    return path.suffix == ".py"


#: Folders skipped whatever the configuration says: version control and virtualenvs.
ALWAYS_SKIPPED_DIRS = frozenset({".git", ".hg", ".svn"})

#: The default exclusions, as globs. ``exclude`` (configuration or ``--exclude``) replaces
#: them, ``extend-exclude`` adds to them, as in ruff and black.
DEFAULT_EXCLUDE: Tuple[str, ...] = (".*", "*.egg-info", *sorted(SKIPPED_DIRS))


def discover(paths: Sequence[Path], exclude: Sequence[str] = (), *,
             extend_exclude: Sequence[str] = (), include_generated: bool = True,
             respect_gitignore: bool = True, force_exclude: bool = False) -> List[Path]:
    """Python files under ``paths``, sorted.

    ``exclude`` replaces :data:`DEFAULT_EXCLUDE` when given; ``extend_exclude`` adds to it.
    Inside a git work tree, files that git ignores (``.gitignore``, ``.git/info/exclude``,
    the global excludes file) are skipped; tracked files never are, and outside git no
    ignore file is read. Files carrying an ``@generated`` marker are skipped unless
    ``include_generated``. A file named explicitly is kept even when excluded or ignored,
    unless ``force_exclude`` (what a pre-commit hook, which names every file, needs).
    """
    patterns = (*(exclude or DEFAULT_EXCLUDE), *extend_exclude)
    found = set()
    explicit = [p for p in paths if p.is_file()]
    if force_exclude and explicit:
        ignored = _git_ignored(explicit) if respect_gitignore else set()
        explicit = [p for p in explicit if p not in ignored and not _excluded_anywhere(p, patterns)]
    found.update(explicit)
    for given in paths:
        if given.is_dir():
            found.update(p for p in _files_under(given, patterns, respect_gitignore)
                         if is_python_file(p))
    if not include_generated:
        found = {p for p in found if not _generated_file(p)}
    return sorted(found)


def _files_under(root: Path, patterns: Sequence[str], respect_gitignore: bool) -> Iterator[Path]:
    listing = _git_listing(root) if respect_gitignore else None
    if listing is None:
        yield from walk_files(root, patterns, default_exclude=False)
        return
    keep_dir: Dict[str, bool] = {"": True}

    def kept(folder: str) -> bool:
        if folder not in keep_dir:
            parent, _, name = folder.rpartition("/")
            path = root / folder
            keep_dir[folder] = kept(parent) and not (
                name in ALWAYS_SKIPPED_DIRS or (path / "pyvenv.cfg").exists()
                or _excluded(path, patterns))
        return keep_dir[folder]

    for entry in listing:
        if entry.endswith("/"):  # a nested repository that git does not descend into
            folder = entry.rstrip("/")
            if kept(folder):
                yield from _files_under(root / folder, patterns, respect_gitignore)
            continue
        folder = entry.rpartition("/")[0]
        path = root / entry
        if kept(folder) and not _excluded(path, patterns) and path.is_file():
            yield path


def _git(args: Sequence[str], cwd: Path, stdin: Optional[bytes] = None
         ) -> Optional[subprocess.CompletedProcess]:
    try:
        return subprocess.run(["git", *args], cwd=str(cwd), input=stdin, capture_output=True,
                              check=False)
    except OSError:  # no git on this machine: there are no ignore rules to respect
        return None


def _git_listing(root: Path) -> Optional[List[str]]:
    """Paths under ``root`` (relative, ``/``-separated) that git does not ignore.

    None when ``root`` is not in a git work tree, or when git ignores ``root`` itself (a
    folder named explicitly is searched even so, like a file named explicitly).
    """
    listed = _git(["ls-files", "-z", "--cached", "--others", "--exclude-standard"], root)
    if listed is None or listed.returncode != 0:
        return None
    entries = [e for e in os.fsdecode(listed.stdout).split("\0") if e]
    if not entries:
        ignored = _git(["check-ignore", "-q", "."], root)
        if ignored is not None and ignored.returncode == 0:
            return None
    return sorted(set(entries))


def _git_ignored(paths: Sequence[Path]) -> Set[Path]:
    """Those of ``paths`` that git ignores (never a tracked file)."""
    ignored: Set[Path] = set()
    by_folder: Dict[Path, List[Path]] = {}
    for path in paths:
        by_folder.setdefault(path.parent, []).append(path)
    for folder, members in by_folder.items():
        names = b"".join(os.fsencode(p.name) + b"\0" for p in members)
        answer = _git(["check-ignore", "-z", "--stdin"], folder, names)
        if answer is None or answer.returncode not in (0, 1):
            continue  # not in a work tree
        hits = {e for e in os.fsdecode(answer.stdout).split("\0") if e}
        ignored.update(p for p in members if p.name in hits)
    return ignored


def _excluded_anywhere(path: Path, patterns: Sequence[str]) -> bool:
    """``path`` or one of its folders (below the current folder) matches ``patterns``."""
    absolute = Path(os.path.abspath(path))
    try:
        parts = absolute.relative_to(Path.cwd()).parts
    except ValueError:
        parts = absolute.parts[1:]
    for depth in range(1, len(parts) + 1):
        partial = Path(*parts[:depth])
        if (depth < len(parts) and parts[depth - 1] in ALWAYS_SKIPPED_DIRS) or \
                _excluded(partial, patterns):
            return True
    return False


def _generated_file(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return is_generated(handle.read(GENERATED_SCAN_BYTES))
    except OSError:
        return False  # unreadable: analysis reports it


def walk_files(root: Path, exclude: Sequence[str] = (), *,
               default_exclude: bool = True) -> Iterator[Path]:
    """Every file under ``root`` outside skipped and excluded folders, in sorted order.

    ``.gitignore`` is not read here (project detection wants ``.env`` files and the like);
    :func:`discover` applies it. ``default_exclude=False`` leaves only version-control
    folders, virtualenvs and ``exclude`` out.
    """
    root_text = str(root)
    for dirpath, dirnames, filenames in os.walk(root_text):
        if dirpath != root_text and "pyvenv.cfg" in filenames:
            dirnames[:] = []  # a virtualenv under some other name (`.direnv/python-3.11`)
            continue
        dirnames[:] = sorted(
            d for d in dirnames
            if d not in ALWAYS_SKIPPED_DIRS
            and not (default_exclude and (d in SKIPPED_DIRS or d.startswith(".")
                                          or d.endswith(".egg-info")))
            and not _excluded(Path(dirpath, d), exclude)
        )
        for name in sorted(filenames):
            path = Path(dirpath, name)
            if not _excluded(path, exclude):
                yield path


def _excluded(path: Path, patterns: Sequence[str]) -> bool:
    text = path.as_posix()
    return any(fnmatch.fnmatch(text, p) or fnmatch.fnmatch(path.name, p) or
               fnmatch.fnmatch(text, f"*/{p}") for p in patterns)


def may_have_sites(data: bytes) -> bool:
    """Cheap test: could this file contain a flush/commit/rollback/expire site?"""
    return b"async" in data and any(marker in data for marker in SITE_MARKERS)


def is_generated(data: bytes) -> bool:
    return GENERATED_MARKER in data[:GENERATED_SCAN_BYTES]


#: CPython refuses more than 200 nested brackets; LibCST's native parser overflows its
#: stack (a segmentation fault, killing the run) on a few thousand, so deeper is refused first.
MAX_BRACKET_DEPTH = 200
_BRACKETS = bytes(range(256)).translate(None, b"()[]{}")


def too_deeply_nested(text: str) -> Optional[str]:
    """Why ``text`` is refused before parsing (brackets nested too deep), else None.

    A quick count over the bracket characters only; comments and strings are left out
    (by tokenizing) only when that count is over the limit.
    """
    brackets = text.encode("utf-8", "surrogatepass").translate(None, _BRACKETS)
    if len(brackets) <= 2 * MAX_BRACKET_DEPTH or _max_depth(chr(b) for b in brackets) <= MAX_BRACKET_DEPTH:
        return None
    try:
        ops = (t.string for t in tokenize.generate_tokens(io.StringIO(text).readline)
               if t.type == tokenize.OP and t.string in "()[]{}")
        depth = _max_depth(ops)
    except (tokenize.TokenError, SyntaxError):
        depth = MAX_BRACKET_DEPTH + 1
    if depth <= MAX_BRACKET_DEPTH:
        return None
    return f"too deeply nested to analyse (more than {MAX_BRACKET_DEPTH} nested brackets)"


def _max_depth(chars: Iterator[str]) -> int:
    depth = deepest = 0
    for char in chars:
        if char in "([{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth = max(depth - 1, 0)
    return deepest


def decode(path: Path, data: bytes) -> SourceFile:
    """Decode like Python does (BOM, ``coding:`` cookie), keeping line endings as they are."""
    if b"\x00" in data:  # Python refuses it too; binary data says little else
        raise ReadError("not a Python source file (contains NUL bytes)")
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:
        lines = io.BytesIO(data)
        try:  # the first two lines are not UTF-8 and name no encoding: say which byte
            (lines.readline() + lines.readline()).decode("utf-8")
        except UnicodeDecodeError as bad:
            raise ReadError(f"cannot decode as utf-8: {bad}") from None
        raise ReadError(f"cannot detect the encoding: {exc}") from None
    bom = data.startswith(codecs.BOM_UTF8)
    if encoding == "utf-8-sig":
        encoding = "utf-8"
    body = data[len(codecs.BOM_UTF8):] if bom else data
    try:
        text = body.decode(encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        raise ReadError(f"cannot decode as {encoding}: {exc}") from None
    return SourceFile(path=path, text=text, encoding=encoding, bom=bom)


def why_unreadable(data: bytes) -> Optional[str]:
    """Why ``data`` cannot be read as Python source (the encoding, binary data), else None.

    What :func:`decode` would say, at the cost of a decode and no parse: every file of a
    run is checked, whether or not it could hold a site.
    """
    try:
        decode(Path(), data)
    except ReadError as exc:
        return str(exc)
    return None


def encode(source: SourceFile, text: str) -> bytes:
    data = text.encode(source.encoding)
    return codecs.BOM_UTF8 + data if source.bom else data


#: A temporary file of :func:`write_atomic` left behind this long ago (its run was killed
#: between writing it and renaming it) is removed when the folder is next written to.
STALE_TEMPORARY_SECONDS = 600


def write_atomic(path: Path, data: bytes, expected_original: Optional[bytes] = None) -> None:
    """Replace ``path`` with ``data`` via a temporary file and a rename, keeping its mode.

    A reader, a crash or a ``kill -9`` sees the old file or the new one, never a mix. When
    ``expected_original`` is given and the file no longer holds it (someone changed it
    since it was read), nothing is written and ReadError is raised, unless it already
    holds ``data`` (another run wrote the same fix). Two flushguard runs writing in one
    folder take turns (an advisory lock on the folder), so neither overwrites a change the
    other made after checking.
    """
    path = Path(os.path.realpath(path))  # through a symlink, not over it
    with _folder_lock(path.parent):
        if expected_original is not None:
            try:
                current = path.read_bytes()
            except OSError as exc:
                raise ReadError(exc.strerror or str(exc)) from None
            if current == data:
                return
            if current != expected_original:
                raise ReadError("changed since it was analysed; not written")
        mode = path.stat().st_mode
        _remove_stale_temporaries(path)
        fd, tmp = tempfile.mkstemp(dir=str(path.parent), prefix=f".{path.name}.",
                                   suffix=".flushguard")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.chmod(tmp, mode & 0o7777)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """An exclusive advisory lock on ``folder`` among flushguard runs, where the system has
    one (``flock``); released when the block ends or the process dies."""
    try:
        import fcntl
    except ImportError:  # Windows: no flock
        yield
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        yield
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:  # a file system without locks
            pass
        yield
    finally:
        os.close(fd)


def _remove_stale_temporaries(path: Path) -> None:
    """Remove what a killed run left of its temporary files for ``path``."""
    import glob
    import time

    cutoff = time.time() - STALE_TEMPORARY_SECONDS
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.flushguard"):
        try:
            if stale.lstat().st_mtime < cutoff and stale.is_file():
                stale.unlink()
        except OSError:
            pass


def display_path(path: Path, base: Optional[Path] = None) -> str:
    """``path`` relative to the current folder (or ``base``), with ``/`` separators."""
    resolved_base = _resolved(base or Path.cwd())
    resolved = path.resolve()
    try:
        return resolved.relative_to(resolved_base).as_posix()
    except ValueError:
        return Path(os.path.relpath(resolved, resolved_base)).as_posix()


@functools.lru_cache(maxsize=16)
def _resolved(base: Path) -> Path:
    return base.resolve()
