"""fix: files written atomically and faithfully, unchanged files untouched, interactive review."""

from __future__ import annotations

import os
import stat
import textwrap
from pathlib import Path

import pytest

from clikit import SERVICE, TWO_FIXES, flushguard, make_project, snapshot

REFRESH_1 = 'await session.refresh(user, ["created_at"])'
REFRESH_2 = 'await session.refresh(user, ["email"])'


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "p", service=TWO_FIXES)


def test_fix_keeps_crlf_line_endings(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", service=SERVICE.replace("\n", "\r\n"))
    assert flushguard("fix", cwd=project).returncode == 0
    data = (project / "app" / "service.py").read_bytes()
    assert f"    await session.flush()\r\n    {REFRESH_1}\r\n".encode() in data
    assert b"\n" not in data.replace(b"\r\n", b"")


def test_fix_keeps_a_utf8_bom(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", extra={
        "app/service.py": b"\xef\xbb\xbf" + ("# café\n" + SERVICE).encode("utf-8")})
    assert flushguard("fix", cwd=project).returncode == 0
    data = (project / "app" / "service.py").read_bytes()
    assert data.startswith(b"\xef\xbb\xbf# caf\xc3\xa9\n") and data.count(b"\xef\xbb\xbf") == 1
    assert REFRESH_1.encode() in data


def test_fix_keeps_a_latin1_coding_cookie_and_its_bytes(tmp_path: Path) -> None:
    source = "# -*- coding: latin-1 -*-\n# café au lait\n" + SERVICE
    project = make_project(tmp_path / "p", extra={"app/service.py": source.encode("latin-1")})
    assert flushguard("fix", cwd=project).returncode == 0
    data = (project / "app" / "service.py").read_bytes()
    assert data.startswith(b"# -*- coding: latin-1 -*-\n# caf\xe9 au lait\n")
    assert data.decode("latin-1").count(REFRESH_1) == 1


def test_fix_keeps_the_file_mode_and_writes_through_a_symlink(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p")
    service = project / "app" / "service.py"
    os.chmod(service, 0o755)
    link = project / "app" / "link.py"
    link.symlink_to("service.py")
    assert flushguard("fix", "app/link.py", cwd=project).returncode == 0
    assert stat.S_IMODE(service.stat().st_mode) == 0o755
    assert link.is_symlink() and REFRESH_1 in service.read_text()
    leftovers = [p.name for p in (project / "app").iterdir() if p.name.endswith(".flushguard")]
    assert leftovers == []


def test_fix_leaves_unchanged_files_untouched(project: Path) -> None:
    before = snapshot(project)
    result = flushguard("fix", cwd=project)
    assert result.returncode == 0, result.stderr
    after = snapshot(project)
    assert set(before) == set(after)
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {"app/service.py"}  # the models, __init__ and requirements keep their mtime
    again = snapshot(project)
    assert flushguard("fix", cwd=project).returncode == 0
    assert snapshot(project) == again  # a second run writes nothing


def test_fix_reports_the_summary_and_exits_1_when_findings_are_left(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p")
    result = flushguard("fix", "--backend", "unknown", cwd=project)
    assert result.returncode == 1  # the possible finding is not fixed without --unsafe-fixes
    assert REFRESH_1 not in (project / "app" / "service.py").read_text()
    assert "0 files fixed" in result.stderr
    result = flushguard("fix", "--backend", "unknown", "--unsafe-fixes", cwd=project)
    assert result.returncode == 0, result.stderr
    assert REFRESH_1 in (project / "app" / "service.py").read_text()
    assert "1 file fixed" in result.stderr


# --------------------------------------------------------------------------
# --interactive
# --------------------------------------------------------------------------


def interactive(project: Path, answers: str, *args: str):
    return flushguard("fix", "--interactive", *args, cwd=project, input=answers)


def test_interactive_asks_per_fix_and_applies_only_the_yes(project: Path) -> None:
    result = interactive(project, "n\ny\n")
    text = (project / "app" / "service.py").read_text()
    assert REFRESH_1 not in text and REFRESH_2 in text
    assert result.stdout.count("Apply? [y]es, [n]o, [a]ll, [q]uit") == 2
    first, second = result.stdout.split("Apply?")[:2]
    assert "app/service.py:10:38: FG001" in first and f"+    {REFRESH_1}" in first
    assert "app/service.py:17:12: FG003" in second and f"+    {REFRESH_2}" in second
    assert result.returncode == 1  # the declined fix leaves its finding


def test_interactive_all_applies_the_rest_without_asking(project: Path) -> None:
    result = interactive(project, "a\n")
    assert result.stdout.count("Apply?") == 1
    text = (project / "app" / "service.py").read_text()
    assert REFRESH_1 in text and REFRESH_2 in text
    assert result.returncode == 0


def test_interactive_quit_keeps_what_was_taken(project: Path) -> None:
    result = interactive(project, "y\nq\n")
    assert result.stdout.count("Apply?") == 2
    text = (project / "app" / "service.py").read_text()
    assert REFRESH_1 in text and REFRESH_2 not in text
    assert result.returncode == 1


def test_interactive_end_of_input_quits_and_a_wrong_answer_asks_again(project: Path) -> None:
    before = (project / "app" / "service.py").read_bytes()
    result = interactive(project, "maybe\n")
    assert "Answer y (apply this fix)" in result.stdout
    assert result.stdout.count("Apply?") == 2
    assert (project / "app" / "service.py").read_bytes() == before


def test_interactive_diff_is_colored_only_when_asked(project: Path) -> None:
    assert "\x1b[" not in interactive(project, "n\nn\n").stdout
    colored = interactive(project, "n\nn\n", "--color", "always").stdout
    assert f"\x1b[32m+    {REFRESH_1}\x1b[0m" in colored


def test_interactive_and_stdin_do_not_mix(project: Path) -> None:
    result = flushguard("fix", "-i", "-", cwd=project, input=SERVICE)
    assert result.returncode == 2 and "--interactive" in result.stderr


ORDERS = textwrap.dedent(
    """\
    from sqlalchemy import ForeignKey
    from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


    class Base(DeclarativeBase):
        pass


    class Order(Base):
        __tablename__ = "orders"

        id: Mapped[int] = mapped_column(primary_key=True)
        lines: Mapped[list["Line"]] = relationship()


    class Line(Base):
        __tablename__ = "lines"

        id: Mapped[int] = mapped_column(primary_key=True)
        order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    """
)

PLACE_TWICE = textwrap.dedent(
    """\
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.orders import Order


    async def place(session: AsyncSession) -> int:
        order = Order()
        session.add(order)
        await session.flush()
        return len(order.lines)


    async def again(session: AsyncSession) -> int:
        order = Order()
        session.add(order)
        await session.flush()
        return len(order.lines)
    """
)


def test_interactive_tells_equal_statements_apart_and_brings_the_imports(tmp_path: Path) -> None:
    """SQLAlchemy 1.4: the fix is a re-select that needs two imports; the same statement is
    inserted in two functions, and each is its own question."""
    project = make_project(tmp_path / "p", service=PLACE_TWICE, extra={
        "app/orders.py": ORDERS, "requirements.txt": "sqlalchemy[asyncio]==1.4.50\nasyncpg\n"})
    result = interactive(project, "n\ny\n")
    assert result.stdout.count("Apply?") == 2
    first, second = result.stdout.split("Apply?")[:2]
    assert "app/service.py:10:16: FG002" in first and ":17:16:" not in first
    assert "app/service.py:17:16: FG002" in second and ":10:16:" not in second
    text = (project / "app" / "service.py").read_text()
    assert "from sqlalchemy.orm import selectinload\n" in text
    place, again = text.split("async def again")
    assert "selectinload(Order.lines)" not in place and "selectinload(Order.lines)" in again
    # The declined one is still found (two lines lower: the imports came in).
    assert flushguard("check", cwd=project).stdout.startswith("app/service.py:12:16: FG002")
