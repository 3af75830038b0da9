"""The pure core on shapes that the snapshot cases do not pin: where functions and imports hide."""

from __future__ import annotations

import textwrap

from codemods.flush_refresh import analyze_module
from codemods.model_index import build_model_index, scan_module
from codemods.types import Settings

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
INDEX = build_model_index([scan_module(MODELS, "app/models.py")])
MYSQL = Settings(backend="mysql")


def findings(source: str, settings: Settings = MYSQL):
    return analyze_module(textwrap.dedent(source), "app/service.py", INDEX, settings, "app.service")


def test_async_def_inside_a_module_level_if_is_analysed() -> None:
    result = findings(
        """\
        import sys
        from app.models import User

        if sys.version_info >= (3, 10):
            async def register(session, email):
                user = User(email=email)
                session.add(user)
                await session.flush()
                return {"joined": user.created_at}
        """
    )
    assert [(f.line, f.code) for f in result.findings] == [(9, "FG001")]


def test_model_imported_under_type_checking_or_inside_the_function_resolves() -> None:
    result = findings(
        """\
        from typing import TYPE_CHECKING

        if TYPE_CHECKING:
            from app.models import User


        async def touch(session, user: "User"):
            user.email = "x"
            await session.commit()
            return user.email


        async def register(session, email):
            from app.models import User as U

            user = U(email=email)
            session.add(user)
            await session.flush()
            return user.created_at
        """
    )
    assert [(f.line, f.code, f.object) for f in result.findings] == [
        (10, "FG003", "user"),
        (19, "FG001", "user"),
    ]


def test_read_on_a_branch_that_returned_before_the_commit_is_safe() -> None:
    result = findings(
        """\
        from app.models import User


        async def rename(session, user: User, email: str):
            if user.email == email:
                return user.email
            user.email = email
            await session.commit()
            return None
        """
    )
    assert result.findings == ()
    assert not result.changed


def test_fix_goes_into_the_arm_whose_flush_left_the_attribute_unloaded() -> None:
    result = findings(
        """\
        from app.models import User


        async def register(session, email, flush_now):
            user = User(email=email)
            session.add(user)
            if flush_now:
                await session.flush()
            else:
                await session.commit()
            return {"joined": user.created_at}
        """
    )
    assert {f.code for f in result.findings} == {"FG001", "FG003"}
    assert result.new_source.count("await session.refresh(user") == 2
    for line in ("        await session.flush()\n        await session.refresh(user",
                 "        await session.commit()\n        await session.refresh(user"):
        assert line in result.new_source


def test_a_site_in_a_loop_is_reported_once_with_every_object_it_sees() -> None:
    """Loop bodies are interpreted twice; the site list (the audit's input) must not double."""
    result = findings(
        """\
        from app.models import User


        async def import_users(session, emails):
            for email in emails:
                user = User(email=email)
                session.add(user)
                await session.flush()
            await session.commit()
        """
    )
    assert [(s.line, s.kind, s.objects) for s in result.sites] == [
        (8, "flush", ("user",)),
        (9, "commit", ("user",)),
    ]


def test_each_site_says_what_became_of_it() -> None:
    """The audit's categories, decided by the same analysis as the findings."""
    result = findings(
        """\
        from app.models import User


        async def pk_only(session, email):
            user = User(email=email)
            session.add(user)
            await session.flush()
            return {"id": user.id}


        async def refreshed(session, email):
            user = User(email=email)
            session.add(user)
            await session.flush()
            await session.refresh(user, ["created_at"])
            return {"at": user.created_at}


        async def unsafe(session, email):
            user = User(email=email)
            session.add(user)
            await session.flush()
            return {"at": user.created_at}


        async def nothing_read(session, email):
            session.add(User(email=email))
            await session.commit()


        async def loaded_only(session, email):
            user = User(email=email)
            session.add(user)
            await session.flush()
            return {"email": user.email}


        async def no_reads(session, email):
            user = User(email=email)
            session.add(user)
            await session.commit()
        """
    )
    assert [(s.function, s.category) for s in result.sites] == [
        ("pk_only", "pk-only"),
        ("refreshed", "refresh-follows"),
        ("unsafe", "unsafe"),
        ("nothing_read", "untracked"),
        ("loaded_only", "loaded-reads-only"),
        ("no_reads", "no-reads"),
    ]


def test_a_call_of_a_helper_that_commits_is_a_site_only_for_objects_it_affects() -> None:
    from codemods.types import CallFacts, FlushEffect

    facts = CallFacts(flushers={"app.service.Saver._save": (
        FlushEffect("app.service.Saver._save", "self.db", "commit"),)})
    source = textwrap.dedent(
        """\
        from app.models import User


        class Saver:
            async def _save(self, obj=None):
                if obj is not None:
                    self.db.add(obj)
                await self.db.commit()

            async def create(self, email):
                user = User(email=email)
                await self._save(user)
                return {"email": user.email}

            async def touch(self):
                await self._save()
        """
    )
    result = analyze_module(source, "app/service.py", INDEX, MYSQL, "app.service", facts)
    helper_sites = [(s.function, s.via, s.category) for s in result.sites if s.via]
    assert helper_sites == [("Saver.create", "app.service.Saver._save", "unsafe")]
    assert [(f.line, f.code) for f in result.findings] == [(13, "FG003")]
