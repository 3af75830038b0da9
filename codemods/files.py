"""Finding the files of a run, reading them faithfully, writing them back safely.

Discovery never follows a directory outside the tree it was given, skips the
folders no user wants scanned, and checks cheap byte markers before anything
is parsed.  Reading keeps what writing needs to give the file back exactly as
it was: the encoding, the BOM and the line endings.
"""

from __future__ import annotations

import codecs
import fnmatch
import io
import os
import tempfile
import tokenize
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Optional, Sequence

#: Folders never searched: version control, vendored code, virtualenvs, build output.
#: Any folder whose name starts with a dot, and any virtualenv (a folder holding
#: ``pyvenv.cfg``, whatever its name), is skipped as well.
SKIPPED_DIRS = frozenset({
    "venv", "env", "__pycache__", "node_modules", "build", "dist", "site-packages",
})

# A file can only hold a site if it mentions one of these.
SITE_MARKERS = (b".flush(", b".commit(", b".rollback(", b".expire", b".begin(", b".begin_nested(")
GENERATED_MARKER = b"@generated"


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


def discover(paths: Sequence[Path], exclude: Sequence[str] = ()) -> List[Path]:
    """Python files under ``paths`` (files given explicitly are always kept), sorted."""
    found = set()
    for given in paths:
        if given.is_file():
            found.add(given)
            continue
        for path in _walk(given, exclude):
            found.add(path)
    return sorted(found)


def _walk(root: Path, exclude: Sequence[str]) -> Iterator[Path]:
    for path in walk_files(root, exclude):
        if is_python_file(path):
            yield path


def walk_files(root: Path, exclude: Sequence[str] = ()) -> Iterator[Path]:
    """Every file under ``root`` outside skipped and excluded folders, in sorted order."""
    root_text = str(root)
    for dirpath, dirnames, filenames in os.walk(root_text):
        if dirpath != root_text and "pyvenv.cfg" in filenames:
            dirnames[:] = []  # a virtualenv under some other name (`.direnv/python-3.11`)
            continue
        dirnames[:] = sorted(
            d for d in dirnames
            if d not in SKIPPED_DIRS and not d.startswith(".") and not d.endswith(".egg-info")
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
    return GENERATED_MARKER in data[:2048]


def decode(path: Path, data: bytes) -> SourceFile:
    """Decode like Python does (BOM, ``coding:`` cookie), keeping line endings as they are."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:
        raise ReadError(f"cannot detect the encoding: {exc}") from None
    bom = data.startswith(codecs.BOM_UTF8)
    if encoding == "utf-8-sig":
        encoding = "utf-8"
    body = data[len(codecs.BOM_UTF8):] if bom else data
    try:
        text = body.decode(encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        raise ReadError(f"cannot decode as {encoding}: {exc}") from None
    if "\x00" in text:
        raise ReadError("not a Python source file (contains NUL bytes)")
    return SourceFile(path=path, text=text, encoding=encoding, bom=bom)


def encode(source: SourceFile, text: str) -> bytes:
    data = text.encode(source.encoding)
    return codecs.BOM_UTF8 + data if source.bom else data


def write_atomic(path: Path, data: bytes, expected_original: Optional[bytes] = None) -> None:
    """Replace ``path`` with ``data`` via a temporary file and a rename, keeping its mode.

    When ``expected_original`` is given and the file no longer holds it (someone
    changed it since it was read), nothing is written and ReadError is raised.
    """
    if expected_original is not None:
        try:
            current = path.read_bytes()
        except OSError as exc:
            raise ReadError(exc.strerror or str(exc)) from None
        if current != expected_original:
            raise ReadError("changed since it was analysed; not written")
    mode = path.stat().st_mode
    fd, tmp = tempfile.mkstemp(dir=str(path.parent), prefix=f".{path.name}.", suffix=".flushguard")
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


def display_path(path: Path, base: Optional[Path] = None) -> str:
    """``path`` relative to the current folder (or ``base``), with ``/`` separators."""
    base = base or Path.cwd()
    try:
        return path.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return Path(os.path.relpath(path.resolve(), base.resolve())).as_posix()
