"""What a run could not check, said on stderr rather than left to look like a clean result.

A run that finds flush and commit sites but no mapped model, or that ties no ORM object to
most of the application's sites (the audit's ``untracked``), checked almost nothing while
reporting few findings. These warnings say so, with the likely reason and what fixes it.
They read only the run's result: no file is read again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Dict, List, Optional, Set, Tuple

from codemods.engine import ROOT_MARKERS, RunResult
from codemods.files import display_path
from codemods.project import is_test_path


@dataclass(frozen=True)
class Coverage:
    """How many of a run's sites the analysis could follow."""

    #: Every flush/commit/rollback/expire site of the run's files.
    sites: int
    #: Those in application code (not tests, docs or examples).
    application: int
    #: Application sites with no ORM object tied to them.
    untracked: int

    @property
    def mostly_untracked(self) -> bool:
        """More than half of the application's sites are untracked."""
        return self.untracked * 2 > self.application


def coverage(result: RunResult) -> Coverage:
    sites = application = untracked = 0
    for outcome in result.outcomes:
        test = is_test_path(_relative(outcome.path, result.root, outcome.display))
        for site in outcome.sites:
            sites += 1
            if not test:
                application += 1
                untracked += site.category == "untracked"
    return Coverage(sites, application, untracked)


def warnings(result: RunResult, base: Optional[Path] = None,
             stdin_without_filename: bool = False) -> Tuple[str, ...]:
    """One-line warnings (without the ``warning:`` prefix) about what ``result`` could not check.

    Nothing when most sites could be followed or there is no site. ``base`` is the folder
    paths are shown from (default: the current folder); ``stdin_without_filename``: the run
    read source from stdin and was not told where it lives.
    """
    counted = coverage(result)
    if not counted.sites:
        return ()
    if not result.models:
        return (f"{_sites(counted.sites)} but no mapped model under "
                f"{_project(result.root, base)}, so no read was checked: "
                f"{_no_model_reason(result.root, stdin_without_filename)}",)
    if counted.application and counted.mostly_untracked:
        return (f"{counted.untracked:,} of {_sites(counted.application)} in application code "
                "are untracked (no ORM object could be tied to them), so the reads after them "
                f"were not checked: {_untracked_reason(result, stdin_without_filename)}; "
                "`flushguard audit` lists the untracked sites",)
    return ()


def _sites(count: int) -> str:
    return f"{count:,} flush/commit site{'s' if count != 1 else ''}"


def _project(root: Path, base: Optional[Path]) -> str:
    shown = display_path(root, base)
    marker = _marker(root)
    if marker is None:
        markers = ", ".join(ROOT_MARKERS[:-1]) + f" or {ROOT_MARKERS[-1]}"
        return (f"{'the current folder' if shown == '.' else shown} (taken as the project: no "
                f"{markers} above it)")
    return f"{'the current folder' if shown == '.' else shown} (the project its {marker} marks)"


def _no_model_reason(root: Path, stdin_without_filename: bool) -> str:
    if stdin_without_filename:
        return _STDIN
    if _marker(root) is None:
        return "run flushguard from the project's top folder, or put a pyproject.toml there"
    return ("the models are outside it or declared in a way flushguard cannot read; run "
            "flushguard in the folder that holds the models and the code that uses them, with "
            "a pyproject.toml at its top ([tool.flushguard] or --config FILE for the rest)")


def _untracked_reason(result: RunResult, stdin_without_filename: bool) -> str:
    if stdin_without_filename:
        return _STDIN
    configure = "under [tool.flushguard] in pyproject.toml (or --config FILE)"
    missing = _missing_roots(result)
    if missing:
        names = ", ".join(f"`{name}`" for name in sorted({n for n, _ in missing}))
        folders = ", ".join(f'"{folder}"' for folder in sorted({f for _, f in missing}))
        return (f"the code imports {names}, which no module has under the package roots "
                f"flushguard found ({_roots(result)}): say where the packages start with "
                f"`roots = [{folders}]` {configure}")
    return (f"the package roots are {_roots(result)}; if the code imports its modules from "
            f"other folders (a namespace package, a folder put on sys.path), list them as "
            f"`roots = [...]` {configure}; else the models are declared, or the objects "
            "reached, in a way flushguard cannot follow")


def _roots(result: RunResult) -> str:
    roots = result.settings.roots
    shown = [f"{folder}/" for folder, _ in sorted(roots) if folder]
    return ", ".join(shown) + " and the project's top" if shown else "the project's top alone"


_IMPORT = re.compile(r"^[ \t]*(?:from|import)[ \t]+([A-Za-z_][\w.]*)", re.MULTILINE)


def _missing_roots(result: RunResult) -> List[Tuple[str, str]]:
    """(package, folder) for each absolute import, in a file with an untracked site, of a
    module that no file is named as but that a file's path ends with: the folder above it is
    a root the detection did not see (``lib/acme/billing.py`` imported as ``acme.billing``)."""
    from codemods.package_roots import module_name

    roots = result.settings.roots
    named: Set[str] = set()
    paths: Dict[str, Set[str]] = {}  # "acme/billing" -> the folders it lies in
    imported: Set[str] = set()
    for outcome in result.outcomes:
        relative = _relative(outcome.path, result.root, outcome.display)
        named.add(module_name(relative.as_posix(), roots))
        parts = relative.with_suffix("").parts
        if parts and parts[-1] == "__init__":
            parts = parts[:-1]
        for start in range(len(parts)):
            paths.setdefault("/".join(parts[start:]), set()).add("/".join(parts[:start]) or ".")
        if any(site.category == "untracked" for site in outcome.sites):
            imported.update(_IMPORT.findall(outcome.old_text))
    found = set()
    for dotted in sorted(imported):
        if dotted in named or any(n.startswith(dotted + ".") for n in named):
            continue
        folders = paths.get(dotted.replace(".", "/"), set())
        if len(folders) == 1:
            found.add((dotted.partition(".")[0], next(iter(folders))))
    return sorted(found)


_STDIN = ("the source on stdin was read as stdin.py at the project's top, where its imports "
          "may not resolve; pass --stdin-filename PATH (where the file lives in the project)")


def _marker(root: Path) -> Optional[str]:
    return next((m for m in ROOT_MARKERS if (root / m).exists()), None)


def _relative(path: Path, root: Path, display: str) -> PurePosixPath:
    try:
        return PurePosixPath(path.resolve().relative_to(root.resolve()).as_posix())
    except ValueError:
        return PurePosixPath(display)
