"""The analysis is static: nothing of the project it reads is imported or run.

Every Python file of the project below, the models module included, writes a marker file and
connects to a socket this test listens on as soon as it is imported (at module level, in a
class body, in `__init_subclass__`), and so do the files Python or pytest run by themselves
(`sitecustomize.py`, `usercustomize.py`, `conftest.py`, `setup.py`, `__main__.py`,
`alembic/env.py`). Every command runs on it, through the console script and `python -m
codemods`; afterwards no marker exists and no connection came, while the findings show that
the models were read all the same (the server default that makes the finding is declared
only in the models module).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Iterator, List, Tuple

import pytest

from clikit import REQUIREMENTS, environment, flushguard, git

PAYLOAD = """\
import os as _os
import socket as _socket

with open(_os.path.join({markers!r}, {name!r} + "-" + str(_os.getpid())), "w") as _marker:
    _marker.write("ran")
try:
    _socket.create_connection(("127.0.0.1", {port}), timeout=2).sendall({name!r}.encode())
except OSError:
    pass
"""

MODELS = """\
from datetime import datetime

from sqlalchemy import func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    def __init_subclass__(cls, **kwargs):
{payload_in_method}
        super().__init_subclass__(**kwargs)


class User(Base):
    __tablename__ = "users"
{payload_in_class}
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
"""

SERVICE = """\
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import User


async def register(session: AsyncSession, email: str) -> dict:
    user = User(email=email)
    session.add(user)
    await session.flush()
    return {"id": user.id, "joined": user.created_at}
"""

#: Files that run code when imported, or that Python, pytest or setuptools run by themselves.
PLANTED = ("app/__init__.py", "app/models.py", "app/service.py", "app/__main__.py",
           "conftest.py", "setup.py", "sitecustomize.py", "usercustomize.py", "alembic/env.py",
           "tests/conftest.py", "tests/test_app.py")


@pytest.fixture
def listener() -> Iterator[Tuple[socket.socket, int]]:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.setblocking(False)
    try:
        yield server, server.getsockname()[1]
    finally:
        server.close()


def _accepted(server: socket.socket) -> List[bytes]:
    got = []
    while True:
        try:
            connection, _ = server.accept()
        except BlockingIOError:
            return got
        connection.settimeout(2)
        with connection:
            got.append(connection.recv(100))


def _project(root: Path, markers: Path, port: int) -> Path:
    def payload(name: str, indent: str = "") -> str:
        return textwrap.indent(PAYLOAD.format(markers=str(markers), name=name, port=port), indent)

    files = {
        "requirements.txt": REQUIREMENTS,
        "alembic.ini": "[alembic]\nscript_location = alembic\n"
                       "sqlalchemy.url = mysql+aiomysql://u:p@localhost/db\n",
        "app/models.py": payload("models") + "\n" + MODELS.format(
            payload_in_method=payload("models-subclass", " " * 8),
            payload_in_class=payload("models-class", " " * 4)),
        "app/service.py": payload("service") + "\n" + SERVICE,
    }
    for name in PLANTED:
        files.setdefault(name, "")
        files[name] = payload(name.replace("/", "-")) + "\n" + files[name]
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git("init", "-q", "-b", "main", cwd=root)
    git("add", ".", cwd=root)
    git("commit", "-q", "-m", "initial", cwd=root)
    return root


def test_the_planted_payload_does_run_when_imported(tmp_path: Path,
                                                     listener: Tuple[socket.socket, int]) -> None:
    """The check below can fail: importing the planted models module does write the marker
    and connect."""
    server, port = listener
    markers = tmp_path / "markers"
    markers.mkdir()
    project = _project(tmp_path / "p", markers, port)
    done = subprocess.run([sys.executable, "-c", "import app.models"], cwd=project,
                          capture_output=True, text=True, env=environment(), timeout=60)
    assert done.returncode == 0, done.stderr
    names = {p.name.rsplit("-", 1)[0] for p in markers.iterdir()}
    assert {"app-__init__.py", "models", "models-class", "models-subclass",
            "app-models.py"} <= names, names
    assert b"models" in _accepted(server)


@pytest.mark.parametrize("how", ["console-script", "python-m"])
def test_no_command_imports_or_runs_the_project(tmp_path: Path, how: str,
                                                listener: Tuple[socket.socket, int]) -> None:
    server, port = listener
    markers = tmp_path / "markers"
    markers.mkdir()
    project = _project(tmp_path / "p", markers, port)

    def run(*args: str) -> subprocess.CompletedProcess:
        if how == "console-script":
            return flushguard(*args, cwd=project)
        return subprocess.run([sys.executable, "-m", "codemods", *args], cwd=project,
                              capture_output=True, text=True, env=environment(), timeout=120)

    check = run("check", "--format", "json")
    assert check.returncode == 1, check.stderr
    findings = json.loads(check.stdout)["findings"]
    # created_at's server default (and MySQL, from alembic.ini) come from the files only.
    assert [(f["path"], f["code"], f["attributes"]) for f in findings] == [
        ("app/service.py", "FG001", ["created_at"])]

    audit = run("audit", "--format", "json")
    assert audit.returncode == 0, audit.stderr
    assert [m["name"] for m in json.loads(audit.stdout)["models"]] == ["User"]

    diff = run("diff")
    assert diff.returncode == 1 and 'await session.refresh(user, ["created_at"])' in diff.stdout

    branch = run("branch")
    assert branch.returncode == 0, branch.stderr
    assert "branch: flushguard/refresh-after-flush" in branch.stdout

    fix = run("fix")
    assert fix.returncode == 0, fix.stderr
    assert 'await session.refresh(user, ["created_at"])' in (project / "app" / "service.py").read_text()

    for done in (check, audit, diff, branch, fix):
        assert "Traceback" not in done.stderr, done.stderr
    assert sorted(p.name for p in markers.iterdir()) == []
    assert _accepted(server) == []
