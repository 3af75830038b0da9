"""The pure core on shapes that the snapshot cases do not pin: where functions and imports hide."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Optional

from codemods import frontend, rewrite
from codemods.analysis import analyze
from codemods.analysis.lower import lower_module
from codemods.model_index import build_model_index, scan_module
from codemods.types import (CallFacts, ModuleResult, SessionDependencyFacts, SessionFactoryFacts,
                            Settings)

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


@dataclass(frozen=True)
class Analysed:
    """A module's analysis, with its fixes applied to the text."""

    result: ModuleResult
    new_source: str

    def __getattr__(self, name: str):
        return getattr(self.result, name)

    @property
    def changed(self) -> bool:
        return bool(self.result.edits)


def findings(source: str, settings: Settings = MYSQL, facts: Optional[CallFacts] = None) -> Analysed:
    text = textwrap.dedent(source)
    module = lower_module(frontend.parse(text), text)
    result = analyze(module, text, "app/service.py", INDEX, settings, "app.service", facts)
    return Analysed(result, rewrite.apply(text, result.edits))


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
        ("nothing_read", "no-objects"),
        ("loaded_only", "loaded-reads-only"),
        ("no_reads", "no-reads"),
    ]


def test_a_call_of_a_helper_that_commits_is_a_site_only_for_objects_it_affects() -> None:
    from codemods.types import FlushEffect

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
    result = findings(source, MYSQL, facts)
    helper_sites = [(s.function, s.via, s.category) for s in result.sites if s.via]
    assert helper_sites == [("Saver.create", "app.service.Saver._save", "unsafe")]
    assert [(f.line, f.code) for f in result.findings] == [(13, "FG003")]


FACTORIES = (
    SessionFactoryFacts("app.db", "SessionLocal", "app.db.SessionLocal", True,
                        "app/db.py:3 async_sessionmaker(engine)"),
    SessionFactoryFacts("app.db", "KeepLoaded", "app.db.KeepLoaded", False,
                        "app/db.py:4 async_sessionmaker(engine, expire_on_commit=False)"),
)
BLOCKS = textwrap.dedent(
    """\
    from fastapi import Depends

    from app.db import KeepLoaded, SessionLocal
    from app.deps import get_reader
    from app.models import User


    async def expiring_block(email):
        user = User(email=email)
        async with SessionLocal.begin() as session:
            session.add(user)
        return user.email


    async def keeping_block(email):
        user = User(email=email)
        async with KeepLoaded.begin() as session:
            session.add(user)
        return user.email, user.created_at


    async def keeping_session(email):
        async with KeepLoaded() as session:
            user = User(email=email)
            session.add(user)
            await session.commit()
        return user.email


    async def route(email, db=Depends(get_reader)):
        user = User(email=email)
        db.add(user)
        await db.commit()
        return user.email
    """
)


def test_session_blocks_commit_with_their_factory_settings_and_fix_inside_the_block() -> None:
    settings = Settings(backend="mysql", session_factories=FACTORIES, session_dependencies=(
        SessionDependencyFacts("app.deps.get_reader", "app.db.KeepLoaded"),))
    result = findings(BLOCKS, settings)
    by_function = {s.function: s for s in result.sites}
    assert {f: s.category for f, s in by_function.items()} == {
        "expiring_block": "unsafe", "keeping_block": "unsafe",
        "keeping_session": "loaded-reads-only", "route": "loaded-reads-only"}
    assert [(f.line, f.code, f.attributes) for f in result.findings] == [
        (12, "FG003", ("email",)), (19, "FG001", ("created_at",))]
    expiring, keeping = result.findings
    assert "end of the `begin()` block" in expiring.message
    # A refresh inside a block whose commit expires everything again cures nothing: no fix.
    assert expiring.fix is None and keeping.fix is not None
    assert "        session.add(user)\n        await session.flush()\n" \
           "        await session.refresh(user, [\"created_at\"])\n    return user.email, " \
           in result.new_source


def test_a_crash_only_through_an_except_clause_names_that_path() -> None:
    result = findings(
        """\
        from sqlalchemy.exc import IntegrityError

        from app.models import User


        async def sign_up(session, current: User, email):
            user = User(email=email)
            session.add(user)
            try:
                await session.flush()
            except IntegrityError:
                await session.rollback()
                return current.email
            await session.commit()
            return current.email
        """
    )
    by_line = {f.line: f for f in result.findings}
    assert by_line[13].error_path == "`except IntegrityError` on line 11"
    assert "on the error path through `except IntegrityError` on line 11" in by_line[13].message
    assert by_line[15].error_path is None  # the commit on the normal path expires it too
    assert "        await session.rollback()\n        await session.refresh(current, [\"email\"])\n" \
        in result.new_source


def test_overload_stubs_are_not_functions_and_a_redefinition_keeps_its_own_body() -> None:
    result = findings(
        """\
        from typing import overload

        from app.models import User


        @overload
        async def touch(session, user: User, flag: int) -> str: ...
        @overload
        async def touch(session, user: User, flag: str) -> str: ...
        async def touch(session, user: User, flag) -> str:
            await session.commit()
            return user.email


        if flag_set:
            async def again(session, user: User) -> str:
                return user.email
        else:
            async def again(session, user: User) -> str:
                await session.commit()
                return user.email
        """
    )
    assert [(s.function, s.line) for s in result.sites] == [("touch", 11), ("again", 20)]
    assert [f.line for f in result.findings] == [12, 21]
    assert result.new_source.count("await session.refresh(user, [\"email\"])") == 2


def test_an_object_returned_without_a_name_is_reported_without_a_fix() -> None:
    """``return await repo.create(User(...))``: no statement can name the object to refresh
    it; the finding stands, with no fix (and no broken one)."""
    from codemods.types import FlushEffect

    facts = CallFacts(untraced=frozenset({"app.service.create"}),
                      flushers={"app.service.save": (FlushEffect("app.service.save", "arg:0:session",
                                                                 "flush"),)},
                      returns_arg={"app.service.save": (1, "obj")})
    result = findings(
        """\
        from app.models import User


        async def save(session, obj):
            session.add(obj)
            await session.flush()
            return obj


        async def create(session, email) -> User:
            return await save(session, User(email=email))
        """, MYSQL, facts)
    [finding] = [f for f in result.findings if f.function == "create"]
    assert finding.message.startswith("the object returned here has `created_at` unloaded")
    assert finding.fix is None
    assert not result.changed


def test_list_of_rows_getattr_and_a_core_statement_in_a_variable() -> None:
    result = findings(
        """\
        from sqlalchemy import select, update

        from app.models import User


        async def rows_in_a_list(session):
            users = list((await session.scalars(select(User))).all())
            await session.commit()
            return [getattr(u, "email") for u in users]


        async def core_in_a_variable(session):
            stmt = update(User).values(email="x")
            await session.execute(stmt)
            await session.commit()
        """
    )
    assert [(f.line, f.code, f.attributes) for f in result.findings] == [(9, "FG003", ("email",))]
    assert [(s.function, s.category) for s in result.sites] == [
        ("rows_in_a_list", "unsafe"), ("core_in_a_variable", "core-statements")]


def test_a_refresh_naming_a_many_to_one_of_an_expired_object_loads_its_columns() -> None:
    index = build_model_index([scan_module(MODELS + textwrap.dedent(
        """\


        class Team(Base):
            __tablename__ = "teams"

            id: Mapped[int] = mapped_column(primary_key=True)
            name: Mapped[str]
            owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
            owner: Mapped[User] = relationship()
        """).replace("from sqlalchemy import func", "from sqlalchemy import ForeignKey, func")
        .replace("mapped_column\n", "mapped_column, relationship\n"), "app/models.py")])
    text = textwrap.dedent(
        """\
        from app.models import Team


        async def rename(session, team: Team):
            try:
                await session.flush()
            except Exception:
                await session.rollback()
                await session.refresh(team, ["owner"])
                return team.name
        """)
    result = analyze(lower_module(frontend.parse(text), text), text, "app/service.py", index,
                     MYSQL, "app.service")
    assert result.findings == ()


HELPERS_THAT_REFRESH = textwrap.dedent(
    """\
    from app.models import User


    class Users:
        async def plain(self, user: User) -> User:
            user.email = "a"
            await self.db.commit()
            await self.db.refresh(user)
            return user

        async def narrower_on_one_path(self, user: User, full: bool) -> User:
            user.email = "a"
            await self.db.commit()
            if full:
                await self.db.refresh(user)
            else:
                await self.db.refresh(user, ["created_at", "email"])
            return user

        async def not_on_every_path(self, user: User, quick: bool) -> User:
            user.email = "a"
            await self.db.commit()
            if quick:
                return user
            await self.db.refresh(user)
            return user

        async def before_the_commit(self, user: User) -> User:
            await self.db.refresh(user)
            user.email = "a"
            await self.db.commit()
            return user
    """
)


def test_a_helper_publishes_what_it_refreshes_after_its_sites_on_every_normal_path() -> None:
    result = findings(HELPERS_THAT_REFRESH)
    reloads = {e.function.rpartition(".")[2]: e.reloads for e in result.flush_effects}
    assert reloads == {
        "plain": ((0, "user", None),),
        "narrower_on_one_path": ((0, "user", ("created_at", "email")),),
        "not_on_every_path": (),
        "before_the_commit": (),
    }


def test_a_caller_sees_its_argument_reloaded_by_the_helper_and_only_then() -> None:
    from codemods.types import FlushEffect

    def facts(reloads):
        return CallFacts(flushers={"app.service.Users.update": (FlushEffect(
            "app.service.Users.update", "self.db", "commit", reloads=reloads),)})

    source = """\
        from app.models import User


        class Users:
            async def route(self, user_id):
                user = await self.db.get(User, user_id)
                await self.update(user)
                return {"created_at": user.created_at, "email": user.email}
        """
    assert [(f.line, f.code) for f in findings(source, MYSQL, facts(())).findings] == \
        [(8, "FG003"), (8, "FG003")]
    assert findings(source, MYSQL, facts(((0, "user", None),))).findings == ()
    narrow = findings(source, MYSQL, facts(((0, "user", ("email",)),)))
    assert [(f.attributes, f.code) for f in narrow.findings] == [(("created_at",), "FG003")]
