"""Facts already learnt from unchanged files, kept between runs.

Everything flushguard learns from one file depends on that file's bytes, its place in
the project, the settings, the facts learnt from the rest of the project and the
version of flushguard itself; the cache key is a digest of all of these.  So an entry
is never stale: a change to any of them is a different key.

The cache is one pickle per project in ``.flushguard_cache/`` (a folder with its own
``.gitignore`` and ``CACHEDIR.TAG``), holding the entries the last run used, so it
never grows beyond one run's facts.  It is read once at the start and written once
at the end, atomically; a cache that cannot be read is ignored and one that cannot
be written is skipped, silently: the cache only ever saves time.

Atomically means: the pickle is written to a temporary file in the same folder and renamed
over the old one, so a reader sees a whole pickle, the old or the new. Two runs at once
(an editor and a pre-commit hook) each write a whole file and the last one wins; a run
killed while writing leaves the old pickle and a temporary file, which the next save
removes once it is old enough not to be another run's.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pickle
import shutil
import tempfile
import time
from pathlib import Path, PurePath
from typing import Callable, Dict, Mapping, Optional, TypeVar

FOLDER = ".flushguard_cache"
CACHEDIR_TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by flushguard.\n"
    "# For information about cache directory tags, see https://bford.info/cachedir/\n"
)
T = TypeVar("T")
TEMPORARY_PREFIX = ".tmp-"
#: A temporary file this old is no other run's: one that was killed while saving left it.
STALE_TEMPORARY_SECONDS = 600

_TOOL_DIGEST: Optional[str] = None


def tool_digest() -> str:
    """The digest of flushguard's own code: a new build is a new cache."""
    global _TOOL_DIGEST
    if _TOOL_DIGEST is None:
        _TOOL_DIGEST = code_digest(Path(__file__).resolve().parent)
    return _TOOL_DIGEST


def code_digest(package: Path) -> str:
    """The digest of every Python file of ``package``, its subpackages included (the analysis
    lives in ``codemods/analysis``: a change there must not reuse the old results)."""
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def digest(*parts: object) -> str:
    """A short digest of values that is the same in every process (sets are sorted,
    dataclasses taken field by field; bytes are taken as they are)."""
    h = hashlib.sha256()
    for part in parts:
        data = part if isinstance(part, bytes) else repr(_canonical(part)).encode("utf-8", "surrogatepass")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()[:32]


def _canonical(value: object) -> object:
    if isinstance(value, (str, int, float, bool, type(None), bytes)):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (type(value).__qualname__,
                tuple(_canonical(getattr(value, f.name)) for f in dataclasses.fields(value)))
    if isinstance(value, Mapping):
        return ("{", tuple(sorted((repr(_canonical(k)), _canonical(v)) for k, v in value.items())))
    if isinstance(value, (set, frozenset)):
        return ("set", tuple(sorted(repr(_canonical(v)) for v in value)))
    if isinstance(value, (list, tuple)):
        return tuple(_canonical(v) for v in value)
    if isinstance(value, PurePath):
        return ("path", str(value))
    raise TypeError(f"no stable digest for {type(value).__name__}")


class Cache:
    """A mapping from keys to facts, loaded from and saved to one file."""

    def __init__(self, file: Optional[Path], base: Optional[Path] = None) -> None:
        self.file = file
        self.base = base
        self.old: Dict[str, object] = {}
        self.new: Dict[str, object] = {}
        if file is not None:
            try:
                with open(file, "rb") as handle:
                    loaded = pickle.load(handle)
                if isinstance(loaded, dict):
                    self.old = loaded
            except Exception:  # missing, unreadable, truncated or from another Python: start empty
                self.old = {}

    @classmethod
    def disabled(cls) -> "Cache":
        return cls(None)

    @property
    def enabled(self) -> bool:
        return self.file is not None

    def get(self, key: str) -> Optional[object]:
        if key in self.new:
            return self.new[key]
        found = self.old.get(key)
        if found is not None:
            self.new[key] = found
        return found

    def put(self, key: str, value: object) -> None:
        if self.enabled:
            self.new[key] = value

    def memo(self, key: str, compute: Callable[[], T]) -> T:
        if not self.enabled:
            return compute()
        found = self.get(key)
        if found is None:
            found = compute()
            self.put(key, found)
        return found  # type: ignore[return-value]

    def save(self) -> None:
        """Write the entries this run used (and only those), if anything changed."""
        if self.file is None or self.new.keys() == self.old.keys():
            return
        try:
            _prepare(self.base or self.file.parent, self.file.parent)
            fd, temporary = tempfile.mkstemp(prefix=TEMPORARY_PREFIX, dir=self.file.parent)
            try:
                with os.fdopen(fd, "wb") as handle:
                    pickle.dump(self.new, handle, protocol=pickle.HIGHEST_PROTOCOL)
                os.replace(temporary, self.file)
            except BaseException:
                try:
                    os.unlink(temporary)
                except OSError:
                    pass
                raise
        except OSError:
            pass  # a read-only checkout: run without a cache


def _prepare(top: Path, folder: Path) -> None:
    """The cache folder, made so that git, backups and archivers leave it alone; the
    entries of other flushguard builds, and what killed runs left half-written, are removed."""
    folder.mkdir(parents=True, exist_ok=True)
    cutoff = time.time() - STALE_TEMPORARY_SECONDS
    for stale in folder.glob(f"{TEMPORARY_PREFIX}*"):
        try:
            if stale.stat().st_mtime < cutoff:
                stale.unlink()
        except OSError:
            pass  # another run removed it first
    for other in top.iterdir():
        if other.is_dir() and other != folder and len(other.name) == 16 \
                and all(c in "0123456789abcdef" for c in other.name):
            shutil.rmtree(other, ignore_errors=True)
    ignore = top / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# Created by flushguard: this folder is a cache.\n*\n", encoding="utf-8")
    tag = top / "CACHEDIR.TAG"
    if not tag.exists():
        tag.write_text(CACHEDIR_TAG, encoding="utf-8")


def open_cache(root: Path, folder: Optional[Path], enabled: bool, scope: str) -> Cache:
    """The cache of the project at ``root`` (in ``folder``, default ``root/.flushguard_cache``)
    for one ``scope`` (the command's settings), or a disabled one."""
    if not enabled:
        return Cache.disabled()
    base = folder if folder is not None else root / FOLDER
    return Cache(base / tool_digest() / f"{digest(str(root), scope)}.pickle", base)
