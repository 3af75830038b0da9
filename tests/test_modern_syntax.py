"""Syntax newer than the Python flushguard runs on is read all the same (3.10 and later).

Projects use type parameters (`def f[T]`, `class C[T]`), `type` aliases, type parameter
defaults (`[T = int]`), `except A, B:` without parentheses, t-strings and the 3.12 f-strings,
and flushguard runs on whatever Python the user has. Every reader asks the front end
(`codemods.frontend.parse`): the running interpreter's parser first, and, where it rejects
the source as an older Python would, LibCST's parser, which reads all of them.

Each case is a project whose models module and flush-site module use one kind of syntax
inside and around the classes and functions that matter; `check` must find the unloaded read,
`fix` must insert the refresh, `audit` must classify the site. Then every case at once, with
`ast.parse` and `compile` refusing the project's source (a `SyntaxError`, as the parser of a
Python too old for it gives), in this process and in a subprocess whose worker processes
analyse the files: everything is read all the same.
"""

from __future__ import annotations

import ast
import builtins
import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Tuple

import libcst
import pytest

from clikit import REQUIREMENTS, environment, flushguard, git

#: Written at the top of every file of the projects: how a guard recognises their source.
MARKER = "# modern-syntax-project"

PREAMBLE = f"""\
{MARKER}
from datetime import datetime

from sqlalchemy import func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass
"""

USER = """
class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
"""

SERVICE_HEAD = f"""\
{MARKER}
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import User
"""

FLUSH_REFRESH = 'await session.refresh(user, ["created_at"])'
COMMIT_REFRESH = 'await self.session.refresh(user, ["email"])'


@dataclass(frozen=True)
class Case:
    #: The Python version that introduced the syntax (the running one may be older).
    introduced: Tuple[int, int]
    #: The words ruff uses for it ("Cannot use type parameter lists on Python 3.10 ...").
    ruff_says: str
    models: str
    service: str
    #: (code, attributes, which site) of each finding of `user`, in line order.
    findings: Tuple[Tuple[str, Tuple[str, ...], int], ...]
    #: The site line (its text, unique in the service) each refresh follows, and the refresh.
    fixes: Tuple[Tuple[str, str], ...]


CASES: Dict[str, Case] = {
    "type-parameters": Case(
        (3, 12), "type parameter lists",
        PREAMBLE + textwrap.dedent('''

            def first[T](items: list[T]) -> T:
                return items[0]


            class Box[T]:
                def __init__(self, value: T) -> None:
                    self.value = value

                def get[U](self, default: U) -> T | U:
                    return self.value or default

            ''') + USER + textwrap.dedent('''\

                def same[T](self, other: T) -> T:
                    return other


            class Page[M: Base, *Ts, **P]:
                items: list[M]
            '''),
        SERVICE_HEAD + textwrap.dedent('''

            def pick[T](values: list[T]) -> T:
                return values[0]


            async def register[T: str](session: AsyncSession, email: T) -> dict:
                user = User(email=email)
                session.add(user)
                await session.flush()
                return {"id": user.id, "joined": user.created_at}


            class Users[S: AsyncSession, *Ts, **P]:
                def __init__(self, session: S) -> None:
                    self.session = session

                async def rename[K](self, user_id: K, email: str) -> str:
                    user = await self.session.get(User, user_id)
                    user.email = email
                    await self.session.commit()
                    return user.email
            '''),
        (("FG001", ("created_at",), 0), ("FG003", ("email",), 1)),
        (("    await session.flush()", FLUSH_REFRESH),
         ("        await self.session.commit()", COMMIT_REFRESH)),
    ),
    "type-aliases": Case(
        (3, 12), "`type` alias statement",
        PREAMBLE.replace("from sqlalchemy import func\n", "from sqlalchemy import String, func\n")
        + textwrap.dedent('''
            type Stamp = datetime
            type Json[T] = dict[str, T] | list[T]

            ''') + USER + textwrap.dedent('''\
                type: Mapped[str] = mapped_column(String(20), server_default="member")

                def kind(self) -> str:
                    type Label = str
                    return self.type


            type Users = list[User]
            '''),
        SERVICE_HEAD + textwrap.dedent('''
            type Payload = dict[str, object]


            async def register(session: AsyncSession, email: str) -> Payload:
                type Row = tuple[int, str]
                user = User(email=email)
                session.add(user)
                await session.flush()
                type Result = Payload
                return {"joined": user.created_at, "type": user.type}


            class Users:
                type Session = AsyncSession

                def __init__(self, session: AsyncSession) -> None:
                    self.session = session

                async def rename(self, user_id: int, email: str) -> str:
                    user = await self.session.get(User, user_id)
                    user.email = email
                    await self.session.commit()
                    type Name = str
                    return user.email
            '''),
        (("FG001", ("created_at",), 0), ("FG001", ("type",), 0), ("FG003", ("email",), 1)),
        (("    await session.flush()", 'await session.refresh(user, ["created_at", "type"])'),
         ("        await self.session.commit()", COMMIT_REFRESH)),
    ),
    "type-parameter-defaults": Case(
        (3, 13), "default type for a type parameter",
        PREAMBLE + textwrap.dedent('''
            type Pair[K, V = int] = tuple[K, V]


            def first[T = int](items: list[T]) -> T:
                return items[0]

            ''') + USER + textwrap.dedent('''\

                def same[T = str](self, other: T) -> T:
                    return other


            class Page[M = User, *Ts = *tuple[int, ...], **P = [int, str]]:
                items: list[M]
            '''),
        SERVICE_HEAD + textwrap.dedent('''

            async def register[T = str](session: AsyncSession, email: T) -> dict:
                user = User(email=email)
                session.add(user)
                await session.flush()
                return {"id": user.id, "joined": user.created_at}


            class Users[S: AsyncSession = AsyncSession]:
                def __init__(self, session: S) -> None:
                    self.session = session

                async def rename[K = int](self, user_id: K, email: str) -> str:
                    user = await self.session.get(User, user_id)
                    user.email = email
                    await self.session.commit()
                    return user.email
            '''),
        (("FG001", ("created_at",), 0), ("FG003", ("email",), 1)),
        (("    await session.flush()", FLUSH_REFRESH),
         ("        await self.session.commit()", COMMIT_REFRESH)),
    ),
    "except-without-parentheses": Case(
        (3, 14), "Multiple exception types must be parenthesized",
        PREAMBLE + textwrap.dedent('''

            def parse(value: str) -> datetime | None:
                try:
                    return datetime.fromisoformat(value)
                except ValueError, TypeError:
                    return None

            ''') + USER + textwrap.dedent('''\

                def domain(self) -> str:
                    try:
                        return self.email.split("@")[1]
                    except* IndexError, AttributeError:
                        return ""
            '''),
        SERVICE_HEAD + textwrap.dedent('''

            async def register(session: AsyncSession, email: str) -> dict:
                user = User(email=email)
                session.add(user)
                try:
                    await session.flush()
                except ValueError, TypeError:
                    raise
                return {"id": user.id, "joined": user.created_at}


            class Users:
                def __init__(self, session: AsyncSession) -> None:
                    self.session = session

                async def rename(self, user_id: int, email: str) -> str:
                    user = await self.session.get(User, user_id)
                    user.email = email
                    try:
                        await self.session.commit()
                    except* ValueError, TypeError:
                        pass
                    return user.email
            '''),
        (("FG001", ("created_at",), 0), ("FG003", ("email",), 1)),
        (("        await session.flush()", FLUSH_REFRESH),
         ("            await self.session.commit()", COMMIT_REFRESH)),
    ),
    "t-strings": Case(
        (3, 14), "t-strings",
        PREAMBLE + textwrap.dedent('''
            GREETING = t"hello {"world"}"

            ''') + USER + textwrap.dedent('''\

                def label(self, width: int = 10):
                    return t"{self.email!r:>{width}} since {self.created_at}"
            '''),
        SERVICE_HEAD + textwrap.dedent('''
            BANNER = rt"users\\{len(__name__)}"


            async def register(session: AsyncSession, email: str, width: int = 8):
                user = User(email=email)
                session.add(user)
                await session.flush()
                return t"{user.id} joined {user.created_at!r:>{width}}"


            class Users:
                def __init__(self, session: AsyncSession) -> None:
                    self.session = session

                async def rename(self, user_id: int, email: str):
                    user = await self.session.get(User, user_id)
                    user.email = email
                    await self.session.commit()
                    return t"""renamed:
                    {user.email}"""
            '''),
        (("FG001", ("created_at",), 0), ("FG003", ("email",), 1)),
        (("    await session.flush()", FLUSH_REFRESH),
         ("        await self.session.commit()", COMMIT_REFRESH)),
    ),
    "f-strings-3.12": Case(
        (3, 12), "f-strings",
        PREAMBLE + textwrap.dedent('''
            SEPARATOR = f"{"-" * 3}"

            ''') + USER + textwrap.dedent('''\

                def label(self) -> str:
                    return f"{self.email + f"{"!"}"}"
            '''),
        SERVICE_HEAD + textwrap.dedent('''

            async def register(session: AsyncSession, email: str) -> str:
                user = User(email=email)
                session.add(user)
                await session.flush()
                return f"{"-".join([
                    str(user.id),  # the key
                    str(user.created_at),
                ])}"


            class Users:
                def __init__(self, session: AsyncSession) -> None:
                    self.session = session

                async def rename(self, user_id: int, email: str) -> str:
                    user = await self.session.get(User, user_id)
                    user.email = email
                    await self.session.commit()
                    return f"{f"{f"{user.email}"}"}"
            '''),
        (("FG001", ("created_at",), 0), ("FG003", ("email",), 1)),
        (("    await session.flush()", FLUSH_REFRESH),
         ("        await self.session.commit()", COMMIT_REFRESH)),
    ),
    "exception-groups": Case(
        (3, 11), "`except*`",
        PREAMBLE + USER + textwrap.dedent('''\

                def domain(self) -> str:
                    try:
                        return self.email.split("@")[1]
                    except* IndexError:
                        return ""
            '''),
        SERVICE_HEAD + textwrap.dedent('''

            async def register(session: AsyncSession, email: str) -> dict:
                user = User(email=email)
                session.add(user)
                try:
                    await session.flush()
                except* ValueError:
                    raise
                return {"id": user.id, "joined": user.created_at}


            class Users:
                def __init__(self, session: AsyncSession) -> None:
                    self.session = session

                async def rename(self, user_id: int, email: str) -> str:
                    user = await self.session.get(User, user_id)
                    user.email = email
                    try:
                        await self.session.commit()
                    except* (ValueError, TypeError) as group:
                        raise group
                    return user.email
            '''),
        (("FG001", ("created_at",), 0), ("FG003", ("email",), 1)),
        (("        await session.flush()", FLUSH_REFRESH),
         ("            await self.session.commit()", COMMIT_REFRESH)),
    ),
}


def fixed(case: Case) -> str:
    """The service as `fix` must leave it: each refresh on the line after its site."""
    lines = case.service.splitlines(keepends=True)
    for site, refresh in case.fixes:
        (index,) = [i for i, line in enumerate(lines) if line.rstrip("\n") == site]
        indent = site[:len(site) - len(site.lstrip())]
        lines.insert(index + 1, f"{indent}{refresh}\n")
    return "".join(lines)


def site_lines(case: Case) -> List[int]:
    lines = case.service.splitlines()
    return [lines.index(site) + 1 for site, _ in case.fixes]


def make(root: Path, files: Dict[str, str], repo: bool = True) -> Path:
    for name, text in {"requirements.txt": REQUIREMENTS, "app/__init__.py": "", **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    if repo:
        git("init", "-q", "-b", "main", cwd=root)
        git("add", ".", cwd=root)
        git("commit", "-q", "-m", "initial", cwd=root)
    return root


def case_project(root: Path, name: str) -> Path:
    case = CASES[name]
    return make(root, {"app/models.py": case.models, "app/service.py": case.service})


# -- the cases are what they claim -----------------------------------------------------------


def _ruff(target: str, path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--isolated", "--no-cache", "--select", "E9",
         "--output-format", "concise", "--target-version", target, str(path)],
        capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_case_uses_its_syntax_and_libcst_reads_it(tmp_path: Path, name: str) -> None:
    """ruff (an independent parser) says the files are valid Python 3.14 and need the version
    the case names; LibCST parses them and gives them back unchanged. On an interpreter older
    than the syntax, `ast` rejects the files: that is what the pipeline must never rely on."""
    case = CASES[name]
    for kind, source in (("models", case.models), ("service", case.service)):
        path = tmp_path / f"{kind}.py"
        path.write_text(source)
        valid = _ruff("py314", path)
        assert valid.returncode == 0, valid.stdout + valid.stderr
        older = _ruff(f"py3{case.introduced[1] - 1}", path)
        assert older.returncode == 1 and case.ruff_says in older.stdout, older.stdout
        assert f"added in Python {case.introduced[0]}.{case.introduced[1]}" in older.stdout
        assert libcst.parse_module(source).code == source
        if sys.version_info < case.introduced:
            with pytest.raises(SyntaxError):
                ast.parse(source)
        else:
            ast.parse(source)


# -- check, fix, audit on each case ----------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CASES))
def test_check_fix_and_audit(tmp_path: Path, name: str) -> None:
    case = CASES[name]
    project = case_project(tmp_path / "p", name)

    done = flushguard("check", "--format", "json", cwd=project)
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["errors"] == []
    lines = site_lines(case)
    found = [(f["code"], tuple(f["attributes"]), f["site"]["line"]) for f in report["findings"]]
    assert found == [(code, attrs, lines[site]) for code, attrs, site in case.findings], found
    assert {f["object"] for f in report["findings"]} == {"user"}
    assert {f["path"] for f in report["findings"]} == {"app/service.py"}
    assert all(f["model"] == "User" and f["fix"] for f in report["findings"])

    audit = flushguard("audit", "--format", "json", cwd=project)
    assert audit.returncode == 0, audit.stderr
    sites = json.loads(audit.stdout)["sites"]
    assert [(s["path"], s["line"], s["category"]) for s in sites] == [
        ("app/service.py", line, "unsafe") for line in site_lines(case)]
    assert [m["name"] for m in json.loads(audit.stdout)["models"]] == ["User"]

    diff = flushguard("diff", cwd=project)
    assert diff.returncode == 1, diff.stderr
    done = flushguard("fix", cwd=project)
    assert done.returncode == 0, done.stderr
    assert (project / "app" / "service.py").read_text() == fixed(case)
    assert (project / "app" / "models.py").read_text() == case.models
    applied = subprocess.run(["git", "apply", "--check", "-R"], input=diff.stdout, text=True,
                             cwd=project, capture_output=True, env=environment())
    assert applied.returncode == 0, applied.stderr  # the diff is exactly what fix wrote

    again = flushguard("check", cwd=project)
    assert again.returncode == 0 and again.stdout == "", again.stdout + again.stderr


def test_source_on_stdin_with_every_syntax(tmp_path: Path) -> None:
    case = CASES["t-strings"]
    project = case_project(tmp_path / "p", "t-strings")
    done = flushguard("fix", "-", "--stdin-filename", "app/service.py", cwd=project,
                      input=case.service)
    assert done.returncode == 0, done.stderr
    assert done.stdout == fixed(case)


# -- every case at once, with the interpreter's parser out of reach --------------------------


def everything(root: Path, copies: int = 1) -> Path:
    """One project: every case's models in a module of its own (the services import theirs)
    and every case's service, ``copies`` times over (more files than the engine analyses in
    one process, so that worker processes run)."""
    files: Dict[str, str] = {}
    for number, (name, case) in enumerate(sorted(CASES.items())):
        module = f"models_{number}"
        files[f"app/{module}.py"] = case.models.replace('"users"', f'"users_{number}"')
        service = case.service.replace("from app.models import", f"from app.{module} import")
        for copy in range(copies):
            files[f"app/services/s{number}_{copy}.py"] = service
    files["app/services/__init__.py"] = ""
    return make(root, files)


def expected_everything(project: Path) -> Dict[str, str]:
    out = {}
    for number, (name, case) in enumerate(sorted(CASES.items())):
        for path in sorted((project / "app" / "services").glob(f"s{number}_*.py")):
            out[path.relative_to(project).as_posix()] = fixed(case).replace(
                "from app.models import", f"from app.models_{number} import")
    return out


def _guarded(project: Path):
    """ast.parse and compile that refuse the project's source as a Python too old for it would
    (a SyntaxError), and the calls they refused."""
    refused: List[str] = []
    real_parse, real_compile = ast.parse, builtins.compile

    def ours(source, filename) -> bool:
        if isinstance(source, (bytes, bytearray)):
            source = bytes(source).decode("utf-8", "replace")
        return (isinstance(source, str) and source.lstrip("\ufeff").startswith(MARKER)) \
            or str(project) in str(filename)

    def parse(source, filename="<unknown>", *args, **kwargs):
        if ours(source, filename):
            refused.append(f"ast.parse({filename})")
            raise SyntaxError("ast.parse of the project's source")
        return real_parse(source, filename, *args, **kwargs)

    def compile_(source, filename, *args, **kwargs):
        if ours(source, filename):
            refused.append(f"compile({filename})")
            raise SyntaxError("compile of the project's source")
        return real_compile(source, filename, *args, **kwargs)

    return parse, compile_, refused


def test_source_the_interpreter_refuses_is_read_in_process(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole pipeline (discovery, settings, model index, analysis, fix, audit) runs in this
    process (`--jobs 1`) with `ast.parse` and `compile` refusing the project's source: LibCST
    reads all of it, and every result is as it should be."""
    from click.testing import CliRunner

    from codemods.cli import main

    project = everything(tmp_path / "p")
    parse, compile_, refused = _guarded(project)
    monkeypatch.setattr(ast, "parse", parse)
    monkeypatch.setattr(builtins, "compile", compile_)
    monkeypatch.chdir(project)
    runner = CliRunner()

    check = runner.invoke(main, ["check", "--jobs", "1", "--format", "json"])
    assert check.exit_code == 1, (check.output, check.exception)
    findings = json.loads(check.stdout)["findings"]
    assert len(findings) == sum(len(c.findings) for c in CASES.values())
    audit = runner.invoke(main, ["audit", "--jobs", "1", "--format", "json"])
    assert audit.exit_code == 0, (audit.output, audit.exception)
    assert len(json.loads(audit.stdout)["sites"]) == sum(len(c.fixes) for c in CASES.values())
    diff = runner.invoke(main, ["diff", "--jobs", "1"])
    assert diff.exit_code == 1, (diff.output, diff.exception)
    fix = runner.invoke(main, ["fix", "--jobs", "1"])
    assert fix.exit_code == 0, (fix.output, fix.exception)
    for path, text in expected_everything(project).items():
        assert (project / path).read_text() == text, path
    # The interpreter's parser was asked, refused, and LibCST read the source instead.
    assert any("s0_0.py" in call or "<unknown>" in call for call in refused), refused
    assert not any(call.startswith("compile(") for call in refused), refused


SITECUSTOMIZE = """\
import ast
import builtins
import os

_LOG = os.environ["FLUSHGUARD_TEST_PARSE_LOG"]
_MARKER = os.environ["FLUSHGUARD_TEST_MARKER"]
_parse, _compile = ast.parse, builtins.compile


def _ours(source):
    if isinstance(source, (bytes, bytearray)):
        source = bytes(source).decode("utf-8", "replace")
    return isinstance(source, str) and source.lstrip("\\ufeff").startswith(_MARKER)


def _refuse(what, filename):
    with open(_LOG, "a", encoding="utf-8") as log:
        log.write(f"{os.getpid()} {what} {filename}\\n")
    raise SyntaxError(f"{what} of the project's source")


def parse(source, filename="<unknown>", *args, **kwargs):
    if _ours(source):
        _refuse("ast.parse", filename)
    return _parse(source, filename, *args, **kwargs)


def compile(source, filename, *args, **kwargs):
    if _ours(source):
        _refuse("compile", filename)
    return _compile(source, filename, *args, **kwargs)


def _note(what):
    with open(_LOG, "a", encoding="utf-8") as log:
        log.write(f"{os.getpid()} {what}\\n")


ast.parse = parse
builtins.compile = compile
_note("guarded")
# A worker process forked from a guarded one says so, and whether the guard is still there.
os.register_at_fork(after_in_child=lambda: _note(
    "forked " + ("guarded" if ast.parse is parse and builtins.compile is compile else "open")))
"""


def test_source_the_interpreter_refuses_is_read_in_worker_processes(tmp_path: Path) -> None:
    """The console script, with a sitecustomize that makes `ast.parse` and `compile` refuse
    (and log) the project's source in the main process and in every worker process: LibCST
    reads all of it there too."""
    project = everything(tmp_path / "p", copies=3)
    guard = tmp_path / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(SITECUSTOMIZE)
    log = tmp_path / "parse.log"
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(guard),
                                                       os.environ.get("PYTHONPATH")])),
           "FLUSHGUARD_TEST_PARSE_LOG": str(log), "FLUSHGUARD_TEST_MARKER": MARKER}
    total = 3 * sum(len(c.findings) for c in CASES.values())

    check = flushguard("check", "--jobs", "2", "--format", "json", cwd=project, env=env)
    assert check.returncode == 1, check.stderr
    assert len(json.loads(check.stdout)["findings"]) == total
    audit = flushguard("audit", "--jobs", "2", "--format", "json", cwd=project, env=env)
    assert audit.returncode == 0, audit.stderr
    fix = flushguard("fix", "--jobs", "2", cwd=project, env=env)
    assert fix.returncode == 0, fix.stderr
    for path, text in expected_everything(project).items():
        assert (project / path).read_text() == text, path

    entries = [e.split(" ", 1) for e in log.read_text().splitlines()]
    refusals = [e for e in entries if e[1] not in ("guarded", "forked guarded")]
    assert refusals and all(e[1].startswith("ast.parse ") for e in refusals), refusals
    # Workers, not only the main process, were refused and read the source all the same.
    forked = {pid for pid, what in entries if what == "forked guarded"}
    assert {pid for pid, _ in refusals} & forked, entries
    # The guard was in place in the three runs and in the worker processes they started.
    assert len({pid for pid, what in entries if what == "guarded"}) >= 3, entries
    assert len({pid for pid, what in entries if what == "forked guarded"}) >= 2, entries
