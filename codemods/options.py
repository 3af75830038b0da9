"""One run's options: the command line and ``[tool.flushguard]``, decided once.

A command turns its flags into one frozen :class:`Options` value with :func:`load_options`,
which finds the project and reads its configuration file, once per run. The engine takes
from that value what it finds and analyses (and adds what the project's own files say, in
:class:`codemods.types.Settings`); the commands take from it what to print and how. Nothing
after :func:`load_options` reads the configuration file again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Literal, Mapping, Optional, Sequence, Tuple

#: What a command does with the fixes: ``off`` (check, audit: findings only), ``diff``
#: (print them), ``write`` (fix), ``interactive`` (fix -i: ask about each), ``branch``
#: (commit them on a new branch).
FixMode = Literal["off", "diff", "write", "interactive", "branch"]

_EMPTY: Mapping[str, object] = MappingProxyType({})


@dataclass(frozen=True)
class Options:
    """Everything one run was asked to do, the command line over the configuration.

    Made by :func:`load_options`; read, never changed, by the engine and the commands.
    """

    #: What to analyse: the files and folders given (each exists), or for source read from
    #: stdin the one name it is analysed as.
    paths: Tuple[Path, ...]
    #: The project whose models, settings and callers apply (resolved).
    root: Path
    #: ``[tool.flushguard]`` as read from its file (:class:`codemods.settings.LoadedConfig`),
    #: empty when the project has none; the engine adds the project's detected settings to it.
    config: Mapping[str, object]
    #: The settings the command line gives, under the configuration's keys
    #: (:func:`codemods.settings.build_settings`); an option not given is left out.
    overrides: Mapping[str, object]
    #: Where paths are shown from (None: the current folder).
    cwd: Optional[Path] = None
    #: The source comes from stdin; ``paths`` holds the name it is analysed as.
    stdin: bool = False
    #: Which files a run takes (:func:`codemods.files.discover`).
    exclude: Tuple[str, ...] = ()
    extend_exclude: Tuple[str, ...] = ()
    include_generated: bool = False
    force_exclude: bool = False
    respect_gitignore: bool = True
    fix_mode: FixMode = "diff"
    #: Also apply the fixes of *possible* findings.
    unsafe_fixes: bool = False
    #: Keep what each file taught in ``cache_dir`` (None: the project's ``.flushguard_cache``).
    cache: bool = True
    cache_dir: Optional[Path] = None
    #: Worker processes; None: one per core.
    jobs: Optional[int] = None
    #: The output format the command line or the configuration names (None: the command's
    #: own default; a command ignores a format it does not write).
    format: Optional[str] = None
    #: Color the diff: ``auto`` (on a terminal without NO_COLOR), ``always`` or ``never``.
    color: str = "auto"
    #: Print no summary and no progress.
    quiet: bool = False
    #: Show a progress bar (on a terminal).
    progress: bool = True

    @property
    def fixes(self) -> bool:
        """Whether the run applies each file's edits (what diff, fix and branch write)."""
        return self.fix_mode != "off"


def load_options(paths: Sequence[Path], overrides: Mapping[str, object] = _EMPTY, *,
                 config_path: Optional[Path] = None, cwd: Optional[Path] = None,
                 root: Optional[Path] = None, stdin: bool = False,
                 exclude: Sequence[str] = (), extend_exclude: Sequence[str] = (),
                 include_generated: Optional[bool] = None, force_exclude: bool = False,
                 respect_gitignore: bool = True, fix_mode: FixMode = "diff",
                 cache: bool = True, cache_dir: Optional[Path] = None, quiet: bool = False,
                 progress: bool = True) -> Options:
    """One run's options: the project found from ``paths`` (or ``root``), its configuration
    read once (``config_path``, else the nearest ``[tool.flushguard]``), and the command
    line's values over the configuration's.

    ``overrides`` are the command line's settings under the configuration's keys
    (``backend``, ``unsafe-fixes``, ``format``, ``color``...); ``exclude``,
    ``extend_exclude`` and ``include_generated`` (None: not given) are its discovery flags,
    each replacing the configuration's when given. Raises
    :class:`codemods.settings.ConfigError` for a configuration file or a value the user can fix.
    """
    from codemods.engine import project_root
    from codemods.settings import chosen, find_config, load_config

    if root is None:
        # A name on stdin need not exist: its folder is where the project is looked for.
        start = [Path(os.path.abspath(paths[0])).parent] if stdin else list(paths)
        root = project_root(start, cwd)
    root = root.resolve()
    config_file = config_path or find_config(root)
    config = load_config(config_file) if config_file is not None else _EMPTY
    values = chosen(root, config, overrides)
    return Options(
        paths=tuple(paths), root=root, config=config,
        overrides=MappingProxyType(dict(overrides)), cwd=cwd, stdin=stdin,
        exclude=tuple(exclude or values.get("exclude", ())),  # type: ignore[arg-type]
        extend_exclude=tuple(extend_exclude
                             or values.get("extend-exclude", ())),  # type: ignore[arg-type]
        include_generated=bool(values.get("include-generated", False)
                               if include_generated is None else include_generated),
        force_exclude=force_exclude, respect_gitignore=respect_gitignore, fix_mode=fix_mode,
        unsafe_fixes=bool(values.get("unsafe-fixes", False)), cache=cache, cache_dir=cache_dir,
        jobs=values.get("jobs"),  # type: ignore[arg-type]
        format=values.get("format"),  # type: ignore[arg-type]
        color=str(values.get("color", "auto")), quiet=quiet, progress=progress,
    )
