"""Helpers for the command-line tests: the installed console script, small projects, git.

Every test runs ``flushguard`` as a user does (the console script next to this Python, as
a subprocess) in a project it makes under ``tmp_path``, most of them git repositories.
Git runs with a fixed identity and without the machine's global or system configuration,
so a developer's settings (signing, hooks, autocrlf) cannot change what a test sees.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Dict, Mapping, Optional, Sequence

MODELS = textwrap.dedent(
    """\
    from datetime import datetime

    from sqlalchemy import func
    from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


    class Base(DeclarativeBase):
        pass


    class User(Base):
        __tablename__ = "users"

        id: Mapped[int] = mapped_column(primary_key=True)
        email: Mapped[str]
        created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    """
)

#: One FG001 finding on line 10 (the flush is line 9).
SERVICE = textwrap.dedent(
    """\
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.models import User


    async def register(session: AsyncSession, email: str) -> dict:
        user = User(email=email)
        session.add(user)
        await session.flush()
        return {"id": user.id, "joined": user.created_at}
    """
)

#: Two fixes in one file: a flush (FG001, line 10) and a commit (FG003, line 16).
TWO_FIXES = textwrap.dedent(
    """\
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.models import User


    async def register(session: AsyncSession, email: str) -> dict:
        user = User(email=email)
        session.add(user)
        await session.flush()
        return {"id": user.id, "joined": user.created_at}


    async def rename(session: AsyncSession, user_id: int, email: str) -> str:
        user = await session.get(User, user_id)
        user.email = email
        await session.commit()
        return user.email
    """
)

REQUIREMENTS = "sqlalchemy[asyncio]==2.0.36\naiomysql\n"


def script() -> list[str]:
    """The installed console script (the one beside this interpreter), else ``python -m``."""
    beside = Path(sys.executable).with_name("flushguard")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("flushguard")
    return [found] if found else [sys.executable, "-m", "codemods"]


def environment(extra: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    env = dict(os.environ)
    for name in ("NO_COLOR", "FORCE_COLOR", "GIT_DIR", "GIT_INDEX_FILE", "GIT_WORK_TREE"):
        env.pop(name, None)
    env.update({
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "Test Author",
        "GIT_AUTHOR_EMAIL": "author@example.com",
        "GIT_COMMITTER_NAME": "Test Committer",
        "GIT_COMMITTER_EMAIL": "committer@example.com",
    })
    env.update(extra or {})
    return env


def flushguard(*args: str, cwd: Path, input: Optional[str | bytes] = None,
               env: Optional[Mapping[str, str]] = None,
               binary: bool = False) -> subprocess.CompletedProcess:
    """Run the console script; text in and out (newlines translated) unless ``input`` is
    bytes or ``binary``."""
    return subprocess.run([*script(), *args], cwd=cwd, capture_output=True,
                          text=not (binary or isinstance(input, bytes)), input=input, timeout=120,
                          env=environment(env))


def git(*args: str, cwd: Path, input: Optional[str] = None) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, input=input,
                          env=environment(), check=False)
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout


def make_project(root: Path, service: str = SERVICE, repo: bool = True,
                 extra: Optional[Mapping[str, str | bytes]] = None) -> Path:
    """A small MySQL project (``app/models.py``, ``app/service.py``), committed when ``repo``."""
    (root / "app").mkdir(parents=True)
    (root / "app" / "__init__.py").write_text("")
    (root / "app" / "models.py").write_text(MODELS)
    (root / "app" / "service.py").write_text(service)
    (root / "requirements.txt").write_text(REQUIREMENTS)
    for name, content in (extra or {}).items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    if repo:
        git("init", "-q", "-b", "main", cwd=root)
        git("add", ".", cwd=root)
        git("commit", "-q", "-m", "initial", cwd=root)
    return root


def snapshot(root: Path, skip: Sequence[str] = (".git", ".flushguard_cache")) -> Dict[str, tuple]:
    """Every file under ``root``: its bytes, mode and mtime (to prove nothing was touched).

    The cache folder is flushguard's own (and ignores itself): writing it touches nothing.
    """
    state = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if relative.split("/")[0] in skip or not path.is_file():
            continue
        info = path.stat()
        state[relative] = (path.read_bytes(), info.st_mode, info.st_mtime_ns)
    return state
