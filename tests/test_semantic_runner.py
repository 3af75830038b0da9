"""The semantic runner itself: it must really see MissingGreenlet, and only where it happens.

If `run_scenario` quietly returned "ok" for everything, every "safe" snapshot would pass and
every "bug" snapshot would fail loudly; if it returned "missing_greenlet" too eagerly, bugs
would be "confirmed" that do not exist. These hand-made cases pin both directions on each
database, with settings built by hand (detection is tested elsewhere).
"""

from __future__ import annotations

import dataclasses
import sys
import textwrap
from pathlib import Path
from typing import Optional

import pytest
from sqlalchemy.exc import MissingGreenlet, StatementError

from casekit import Case, load_case, materialize
from semantic import is_missing_greenlet, run_scenario
from codemods.types import Settings

if sys.version_info < (3, 11):  # pragma: no cover - the backport that anyio depends on
    from exceptiongroup import BaseExceptionGroup, ExceptionGroup

MYSQL = Settings(backend="mysql")
POSTGRESQL = Settings(backend="postgresql")

MODELS = """
    from sqlalchemy import String, func, select, text
    from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


    class Base(DeclarativeBase):
        pass


    class User(Base):
        __tablename__ = "users"

        id: Mapped[int] = mapped_column(primary_key=True)
        name: Mapped[str] = mapped_column(String(50))
        status: Mapped[str] = mapped_column(String(20), server_default=text("'new'"))
"""

APP = """
    from sqlalchemy import func, select

    from models import User


    async def create_user(session, name):
        user = User(name=name)
        session.add(user)
        await session.flush()
        return user


    async def create_user_and_read_status(session, name):
        user = await create_user(session, name)
        return user.status


    async def commit_user_and_read_name(session, name):
        user = User(name=name)
        session.add(user)
        await session.commit()
        return user.name


    async def expect_users(session, expected):
        count = await session.scalar(select(func.count()).select_from(User))
        if count != expected:
            raise AssertionError(f"{count} users, expected {expected}")
"""


def write_case(
    root: Path,
    call: Optional[str],
    *,
    files: Optional[dict[str, str]] = None,
    seed: Optional[str] = None,
    output: Optional[dict[str, str]] = None,
    name: str = "hand_made",
    scenario: str = "",
) -> Case:
    """A case folder under `root`, loaded through casekit as the snapshot cases are.

    `call` None makes an HTTP scenario: `scenario` then holds its TOML lines (app, request...).
    """
    folder = root / name
    files = {"models.py": MODELS, "app.py": APP} if files is None else files
    for relative, source in files.items():
        path = folder / "input" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source), encoding="utf-8")
    for relative, source in (output or {}).items():
        path = folder / "output" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source), encoding="utf-8")
    scenario = f"call = {call!r}\n" if call is not None else textwrap.dedent(scenario)
    if seed is not None:
        scenario += f"seed = '''\n{textwrap.dedent(seed)}'''\n"
    (folder / "case.toml").write_text(
        f'description = "hand-made"\nverdict = "bug"\n\n[scenario]\n{scenario}', encoding="utf-8"
    )
    return load_case(folder)


def run(case: Case, settings: Settings, database: str, tmp_path: Path, variant: str = "original"):
    project = materialize(case, variant, tmp_path / f"project-{variant}")  # type: ignore[arg-type]
    return run_scenario(project, case, settings, database)


def test_server_default_read_after_flush_raises_on_the_mysql_profile(database, tmp_path):
    case = write_case(tmp_path, "create_user_and_read_status(session, 'bob')")
    outcome = run(case, MYSQL, database, tmp_path)
    assert outcome.kind == "missing_greenlet", outcome.describe()
    assert outcome.phase == "call"
    assert "greenlet_spawn has not been called" in outcome.traceback


def test_server_default_read_after_flush_is_fetched_by_returning_on_postgresql(database, tmp_path):
    case = write_case(tmp_path, "create_user_and_read_status(session, 'bob')")
    outcome = run(case, POSTGRESQL, database, tmp_path)
    assert outcome.kind == "ok", outcome.describe()


def test_sqlalchemy_14_profile_leaves_server_defaults_expired_even_on_postgresql(
    database, tmp_path
):
    case = write_case(tmp_path, "create_user_and_read_status(session, 'bob')")
    outcome = run(case, Settings(backend="postgresql", sqlalchemy="1.4"), database, tmp_path)
    assert outcome.kind == "missing_greenlet", outcome.describe()


def test_refresh_in_the_fixed_variant_cures_the_mysql_read(database, tmp_path):
    fixed_app = APP.replace(
        "        await session.flush()\n        return user\n",
        "        await session.flush()\n        await session.refresh(user, ['status'])\n"
        "        return user\n",
    )
    assert fixed_app != APP
    case = write_case(
        tmp_path, "create_user_and_read_status(session, 'bob')", output={"app.py": fixed_app}
    )
    assert run(case, MYSQL, database, tmp_path).kind == "missing_greenlet"
    fixed = run(case, MYSQL, database, tmp_path, variant="fixed")
    assert fixed.kind == "ok", fixed.describe()


@pytest.mark.parametrize(
    "expire_on_commit, expected", [(True, "missing_greenlet"), (False, "ok")]
)
def test_expire_on_commit_setting_reaches_the_session_factory(
    database, tmp_path, expire_on_commit, expected
):
    case = write_case(tmp_path, "commit_user_and_read_name(session, 'bob')")
    settings = Settings(backend="postgresql", expire_on_commit=expire_on_commit)
    outcome = run(case, settings, database, tmp_path)
    assert outcome.kind == expected, outcome.describe()


def test_a_read_once_the_session_closed_is_the_detached_crash(database, tmp_path):
    """After the session closed, the same unloaded read raises DetachedInstanceError: the
    crash a session-block finding predicts, told apart from any other error."""
    app = APP + """

    async def close_and_read_status(session, name):
        user = await create_user(session, name)
        await session.close()
        return user.status


    async def close_and_fail_otherwise(session, name):
        await create_user(session, name)
        await session.close()
        raise RuntimeError("not a crash of an unloaded read")
"""

    case = write_case(tmp_path, "close_and_read_status(session, 'bob')",
                      files={"models.py": MODELS, "app.py": app})
    outcome = run(case, MYSQL, database, tmp_path)
    assert outcome.kind == "detached", outcome.describe()
    assert "DetachedInstanceError" in outcome.traceback
    other = write_case(tmp_path, "close_and_fail_otherwise(session, 'bob')",
                       files={"models.py": MODELS, "app.py": app}, name="other")
    assert run(other, MYSQL, database, tmp_path).kind == "error"


def test_seed_is_committed_before_the_call(database, tmp_path):
    case = write_case(
        tmp_path,
        "expect_users(session, 2)",
        seed="session.add(User(name='ann'))\nsession.add(User(name='cy'))\n",
    )
    outcome = run(case, POSTGRESQL, database, tmp_path)
    assert outcome.kind == "ok", outcome.describe()


def test_the_call_may_await_and_then_read_like_a_consumer(database, tmp_path):
    """`(await f(session)).attr` is how a case shows a caller reading a returned object."""
    case = write_case(tmp_path, "(await create_user(session, 'bob')).status")
    assert run(case, MYSQL, database, tmp_path).kind == "missing_greenlet"
    assert run(case, POSTGRESQL, database, tmp_path).kind == "ok"


def test_missing_greenlet_while_seeding_is_a_broken_case_not_a_finding(database, tmp_path):
    case = write_case(
        tmp_path,
        "expect_users(session, 1)",
        seed="user = User(name='ann')\nsession.add(user)\nawait session.flush()\nuser.status\n",
    )
    outcome = run(case, MYSQL, database, tmp_path)
    assert (outcome.kind, outcome.phase) == ("error", "seed"), outcome.describe()


def test_import_error_is_reported_with_its_traceback(database, tmp_path):
    case = write_case(
        tmp_path, "create_user(session, 'bob')", files={"app.py": "import no_such_module_here\n"}
    )
    outcome = run(case, POSTGRESQL, database, tmp_path)
    assert (outcome.kind, outcome.phase) == ("error", "setup")
    assert "no_such_module_here" in outcome.traceback


def test_cases_with_the_same_module_names_do_not_see_each_other(database, tmp_path):
    """Both cases have `models.User` and `app`; the second must get its own, not a cached one."""
    first = write_case(tmp_path, "expect_users(session, 0)", name="first")
    name_column = "name: Mapped[str] = mapped_column(String(50))"
    email_column = "email: Mapped[str] = mapped_column(String(50), server_default='x')"
    other_models = MODELS.replace('"users"', '"accounts"').replace(
        name_column, f"{name_column}\n        {email_column}"
    )
    second = write_case(
        tmp_path,
        "(await create_user(session, 'bob')).email",
        files={"models.py": other_models, "app.py": APP},
        name="second",
    )
    assert run(first, MYSQL, database, tmp_path / "1").kind == "ok"
    outcome = run(second, MYSQL, database, tmp_path / "2")
    # `email` exists only in the second case's model: an AttributeError would mean the first
    # case's cached `models` was used.
    assert outcome.kind == "missing_greenlet", outcome.describe()
    assert "app" not in sys.modules and "models" not in sys.modules


def test_project_engines_point_at_the_test_database(database, tmp_path):
    """A project module that builds its own engine for a driver that is not installed."""
    db = """
        from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

        engine = create_async_engine("mysql+aiomysql://app:secret@db.invalid/app")
        SessionLocal = async_sessionmaker(engine, expire_on_commit=False)
    """
    app = textwrap.dedent(APP) + textwrap.dedent(
        """
        from db import SessionLocal


        async def create_with_own_factory(name):
            async with SessionLocal() as own:
                own.add(User(name=name))
                await own.commit()
        """
    )
    case = write_case(
        tmp_path,
        "create_with_own_factory('bob')",
        files={"models.py": MODELS, "db.py": db, "app.py": app},
    )
    outcome = run(case, POSTGRESQL, database, tmp_path)
    assert outcome.kind == "ok", outcome.describe()


def test_missing_greenlet_is_recognised_bare_and_wrapped():
    bare = MissingGreenlet("greenlet_spawn has not been called; can't call await_() here.")
    assert is_missing_greenlet(bare)
    wrapped = StatementError("(sqlalchemy.exc.MissingGreenlet) ...", "SELECT 1", {}, bare)
    message_only = StatementError("greenlet_spawn has not been called; ...", None, {}, None)
    other = StatementError("no such table: users", "SELECT 1", {}, ValueError())
    assert is_missing_greenlet(wrapped)
    assert is_missing_greenlet(message_only)
    assert not is_missing_greenlet(other)
    assert not is_missing_greenlet(AttributeError("status"))


def test_unknown_backend_runs_as_mysql_the_backend_that_fetches_least(database, tmp_path):
    """A possible finding on an unknown backend must crash somewhere: on MySQL it does."""
    case = write_case(tmp_path, "create_user_and_read_status(session, 'bob')")
    outcome = run(case, Settings(backend="unknown"), database, tmp_path)
    assert outcome.kind == "missing_greenlet", outcome.describe()


def test_missing_greenlet_inside_pydantic_validation_counts(database, tmp_path):
    """`Schema.model_validate(obj)` turns the MissingGreenlet into a ValidationError."""
    schema = """
        from pydantic import BaseModel, ConfigDict


        class UserOut(BaseModel):
            model_config = ConfigDict(from_attributes=True)

            id: int
            status: str


        async def create_user_out(session, name):
            return UserOut.model_validate(await create_user(session, name))
    """
    app = textwrap.dedent(APP) + textwrap.dedent(schema)
    case = write_case(
        tmp_path, "create_user_out(session, 'bob')", files={"models.py": MODELS, "app.py": app}
    )
    outcome = run(case, MYSQL, database, tmp_path)
    assert outcome.kind == "missing_greenlet", outcome.describe()
    assert type(outcome.exception).__name__ == "ValidationError"
    assert run(case, POSTGRESQL, database, tmp_path / "pg").kind == "ok"


def test_sqlmodel_tables_can_be_imported_again_by_the_next_run(database, tmp_path):
    """SQLModel shares one MetaData per process; each run must take its tables out again."""
    pytest.importorskip("sqlmodel")
    app = """
        from typing import Optional

        from sqlmodel import Field, SQLModel


        class Hero(SQLModel, table=True):
            id: Optional[int] = Field(default=None, primary_key=True)
            name: str


        async def create_hero(session, name):
            hero = Hero(name=name)
            session.add(hero)
            await session.flush()
            return hero.name
    """
    case = write_case(tmp_path, "create_hero(session, 'Deadpond')", files={"app.py": app})
    for attempt in range(2):
        outcome = run(case, MYSQL, database, tmp_path / str(attempt))
        assert outcome.kind == "ok", outcome.describe()


# ----------------------------------------------------------------------------------------------
# HTTP scenarios: the project's own FastAPI app, driven through an ASGI client
# ----------------------------------------------------------------------------------------------

WEB_DB = """
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

    # A driver that is not installed and a host that does not exist: the runner's engine
    # must stand in for this one, or nothing below could run.
    engine = create_async_engine("mysql+aiomysql://app:secret@db.invalid/app")
    SessionLocal = async_sessionmaker(engine, expire_on_commit=EXPIRE)
"""

WEB_MODELS = """
    from sqlalchemy import String, text
    from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


    class Base(DeclarativeBase):
        pass


    class User(Base):
        __tablename__ = "users"

        id: Mapped[int] = mapped_column(primary_key=True)
        name: Mapped[str] = mapped_column(String(50))
        status: Mapped[str] = mapped_column(String(20), server_default=text("'new'"))
"""

WEB_MAIN = """
    from typing import Annotated

    from fastapi import Depends, FastAPI, HTTPException, Request
    from fastapi.responses import JSONResponse
    from pydantic import BaseModel, ConfigDict
    from sqlalchemy.ext.asyncio import AsyncSession

    from web.db import SessionLocal
    from web.models import User


    class UserIn(BaseModel):
        name: str


    class UserOut(BaseModel):
        model_config = ConfigDict(from_attributes=True)

        id: int
        name: str
        status: str


    class NameOut(BaseModel):
        model_config = ConfigDict(from_attributes=True)

        id: int
        name: str


    async def get_db():
        async with SessionLocal() as session:
            yield session


    Db = Annotated[AsyncSession, Depends(get_db)]

    app = FastAPI()


    async def add_user(db, name):
        user = User(name=name)
        db.add(user)
        await db.flush()
        return user


    @app.post("/users", response_model=UserOut, status_code=201)
    async def create_user(body: UserIn, db: Db):
        return await add_user(db, body.name)


    @app.post("/users/validated")
    async def create_validated(body: UserIn, db: Db):
        return UserOut.model_validate(await add_user(db, body.name))


    @app.post("/users/status")
    async def create_and_read_status(body: UserIn, db: Db):
        user = await add_user(db, body.name)
        return {"status": user.status}


    @app.post("/users/committed", response_model=NameOut)
    async def create_committed(body: UserIn, db: Db):
        user = User(name=body.name)
        db.add(user)
        await db.commit()
        return user


    @app.get("/users/{user_id}", response_model=UserOut)
    async def read_user(user_id: int, db: Db):
        user = await db.get(User, user_id)
        if user is None:
            raise HTTPException(status_code=404, detail="no such user")
        return user


    @app.get("/boom")
    async def boom():
        raise RuntimeError("boom")


    @app.get("/wrong-shape", response_model=UserOut)
    async def wrong_shape():
        return {"id": "not a number", "name": "x", "status": "new"}
"""


def web_case(
    root: Path,
    request: str,
    *,
    json: Optional[str] = None,
    expire_on_commit: bool = True,
    main: str = WEB_MAIN,
    seed: Optional[str] = None,
    output: Optional[dict[str, str]] = None,
    name: str = "web_case",
) -> Case:
    """An HTTP-scenario case over the tiny FastAPI project `web/` above."""
    files = {
        "web/__init__.py": "",
        "web/db.py": WEB_DB.replace("EXPIRE", str(expire_on_commit)),
        "web/models.py": WEB_MODELS,
        "web/main.py": main,
    }
    scenario = f'app = "web.main:app"\nrequest = "{request}"\n'
    if json is not None:
        scenario += f"json = {json}\n"
    return write_case(
        root, None, files=files, scenario=scenario, seed=seed, output=output, name=name
    )


def test_http_response_model_reading_an_expired_server_default_is_a_missing_greenlet_500(
    database, tmp_path
):
    case = web_case(tmp_path, "POST /users", json='{ name = "bob" }')
    outcome = run(case, MYSQL, database, tmp_path)
    assert (outcome.kind, outcome.phase) == ("missing_greenlet", "request"), outcome.describe()
    assert type(outcome.exception).__name__ == "ResponseValidationError"
    assert "greenlet_spawn has not been called" in outcome.traceback


def test_http_the_same_request_is_ok_where_returning_fetches_the_default(database, tmp_path):
    case = web_case(tmp_path, "POST /users", json='{ name = "bob" }')
    outcome = run(case, POSTGRESQL, database, tmp_path)
    assert (outcome.kind, outcome.status) == ("ok", 201), outcome.describe()


@pytest.mark.parametrize(
    "path, exception",
    [("/users/validated", "ValidationError"), ("/users/status", "")],
    ids=["model_validate", "read_in_route"],
)
def test_http_missing_greenlet_in_the_route_itself_counts(database, tmp_path, path, exception):
    case = web_case(tmp_path, f"POST {path}", json='{ name = "bob" }')
    outcome = run(case, MYSQL, database, tmp_path)
    assert outcome.kind == "missing_greenlet", outcome.describe()
    if exception:
        assert type(outcome.exception).__name__ == exception
    assert run(case, POSTGRESQL, database, tmp_path / "pg").kind == "ok"


def test_http_fixed_variant_answers_200(database, tmp_path):
    fixed_main = textwrap.dedent(WEB_MAIN).replace(
        "    await db.flush()\n    return user\n",
        "    await db.flush()\n    await db.refresh(user, ['status'])\n    return user\n",
    )
    assert fixed_main != textwrap.dedent(WEB_MAIN)
    case = web_case(
        tmp_path, "POST /users", json='{ name = "bob" }', output={"web/main.py": fixed_main}
    )
    assert run(case, MYSQL, database, tmp_path).kind == "missing_greenlet"
    fixed = run(case, MYSQL, database, tmp_path, variant="fixed")
    assert (fixed.kind, fixed.status) == ("ok", 201), fixed.describe()


@pytest.mark.parametrize(
    "project_expire_on_commit, runner_expire_on_commit, expected",
    [(True, False, "missing_greenlet"), (False, True, "ok")],
)
def test_http_the_apps_own_session_factory_decides_expire_on_commit(
    database, tmp_path, project_expire_on_commit, runner_expire_on_commit, expected
):
    """`commit(); return user`: the app's own `async_sessionmaker(..., expire_on_commit=...)`
    is what the request runs with, whatever the runner's own sessions use."""
    case = web_case(
        tmp_path,
        "POST /users/committed",
        json='{ name = "bob" }',
        expire_on_commit=project_expire_on_commit,
    )
    settings = Settings(backend="postgresql", expire_on_commit=runner_expire_on_commit)
    outcome = run(case, settings, database, tmp_path)
    assert outcome.kind == expected, outcome.describe()


def test_http_seed_is_committed_before_the_request(database, tmp_path):
    case = web_case(
        tmp_path,
        "GET /users/1",
        seed="from web.models import User\nsession.add(User(name='ann'))\n",
    )
    outcome = run(case, MYSQL, database, tmp_path)
    assert (outcome.kind, outcome.status) == ("ok", 200), outcome.describe()


def test_http_error_status_without_an_exception_is_an_error_with_the_body(database, tmp_path):
    case = web_case(tmp_path, "GET /users/1")
    outcome = run(case, POSTGRESQL, database, tmp_path)
    assert (outcome.kind, outcome.status) == ("error", 404), outcome.describe()
    assert "no such user" in outcome.traceback


def test_http_missing_body_is_a_422_error(database, tmp_path):
    case = web_case(tmp_path, "POST /users")
    outcome = run(case, POSTGRESQL, database, tmp_path)
    assert (outcome.kind, outcome.status) == ("error", 422), outcome.describe()


def test_http_other_server_exceptions_are_errors_with_their_traceback(database, tmp_path):
    case = web_case(tmp_path, "GET /boom")
    outcome = run(case, POSTGRESQL, database, tmp_path)
    assert (outcome.kind, outcome.phase) == ("error", "request"), outcome.describe()
    assert "RuntimeError: boom" in outcome.traceback


def test_http_a_response_validation_error_not_caused_by_missing_greenlet_is_an_error(
    database, tmp_path
):
    case = web_case(tmp_path, "GET /wrong-shape")
    outcome = run(case, POSTGRESQL, database, tmp_path)
    assert outcome.kind == "error", outcome.describe()
    assert type(outcome.exception).__name__ == "ResponseValidationError"


def test_http_an_apps_own_exception_handler_does_not_hide_the_exception(database, tmp_path):
    """Starlette answers 500 through the app's handler for Exception, then re-raises."""
    main = textwrap.dedent(WEB_MAIN) + textwrap.dedent(
        """

        @app.exception_handler(Exception)
        async def on_error(request: Request, exc: Exception):
            return JSONResponse(status_code=500, content={"detail": "internal error"})
        """
    )
    case = web_case(tmp_path, "POST /users", json='{ name = "bob" }', main=main)
    outcome = run(case, MYSQL, database, tmp_path)
    assert outcome.kind == "missing_greenlet", outcome.describe()


@pytest.mark.parametrize(
    "detail, expected",
    [("str(exc)", "missing_greenlet"), ("'internal error'", "error")],
    ids=["body_names_it", "body_hides_it"],
)
def test_http_a_middleware_that_answers_500_itself_is_judged_by_the_body(
    database, tmp_path, detail, expected
):
    main = textwrap.dedent(WEB_MAIN) + textwrap.dedent(
        f"""

        @app.middleware("http")
        async def swallow_errors(request: Request, call_next):
            try:
                return await call_next(request)
            except Exception as exc:
                return JSONResponse(status_code=500, content={{"detail": {detail}}})
        """
    )
    case = web_case(tmp_path, "POST /users/status", json='{ name = "bob" }', main=main)
    outcome = run(case, MYSQL, database, tmp_path)
    assert (outcome.kind, outcome.status) == (expected, 500), outcome.describe()


def test_http_an_app_attribute_that_does_not_exist_is_a_setup_error(database, tmp_path):
    case = web_case(tmp_path, "GET /users/1")
    case = dataclasses.replace(case, app="web.main:application")
    outcome = run(case, POSTGRESQL, database, tmp_path)
    assert (outcome.kind, outcome.phase) == ("error", "setup"), outcome.describe()
    assert "application" in outcome.traceback


def test_missing_greenlet_is_recognised_in_groups_causes_and_framework_errors():
    from fastapi.exceptions import ResponseValidationError
    from pydantic import BaseModel, field_serializer
    from pydantic_core import PydanticSerializationError

    bare = MissingGreenlet("greenlet_spawn has not been called; can't call await_() here.")
    grouped = ExceptionGroup("unhandled errors in a TaskGroup", [ValueError("x"), bare])
    nested = BaseExceptionGroup("outer", [ExceptionGroup("inner", [bare])])
    try:
        raise RuntimeError("request failed") from bare
    except RuntimeError as exc:
        caused = exc
    message = "Error extracting attribute: MissingGreenlet: greenlet_spawn has not been called"
    response_error = ResponseValidationError(
        [{"type": "get_attribute_error", "loc": ("response", "status"), "msg": message}]
    )
    other_response_error = ResponseValidationError(
        [{"type": "int_parsing", "loc": ("response", "id"), "msg": "Input should be an integer"}]
    )

    class Serialized(BaseModel):
        value: int = 1

        @field_serializer("value")
        def read_lazily(self, value: int) -> int:
            raise bare

    with pytest.raises(PydanticSerializationError) as serialization_error:
        Serialized().model_dump_json()

    assert is_missing_greenlet(serialization_error.value)
    assert is_missing_greenlet(grouped)
    assert is_missing_greenlet(nested)
    assert is_missing_greenlet(caused)
    assert is_missing_greenlet(response_error)
    assert not is_missing_greenlet(other_response_error)
    assert not is_missing_greenlet(ExceptionGroup("g", [ValueError("x")]))
    # The text alone, in an exception of the project's own, proves nothing.
    assert not is_missing_greenlet(RuntimeError("greenlet_spawn has not been called"))
