"""Models built on library bases get the columns the library declares, as measured on it."""

from __future__ import annotations

import importlib.util
import textwrap
from typing import Dict, Tuple

import pytest

from codemods.model_index import _SNAKE_CASE, build_model_index, scan_module
from codemods.types import ModelFacts

#: (attribute, primary key, default, onupdate): what each advanced-alchemy 1.12.0 base gives a
#: model, read from the mapper of a subclass; no base has a server default or a SQL default.
_UUID = (("id", True, "python", "none"), ("_sentinel", False, "python", "none"))
_AUDIT = (("created_at", False, "python", "none"), ("updated_at", False, "python", "python"))
_SEQUENCE_KEY = (("id", True, "none", "none"),)
ADVANCED_ALCHEMY: Dict[str, Tuple[Tuple[str, bool, str, str], ...]] = {
    "UUIDBase": _UUID,
    "UUIDAuditBase": _UUID + _AUDIT,
    "UUIDv6Base": _UUID,
    "UUIDv6AuditBase": _UUID + _AUDIT,
    "UUIDv7Base": _UUID,
    "UUIDv7AuditBase": _UUID + _AUDIT,
    "NanoIDBase": _UUID,
    "NanoIDAuditBase": _UUID + _AUDIT,
    "BigIntBase": _SEQUENCE_KEY,
    "BigIntAuditBase": _SEQUENCE_KEY + _AUDIT,
    "IdentityBase": _SEQUENCE_KEY,
    "IdentityAuditBase": _SEQUENCE_KEY + _AUDIT,
}


def _facts(model: ModelFacts) -> set:
    return {(c.name, c.primary_key, c.default, c.onupdate) for c in model.columns}


def _model(source: str, qualname: str) -> ModelFacts:
    index = build_model_index([scan_module(textwrap.dedent(source), "app/models.py")])
    found = index.by_qualname(qualname)
    assert found is not None, [m.qualname for m in index.models]
    return found


@pytest.mark.parametrize("base", sorted(ADVANCED_ALCHEMY))
def test_an_advanced_alchemy_base_gives_its_measured_columns(base: str) -> None:
    model = _model(f"""
        from advanced_alchemy.base import {base}

        class UserAccount({base}):
            pass
    """, "app.models.UserAccount")
    assert _facts(model) == set(ADVANCED_ALCHEMY[base])
    assert not any(c.server_default or c.computed or c.server_onupdate for c in model.columns)


def test_an_advanced_alchemy_model_is_named_in_snake_case_and_joins_by_it() -> None:
    model = _model("""
        from advanced_alchemy import base
        from sqlalchemy import ForeignKey
        from sqlalchemy.orm import Mapped, mapped_column, relationship

        class UserAccount(base.UUIDAuditBase):
            name: Mapped[str]

        class APIKey(base.BigIntAuditBase):
            owner_id: Mapped[str] = mapped_column(ForeignKey("user_account.id"))
            owner: Mapped[UserAccount] = relationship()
    """, "app.models.APIKey")
    assert model.relationship("owner").foreign_keys == ("owner_id",)


def test_advanced_alchemy_mixins_give_their_columns() -> None:
    model = _model("""
        from advanced_alchemy.mixins import AuditColumns, SlugKey, UUIDPrimaryKey
        from sqlalchemy.orm import DeclarativeBase

        class Base(DeclarativeBase):
            pass

        class Tag(UUIDPrimaryKey, SlugKey, AuditColumns, Base):
            __tablename__ = "tags"
    """, "app.models.Tag")
    assert _facts(model) == set(_UUID + _AUDIT) | {("slug", False, "none", "none")}


#: fastapi-users-db-sqlalchemy 7.0.0's tables, measured the same way.
_USER = {("email", False, "none", "none"), ("hashed_password", False, "none", "none"),
         ("is_active", False, "python", "none"), ("is_superuser", False, "python", "none"),
         ("is_verified", False, "python", "none")}
_OAUTH = {(name, False, "none", "none") for name in (
    "oauth_name", "access_token", "expires_at", "refresh_token", "account_id", "account_email")}


def test_fastapi_users_tables_give_their_measured_columns() -> None:
    source = """
        from fastapi_users_db_sqlalchemy import (
            SQLAlchemyBaseOAuthAccountTableUUID, SQLAlchemyBaseUserTableUUID)
        from fastapi_users_db_sqlalchemy.access_token import SQLAlchemyBaseAccessTokenTableUUID
        from sqlalchemy.orm import DeclarativeBase, Mapped, relationship

        class Base(DeclarativeBase):
            pass

        class OAuthAccount(SQLAlchemyBaseOAuthAccountTableUUID, Base):
            pass

        class User(SQLAlchemyBaseUserTableUUID, Base):
            oauth_accounts: Mapped[list[OAuthAccount]] = relationship(lazy="joined")

        class AccessToken(SQLAlchemyBaseAccessTokenTableUUID, Base):
            pass
    """
    user = _model(source, "app.models.User")
    assert _facts(user) == _USER | {("id", True, "python", "none")}
    assert user.relationship("oauth_accounts").collection
    oauth = _model(source, "app.models.OAuthAccount")
    assert _facts(oauth) == _OAUTH | {("id", True, "python", "none"),
                                      ("user_id", False, "none", "none")}
    assert oauth.column("user_id").foreign_key == "user.id"
    token = _model(source, "app.models.AccessToken")
    assert _facts(token) == {("token", True, "none", "none"),
                             ("created_at", False, "python", "none"),
                             ("user_id", False, "none", "none")}


def test_a_project_class_named_like_a_library_base_is_the_project_s() -> None:
    model = _model("""
        from sqlalchemy import func
        from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

        class UUIDAuditBase(DeclarativeBase):
            pass

        class Thing(UUIDAuditBase):
            __tablename__ = "things"
            id: Mapped[int] = mapped_column(primary_key=True)
            stamp: Mapped[int] = mapped_column(server_default=func.now())
    """, "app.models.Thing")
    assert model.column_names == ("id", "stamp")


# --------------------------------------------------------------------------
# the facts against the libraries themselves, where they are installed
# --------------------------------------------------------------------------


def _mapper_facts(cls: type) -> set:
    import sqlalchemy as sa

    facts = set()
    for prop in sa.inspect(cls).column_attrs:
        column = prop.columns[0]
        assert column.server_default is None or column.primary_key, column
        assert column.server_onupdate is None and column.computed is None, column
        default = column.default
        kind = "none" if default is None or default.is_sequence else (
            "sql" if getattr(default, "is_clause_element", False) else "python")
        update = column.onupdate
        onupdate = "none" if update is None else (
            "sql" if getattr(update, "is_clause_element", False) else "python")
        facts.add((prop.key, column.primary_key, kind, onupdate))
    return facts


@pytest.mark.skipif(importlib.util.find_spec("advanced_alchemy") is None,
                    reason="advanced-alchemy is not installed")
@pytest.mark.parametrize("name", sorted(ADVANCED_ALCHEMY))
def test_the_advanced_alchemy_facts_are_the_library_s(name: str) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "uuid-utils not installed, falling back to uuid4"
        import advanced_alchemy.base

        base = getattr(advanced_alchemy.base, name)
        probe = type(f"Probe{name}", (base,), {"__module__": __name__})
    assert _mapper_facts(probe) == set(ADVANCED_ALCHEMY[name])
    # The table name is the library's snake case, as the index computes it.
    assert probe.__table__.name == _SNAKE_CASE.sub(r"_\1", probe.__name__).lower()


@pytest.mark.skipif(importlib.util.find_spec("fastapi_users_db_sqlalchemy") is None,
                    reason="fastapi-users-db-sqlalchemy is not installed")
def test_the_fastapi_users_facts_are_the_library_s() -> None:
    from fastapi_users_db_sqlalchemy import (
        SQLAlchemyBaseOAuthAccountTableUUID, SQLAlchemyBaseUserTableUUID)
    from fastapi_users_db_sqlalchemy.access_token import SQLAlchemyBaseAccessTokenTableUUID
    from sqlalchemy.orm import DeclarativeBase

    class Base(DeclarativeBase):
        pass

    user = type("User", (SQLAlchemyBaseUserTableUUID, Base), {"__module__": __name__})
    oauth = type("OAuthAccount", (SQLAlchemyBaseOAuthAccountTableUUID, Base),
                 {"__module__": __name__})
    token = type("AccessToken", (SQLAlchemyBaseAccessTokenTableUUID, Base),
                 {"__module__": __name__})
    assert _mapper_facts(user) == _USER | {("id", True, "python", "none")}
    assert _mapper_facts(oauth) == _OAUTH | {("id", True, "python", "none"),
                                             ("user_id", False, "none", "none")}
    assert _mapper_facts(token) == {("token", True, "none", "none"),
                                    ("created_at", False, "python", "none"),
                                    ("user_id", False, "none", "none")}
