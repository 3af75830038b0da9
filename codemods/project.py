"""Facts a project's own files state: database backend, SQLAlchemy version, session settings.

Detection only reads files.  It never imports or runs project code, and parses Python
(with :func:`codemods.frontend.parse`) only for the few modules whose bytes call a
session factory.

Every detected value carries a human-readable source (``alembic.ini:4 sqlalchemy.url =
mysql+aiomysql://…``) so that a summary can say why the tool believed it, and so that
a user who disagrees knows which setting to override.  Credentials in URLs are never
copied into a source: only the ``dialect+driver://`` scheme is.
"""

from __future__ import annotations

import ast
import configparser
import dataclasses
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from pathlib import Path, PurePath, PurePosixPath

from codemods import frontend
from codemods.cache import digest
from codemods.files import SKIPPED_DIRS, walk_files
from codemods.package_roots import application_files

__all__ = [
    "SKIP_DIRS",
    "ProjectFacts",
    "SessionDependency",
    "SessionFactory",
    "detect_project",
    "is_test_path",
]

if sys.version_info >= (3, 11):
    import tomllib as _toml
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as _toml


#: Folders never searched (one rule for every walk of a project: see ``codemods.files``).
SKIP_DIRS = SKIPPED_DIRS

# A file bigger than this is data, not configuration or hand-written source.
_MAX_FILE_BYTES = 4 * 1024 * 1024

# Signal strength, strongest first.  A URL names the database actually connected to; a
# main dependency says which driver ships; optional/dev groups and lock files (which
# cannot tell groups apart) may just be test tooling.
_TIER_URL = 0
_TIER_MAIN = 1
_TIER_WEAK = 2


# --------------------------------------------------------------------------
# Public values
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionFactory:
    """One ``async_sessionmaker(...)``, ``sessionmaker(class_=AsyncSession)`` or ``AsyncSession(...)`` call."""

    path: str
    line: int
    #: The callable as written, last component: ``async_sessionmaker``, ``AsyncSession``...
    call: str
    #: The literal ``expire_on_commit=`` value; True when the keyword is absent (the
    #: SQLAlchemy default); None when it is given but not as a literal.
    expire_on_commit: bool | None
    #: Whether the call passes ``expire_on_commit=`` at all.
    explicit: bool
    #: What the call is assigned to (``async_session``, ``self.session_factory``), if anything.
    target: str | None = None
    #: In the application's own packages (not a script, a benchmark, a sub-project's library).
    app: bool = True

    def describe(self) -> str:
        """``app/db.py:12 async_sessionmaker(expire_on_commit=False)`` and the like."""
        where = f"{self.path}:{self.line}"
        if not self.explicit:
            return f"{where} {self.call}() without expire_on_commit (default True)"
        if self.expire_on_commit is None:
            return f"{where} {self.call}(expire_on_commit=<not a literal>)"
        return f"{where} {self.call}(expire_on_commit={self.expire_on_commit})"


@dataclass(frozen=True)
class SessionDependency:
    """A function that yields (or returns) a session made by a named factory:
    ``async def get_db(): async with SessionLocal() as s: yield s`` (a FastAPI dependency)."""

    path: str
    line: int
    #: The function's name (module level) or ``Class.method``.
    function: str
    #: The factory as written (``SessionLocal``, ``db.session_factory``).
    factory: str
    #: Where the factory's first name comes from when the module imports it:
    #: (``from`` module as written or None, dots of a relative import, imported name).
    factory_import: tuple[str | None, int, str] | None = None


@dataclass(frozen=True)
class ProjectFacts:
    """What a project's files say about the settings a run depends on.

    Each value comes with a source string saying how it was detected; the defaults are
    what a project that says nothing gets.
    """

    #: ``postgresql``, ``mysql``, ``mariadb``, ``sqlite`` or ``unknown``.
    backend: str = "unknown"
    backend_source: str = "not detected"
    #: ``"2"`` or ``"1.4"`` (any 1.x).
    sqlalchemy: str = "2"
    sqlalchemy_source: str = "default (no version pin found)"
    expire_on_commit: bool = True
    expire_on_commit_source: str = "SQLAlchemy default"
    #: The project's ``refresh(obj, attribute_names=[...])`` calls use the keyword, and
    #: none passes the names as a positional list.
    refresh_keyword: bool = False
    refresh_keyword_source: str = "no refresh() call names attributes"
    #: Every async session factory found outside tests, in path and line order.
    session_factories: tuple[SessionFactory, ...] = ()
    #: Every function found outside tests that yields a session of a named factory.
    session_dependencies: tuple[SessionDependency, ...] = ()


# --------------------------------------------------------------------------
# Walking the project
# --------------------------------------------------------------------------

_TEST_DIRS = frozenset({"test", "tests", "testing", "__tests__", "fixtures"})
# Folders that show how to use a library, not how the project is deployed.
_SAMPLE_DIRS = frozenset({"docs", "doc", "examples", "example", "samples", "sample"})
_TEST_TOKENS = frozenset({"test", "tests", "testing", "pytest", "conftest"})
_TEST_FILES = frozenset({"conftest.py", "pytest.ini", "tox.ini", "noxfile.py"})


def is_test_path(path: PurePath) -> bool:
    """Whether ``path`` (relative to the project root) belongs to a test suite or to docs.

    True for anything under ``tests/``, ``test/``, ``testing/``, ``docs/``, ``examples/``
    (or a ``*_tests``/``test_*`` folder), for ``test_*.py``, ``*_test.py``,
    ``conftest.py``, ``pytest.ini``, ``tox.ini``, ``noxfile.py``, and for configuration
    files whose name says test (``.env.test``, ``docker-compose.test.yml``).
    """
    if _in_test_dir(path):
        return True
    name = path.name.lower()
    if name in _TEST_FILES:
        return True
    tokens = set(re.split(r"[._\-]+", name))
    return bool(tokens & _TEST_TOKENS)


def _in_test_dir(path: PurePath) -> bool:
    """Whether a folder on ``path`` (relative to the root) holds tests, docs or examples."""
    for part in path.parts[:-1]:
        lower = part.lower()
        if (
            lower in _TEST_DIRS
            or lower in _SAMPLE_DIRS
            or lower.startswith("test_")
            or lower.endswith("_tests")
        ):
            return True
    return False


def _walk(root: Path) -> Iterator[tuple[Path, PurePath]]:
    """Every file under ``root`` outside skipped folders, as (path, path relative to root)."""
    for path in walk_files(root):
        yield path, PurePath(os.path.relpath(path, root))


def _read(path: Path) -> bytes | None:
    try:
        if path.stat().st_size > _MAX_FILE_BYTES:
            return None
        return path.read_bytes()
    except OSError:
        # Unreadable files are the file walker's to report; detection just skips them.
        return None


def _display(path: PurePath) -> str:
    return path.as_posix()


def _relative(path: Path, root: Path) -> PurePath:
    """``path`` relative to ``root`` when it lies under it, else as given."""
    try:
        rel = os.path.relpath(os.path.abspath(path), os.path.abspath(root))
    except ValueError:  # another drive on Windows
        return PurePath(path)
    return PurePath(path) if rel == ".." or rel.startswith(".." + os.sep) else PurePath(rel)


# --------------------------------------------------------------------------
# Backend signals
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Signal:
    backend: str
    tier: int
    source: str
    #: (depth, path, line): the nearest-to-root, first-in-file signal describes a group.
    order: tuple[int, str, int]
    #: From the application itself (its packages' source, its deployment configuration), not
    #: from scripts, benchmarks or a sub-project's library.
    app: bool = True


_DIALECTS = {
    "postgresql": "postgresql",
    "postgres": "postgresql",
    "mysql": "mysql",
    "mariadb": "mariadb",
    "sqlite": "sqlite",
}

# ``postgresql+asyncpg://``, ``postgres://``, ``sqlite:///``, ``db+postgresql://`` (Celery).
_URL = re.compile(
    rb"(?<![A-Za-z0-9_])(postgresql|postgres|mysql|mariadb|sqlite)(\+[A-Za-z0-9_]+)?://"
)
# A quoted ``"postgresql+asyncpg"``: ``PostgresDsn.build(scheme=...)``, ``URL.create(drivername=...)``.
_SCHEME_LITERAL = re.compile(
    rb"""(?<=["'])(postgresql|postgres|mysql|mariadb|sqlite)(\+[A-Za-z0-9_]+)(?=["'])"""
)
# Pydantic's typed settings fields: ``DATABASE_URL: PostgresDsn``.
_DSN_TYPE = re.compile(rb"\b(PostgresDsn|MySQLDsn|MariaDBDsn)\b")
_DSN_BACKEND = {b"PostgresDsn": "postgresql", b"MySQLDsn": "mysql", b"MariaDBDsn": "mariadb"}
_URL_MARKERS = (b"postgres", b"mysql", b"mariadb", b"sqlite", b"Dsn")

_LINE_KEY = re.compile(r"""^\s*(?:-\s*)?(?:export\s+)?["']?([A-Za-z_][\w.\-]*)["']?\s*[:=]""")
_SECTION = re.compile(rb"^\s*\[+\s*([^\]]+?)\s*\]+\s*$", re.MULTILINE)


def _line_bounds(data: bytes, offset: int) -> tuple[int, int, int]:
    """(line number, line start, line end) of ``offset``."""
    start = data.rfind(b"\n", 0, offset) + 1
    end = data.find(b"\n", offset)
    if end < 0:
        end = len(data)
    return data.count(b"\n", 0, offset) + 1, start, end


def _in_comment(prefix: bytes) -> bool:
    """Whether a ``#`` (or a leading ``;``) outside quotes comments out what follows ``prefix``."""
    if prefix.lstrip().startswith(b";"):
        return True
    quote = 0
    for byte in prefix:
        if quote:
            if byte == quote:
                quote = 0
        elif byte in b"\"'":
            quote = byte
        elif byte == 0x23:  # '#'
            return True
    return False


def _test_section(data: bytes, offset: int) -> bool:
    """Whether ``offset`` lies in an INI/TOML section about tests (``[tool.pytest.ini_options]``,
    ``[testenv]``): test runners commonly point ``DATABASE_URL`` at SQLite there."""
    last = None
    for last in _SECTION.finditer(data, 0, offset):
        pass
    return last is not None and b"test" in last.group(1).lower()


def _scan_urls(data: bytes, rel: PurePath, python: bool, sectioned: bool,
               app: bool = True) -> list[_Signal]:
    if not any(marker in data for marker in _URL_MARKERS):
        return []
    found: list[tuple[int, str, str]] = []  # (offset, backend, what)
    for match in _URL.finditer(data):
        scheme = (match.group(1) + (match.group(2) or b"")).decode("ascii")
        found.append((match.start(), _DIALECTS[match.group(1).decode("ascii")], f"{scheme}://…"))
    if python or rel.suffix == ".toml":
        for match in _SCHEME_LITERAL.finditer(data):
            scheme = (match.group(1) + match.group(2)).decode("ascii")
            found.append((match.start(), _DIALECTS[match.group(1).decode("ascii")], f"'{scheme}'"))
    if python:
        for match in _DSN_TYPE.finditer(data):
            found.append(
                (match.start(), _DSN_BACKEND[match.group(1)], match.group(1).decode("ascii"))
            )
    signals = []
    depth = len(rel.parts)
    # Bare schemes naming several databases are a table of drivers (what the code supports,
    # `ASYNC_DRIVERS = {POSTGRESQL: "postgresql+asyncpg", MYSQL: "mysql+aiomysql"}`), not the
    # one it connects to; a URL still counts.
    table = len({backend for _, backend, what in found if not what.endswith("://…")}) > 1
    for offset, backend, what in sorted(found):
        if table and not what.endswith("://…"):
            continue
        line, start, end = _line_bounds(data, offset)
        if _in_comment(data[start:offset]):
            continue
        if python and what.endswith("://…") and data[offset - 1:offset] not in (b'"', b"'"):
            # In Python a URL the code uses opens a string literal; one in the middle of
            # prose is documentation (a docstring listing the databases an integration takes).
            continue
        if sectioned and _test_section(data, offset):
            continue
        text = data[start:end].decode("utf-8", "replace")
        key = _LINE_KEY.match(text)
        if key is not None and key.group(1).lower() in ("example", "examples"):
            continue  # a documented example value (pydantic's `examples=[...]`)
        if key is None:
            label = what
        elif what.endswith("Dsn"):
            label = f"{key.group(1)}: {what}"
        else:
            label = f"{key.group(1)} = {what}"
        signals.append(
            _Signal(
                backend, _TIER_URL, f"{_display(rel)}:{line} {label}", (depth, _display(rel), line),
                app,
            )
        )
    return signals


_COMPOSE_NAME = re.compile(r"^(docker-)?compose([.\-_].*)?\.ya?ml$")
_IMAGE = re.compile(
    rb"^\s*image:\s*[\"']?(?:[\w.\-]+/)*(mariadb|mysql)(?::([\w.\-]+))?", re.MULTILINE
)


def _scan_images(data: bytes, rel: PurePath) -> list[tuple[str, str]]:
    """(``mariadb``/``mysql``, source) for each MySQL-family image a compose file runs.

    A ``mysql+aiomysql://`` URL serves MariaDB as well, and MariaDB >= 10.5 has RETURNING:
    the image is the only static hint of which server answers.
    """
    images = []
    for match in _IMAGE.finditer(data):
        name = match.group(1).decode("ascii")
        tag = (match.group(2) or b"latest").decode("ascii")
        line = data.count(b"\n", 0, match.start()) + 1
        if name == "mariadb":
            version = re.match(r"(\d+)(?:\.(\d+))?", tag)
            if version and (int(version.group(1)), int(version.group(2) or 0)) < (10, 5):
                name = "mariadb<10.5"  # no RETURNING: behaves like MySQL
        images.append((name, f"{_display(rel)}:{line} image {match.group(1).decode()}:{tag}"))
    return images


# --------------------------------------------------------------------------
# Dependency signals: drivers and the SQLAlchemy version
# --------------------------------------------------------------------------

_DRIVERS = {
    "asyncpg": "postgresql",
    "psycopg": "postgresql",
    "psycopg-binary": "postgresql",
    "psycopg-c": "postgresql",
    "psycopg2": "postgresql",
    "psycopg2-binary": "postgresql",
    "pg8000": "postgresql",
    "aiomysql": "mysql",
    "asyncmy": "mysql",
    "pymysql": "mysql",
    "mysqlclient": "mysql",
    "mysql-connector-python": "mysql",
    "mariadb": "mariadb",
    "aiosqlite": "sqlite",
}
# ``sqlalchemy[asyncio,postgresql_asyncpg]``: SQLAlchemy's own extras pull in a driver.
_SQLALCHEMY_EXTRAS = {
    "postgresql": "postgresql",
    "postgresql-asyncpg": "postgresql",
    "postgresql-psycopg": "postgresql",
    "postgresql-psycopgbinary": "postgresql",
    "postgresql-psycopg2binary": "postgresql",
    "postgresql-pg8000": "postgresql",
    "asyncmy": "mysql",
    "aiomysql": "mysql",
    "mysql": "mysql",
    "mysql-connector": "mysql",
    "pymysql": "mysql",
    "mariadb-connector": "mariadb",
    "aiosqlite": "sqlite",
}

_REQUIREMENT = re.compile(
    r"^\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(?:\[([^\]]*)\])?\s*(.*)$"
)
_CLAUSE = re.compile(r"(===|==|~=|!=|<=|>=|<|>|\^|~|=)?\s*v?(\d+(?:\.(?:\d+|\*))*)")
# Dev/test requirement files: ``requirements-dev.txt``, ``requirements/test.txt``.
_DEV_TOKENS = frozenset(
    {
        "dev",
        "develop",
        "development",
        "test",
        "tests",
        "testing",
        "lint",
        "docs",
        "doc",
        "local",
        "ci",
        "typing",
    }
)


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _parse_requirement(text: str) -> tuple[str, tuple[str, ...], str] | None:
    """(canonical name, extras, version specifier) of a PEP 508 line, or None."""
    text = text.split(";", 1)[0].split(" #", 1)[0].strip()
    if not text or text.startswith(("-", "#", "git+", "http:", "https:", "file:", ".", "/")):
        return None
    match = _REQUIREMENT.match(text)
    if match is None:
        return None
    extras = tuple(_canonical(e) for e in (match.group(2) or "").split(",") if e.strip())
    spec = match.group(3).strip()
    if spec.startswith("@"):  # a direct URL reference: no version to read
        spec = ""
    return _canonical(match.group(1)), extras, spec.strip("() ")


def _version_numbers(text: str) -> tuple[int, ...]:
    numbers = []
    for part in text.split("."):
        if not part.isdigit():
            break
        numbers.append(int(part))
    return tuple(numbers)


def _major_of_clauses(spec: str) -> tuple[str, bool] | None:
    """("1.4"/"2", exact) for one alternative of a specifier; None if it says nothing."""
    exact: tuple[int, ...] | None = None
    capped = floor2 = constrained = False
    for op, version in _CLAUSE.findall(spec):
        numbers = _version_numbers(version)
        if not numbers:
            continue
        padded = (numbers + (0, 0, 0))[:3]
        major = numbers[0]
        if op in ("", "=", "==", "==="):
            constrained = True
            if "*" in version:
                capped, floor2 = capped or major < 2, floor2 or major >= 2
            else:
                exact = numbers
        elif op == "<":
            constrained = True
            capped = capped or padded <= (2, 0, 0)
        elif op == "<=":
            constrained = True
            capped = capped or padded < (2, 0, 0)
        elif op in ("~=", "^", "~"):
            # ``~=1.4``/``^1.4`` stop below 2.0, ``~=1.4.46``/``~1.4`` below 1.5.
            constrained = True
            capped, floor2 = capped or major < 2, floor2 or major >= 2
        elif op in (">", ">="):
            constrained = True
            floor2 = floor2 or major >= 2
    if exact is not None:
        return ("1.4" if exact[0] < 2 else "2"), True
    if capped:
        return "1.4", False
    if constrained:
        # ``>=1.4`` with no ceiling installs the newest release.
        return "2", False
    return None


def _sqlalchemy_major(spec: str) -> tuple[str, bool] | None:
    """("1.4"/"2", whether the specifier pins one exact version), or None when unpinned.

    Understands PEP 440 (``==1.4.46``, ``>=1.4,<2.0``, ``~=1.4.46``, ``==1.4.*``) and
    Poetry (``^1.4``, ``~1.4``, a bare ``1.4.46``, ``>=1.4 <2.0``, ``^1.4 || ^2.0``).
    """
    spec = spec.strip()
    if not spec or spec == "*":
        return None
    results = [_major_of_clauses(alternative) for alternative in spec.split("||")]
    if len(results) == 1:
        return results[0]
    # Any alternative that allows 2.x (or says nothing) lets the resolver pick 2.x.
    if all(r is not None and r[0] == "1.4" for r in results):
        return "1.4", False
    return "2", False


@dataclass(frozen=True)
class _Version:
    major: str
    exact: bool
    lock: bool
    source: str
    order: tuple[int, str, int]


class _Deps:
    """Collects driver and SQLAlchemy-version signals from dependency declarations."""

    def __init__(self) -> None:
        self.signals: list[_Signal] = []
        self.versions: list[_Version] = []

    def requirement(self, text: str, tier: int, where: str, order: tuple[int, str, int]) -> None:
        parsed = _parse_requirement(text)
        if parsed is None:
            return
        name, extras, spec = parsed
        label = f"{where} {text.split(';', 1)[0].strip()}"
        self.named(name, extras, spec, tier, label, order)

    def named(
        self,
        name: str,
        extras: Sequence[str],
        spec: str,
        tier: int,
        label: str,
        order: tuple[int, str, int],
        *,
        lock: bool = False,
    ) -> None:
        name = _canonical(name)
        if name in _DRIVERS:
            self.signals.append(_Signal(_DRIVERS[name], tier, label, order))
        if name == "sqlalchemy":
            for extra in extras:
                if _canonical(extra) in _SQLALCHEMY_EXTRAS:
                    self.signals.append(
                        _Signal(_SQLALCHEMY_EXTRAS[_canonical(extra)], tier, label, order)
                    )
            major = _sqlalchemy_major(spec)
            if major is not None:
                self.versions.append(_Version(major[0], major[1], lock, label, order))

    # -- one method per file format ------------------------------------------------

    def requirements_txt(self, data: bytes, rel: PurePath, depth: int) -> None:
        stem_tokens = set(re.split(r"[._\-]+", rel.name.lower())) | {
            p.lower() for p in rel.parts[:-1]
        }
        tier = _TIER_WEAK if stem_tokens & _DEV_TOKENS else _TIER_MAIN
        for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
            self.requirement(
                line, tier, f"{_display(rel)}:{number}", (depth, _display(rel), number)
            )

    def pyproject(self, data: bytes, rel: PurePath, depth: int) -> None:
        try:
            doc = _toml.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, _toml.TOMLDecodeError):
            return  # a broken pyproject is load_config's to report, not detection's
        path = _display(rel)
        order = (depth, path, 0)
        project = doc.get("project") if isinstance(doc.get("project"), dict) else {}
        for item in _strings(project.get("dependencies")):
            self.requirement(item, _TIER_MAIN, f"{path} [project.dependencies]", order)
        optional = project.get("optional-dependencies")
        for group, items in optional.items() if isinstance(optional, dict) else ():
            for item in _strings(items):
                self.requirement(
                    item, _TIER_WEAK, f"{path} [project.optional-dependencies] {group}:", order
                )
        groups = doc.get("dependency-groups")
        for group, items in groups.items() if isinstance(groups, dict) else ():
            for item in _strings(items):
                self.requirement(item, _TIER_WEAK, f"{path} [dependency-groups] {group}:", order)
        tool = doc.get("tool") if isinstance(doc.get("tool"), dict) else {}
        poetry = tool.get("poetry") if isinstance(tool.get("poetry"), dict) else {}
        self._poetry_table(
            poetry.get("dependencies"), _TIER_MAIN, f"{path} [tool.poetry.dependencies]", order
        )
        self._poetry_table(
            poetry.get("dev-dependencies"),
            _TIER_WEAK,
            f"{path} [tool.poetry.dev-dependencies]",
            order,
        )
        poetry_groups = poetry.get("group")
        for group, table in poetry_groups.items() if isinstance(poetry_groups, dict) else ():
            if isinstance(table, dict):
                tier = _TIER_MAIN if group == "main" else _TIER_WEAK
                self._poetry_table(
                    table.get("dependencies"),
                    tier,
                    f"{path} [tool.poetry.group.{group}.dependencies]",
                    order,
                )
        pdm = tool.get("pdm") if isinstance(tool.get("pdm"), dict) else {}
        pdm_dev = pdm.get("dev-dependencies")
        for group, items in pdm_dev.items() if isinstance(pdm_dev, dict) else ():
            for item in _strings(items):
                self.requirement(
                    item, _TIER_WEAK, f"{path} [tool.pdm.dev-dependencies] {group}:", order
                )
        uv = tool.get("uv") if isinstance(tool.get("uv"), dict) else {}
        for item in _strings(uv.get("dev-dependencies")):
            self.requirement(item, _TIER_WEAK, f"{path} [tool.uv.dev-dependencies]", order)

    def _poetry_table(
        self, table: object, tier: int, where: str, order: tuple[int, str, int]
    ) -> None:
        """``name = "^1.4"`` / ``name = {version = "^1.4", extras = [...], optional = true}``."""
        if not isinstance(table, dict):
            return
        for name, value in table.items():
            if _canonical(name) == "python":
                continue
            for entry in value if isinstance(value, list) else [value]:
                if isinstance(entry, str):
                    spec, extras, entry_tier = entry, (), tier
                elif isinstance(entry, dict):
                    spec = entry.get("version", "") if isinstance(entry.get("version"), str) else ""
                    extras = tuple(_strings(entry.get("extras")))
                    entry_tier = _TIER_WEAK if entry.get("optional") is True else tier
                else:
                    continue
                label = f'{where} {name} = "{spec}"' if spec else f"{where} {name}"
                self.named(name, extras, spec, entry_tier, label, order)

    def setup_cfg(self, data: bytes, rel: PurePath, depth: int) -> None:
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read_string(data.decode("utf-8", "replace"))
        except configparser.Error:
            return
        path = _display(rel)
        order = (depth, path, 0)
        if parser.has_option("options", "install_requires"):
            for item in parser.get("options", "install_requires").splitlines():
                self.requirement(item, _TIER_MAIN, f"{path} [options] install_requires", order)
        for section, tier in (("options.extras_require", _TIER_WEAK), ("options", _TIER_WEAK)):
            if not parser.has_section(section):
                continue
            for key, value in parser.items(section):
                if section == "options" and key != "tests_require":
                    continue
                for item in value.splitlines():
                    self.requirement(item, tier, f"{path} [{section}] {key}", order)

    def setup_py(self, data: bytes, rel: PurePath, depth: int) -> None:
        # Only strings that parse as a driver or SQLAlchemy requirement count, so the
        # other literals of a setup.py (README.md, package names) are harmless.
        for match in re.finditer(
            rb"""["']([A-Za-z][A-Za-z0-9._\-]*(?:\[[^\]"']*\])?[^"'\n]*)["']""", data
        ):
            text = match.group(1).decode("utf-8", "replace")
            line = data.count(b"\n", 0, match.start()) + 1
            self.requirement(
                text, _TIER_MAIN, f"{_display(rel)}:{line}", (depth, _display(rel), line)
            )

    def pipfile(self, data: bytes, rel: PurePath, depth: int) -> None:
        try:
            doc = _toml.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, _toml.TOMLDecodeError):
            return
        path = _display(rel)
        self._poetry_table(doc.get("packages"), _TIER_MAIN, f"{path} [packages]", (depth, path, 0))
        self._poetry_table(
            doc.get("dev-packages"), _TIER_WEAK, f"{path} [dev-packages]", (depth, path, 0)
        )

    def pipfile_lock(self, data: bytes, rel: PurePath, depth: int) -> None:
        try:
            doc = json.loads(data)
        except ValueError:
            return
        path = _display(rel)
        for section in ("default", "develop"):
            packages = doc.get(section) if isinstance(doc, dict) else None
            for name, entry in packages.items() if isinstance(packages, dict) else ():
                version = entry.get("version", "") if isinstance(entry, dict) else ""
                version = version if isinstance(version, str) else ""
                label = f"{path}: {name} {version}".rstrip()
                self.named(name, (), version, _TIER_WEAK, label, (depth, path, 0), lock=True)

    def lock(self, data: bytes, rel: PurePath, depth: int) -> None:
        """poetry.lock, uv.lock, pdm.lock: ``[[package]]`` / ``name = ...`` / ``version = ...``."""
        path = _display(rel)
        for match in _LOCK_PACKAGE.finditer(data):
            name = match.group(1).decode("utf-8", "replace")
            version = match.group(2).decode("utf-8", "replace")
            line = data.count(b"\n", 0, match.start()) + 1
            self.named(
                name,
                (),
                f"=={version}",
                _TIER_WEAK,
                f"{path}: {name} {version}",
                (depth, path, line),
                lock=True,
            )


_LOCK_PACKAGE = re.compile(
    rb'^\[\[package\]\]\s*\nname\s*=\s*"([^"]+)"\s*\nversion\s*=\s*"([^"]+)"', re.MULTILINE
)


def _strings(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


# --------------------------------------------------------------------------
# Python source: session factories and refresh calls
# --------------------------------------------------------------------------

# A factory *call*: ``AsyncSession`` alone is mostly a type annotation (``db: AsyncSession``),
# present in most modules of an async project, and must not send them all to the parser.
# Each pattern starts with a literal so that ``re`` can skip ahead quickly.
_FACTORY_CALLS = (
    re.compile(rb"sessionmaker\s*\("),
    re.compile(rb"AsyncSession(?:Config)?\s*\("),
    re.compile(rb"partial\(\s*[\w.]*AsyncSession\b"),
)


def _calls_a_factory(data: bytes) -> bool:
    if b"sessionmaker" not in data and b"AsyncSession" not in data:
        return False  # AsyncSessionConfig contains AsyncSession
    return any(pattern.search(data) for pattern in _FACTORY_CALLS)


_REFRESH = re.compile(rb"\.refresh\s*\(")
_KEYWORD_ARG = re.compile(rb"^[A-Za-z_]\w*\s*=(?!=)")
_ATTRIBUTE_NAMES_ARG = re.compile(rb"^attribute_names\s*=(?!=)")
_LEADING_COMMENTS = re.compile(rb"^(?:\s*#[^\n]*(?:\n|$))+")


def _find_factories(data: bytes, rel: PurePath) -> list[SessionFactory]:
    """The async session factories a module calls, with their ``expire_on_commit``, in the
    order of the source."""
    try:
        module = frontend.parse(data.decode("utf-8-sig"))
    except (frontend.ParseError, UnicodeDecodeError, RecursionError):
        # The engine reports the file; its factory calls are still read from the text, so
        # that syntax flushguard cannot parse does not hide the project's settings.
        return _factories_in_text(data, rel)
    path = _display(rel)
    targets: dict[int, str] = {}  # id(value) -> the one name it is assigned to
    calls: list[ast.Call] = []
    for node in ast.walk(module):
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            name = _full_name(node.targets[0])
            if name is not None:
                targets[id(node.value)] = name
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            name = _full_name(node.target)
            if name is not None:
                targets[id(node.value)] = name
        elif isinstance(node, ast.Call):
            calls.append(node)
    # Source order; a call of a call's result (``partial(...)(...)``) before the inner call.
    calls.sort(key=lambda c: (c.lineno, c.col_offset, -c.end_lineno, -c.end_col_offset))
    found: list[SessionFactory] = []
    for node in calls:
        call = _factory_call(node)
        if call is None:
            continue
        keywords = {k.arg: k.value for k in node.keywords if k.arg is not None}
        if any(k.arg is None for k in node.keywords) and "expire_on_commit" not in keywords:
            value: bool | None = None  # may come through **kwargs
            explicit = True
        elif "expire_on_commit" in keywords:
            literal = keywords["expire_on_commit"]
            explicit = True
            is_bool = isinstance(literal, ast.Constant) and isinstance(literal.value, bool)
            value = literal.value if is_bool else None
        else:
            value, explicit = True, False
        target = targets.get(id(node))
        found.append(SessionFactory(path, node.lineno, call, value, explicit, target))
    return found


_FACTORY_TEXT = re.compile(
    rb"(?<![\w.])(?:[\w]+\.)*"
    rb"(async_sessionmaker|sessionmaker|AsyncSession|AsyncSessionConfig)\s*\(")
_TARGET_TEXT = re.compile(rb"^[ \t]*([A-Za-z_][\w.]*)[ \t]*(?::[^=\n]*)?=[ \t]*$")
_EXPIRE_TEXT = re.compile(rb"^expire_on_commit\s*=\s*(True|False)\s*$")


def _factories_in_text(data: bytes, rel: PurePath) -> list[SessionFactory]:
    """The factory calls of a module no parser reads, found in its text (what
    :func:`_find_factories` finds in its tree, for calls written plainly)."""
    found = []
    for match in _FACTORY_TEXT.finditer(data):
        line, start, _ = _line_bounds(data, match.start())
        prefix = data[start:match.start()]
        if _in_comment(prefix) or re.search(rb"\b(def|class)\s+$", prefix):
            continue
        args = _call_arguments(data, match.end())
        if not args:
            continue  # `factory()`: a call of a factory instance held in a variable
        call = match.group(1).decode()
        if call == "sessionmaker" and not any(
                re.match(rb"^class_\s*=\s*[\w.]*AsyncSession\s*$", a) for a in args):
            continue  # a plain sessionmaker() makes sync sessions
        literal = [_EXPIRE_TEXT.match(a) for a in args]
        given = next((m for m in literal if m), None)
        if given is not None:
            value: bool | None = given.group(1) == b"True"
            explicit = True
        elif any(a.startswith(b"expire_on_commit") or a.startswith(b"**") for a in args):
            value, explicit = None, True
        else:
            value, explicit = True, False
        target = _TARGET_TEXT.match(prefix)
        found.append(SessionFactory(_display(rel), line, call, value, explicit,
                                    target.group(1).decode() if target else None))
    return found


_SESSION_BLOCK = re.compile(rb"(?:async\s+)?with\s+[\w.]+(?:\.begin)?\(\)\s+as\s+\w+")


def _may_yield_a_session(data: bytes) -> bool:
    return b"yield" in data and _SESSION_BLOCK.search(data) is not None


def _find_dependencies(data: bytes, rel: PurePath) -> list[SessionDependency]:
    """Functions that yield (or return) the session a ``with NAME() as s:`` block (or
    ``NAME.begin()``) opens, ``NAME`` being the factory; in the order of the source."""
    try:
        module = frontend.parse(data.decode("utf-8-sig"))
    except (frontend.ParseError, UnicodeDecodeError, RecursionError):
        return []
    imported: dict[str, tuple[str | None, int, str]] = {}
    for stmt in module.body:
        if isinstance(stmt, ast.ImportFrom):
            for alias in stmt.names:
                imported[alias.asname or alias.name] = (stmt.module, stmt.level, alias.name)
        elif isinstance(stmt, ast.Import):
            for alias in stmt.names:
                local = alias.asname or alias.name.partition(".")[0]
                imported[local] = (None, 0, alias.name if alias.asname else local)
    found = []
    functions = [(f"{c.name}.{f.name}" if c is not None else f.name, f)
                 for c, f in _functions(module)]
    for name, function in functions:
        opened: dict[str, str] = {}
        handed: set[str] = set()
        for node in ast.walk(function):
            if isinstance(node, (ast.With, ast.AsyncWith)):
                for item in node.items:
                    call = item.context_expr
                    if isinstance(call, ast.Call) and not call.args and not call.keywords \
                            and isinstance(item.optional_vars, ast.Name):
                        factory = _full_name(call.func)
                        if factory and factory.endswith(".begin"):
                            factory = factory[: -len(".begin")]
                        if factory and "None" not in factory.split("."):
                            opened[item.optional_vars.id] = factory
            elif isinstance(node, (ast.Yield, ast.Return)) and isinstance(node.value, ast.Name):
                handed.add(node.value.id)
        for variable in sorted(handed & opened.keys()):
            factory = opened[variable]
            found.append(SessionDependency(_display(rel), function.lineno, name, factory,
                                           imported.get(factory.partition(".")[0])))
    return found


def _functions(module: ast.Module) -> Iterator[tuple[ast.ClassDef | None, ast.AST]]:
    for stmt in module.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield None, stmt
        elif isinstance(stmt, ast.ClassDef):
            for inner in stmt.body:
                if isinstance(inner, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    yield stmt, inner


def _factory_call(node: ast.Call) -> str | None:
    """What kind of async session factory ``node`` calls (``async_sessionmaker``,
    ``sessionmaker``, ``AsyncSession``, ``partial(AsyncSession)``...), or None."""
    call = (_full_name(node.func) or "").rsplit(".", 1)[-1]
    keywords = {k.arg: k.value for k in node.keywords if k.arg is not None}
    if call == "sessionmaker":
        # A plain sessionmaker() makes sync sessions, which the analysis ignores.
        class_ = keywords.get("class_")
        class_name = (_full_name(class_) or "") if class_ is not None else ""
        if "AsyncSession" not in class_name.rsplit(".", 1)[-1]:
            return None
    elif call == "partial":
        first = node.args[0] if node.args else None
        if isinstance(first, ast.Starred):
            first = first.value
        inner = (_full_name(first) or "") if first is not None else ""
        if not inner.rsplit(".", 1)[-1].endswith("AsyncSession"):
            return None
        call = f"partial({inner.rsplit('.', 1)[-1]})"
    elif not (call == "async_sessionmaker" or call.endswith("AsyncSession")
              or call == "AsyncSessionConfig"):
        # AsyncSessionConfig: advanced-alchemy's (and Litestar's) options of the session
        # factory it builds.
        return None
    if not node.args and not node.keywords:
        # `async_sessionmaker()` / `AsyncSession()` with nothing at all is, in real code,
        # a call of a factory *instance* held in a variable of that name.
        return None
    return call


def _full_name(node: object) -> str | None:
    """``a.b.c`` for a name, an attribute, or what a call or subscript is of (``f(x)`` → ``f``,
    ``d[k].attr`` → ``d.attr``); an unnamed part reads ``None`` (``(a or b).c`` → ``None.c``)."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_full_name(node.value)}.{node.attr}"
    if isinstance(node, ast.Call):
        return _full_name(node.func)
    if isinstance(node, ast.Subscript):
        return _full_name(node.value)
    return None


def _call_arguments(data: bytes, start: int, limit: int = 4000) -> list[bytes] | None:
    """Top-level argument texts of the call whose ``(`` ends just before ``start``.

    A bracket scanner that skips strings and comments: enough to tell ``refresh(x, [...])``
    from ``refresh(x, attribute_names=[...])`` without parsing the module.
    """
    args: list[bytes] = []
    depth = 0
    arg_start = i = start
    end = min(len(data), start + limit)
    while i < end:
        byte = data[i]
        if byte in b"\"'":
            quote = data[i : i + 3] if data[i : i + 3] in (b'"""', b"'''") else data[i : i + 1]
            i += len(quote)
            while i < end and data[i : i + len(quote)] != quote:
                i += 2 if data[i] == 0x5C else 1  # backslash escapes the next byte
            i += len(quote)
            continue
        if byte == 0x23:  # '#': comment to end of line
            newline = data.find(b"\n", i)
            i = end if newline < 0 else newline
            continue
        if byte in b"([{":
            depth += 1
        elif byte in b")]}":
            if depth == 0:
                args.append(data[arg_start:i])
                # Comments before an argument (``x,  # why\n attribute_names=...``) are not it.
                args = [_LEADING_COMMENTS.sub(b"", a).strip() for a in args]
                return [a for a in args if a]
            depth -= 1
        elif byte == 0x2C and depth == 0:  # ','
            args.append(data[arg_start:i])
            arg_start = i + 1
        i += 1
    return None


def _refresh_styles(data: bytes, rel: PurePath) -> tuple[list[str], list[str]]:
    """Locations of ``refresh(x, attribute_names=...)`` calls and of ``refresh(x, [...])`` calls."""
    keyword: list[str] = []
    positional: list[str] = []
    for match in _REFRESH.finditer(data):
        args = _call_arguments(data, match.end())
        if not args or len(args) < 2:
            continue
        line = data.count(b"\n", 0, match.start()) + 1
        where = f"{_display(rel)}:{line}"
        if any(_ATTRIBUTE_NAMES_ARG.match(a) for a in args[1:]):
            keyword.append(where)
        elif not _KEYWORD_ARG.match(args[1]) and args[1][:1] in (b"[", b"("):
            positional.append(where)
    return keyword, positional


# --------------------------------------------------------------------------
# Decisions
# --------------------------------------------------------------------------


def _summary(signals: Sequence[_Signal]) -> str:
    first = signals[0].source
    return first if len(signals) == 1 else f"{first} (and {len(signals) - 1} more)"


def _decide_backend(signals: list[_Signal], images: list[tuple[str, str]]) -> tuple[str, str]:
    """The backend the signals name, strongest first: a URL of the application (its packages'
    source, its deployment configuration) naming a server database; the application's own
    default SQLite, when SQLite's driver ships with it and no MySQL driver does; a URL
    elsewhere (a script, a benchmark); a main dependency's driver; then SQLite anywhere, which
    beside another database is the usual development and test database; then weak signals
    (optional groups, lock files)."""
    def pool(tier: int, sqlite: bool, app: bool | None = None) -> list[_Signal]:
        return sorted(
            (s for s in signals if s.tier == tier and (s.backend == "sqlite") == sqlite
             and (app is None or s.app == app)),
            key=lambda s: s.order,
        )

    main_drivers = {s.backend for s in signals if s.tier == _TIER_MAIN}
    app_default_sqlite = "sqlite" in main_drivers or not main_drivers - {"sqlite"}
    if main_drivers & {"mysql", "mariadb"}:
        app_default_sqlite = False
    pools = [
        pool(_TIER_URL, False, app=True),
        pool(_TIER_URL, True, app=True) if app_default_sqlite else [],
        pool(_TIER_URL, False, app=False),
        pool(_TIER_MAIN, False),
        pool(_TIER_URL, True),
        pool(_TIER_MAIN, True),
        pool(_TIER_WEAK, False),
        pool(_TIER_WEAK, True),
    ]
    chosen = next((p for p in pools if p), None)
    if chosen is None:
        return "unknown", "not detected"
    by_backend: dict[str, list[_Signal]] = {}
    for signal in chosen:
        by_backend.setdefault(signal.backend, []).append(signal)
    if len(by_backend) > 1:
        named = " vs ".join(
            f"{backend} ({_summary(group)})" for backend, group in by_backend.items()
        )
        return "unknown", f"conflicting signals: {named}"
    backend = next(iter(by_backend))
    source = _summary(chosen)
    if backend == "sqlite" and chosen[0].app and chosen[0].tier == _TIER_URL:
        others = sorted((s for s in signals if s.backend != "sqlite" and s.tier <= _TIER_MAIN),
                        key=lambda s: (s.tier != _TIER_MAIN, s.order))
        source += " (the application's default database"
        source += f"; {others[0].backend} is supported too: {others[0].source})" if others else ")"
    elif backend != "sqlite":
        ignored = sorted(
            (s for s in signals if s.backend == "sqlite"), key=lambda s: (s.tier, s.order)
        )
        if ignored:
            source += f"; SQLite ({ignored[0].source}) taken for a development or test database"
    if backend == "mysql" and images:
        kinds = {kind for kind, _ in images}
        if kinds == {"mariadb"}:
            # MySQL drivers and URLs serve MariaDB too, and MariaDB >= 10.5 has RETURNING.
            return "mariadb", f"{source}; server is MariaDB ({images[0][1]})"
    return backend, source


def _decide_version(versions: list[_Version]) -> tuple[str, str]:
    exact = sorted((v for v in versions if v.exact), key=lambda v: (not v.lock, v.order))
    if exact:
        chosen = exact[0]
        others = [v for v in exact if v.major != chosen.major]
        if others:
            return chosen.major, f"{chosen.source} (disagrees with {others[0].source})"
        return chosen.major, chosen.source
    ranges = sorted(versions, key=lambda v: v.order)
    if ranges:
        # Ranges intersect: one ceiling below 2.0 anywhere keeps the project on 1.x.
        capped = [v for v in ranges if v.major == "1.4"]
        chosen = capped[0] if capped else ranges[0]
        return chosen.major, chosen.source
    return "2", "default (no version pin found)"


def _decide_expire(factories: Sequence[SessionFactory]) -> tuple[bool, str]:
    """``expire_on_commit`` of the application's session factories (those of scripts and
    other packages count only when the application has none): False when every one says
    False, else SQLAlchemy's default."""
    own = [f for f in factories if f.app]
    if own and len(own) < len(factories):
        value, source = _decide_expire(own)
        others = [f for f in factories if not f.app]
        return value, f"{source}; the application's, not {others[0].describe()}"
    if not factories:
        return True, "SQLAlchemy default"
    values = {f.expire_on_commit for f in factories}
    if values == {False}:
        more = f" (and {len(factories) - 1} more)" if len(factories) > 1 else ""
        return False, factories[0].describe() + more
    if len(values) > 1:
        falses = [f for f in factories if f.expire_on_commit is False]
        others = [f for f in factories if f.expire_on_commit is not False]
        if falses:
            return True, (
                f"session factories disagree: {falses[0].describe()} vs {others[0].describe()}; "
                "SQLAlchemy default assumed"
            )
    if not any(f.explicit for f in factories):
        return True, f"SQLAlchemy default ({factories[0].describe()})"
    return True, factories[0].describe()


def _decide_refresh(keyword: list[str], positional: list[str]) -> tuple[bool, str]:
    if keyword and not positional:
        return True, f"{keyword[0]} refresh(..., attribute_names=...) ({len(keyword)} calls)"
    if positional:
        return (
            False,
            f"{positional[0]} refresh(..., [...]) ({len(positional)} calls with a positional list)",
        )
    return False, "no refresh() call names attributes"


# --------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------

_ENV_NAME = re.compile(r"^\.env(\..+)?$|^.+\.env$")
_CONFIG_SUFFIXES = (".ini", ".toml", ".yaml", ".yml", ".cfg", ".conf")


def detect_project(root: Path, python_files: Iterable[Path] | None = None,
                   memo: Callable[[str, Callable[[], Any]], Any] | None = None) -> ProjectFacts:
    """Detect the backend, SQLAlchemy major version and session settings of the project at ``root``.

    ``root`` is the project's top folder: every file under it is considered, except
    folders in :data:`SKIP_DIRS`, hidden folders and virtualenvs.  ``python_files``,
    when given, replaces the Python files found by walking (use it to honour
    ``.gitignore`` and excludes); relative paths in it are opened as given.
    Configuration and dependency files are always found by walking ``root``.

    Test suites, docs and examples (see :func:`is_test_path`) do not count for the
    backend or for ``expire_on_commit``.  Never raises for unreadable or malformed
    files; they are skipped.  ``memo(key, compute)``, when given, caches what is learnt
    from one file's text (its session factories), keyed by that text.
    """
    root = Path(root)
    deps = _Deps()
    url_signals: list[_Signal] = []
    images: list[tuple[str, str]] = []
    factory_files: list[tuple[bytes, PurePath, bool]] = []
    walked: list[Path] = []
    keyword: list[str] = []
    positional: list[str] = []

    def learn(data: bytes, rel: PurePath,
              app: bool) -> tuple[list[_Signal], bool, list[str], list[str]]:
        test = is_test_path(rel)
        signals = [] if test else _scan_urls(data, rel, python=True, sectioned=False, app=app)
        factory = not test and (_calls_a_factory(data) or _may_yield_a_session(data))
        styles = _refresh_styles(data, rel) if b".refresh" in data else ([], [])
        return signals, factory, styles[0], styles[1]

    def python(data: bytes, rel: PurePath) -> None:
        app = PurePosixPath(rel.as_posix()) in application
        if memo is None:
            signals, factory, keyword_, positional_ = learn(data, rel, app)
        else:
            key = digest("python", str(rel), app, data)
            signals, factory, keyword_, positional_ = memo(key, lambda: learn(data, rel, app))
        url_signals.extend(signals)
        if factory:
            factory_files.append((data, rel, app))
        keyword.extend(keyword_)
        positional.extend(positional_)

    for path, rel in _walk(root) if root.is_dir() else ():
        name = rel.name.lower()
        depth = len(rel.parts)
        if name.endswith(".py"):
            if python_files is None:
                walked.append(path)
            if name == "setup.py" and not _in_test_dir(rel):
                data = _read(path)
                if data is not None:
                    deps.setup_py(data, rel, depth)
            continue
        parent = rel.parts[-2].lower() if len(rel.parts) > 1 else ""
        is_requirements = name.endswith((".txt", ".in")) and (
            name.startswith("requirements") or parent == "requirements"
        )
        is_config = bool(_ENV_NAME.match(name)) or name.endswith(_CONFIG_SUFFIXES)
        is_lock = name in ("poetry.lock", "uv.lock", "pdm.lock", "pipfile.lock", "pipfile")
        if not (is_requirements or is_config or is_lock):
            continue
        data = _read(path)
        if data is None:
            continue
        # Dependencies declared under tests/, docs/ or examples/ are tooling for those,
        # not what the deployed application runs on.
        if not _in_test_dir(rel):
            if is_requirements:
                deps.requirements_txt(data, rel, depth)
            elif name in ("poetry.lock", "uv.lock", "pdm.lock"):
                deps.lock(data, rel, depth)
            elif name == "pipfile.lock":
                deps.pipfile_lock(data, rel, depth)
            elif name == "pipfile":
                deps.pipfile(data, rel, depth)
            elif name == "pyproject.toml":
                deps.pyproject(data, rel, depth)
            elif name == "setup.cfg":
                deps.setup_cfg(data, rel, depth)
        if is_config and not is_test_path(rel):
            sectioned = name.endswith((".ini", ".toml", ".cfg", ".conf"))
            url_signals.extend(_scan_urls(data, rel, python=False, sectioned=sectioned))
            if _COMPOSE_NAME.match(name):
                images.extend(_scan_images(data, rel))

    sources = sorted({Path(p) for p in python_files} if python_files is not None else walked)
    application = application_files(root, sources)
    for path in sources:
        data = _read(path)
        if data is not None:
            python(data, _relative(path, root))

    factories: list[SessionFactory] = []
    dependencies: list[SessionDependency] = []
    for data, rel, app in sorted(factory_files, key=lambda item: item[1]):
        if memo is None:
            found, yielding = _find_factories(data, rel), _find_dependencies(data, rel)
        else:
            key = digest("factories", str(rel), data)
            found = memo(key, lambda: _find_factories(data, rel))
            yielding = memo(digest("dependencies", str(rel), data),
                            lambda: _find_dependencies(data, rel))
        factories.extend(dataclasses.replace(f, app=app) for f in found)
        dependencies.extend(yielding)

    backend, backend_source = _decide_backend(url_signals + deps.signals, images)
    sqlalchemy, sqlalchemy_source = _decide_version(deps.versions)
    expire, expire_source = _decide_expire(factories)
    refresh_keyword, refresh_source = _decide_refresh(keyword, positional)
    return ProjectFacts(
        backend=backend,
        backend_source=backend_source,
        sqlalchemy=sqlalchemy,
        sqlalchemy_source=sqlalchemy_source,
        expire_on_commit=expire,
        expire_on_commit_source=expire_source,
        refresh_keyword=refresh_keyword,
        refresh_keyword_source=refresh_source,
        session_factories=tuple(factories),
        session_dependencies=tuple(dependencies),
    )
