"""Configuration: ``[tool.flushguard]`` and command-line overrides, merged into one ``Settings``.

Precedence, lowest first: what the project's own files say (:func:`codemods.project.detect_project`),
then the configuration file, then the command line.  Every ``*_source`` field of the result
names the layer that won (``--backend``, ``pyproject.toml [tool.flushguard] backend``, or the
detection source), so a summary can always say why a value is what it is.

Keys are the long option names (``session-name``, ``unsafe-fixes``); ``session_name`` is
accepted too and normalised to the dashed spelling, as ruff does.  Importing this module
does not import LibCST, so ``--help`` and configuration errors stay fast.
"""

from __future__ import annotations

import difflib
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from codemods.files import walk_files
from codemods.package_roots import Roots, find_roots
from codemods.project import ProjectFacts, detect_project
from codemods.types import BACKENDS, SessionDependencyFacts, SessionFactoryFacts, Settings

if sys.version_info >= (3, 11):
    import tomllib as _toml
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as _toml

__all__ = [
    "COLORS",
    "CONFIG_KEYS",
    "FORMATS",
    "SQLALCHEMY_VERSIONS",
    "ConfigError",
    "LoadedConfig",
    "build_settings",
    "chosen",
    "find_config",
    "load_config",
]


class ConfigError(Exception):
    """A configuration mistake the user can fix.  ``str(error)`` is the whole user-facing message."""


#: Every key ``[tool.flushguard]`` accepts (dashed spelling) and the type its value must have.
CONFIG_KEYS: Mapping[str, str] = MappingProxyType(
    {
        "backend": "str",
        "sqlalchemy": "str",
        "expire-on-commit": "bool",
        "session-name": "list[str]",
        "select": "list[str]",
        "ignore": "list[str]",
        "exclude": "list[str]",
        "extend-exclude": "list[str]",
        "unsafe-fixes": "bool",
        "jobs": "int",
        "include-generated": "bool",
        "refresh-keyword": "bool",
        "format": "str",
        "color": "str",
        "roots": "list[str]",
    }
)

#: Accepted ``sqlalchemy`` values; each normalises to ``"1.4"`` or ``"2"``.
SQLALCHEMY_VERSIONS: tuple[str, ...] = ("1.4", "2", "2.0", "2.1")
#: Every output format some command accepts; each command checks its own subset.
FORMATS: tuple[str, ...] = ("text", "json", "sarif", "github", "markdown")
COLORS: tuple[str, ...] = ("auto", "always", "never")

# The settings that project detection supplies; detection is skipped when all are given.
_DETECTED = ("backend", "sqlalchemy", "expire-on-commit", "refresh-keyword")
_RULE_CODE = re.compile(r"^FG\d{0,3}$")

_EMPTY: Mapping[str, object] = MappingProxyType({})


class LoadedConfig(dict[str, object]):
    """The validated keys of one configuration file: a plain dict that remembers where it came from.

    ``path`` is the file; ``table`` is the table the keys were read from
    (``[tool.flushguard]``), or ``""`` for a file whose top level holds the keys.
    """

    def __init__(self, values: Mapping[str, object], path: Path, table: str) -> None:
        super().__init__(values)
        self.path = path
        self.table = table

    def __reduce__(self) -> tuple[object, ...]:
        # Keep path and table through pickling into worker processes.
        return (LoadedConfig, (dict(self), self.path, self.table))


# --------------------------------------------------------------------------
# Finding and loading the file
# --------------------------------------------------------------------------


def _shown(path: Path) -> str:
    """``path`` as the user would type it: relative to the current folder when below it."""
    try:
        rel = os.path.relpath(os.path.abspath(path))
    except ValueError:  # another drive on Windows
        return str(path)
    return str(path) if rel.startswith("..") else Path(rel).as_posix()


def _has_flushguard_table(path: Path) -> bool:
    try:
        data = path.read_bytes()
    except OSError:
        return False
    if b"flushguard" not in data:
        return False
    try:
        doc = _toml.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, _toml.TOMLDecodeError):
        # It mentions flushguard but does not parse: pick it, so that load_config
        # reports the error instead of a farther file being used silently.
        return True
    tool = doc.get("tool")
    return isinstance(tool, dict) and "flushguard" in tool


def find_config(start: Path) -> Path | None:
    """The nearest ``pyproject.toml`` with a ``[tool.flushguard]`` table, walking up from ``start``.

    ``start`` may be a file or a folder.  The walk stops at the folder that holds ``.git``
    (that folder is searched, its parents are not), or at the filesystem root.  Returns an
    absolute path, or None when no such file exists.  A ``pyproject.toml`` that mentions
    flushguard but is not valid TOML is returned, so that :func:`load_config` reports it.
    """
    current = Path(os.path.abspath(start))
    if not current.is_dir():
        current = current.parent
    while True:
        candidate = current / "pyproject.toml"
        if candidate.is_file() and _has_flushguard_table(candidate):
            return candidate
        if (current / ".git").exists():
            return None
        if current.parent == current:
            return None
        current = current.parent


def load_config(path: Path) -> LoadedConfig:
    """The validated ``[tool.flushguard]`` keys of ``path``, with dashed key names.

    Values are normalised: lists become tuples, ``backend`` is lower-case, ``sqlalchemy`` is
    ``"1.4"`` or ``"2"``, ``select``/``ignore`` codes are upper-case, and ``color = true``
    becomes ``"always"``.  A ``pyproject.toml`` without the table gives an empty config; any
    other file without it (``--config flushguard.toml``) is read from its top level.

    Raises ConfigError, naming the file and the key, for an unreadable file, invalid TOML,
    an unknown key, a key given in both spellings, or a value of the wrong type.
    """
    path = Path(path)
    shown = _shown(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as error:
        raise ConfigError(
            f"{shown}: cannot read configuration: {error.strerror or error}"
        ) from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"{shown}: configuration is not UTF-8: {error.reason}") from None
    try:
        doc = _toml.loads(text)
    except _toml.TOMLDecodeError as error:
        raise ConfigError(f"{shown}: invalid TOML: {error}") from None
    tool = doc.get("tool")
    if isinstance(tool, dict) and "flushguard" in tool:
        table, name = tool["flushguard"], "[tool.flushguard]"
        if not isinstance(table, dict):
            raise ConfigError(f"{shown}: [tool.flushguard] must be a table, got {_describe(table)}")
    elif path.name == "pyproject.toml":
        table, name = {}, "[tool.flushguard]"
    else:
        table, name = doc, ""
    return LoadedConfig(_validate_table(table, shown, name), path, name)


# --------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------


def _describe(value: object) -> str:
    kinds = {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a table",
    }
    kind = kinds.get(type(value), type(value).__name__)
    return f"{value!r} ({kind})" if not isinstance(value, (dict, list)) else kind


def _as_bool(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where} must be true or false, got {_describe(value)}")
    return value


def _as_jobs(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{where} must be a positive integer, got {_describe(value)}")
    if value < 1:
        raise ConfigError(f"{where} must be a positive integer, got {value}")
    return value


def _as_strings(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where} must be a list of strings, got {_describe(value)}")
    items = tuple(v.strip() for v in value)
    if any(not v for v in items):
        raise ConfigError(f"{where} must not contain empty strings")
    return items


def _as_codes(value: object, where: str) -> tuple[str, ...]:
    # ``--select FG001,FG002`` arrives as one string: split on commas like ruff does.
    codes = tuple(
        code.strip().upper()
        for item in _as_strings(value, where)
        for code in item.split(",")
        if code.strip()
    )
    for code in codes:
        if not _RULE_CODE.match(code):
            raise ConfigError(f"{where}: {code!r} is not a rule code or prefix (FG001, FG00, FG)")
    return codes


def _as_choice(choices: tuple[str, ...]) -> Callable[[object, str], str]:
    def check(value: object, where: str) -> str:
        if isinstance(value, str) and value.strip().lower() in choices:
            return value.strip().lower()
        raise ConfigError(f"{where} must be one of {', '.join(choices)}; got {_describe(value)}")

    return check


def _as_sqlalchemy(value: object, where: str) -> str:
    # ``sqlalchemy = 2.0`` (a TOML float) is a common way to write it; accept numbers too.
    text = str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value
    if isinstance(text, str) and re.match(r"^\s*[12](\.\d+)*\s*$", text):
        return "1.4" if text.strip().startswith("1") else "2"
    choices = ", ".join(f'"{v}"' for v in SQLALCHEMY_VERSIONS)
    raise ConfigError(f"{where} must be one of {choices}; got {_describe(value)}")


def _as_color(value: object, where: str) -> str:
    if isinstance(value, bool):
        return "always" if value else "never"
    return _as_choice(COLORS)(value, where)


_CHECKS: Mapping[str, Callable[[object, str], object]] = MappingProxyType(
    {
        "backend": _as_choice(BACKENDS),
        "sqlalchemy": _as_sqlalchemy,
        "expire-on-commit": _as_bool,
        "session-name": _as_strings,
        "select": _as_codes,
        "ignore": _as_codes,
        "exclude": _as_strings,
        "extend-exclude": _as_strings,
        "unsafe-fixes": _as_bool,
        "jobs": _as_jobs,
        "include-generated": _as_bool,
        "refresh-keyword": _as_bool,
        "format": _as_choice(FORMATS),
        "color": _as_color,
        "roots": _as_strings,
    }
)


def _normal_key(key: str) -> str:
    return key.strip().lower().replace("_", "-")


def _validate_table(table: Mapping[str, object], shown: str, name: str) -> dict[str, object]:
    """Normalised keys and values of one configuration table; raises ConfigError."""
    where_table = f" in {name}" if name else ""
    prefix = f"{name} " if name else ""
    values: dict[str, object] = {}
    spelled: dict[str, str] = {}
    for raw_key, value in table.items():
        key = _normal_key(str(raw_key))
        if key not in CONFIG_KEYS:
            close = difflib.get_close_matches(key, list(CONFIG_KEYS), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(f"{shown}: unknown key '{raw_key}'{where_table}{hint}")
        if key in spelled:
            raise ConfigError(
                f"{shown}: '{spelled[key]}' and '{raw_key}' are the same key{where_table}; keep one"
            )
        spelled[key] = str(raw_key)
        values[key] = _CHECKS[key](value, f"{shown}: {prefix}{key}")
    return values


def _validate_overrides(overrides: Mapping[str, object]) -> dict[str, object]:
    """Normalised command-line values; None and empty sequences mean "not given"."""
    values: dict[str, object] = {}
    for raw_key, value in overrides.items():
        key = _normal_key(raw_key)
        if key not in CONFIG_KEYS:
            # The CLI passes only settings keys; anything else is a bug in the caller.
            raise ValueError(f"build_settings: unknown override {raw_key!r}")
        if value is None or (isinstance(value, (list, tuple)) and not value):
            continue
        if CONFIG_KEYS[key] == "list[str]" and isinstance(value, str):
            value = (value,)
        values[key] = _CHECKS[key](value, f"--{key}")
    return values


# --------------------------------------------------------------------------
# Merging
# --------------------------------------------------------------------------


def _config_label(config: Mapping[str, object], root: Path) -> tuple[str, str]:
    """(file as shown in messages and sources, table name) for a config mapping."""
    path = getattr(config, "path", None)
    table = getattr(config, "table", "[tool.flushguard]")
    if path is None:
        return "pyproject.toml", table
    try:
        rel = os.path.relpath(os.path.abspath(path), os.path.abspath(root))
    except ValueError:
        return _shown(path), table
    return (_shown(path) if rel.startswith("..") else Path(rel).as_posix()), table


def build_settings(
    root: Path,
    config: Mapping[str, object] = _EMPTY,
    overrides: Mapping[str, object] = _EMPTY,
    facts: ProjectFacts | None = None,
    python_files: Iterable[Path] | None = None,
    memo: Callable[[str, Callable[[], Any]], Any] | None = None,
) -> Settings:
    """One run's settings: project detection < ``config`` < ``overrides``.

    ``config`` is what :func:`load_config` returned (a plain mapping with the same keys
    works too; it is validated again).  ``overrides`` holds command-line values under the
    same keys (``backend``, ``session_name``...); a value of None or an empty sequence
    means the option was not given, so a CLI must leave unset flags as None rather than
    False.  A key in ``overrides`` replaces the config value, lists included.

    ``facts`` defaults to ``detect_project(root)``; detection is skipped when the config
    and overrides already settle every detected value.  ``python_files`` is the
    project's Python files when the caller has listed them already (passed on to
    ``detect_project`` so the tree is not walked for them again), ``memo`` its cache.  Raises ConfigError for an invalid
    value (an unknown backend lists the valid ones); an override key that is not a
    setting is a caller bug and raises ValueError.
    """
    root = Path(root)
    shown, table, configured, given = _layers(root, config, overrides)
    if facts is None:
        settled = all(key in configured or key in given for key in _DETECTED)
        facts = ProjectFacts() if settled else detect_project(root, python_files, memo)

    def choose(key: str, detected: object, detected_source: str) -> tuple[object, str]:
        if key in given:
            return given[key], f"--{key}"
        if key in configured:
            return configured[key], " ".join(part for part in (shown, table, key) if part)
        return detected, detected_source

    def value(key: str, default: object) -> object:
        return given.get(key, configured.get(key, default))

    roots, roots_source = _roots(root, config, configured, given, shown, table, python_files)
    factories, dependencies = session_facts(facts, roots)
    backend, backend_source = choose("backend", facts.backend, facts.backend_source)
    sqlalchemy, sqlalchemy_source = choose("sqlalchemy", facts.sqlalchemy, facts.sqlalchemy_source)
    expire, expire_source = choose(
        "expire-on-commit", facts.expire_on_commit, facts.expire_on_commit_source
    )
    refresh_keyword, _ = choose(
        "refresh-keyword", facts.refresh_keyword, facts.refresh_keyword_source
    )
    return Settings(
        backend=backend,  # type: ignore[arg-type]
        backend_source=backend_source,
        sqlalchemy=str(sqlalchemy),
        sqlalchemy_source=sqlalchemy_source,
        expire_on_commit=bool(expire),
        expire_on_commit_source=expire_source,
        session_names=tuple(value("session-name", ())),  # type: ignore[arg-type]
        select=tuple(value("select", ())),  # type: ignore[arg-type]
        ignore=tuple(value("ignore", ())),  # type: ignore[arg-type]
        unsafe_fixes=bool(value("unsafe-fixes", False)),
        refresh_keyword=bool(refresh_keyword),
        exclude=tuple(value("exclude", ())),  # type: ignore[arg-type]
        extend_exclude=tuple(value("extend-exclude", ())),  # type: ignore[arg-type]
        include_generated=bool(value("include-generated", False)),
        jobs=value("jobs", None),  # type: ignore[arg-type]
        format=value("format", None),  # type: ignore[arg-type]
        color=str(value("color", "auto")),
        roots=roots,
        roots_source=roots_source,
        session_factories=factories,
        session_dependencies=dependencies,
    )


def chosen(
    root: Path,
    config: Mapping[str, object] = _EMPTY,
    overrides: Mapping[str, object] = _EMPTY,
) -> dict[str, object]:
    """The values ``config`` and ``overrides`` give (validated, dashed keys), the command
    line's over the configuration's: the settings that need nothing from the project's
    files. Raises ConfigError as :func:`build_settings` does."""
    _, _, configured, given = _layers(Path(root), config, overrides)
    return {**configured, **given}


def _layers(
    root: Path, config: Mapping[str, object], overrides: Mapping[str, object]
) -> tuple[str, str, dict[str, object], dict[str, object]]:
    """(config file as shown, its table, its validated values, the command line's)."""
    shown, table = _config_label(config, root)
    return shown, table, _validate_table(config, shown, table), _validate_overrides(overrides)


def _roots(
    root: Path,
    config: Mapping[str, object],
    configured: Mapping[str, object],
    given: Mapping[str, object],
    shown: str,
    table: str,
    python_files: Iterable[Path] | None,
) -> tuple[Roots, str]:
    """The package roots and where they come from: ``roots`` (folders relative to the
    configuration file's folder, or to ``root`` for ``--roots`` and a plain mapping) added to
    those found from the project's files. Raises ConfigError for a root that is not a folder."""
    if "roots" in given:
        names, base, where = given["roots"], root, "--roots"
    elif "roots" in configured:
        path = getattr(config, "path", None)
        base = Path(os.path.abspath(path)).parent if path is not None else root
        names, where = configured["roots"], " ".join(p for p in (shown, table, "roots") if p)
    else:
        names, base, where = (), root, ""
    folders = []
    for name in names:  # type: ignore[union-attr]
        folder = Path(os.path.abspath(base / name))
        if not folder.is_dir():
            raise ConfigError(f"{where}: {name!r} is not a folder (roots are relative to "
                              f"{_shown(base) if base != root else 'the project'})")
        folders.append(os.path.relpath(folder, os.path.abspath(root)))
    files = python_files if python_files is not None else (
        p for p in walk_files(root) if p.suffix == ".py")
    return find_roots(root, files, folders, f"configured by {where}")


def session_facts(facts: ProjectFacts, roots: Roots) -> tuple[
        tuple[SessionFactoryFacts, ...], tuple[SessionDependencyFacts, ...]]:
    """The project's session factories and the dependencies that yield their sessions, named
    by the modules Python gives them (``roots``). A dependency whose factory is not one of
    the factories found is left out."""
    from codemods.imports import relative_base
    from codemods.package_roots import module_name

    factories = []
    for factory in facts.session_factories:
        module = module_name(factory.path, roots)
        simple = factory.target is not None and factory.target.isidentifier()
        factories.append(SessionFactoryFacts(
            module=module, name=factory.target,
            qualname=f"{module}.{factory.target}" if simple else None,
            expire_on_commit=factory.expire_on_commit, source=factory.describe()))
    known = {f.qualname for f in factories if f.qualname is not None}
    dependencies = []
    for dependency in facts.session_dependencies:
        module = module_name(dependency.path, roots)
        head, _, rest = dependency.factory.partition(".")
        if dependency.factory_import is not None:
            source, level, name = dependency.factory_import
            if level:
                package = relative_base(module, dependency.path.endswith("__init__.py"), level)
                source = ".".join(p for p in (package, source) if p)
            base = f"{source}.{name}" if source else name
        else:
            base = f"{module}.{head}"
        qualname = f"{base}.{rest}" if rest else base
        if qualname in known:
            dependencies.append(SessionDependencyFacts(f"{module}.{dependency.function}",
                                                       qualname))
    return tuple(factories), tuple(dependencies)
