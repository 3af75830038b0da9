"""Package roots: where a project's import names start, so that each file gets the module name
Python gives it (``src/app/models.py`` is ``app.models`` in a src layout).

Imports are resolved with these names, by the model index, the schema index and the analysis
alike, so a wrong name silently disconnects a module from the models it imports. Roots are
found the way mypy and ruff find them, from the files and folders alone:

* a configured root (``[tool.flushguard] roots``) always is one;
* a folder named ``src`` that is not itself a package, and a sub-project's folder (one that
  holds a ``pyproject.toml``, ``setup.py`` or ``setup.cfg`` below the project's top, the
  backend of a monorepo) are *bases*: a package below one is named from it, through
  namespace packages (folders without ``__init__.py``) on the way;
* otherwise a package is named from the folder above its top-most ``__init__.py``;
* everything else (scripts, folders of plain modules) from the project's top, which is
  itself inside a package when it holds an ``__init__.py`` (its package's name is then the
  prefix of every module name).

The result is a tuple of ``(folder, package)`` pairs: ``folder`` relative to the project's
top in POSIX form (``""`` for the top itself), ``package`` the dotted name that folder has
(``""`` for a folder that is on ``sys.path``). A file's module name is its path below the
longest root folder that holds it, after that root's package (:func:`module_name`).
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple

__all__ = ["Roots", "application_files", "find_roots", "module_name"]

#: ``(folder, package)`` pairs, longest folder first; see the module's docstring.
Roots = Tuple[Tuple[str, str], ...]

#: Files that make a folder below the project's top a project of its own.
SUBPROJECT_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg")
_INIT_FILES = ("__init__.py", "__init__.pyi")
#: How far above the project's top a package may reach (a project whose top is a package).
_MAX_LEVELS_ABOVE = 32


def module_name(path: str, roots: Roots = ()) -> str:
    """The dotted module name of ``path`` (relative to the project's top, ``/`` or ``\\``).

    ``app/models/user.py`` → ``app.models.user``; ``pkg/__init__.py`` → ``pkg``; with the root
    ``("src", "")``, ``src/app/x.py`` → ``app.x``. A ``.pyi`` suffix and a leading ``./`` are
    accepted. Without roots, the path from the project's top.
    """
    parts = [p for p in path.replace("\\", "/").split("/") if p and p != "."]
    prefix = ""
    for folder, package in roots:
        folder_parts = folder.split("/") if folder else []
        if parts[: len(folder_parts)] == folder_parts and len(parts) > len(folder_parts):
            parts = parts[len(folder_parts):]
            prefix = package
            break
    if parts:
        last = parts[-1]
        for suffix in (".pyi", ".py"):
            if last.endswith(suffix):
                last = last[: -len(suffix)]
                break
        parts[-1] = last
        if last == "__init__":
            parts.pop()
    return ".".join(([prefix] if prefix else []) + parts)


def find_roots(top: Path, python_files: Iterable[Path], configured: Sequence[str] = (),
               configured_by: str = "configured") -> Tuple[Roots, str]:
    """The package roots of the project at ``top`` (see the module's docstring), and a line
    saying where they come from (``src (a src/ layout), packages/ee (a sub-project)``).

    ``python_files`` are the project's Python files (absolute, or relative to the current
    folder); ``configured`` are root folders relative to ``top`` (``".."`` allowed, for a
    root above it), named ``configured_by`` in the explanation. Reads no file: it looks at
    names and at whether marker files exist.
    The roots always hold the top itself, and are sorted longest folder first.
    """
    top = Path(os.path.abspath(top))
    folders: Set[PurePosixPath] = set()
    packages: Set[PurePosixPath] = set()
    for path in python_files:
        relative = _below(Path(os.path.abspath(path)), top)
        if relative is None:
            continue
        folders.add(relative.parent)
        if relative.name in _INIT_FILES:
            packages.add(relative.parent)
    finder = _Finder(top, packages, configured)
    top_package = finder.top_package()
    reasons: Dict[str, str] = {}
    if top_package:
        reasons[""] = f"the project's top is package {top_package}"
    else:
        top_package = _package_below(top, configured)
        if top_package:
            reasons[""] = f"the project's top is {top_package} below a configured root"
    roots: Dict[str, str] = {"": top_package}
    for folder in configured_below(top, configured):
        roots[folder] = ""
        reasons.setdefault(folder, configured_by)
    for folder in sorted(folders):
        found = finder.root_of(folder)
        if found is not None:
            key = found.as_posix()
            roots.setdefault(key, "")
            why = configured_by if found in finder.configured else finder.why(found)
            reasons.setdefault(key, why)
    ordered = tuple(sorted(roots.items(), key=lambda item: (-_depth(item[0]), item[0])))
    return ordered, _explain(reasons)


def _explain(reasons: Dict[str, str]) -> str:
    if not reasons:
        return "the project's top (no src/ folder, sub-project or package below another folder)"
    shown = [f"{folder} ({why})" if folder else why for folder, why in sorted(reasons.items())]
    return ", ".join(shown)


#: Top-level packages that hold a project's tooling, not the application it deploys.
TOOLING_PACKAGES = frozenset({
    "scripts", "script", "bin", "tools", "tooling", "bench", "benches", "benchmarks",
    "load_testing", "load_tests", "loadtests", "loadtest", "perf", "evals", "evaluation", "seeds",
    "migrations", "alembic", "dev", "devtools", "ci", "docs", "examples",
})


def application_files(top: Path, python_files: Iterable[Path]) -> Set[PurePosixPath]:
    """The files (relative to ``top``) of the application's own packages: files inside a
    regular package (an ``__init__.py`` above them) whose top-level package is not tooling
    (:data:`TOOLING_PACKAGES`); when the project's top has such packages of its own, those
    of its sub-projects (a monorepo's libraries, a framework's integrations) are left out.
    Plain scripts outside any package are never application files. Test paths are the
    caller's to leave out."""
    top = Path(os.path.abspath(top))
    relatives = [r for r in (_below(Path(os.path.abspath(p)), top) for p in python_files)
                 if r is not None]
    packages = {r.parent for r in relatives if r.name in _INIT_FILES}
    finder = _Finder(top, packages, ())
    own: Set[PurePosixPath] = set()
    sub: Set[PurePosixPath] = set()
    for relative in relatives:
        package = finder.outermost_package(relative.parent)
        if package is None or package.name.lower() in TOOLING_PACKAGES:
            continue
        in_subproject = any(finder.is_base(folder) and folder.name != "src"
                            for folder in package.parents if folder.parts)
        (sub if in_subproject else own).add(relative)
    return own or sub


def configured_below(top: Path, configured: Sequence[str]) -> List[str]:
    """The configured roots that lie at or below ``top``, relative to it in POSIX form."""
    out = []
    for folder in configured:
        relative = _below(Path(os.path.abspath(top / folder)), top)
        if relative is not None:
            out.append(relative.as_posix() if relative.parts else "")
    return out


def _package_below(top: Path, configured: Sequence[str]) -> str:
    """The dotted name of ``top`` below the nearest configured root above it (a configuration
    at a monorepo's top saying ``roots = ["."]`` while the project is one of its folders)."""
    best: Optional[PurePosixPath] = None
    for folder in configured:
        relative = _below(top, Path(os.path.abspath(top / folder)))
        if relative is None or not relative.parts:
            continue
        if best is None or len(relative.parts) < len(best.parts):
            best = relative
    if best is None or not all(part.isidentifier() for part in best.parts):
        return ""
    return ".".join(best.parts)


def _depth(folder: str) -> int:
    return len(folder.split("/")) if folder else 0


def _below(path: Path, top: Path) -> Optional[PurePosixPath]:
    try:
        return PurePosixPath(path.relative_to(top).as_posix())
    except ValueError:
        return None


class _Finder:
    """Answers "which root names the modules of this folder?" for one project."""

    def __init__(self, top: Path, packages: Set[PurePosixPath], configured: Sequence[str]) -> None:
        self.top = top
        self.packages = packages
        self.configured = {PurePosixPath(f) for f in configured_below(top, configured)}
        self._bases: Dict[PurePosixPath, bool] = {}

    def is_base(self, folder: PurePosixPath) -> bool:
        """A configured root, a ``src`` folder or a sub-project's folder (never the top)."""
        if folder in self.configured:
            return True
        if not folder.parts:
            return False
        if folder not in self._bases:
            self._bases[folder] = folder.name == "src" or any(
                (self.top / folder / marker).is_file() for marker in SUBPROJECT_MARKERS)
        return self._bases[folder]

    def why(self, root: PurePosixPath) -> str:
        if root.name == "src":
            return "a src/ layout"
        if self.is_base(root):
            return "a sub-project"
        return "the folder above a top-most __init__.py"

    def outermost_package(self, folder: PurePosixPath) -> Optional[PurePosixPath]:
        """The highest folder at or above ``folder`` that holds an ``__init__.py``, reached
        through folders whose names are identifiers (namespace portions inside a package
        count) and stopping at a configured root; None when there is none."""
        found = None
        current = folder
        while current.parts and current not in self.configured and current.name.isidentifier():
            if current in self.packages:
                found = current
            current = current.parent
        return found

    def root_of(self, folder: PurePosixPath) -> Optional[PurePosixPath]:
        """The root that names ``folder``'s modules; None for the project's top."""
        if folder in self.configured:
            return folder
        package = self.outermost_package(folder)
        if package is not None:
            natural = package.parent
            # A configured root above it names it through namespace packages, as mypy's
            # explicit package bases do.
            current = natural
            while current.parts and current not in self.configured and current.name.isidentifier():
                current = current.parent
            if current in self.configured:
                return current or None
            return natural if natural.parts else None
        # Plain modules (a namespace package, scripts): the nearest base above them.
        current = folder
        while current.parts:
            if self.is_base(current):
                return current
            current = current.parent
        return None

    def top_package(self) -> str:
        """The dotted package the project's top is part of (``""`` when it is not a package)."""
        names: List[str] = []
        folder = self.top
        for _ in range(_MAX_LEVELS_ABOVE):
            if not folder.name.isidentifier():
                break
            if not any((folder / init).is_file() for init in _INIT_FILES):
                break
            names.append(folder.name)
            folder = folder.parent
        return ".".join(reversed(names))
