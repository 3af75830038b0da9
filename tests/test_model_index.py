"""model_index: what the index learns about a project's models from source alone."""

from __future__ import annotations

import json
import os
import pickle
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Dict

import pytest

from codemods.frontend import ParseError
from codemods.model_index import (
    build_model_index,
    may_define_models,
    module_name_for,
    scan_module,
)
from codemods.types import ColumnFacts, ModelFacts, ModelIndex, RelationshipFacts


def index_of(files: Dict[str, str]) -> ModelIndex:
    return build_model_index(scan_module(textwrap.dedent(src), path) for path, src in files.items())


def model(index: ModelIndex, qualname: str) -> ModelFacts:
    found = index.by_qualname(qualname)
    assert found is not None, f"{qualname} not in {[m.qualname for m in index.models]}"
    return found


def column(m: ModelFacts, name: str) -> ColumnFacts:
    found = m.column(name)
    assert found is not None, f"{name} not a column of {m.qualname}: {m.column_names}"
    return found


def relationship(m: ModelFacts, name: str) -> RelationshipFacts:
    found = m.relationship(name)
    assert found is not None, f"{name} not a relationship of {m.qualname}"
    return found


BASE_2X = {
    "app/db/base.py": """
        from sqlalchemy.orm import DeclarativeBase

        class Base(DeclarativeBase):
            pass
    """,
}


# --------------------------------------------------------------------------
# module names and the byte prefilter
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path, expected",
    [
        ("app/models/user.py", "app.models.user"),
        ("pkg/__init__.py", "pkg"),
        ("./app/models.py", "app.models"),
        ("app\\models\\user.py", "app.models.user"),
        ("models.py", "models"),
        ("stubs/models.pyi", "stubs.models"),
    ],
)
def test_module_name_for_maps_paths_to_dotted_modules(path: str, expected: str) -> None:
    assert module_name_for(path) == expected


@pytest.mark.parametrize(
    "data",
    [
        b"id = Column(Integer, primary_key=True)",
        b"x: Mapped[int] = mapped_column()",
        b"roles = relationship('Role')",
        b"__tablename__ = 'users'",
        b"class Hero(SQLModel, table=True): ...",
        b"Base = declarative_base()",
        b"class Base(DeclarativeBase): pass",
        b"total = column_property(select(1))",
        b"body = deferred(Column(Text))",
        b"from sqlmodel import Field\n\nname: str = Field(index=True)",
        b"id = sa.Column(sa.Integer, primary_key=True)",
        b"timestamp = Annotated[datetime, mapped_column(server_default=func.now())]",
        b"NOW = func.now()",
    ],
)
def test_prefilter_accepts_files_that_may_define_models(data: bytes) -> None:
    assert may_define_models(data)


def test_prefilter_rejects_plain_service_code() -> None:
    source = b"async def create(session):\n    session.add(obj)\n    await session.flush()\n"
    assert not may_define_models(source)


@pytest.mark.parametrize("data", [
    # a generated GraphQL schema (a megabyte of classes): Column only inside other names
    b"class ProjectColumn(sgqlc.types.Type):\n    cards = sgqlc.types.Field(CardConnection)\n",
    # pydantic's Field is not a column
    b"from pydantic import BaseModel, Field\n\nclass Out(BaseModel):\n    name: str = Field(max_length=9)\n",
])
def test_prefilter_rejects_look_alikes(data: bytes) -> None:
    assert not may_define_models(data)


# --------------------------------------------------------------------------
# mixins, aliases and names across modules
# --------------------------------------------------------------------------


MIXIN_PROJECT = {
    **BASE_2X,
    "app/db/mixins.py": """
        from datetime import datetime
        from sqlalchemy import func
        from sqlalchemy.orm import Mapped, mapped_column

        class TimestampMixin:
            created_at: Mapped[datetime] = mapped_column(server_default=func.now())
            updated_at: Mapped[datetime] = mapped_column(default=func.now(), onupdate=func.now())
    """,
    "app/models/user.py": """
        from sqlalchemy.orm import Mapped, mapped_column
        from app.db.base import Base
        from app.db.mixins import TimestampMixin

        class User(TimestampMixin, Base):
            __tablename__ = "users"
            id: Mapped[int] = mapped_column(primary_key=True)
            name: Mapped[str]
    """,
}


def test_mixin_in_another_module_contributes_server_generated_columns() -> None:
    user = model(index_of(MIXIN_PROJECT), "app.models.user.User")
    assert column(user, "created_at").server_default
    assert column(user, "created_at").default == "none"
    updated = column(user, "updated_at")
    assert (updated.default, updated.onupdate) == ("sql", "sql")
    assert user.primary_key == ("id",)
    assert column(user, "name") == ColumnFacts(name="name")


def test_inherited_attributes_come_first_in_declaration_order() -> None:
    user = model(index_of(MIXIN_PROJECT), "app.models.user.User")
    assert [c.name for c in user.columns] == ["created_at", "updated_at", "id", "name"]


def test_qualnames_use_module_name_and_resolve_finds_models() -> None:
    index = index_of(MIXIN_PROJECT)
    assert [m.qualname for m in index.models] == ["app.models.user.User"]
    user = index.models[0]
    assert (user.name, user.path, user.line) == ("User", "app/models/user.py", 6)
    assert index.resolve("User", "app.models.user.User") is user
    assert index.resolve("User", "app.models.User") is user  # package re-export
    assert index.resolve("User") is user


def test_model_line_is_the_line_of_its_class_statement() -> None:
    source = textwrap.dedent(
        """
        from sqlalchemy import Column, Integer
        from sqlalchemy.orm import declarative_base, registry

        Base = declarative_base()
        reg = registry()

        class Account(Base):
            __tablename__ = "accounts"
            id = Column(Integer, primary_key=True)

            class Config:  # a nested class of another name is skipped over
                pass

        @reg.mapped
        class Config:
            __tablename__ = "config"
            id = Column(Integer, primary_key=True)
        """
    )
    index = build_model_index([scan_module(source, "app/models.py")])
    assert [(m.name, m.line) for m in index.models] == [("Account", 8), ("Config", 16)]


def test_relative_import_of_a_mixin_resolves_against_the_module() -> None:
    files = dict(MIXIN_PROJECT)
    files["app/models/user.py"] = files["app/models/user.py"].replace(
        "from app.db.mixins import", "from ..db.mixins import"
    )
    user = model(index_of(files), "app.models.user.User")
    assert column(user, "created_at").server_default


def test_relative_import_in_package_init_resolves_against_the_package() -> None:
    source = "from .mixins import TimestampMixin\nfrom . import base\n"
    scanned = scan_module(source, "app/db/__init__.py")
    assert dict(scanned.imports) == {
        "TimestampMixin": "app.db.mixins.TimestampMixin",
        "base": "app.db.base",
    }


REEXPORT_PROJECT = {
    "app/db/base_class.py": """
        from sqlalchemy.orm import declarative_base
        Base = declarative_base()
    """,
    # The FastAPI template's app/db/base.py: a re-export for Alembic.
    "app/db/base.py": """
        from app.db.base_class import Base  # noqa
        from sqlalchemy import Column
    """,
    "app/models/item.py": """
        from sqlalchemy import Column, Integer
        from app.db.base import Base

        class Item(Base):
            __tablename__ = "items"
            id = Column(Integer, primary_key=True)
    """,
}


def test_base_reexported_through_another_module_is_followed() -> None:
    files = REEXPORT_PROJECT
    assert [m.qualname for m in index_of(files).models] == ["app.models.item.Item"]


IMPORTED_ALIAS_PROJECT = {
    **BASE_2X,
    "app/db/types.py": """
        from datetime import datetime
        from typing import Annotated
        from sqlalchemy import func
        from sqlalchemy.orm import mapped_column

        intpk = Annotated[int, mapped_column(primary_key=True)]
        timestamp = Annotated[datetime, mapped_column(server_default=func.now())]
    """,
    "app/models/post.py": """
        from typing import Optional
        from sqlalchemy.orm import Mapped, mapped_column
        from app.db.base import Base
        from app.db.types import intpk, timestamp

        class Post(Base):
            __tablename__ = "posts"
            id: Mapped[intpk]
            created_at: Mapped[timestamp]
            published_at: Mapped[Optional[timestamp]] = mapped_column(nullable=True)
            edited_at: Mapped[timestamp] = mapped_column(server_default=None)
    """,
}


def test_annotated_alias_imported_from_another_module_is_merged() -> None:
    files = IMPORTED_ALIAS_PROJECT
    post = model(index_of(files), "app.models.post.Post")
    assert post.primary_key == ("id",)
    assert column(post, "created_at").server_default
    assert column(post, "published_at").server_default  # alias under Optional, merged
    # SQLAlchemy only fills what the explicit column lacks: None does not cancel the alias.
    assert column(post, "edited_at").server_default


LOCAL_ALIAS_PROJECT = {
    **BASE_2X,
    "app/models.py": """
        from datetime import datetime
        from typing import Annotated
        from sqlalchemy import func, text
        from sqlalchemy.orm import Mapped, mapped_column
        from app.db.base import Base

        created = Annotated[datetime, mapped_column(server_default=text("now()"))]

        class Doc(Base):
            __tablename__ = "docs"
            id: Mapped[int] = mapped_column(primary_key=True)
            created_at: Mapped[created]
            touched_at: Mapped[Annotated[datetime, mapped_column(onupdate=func.now())]]
    """,
}


def test_annotated_alias_in_the_same_module_and_inline_annotated() -> None:
    files = LOCAL_ALIAS_PROJECT
    doc = model(index_of(files), "app.models.Doc")
    assert column(doc, "created_at").server_default
    assert column(doc, "touched_at").onupdate == "sql"


def test_pep_695_type_alias_carrying_a_mapped_column() -> None:
    scanned = scan_module(
        "from typing import Annotated\n"
        "from sqlalchemy.orm import mapped_column\n"
        "type intpk = Annotated[int, mapped_column(primary_key=True)]\n",
        "app/types.py",
    )
    assert [a.name for a in scanned.aliases] == ["intpk"]
    assert scanned.aliases[0].primary_key is True


# --------------------------------------------------------------------------
# defaults: Python or SQL
# --------------------------------------------------------------------------


DEFAULTS_MODULE = """
    import datetime as dt
    import enum
    import uuid
    from datetime import datetime
    import sqlalchemy as sa
    import sqlalchemy
    from sqlalchemy import (
        Column, Integer, String, DateTime, func, text, literal, literal_column, select, cast,
        null, true, false, case,
    )
    from sqlalchemy.orm import declarative_base
    from app.db.consts import SERVER_NOW

    Base = declarative_base()
    NOW = func.now()
    NOW_ALIAS = NOW

    class Status(enum.Enum):
        ACTIVE = "active"

    def make_code():
        return "x"

    class Thing(Base):
        __tablename__ = "things"
        id = Column(Integer, primary_key=True)
        literal_int = Column(Integer, default=5)
        literal_str = Column(String, default="a")
        a_lambda = Column(String, default=lambda: "x")
        a_function = Column(String, default=make_code)
        utcnow = Column(DateTime, default=datetime.utcnow)
        uuid4 = Column(String, default=uuid.uuid4)
        enum_member = Column(String, default=Status.ACTIVE)
        at_import = Column(DateTime, default=dt.datetime.now())
        none_default = Column(String, default=None)
        sql_func = Column(DateTime, default=func.now())
        sa_func = Column(DateTime, default=sa.func.now())
        sqlalchemy_func = Column(DateTime, default=sqlalchemy.func.now())
        sql_text = Column(String, default=text("'x'"))
        sa_text = Column(String, default=sa.text("'x'"))
        sql_literal = Column(Integer, default=literal(1))
        sql_literal_column = Column(Integer, default=literal_column("1"))
        sql_select = Column(Integer, default=select(literal(1)).scalar_subquery())
        sql_cast = Column(Integer, default=cast("1", Integer))
        sql_null = Column(Integer, default=null())
        sql_true = Column(Integer, default=true())
        sql_false = Column(Integer, default=false())
        sql_case = Column(Integer, default=case((true(), 1), else_=0))
        module_constant = Column(DateTime, default=NOW)
        chained_constant = Column(DateTime, default=NOW_ALIAS)
        imported_constant = Column(DateTime, default=SERVER_NOW)
        py_onupdate = Column(DateTime, onupdate=datetime.utcnow)
        sql_onupdate = Column(DateTime, onupdate=func.now())
        constant_onupdate = Column(DateTime, onupdate=SERVER_NOW)
"""

CONSTS_MODULE = """
    from sqlalchemy import func
    SERVER_NOW = func.now()
"""


DEFAULTS_PROJECT = {"app/models.py": DEFAULTS_MODULE, "app/db/consts.py": CONSTS_MODULE}


@pytest.fixture(scope="module")
def thing() -> ModelFacts:
    return model(index_of(DEFAULTS_PROJECT), "app.models.Thing")


@pytest.mark.parametrize(
    "name",
    [
        "literal_int", "literal_str", "a_lambda", "a_function", "utcnow", "uuid4", "enum_member",
        "at_import",
    ],
)
def test_python_defaults_are_classified_python(thing: ModelFacts, name: str) -> None:
    assert column(thing, name).default == "python"


@pytest.mark.parametrize(
    "name",
    [
        "sql_func", "sa_func", "sqlalchemy_func", "sql_text", "sa_text", "sql_literal",
        "sql_literal_column", "sql_select", "sql_cast", "sql_null", "sql_true", "sql_false",
        "sql_case", "module_constant", "chained_constant", "imported_constant",
    ],
)
def test_sql_expression_defaults_are_classified_sql(thing: ModelFacts, name: str) -> None:
    assert column(thing, name).default == "sql"


def test_project_functions_named_like_sql_constructs_are_python_defaults() -> None:
    files = {
        "app/functions.py": "def select():\n    return 1\n",
        "app/models.py": """
            from sqlalchemy import Column, Integer
            from sqlalchemy.orm import declarative_base
            from sqlmodel import func as sqlmodel_func
            from app import functions
            from app.functions import select

            Base = declarative_base()

            class Row(Base):
                __tablename__ = "rows"
                id = Column(Integer, primary_key=True)
                by_module = Column(Integer, default=functions.select())
                by_name = Column(Integer, default=select())
                by_sqlmodel = Column(Integer, default=sqlmodel_func.now())
        """,
    }
    row = model(index_of(files), "app.models.Row")
    assert column(row, "by_module").default == "python"
    assert column(row, "by_name").default == "python"
    assert column(row, "by_sqlmodel").default == "sql"


def test_default_none_is_no_default(thing: ModelFacts) -> None:
    assert column(thing, "none_default").default == "none"


def test_onupdate_is_classified_like_default(thing: ModelFacts) -> None:
    assert column(thing, "py_onupdate").onupdate == "python"
    assert column(thing, "sql_onupdate").onupdate == "sql"
    assert column(thing, "constant_onupdate").onupdate == "sql"
    assert column(thing, "sql_func").onupdate == "none"


INSERT_DEFAULT_PROJECT = {
    **BASE_2X,
    "app/models.py": """
        from datetime import datetime
        from sqlalchemy import func
        from sqlalchemy.orm import Mapped, mapped_column
        from app.db.base import Base

        class Event(Base):
            __tablename__ = "events"
            id: Mapped[int] = mapped_column(primary_key=True)
            at: Mapped[datetime] = mapped_column(insert_default=func.now())
    """,
}


def test_insert_default_counts_as_default() -> None:
    files = INSERT_DEFAULT_PROJECT
    assert column(model(index_of(files), "app.models.Event"), "at").default == "sql"


# --------------------------------------------------------------------------
# server-side values
# --------------------------------------------------------------------------


SERVER_SIDE_PROJECT = {
    "app/models.py": """
        import sqlalchemy as sa
        from sqlalchemy import (
            Column, Computed, FetchedValue, Identity, Integer, String, DateTime, func, text,
        )
        from sqlalchemy.orm import declarative_base

        Base = declarative_base()

        class Row(Base):
            __tablename__ = "rows"
            id = Column(Integer, Identity(), primary_key=True)
            by_text = Column(String, server_default=text("'x'"))
            by_func = Column(DateTime, server_default=func.now())
            by_string = Column(String, server_default="x")
            by_fetched_kw = Column(String, server_default=FetchedValue())
            by_fetched = Column(String, FetchedValue())
            total = Column(Integer, Computed("id * 2"))
            serial = Column(Integer, Identity())
            touched = Column(DateTime, server_onupdate=FetchedValue())
            explicit_none = Column(String, server_default=None)
            plain = sa.Column(String)
    """,
}


def test_server_side_values_are_recorded() -> None:
    files = SERVER_SIDE_PROJECT
    row = model(index_of(files), "app.models.Row")
    assert row.primary_key == ("id",)
    assert not column(row, "id").server_default  # Identity() on the primary key
    for name in ("by_text", "by_func", "by_string", "by_fetched_kw", "by_fetched", "serial"):
        assert column(row, name).server_default, name
    assert column(row, "total").computed
    assert column(row, "touched").server_onupdate
    assert not column(row, "touched").server_default
    assert column(row, "explicit_none") == ColumnFacts(name="explicit_none")
    assert column(row, "plain") == ColumnFacts(name="plain")


DB_NAME_PROJECT = {
    "app/models.py": """
        from sqlalchemy import Column, Integer, String, ForeignKey
        from sqlalchemy.orm import declarative_base

        Base = declarative_base()

        class Account(Base):
            __tablename__ = "accounts"
            id = Column("account_id", Integer, primary_key=True)
            owner_id = Column("owner", Integer, ForeignKey("users.id"))
            email = Column("email_address", String, server_default="")
    """,
}


def test_column_with_a_database_name_keeps_its_attribute_name() -> None:
    files = DB_NAME_PROJECT
    account = model(index_of(files), "app.models.Account")
    assert [c.name for c in account.columns] == ["id", "owner_id", "email"]
    assert column(account, "owner_id").foreign_key == "users.id"
    assert column(account, "email").server_default


# --------------------------------------------------------------------------
# deferred, column_property, query_expression
# --------------------------------------------------------------------------


DEFERRED_PROJECT = {
    **BASE_2X,
    "app/models.py": """
        from sqlalchemy import Column, Integer, Text, func, literal_column, select
        from sqlalchemy.orm import (
            Mapped, column_property, deferred, mapped_column, query_expression,
        )
        from app.db.base import Base

        class Article(Base):
            __tablename__ = "articles"
            id: Mapped[int] = mapped_column(primary_key=True)
            body = deferred(Column(Text))
            summary: Mapped[str] = mapped_column(Text, deferred=True)
            notes: Mapped[str] = mapped_column(Text, deferred_group="extra")
            raw = column_property(Column(Text))
            lazy_raw = column_property(Column(Text), deferred=True)
            id_twice: Mapped[int] = column_property(literal_column("id") * 2)
            comment_count = column_property(
                select(func.count()).scalar_subquery(), expire_on_flush=False
            )
            score: Mapped[int] = query_expression()
    """,
}


def test_deferred_columns_and_expression_properties() -> None:
    files = DEFERRED_PROJECT
    article = model(index_of(files), "app.models.Article")
    assert article.column_names[:6] == ("id", "body", "summary", "notes", "raw", "lazy_raw")
    assert all(column(article, n).deferred for n in ("body", "summary", "notes", "lazy_raw"))
    assert not column(article, "raw").deferred
    expressions = {e.name: e.expire_on_flush for e in article.expressions}
    assert expressions == {"id_twice": True, "comment_count": False, "score": True}


# --------------------------------------------------------------------------
# relationships
# --------------------------------------------------------------------------


RELATIONSHIP_PROJECT = {
    **BASE_2X,
    "app/models/parent.py": """
        from __future__ import annotations
        from typing import List, Optional, Set, TYPE_CHECKING
        from sqlalchemy import ForeignKey, Table, Column
        from sqlalchemy import orm
        from sqlalchemy.orm import Mapped, WriteOnlyMapped, mapped_column, relationship
        from app.db.base import Base

        if TYPE_CHECKING:
            from app.models.child import Child

        tags_link = Table(
            "parent_tags", Base.metadata,
            Column("parent_id", ForeignKey("parents.id")),
            Column("tag_id", ForeignKey("tags.id")),
        )

        class Parent(Base):
            __tablename__ = "parents"
            id: Mapped[int] = mapped_column(primary_key=True)
            children: Mapped[list["Child"]] = relationship(back_populates="parent")
            children_sel: Mapped[List[Child]] = relationship(lazy="selectin", viewonly=True)
            child_set: Mapped[Set["Child"]] = relationship(lazy="joined", viewonly=True)
            favourite: Mapped[Optional["Child"]] = relationship(uselist=False, viewonly=True)
            raise_children = orm.relationship("Child", lazy="raise", viewonly=True)
            sql_children = relationship("Child", lazy="raise_on_sql", viewonly=True)
            legacy = relationship("Child", lazy=True, viewonly=True)
            joined_legacy = relationship("Child", lazy=False, viewonly=True)
            dynamic_children = relationship("Child", lazy="dynamic", viewonly=True)
            log: WriteOnlyMapped["Child"] = relationship(viewonly=True)
            tags: Mapped[list["Tag"]] = relationship(secondary=tags_link)

        class Tag(Base):
            __tablename__ = "tags"
            id: Mapped[int] = mapped_column(primary_key=True)
    """,
    "app/models/child.py": """
        from sqlalchemy import Column, ForeignKey, Integer
        from sqlalchemy.orm import Mapped, mapped_column, relationship
        from app.db.base import Base
        from app.models.parent import Parent

        class Child(Base):
            __tablename__ = "children"
            id: Mapped[int] = mapped_column(primary_key=True)
            parent_id: Mapped[int] = mapped_column(ForeignKey("parents.id"))
            parent: Mapped["Parent"] = relationship(back_populates="children")

        class Toy(Base):
            __tablename__ = "toys"
            id = Column(Integer, primary_key=True)
            child_id = Column(Integer, ForeignKey(Child.id))
            owner_id = Column(Integer, ForeignKey("children.id"))
            child = relationship("Child", foreign_keys=[child_id])
            owner = relationship(Child, foreign_keys="[Toy.owner_id]", lazy="immediate")
            stickers = relationship(lambda: Sticker)

        class Sticker(Base):
            __tablename__ = "stickers"
            id = Column(Integer, primary_key=True)
            toy_id = Column(Integer, ForeignKey("toys.id"))
    """,
}


@pytest.fixture(scope="module")
def relationships() -> ModelIndex:
    return index_of(RELATIONSHIP_PROJECT)


@pytest.mark.parametrize(
    "name, lazy, collection",
    [
        ("children", "select", True),
        ("children_sel", "selectin", True),
        ("child_set", "joined", True),
        ("favourite", "select", False),
        ("raise_children", "raise", True),
        ("sql_children", "raise_on_sql", True),
        ("legacy", "select", True),
        ("joined_legacy", "joined", True),
        ("dynamic_children", "dynamic", True),
        ("log", "write_only", True),
        ("tags", "select", True),
    ],
)
def test_relationship_lazy_and_collection(
    relationships: ModelIndex, name: str, lazy: str, collection: bool
) -> None:
    rel = relationship(model(relationships, "app.models.parent.Parent"), name)
    assert (rel.lazy, rel.collection) == (lazy, collection)
    assert not rel.many_to_one


def test_relationship_target_is_resolved_across_modules(relationships: ModelIndex) -> None:
    rel = relationship(model(relationships, "app.models.parent.Parent"), "children")
    assert (rel.target, rel.target_qualname) == ("Child", "app.models.child.Child")


def test_annotated_scalar_with_local_foreign_key_is_many_to_one(relationships: ModelIndex) -> None:
    rel = relationship(model(relationships, "app.models.child.Child"), "parent")
    assert not rel.collection
    assert rel.foreign_keys == ("parent_id",)
    assert rel.many_to_one


def test_unannotated_relationship_direction_follows_foreign_keys(relationships: ModelIndex) -> None:
    toy = model(relationships, "app.models.child.Toy")
    assert column(toy, "child_id").foreign_key == "children.id"  # ForeignKey(Child.id)
    assert relationship(toy, "child").foreign_keys == ("child_id",)
    owner = relationship(toy, "owner")
    assert (owner.collection, owner.foreign_keys, owner.lazy) == (False, ("owner_id",), "immediate")
    # The foreign key is on the target's side: one-to-many.
    stickers = relationship(toy, "stickers")
    assert stickers.collection and stickers.target_qualname == "app.models.child.Sticker"


BACKREF_PROJECT = {
    "app/models.py": """
        from sqlalchemy import Column, ForeignKey, Integer
        from sqlalchemy.orm import backref, declarative_base, relationship

        Base = declarative_base()

        class User(Base):
            __tablename__ = "users"
            id = Column(Integer, primary_key=True)
            addresses = relationship("Address", backref="user")

        class Address(Base):
            __tablename__ = "addresses"
            id = Column(Integer, primary_key=True)
            user_id = Column(Integer, ForeignKey("users.id"))

        class Profile(Base):
            __tablename__ = "profiles"
            id = Column(Integer, primary_key=True)
            user_id = Column(Integer, ForeignKey("users.id"))
            user = relationship(User, backref=backref("profile", uselist=False, lazy="joined"))

        class Login(Base):
            __tablename__ = "logins"
            id = Column(Integer, primary_key=True)
            user_id = Column(Integer, ForeignKey("users.id"))
            user = relationship(User, backref="logins")
    """,
}


def test_backref_creates_the_reverse_relationship_on_the_target() -> None:
    files = BACKREF_PROJECT
    index = index_of(files)
    address_user = relationship(model(index, "app.models.Address"), "user")
    assert address_user == RelationshipFacts(
        name="user", target="User", lazy="select", collection=False,
        foreign_keys=("user_id",), target_qualname="app.models.User",
    )
    user = model(index, "app.models.User")
    profile = relationship(user, "profile")
    assert (profile.collection, profile.lazy) == (False, "joined")
    assert profile.target_qualname == "app.models.Profile"
    logins = relationship(user, "logins")
    assert logins.collection and logins.lazy == "select"
    # Backrefs follow the declared relationships, ordered by the declaring class's qualname.
    assert [r.name for r in user.relationships] == ["addresses", "logins", "profile"]


SELF_REFERENTIAL_PROJECT = {
    "app/models.py": """
        from sqlalchemy import Column, ForeignKey, Integer
        from sqlalchemy.orm import declarative_base, relationship

        Base = declarative_base()

        class Node(Base):
            __tablename__ = "nodes"
            id = Column(Integer, primary_key=True)
            parent_id = Column(Integer, ForeignKey("nodes.id"))
            children = relationship("Node")
            parent = relationship("Node", remote_side=[id])
    """,
}


def test_self_referential_relationship_uses_remote_side() -> None:
    files = SELF_REFERENTIAL_PROJECT
    node = model(index_of(files), "app.models.Node")
    assert relationship(node, "children").collection
    parent = relationship(node, "parent")
    assert (parent.collection, parent.foreign_keys) == (False, ("parent_id",))


STRING_ANNOTATION_PROJECT = {
    **BASE_2X,
    "app/models.py": """
        from typing import Optional
        from sqlalchemy import ForeignKey
        from sqlalchemy.orm import Mapped, mapped_column, relationship
        from app.db.base import Base

        class Team(Base):
            __tablename__ = "teams"
            id: Mapped[int] = mapped_column(primary_key=True)
            members: Mapped[list["Member"]] = relationship(back_populates="team")

        class Member(Base):
            __tablename__ = "members"
            id: Mapped[int] = mapped_column(primary_key=True)
            nickname: Mapped[str | None]
            age: Mapped["Optional[int]"]
            team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
            team: Mapped["Team | None"] = relationship(back_populates="members")
    """,
}


def test_string_annotations_and_pep604_optionals() -> None:
    files = STRING_ANNOTATION_PROJECT
    index = index_of(files)
    assert relationship(model(index, "app.models.Team"), "members").collection
    member = model(index, "app.models.Member")
    assert member.column_names == ("id", "nickname", "age", "team_id")
    assert relationship(member, "team").foreign_keys == ("team_id",)


# --------------------------------------------------------------------------
# declared_attr
# --------------------------------------------------------------------------


DECLARED_ATTR_PROJECT = {
    **BASE_2X,
    "app/db/mixins.py": """
        from datetime import datetime
        from sqlalchemy import Column, DateTime, ForeignKey, Integer, func
        from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

        class Tablename:
            @declared_attr.directive
            def __tablename__(cls) -> str:
                return cls.__name__.lower()

        class Audited:
            @declared_attr
            def created_at(cls) -> Mapped[datetime]:
                return mapped_column(DateTime, server_default=func.now())

            @declared_attr
            def author_id(cls):
                return Column(Integer, ForeignKey("author.id"))

            @declared_attr
            def author(cls) -> Mapped["Author"]:
                return relationship("Author")

            @declared_attr.directive
            def __mapper_args__(cls):
                return {"eager_defaults": True}

            @declared_attr.directive
            def __table_args__(cls):
                return {"implicit_returning": False}
    """,
    "app/models.py": """
        from sqlalchemy.orm import Mapped, mapped_column
        from app.db.base import Base
        from app.db.mixins import Audited, Tablename

        class Author(Tablename, Base):
            id: Mapped[int] = mapped_column(primary_key=True)

        class Note(Audited, Tablename, Base):
            id: Mapped[int] = mapped_column(primary_key=True)
    """,
}


def test_declared_attr_columns_relationships_and_directives() -> None:
    files = DECLARED_ATTR_PROJECT
    index = index_of(files)
    assert [m.qualname for m in index.models] == ["app.models.Author", "app.models.Note"]
    note = model(index, "app.models.Note")
    assert column(note, "created_at").server_default
    assert column(note, "author_id").foreign_key == "author.id"
    # Author's table name comes from the declared_attr rule: the FK makes it many-to-one.
    assert relationship(note, "author").foreign_keys == ("author_id",)
    assert (note.eager_defaults, note.implicit_returning) == (True, False)


# --------------------------------------------------------------------------
# mapper and table arguments
# --------------------------------------------------------------------------


MAPPER_ARGS_PROJECT = {
    **BASE_2X,
    "app/models.py": """
        from sqlalchemy.orm import Mapped, mapped_column
        from app.db.base import Base

        class Eager(Base):
            __tablename__ = "eager"
            __mapper_args__ = {"eager_defaults": True}
            id: Mapped[int] = mapped_column(primary_key=True)

        class NotEager(Base):
            __tablename__ = "not_eager"
            __mapper_args__ = {"eager_defaults": False}
            id: Mapped[int] = mapped_column(primary_key=True)

        class Auto(Base):
            __tablename__ = "auto"
            __mapper_args__ = {"eager_defaults": "auto"}
            id: Mapped[int] = mapped_column(primary_key=True)

        class Default(Base):
            __tablename__ = "default"
            id: Mapped[int] = mapped_column(primary_key=True)
    """,
}


def test_mapper_args_eager_defaults_literal() -> None:
    files = MAPPER_ARGS_PROJECT
    index = index_of(files)
    got = {m.name: m.eager_defaults for m in index.models}
    assert got == {"Eager": True, "NotEager": False, "Auto": None, "Default": None}


TABLE_ARGS_PROJECT = {
    **BASE_2X,
    "app/models.py": """
        from sqlalchemy import UniqueConstraint
        from sqlalchemy.orm import Mapped, mapped_column
        from app.db.base import Base

        class AsDict(Base):
            __tablename__ = "as_dict"
            __table_args__ = {"implicit_returning": False}
            id: Mapped[int] = mapped_column(primary_key=True)

        class AsTuple(Base):
            __tablename__ = "as_tuple"
            __table_args__ = (UniqueConstraint("name"), {"implicit_returning": False})
            id: Mapped[int] = mapped_column(primary_key=True)
            name: Mapped[str]

        class TupleWithoutDict(Base):
            __tablename__ = "no_dict"
            __table_args__ = (UniqueConstraint("name"),)
            id: Mapped[int] = mapped_column(primary_key=True)
            name: Mapped[str]
    """,
}


def test_table_args_implicit_returning_dict_and_tuple_forms() -> None:
    files = TABLE_ARGS_PROJECT
    index = index_of(files)
    got = {m.name: m.implicit_returning for m in index.models}
    assert got == {"AsDict": False, "AsTuple": False, "TupleWithoutDict": True}


FK_CONSTRAINT_PROJECT = {
    "app/models.py": """
        from sqlalchemy import Column, ForeignKeyConstraint, Integer
        from sqlalchemy.orm import declarative_base, relationship

        Base = declarative_base()

        class Invoice(Base):
            __tablename__ = "invoices"
            id = Column(Integer, primary_key=True)

        class Line(Base):
            __tablename__ = "lines"
            __table_args__ = (ForeignKeyConstraint(["invoice_id"], ["invoices.id"]),)
            id = Column(Integer, primary_key=True)
            invoice_id = Column(Integer)
            invoice = relationship("Invoice")
    """,
}


def test_foreign_key_constraint_in_table_args_gives_columns_their_target() -> None:
    files = FK_CONSTRAINT_PROJECT
    line = model(index_of(files), "app.models.Line")
    assert column(line, "invoice_id").foreign_key == "invoices.id"
    assert relationship(line, "invoice").foreign_keys == ("invoice_id",)


TABLE_PROJECT = {
    "app/models.py": """
        from sqlalchemy import Column, Integer, MetaData, String, Table, func, DateTime
        from sqlalchemy.orm import column_property, declarative_base

        Base = declarative_base()

        users = Table(
            "users", Base.metadata,
            Column("id", Integer, primary_key=True),
            Column("created", DateTime, server_default=func.now()),
            implicit_returning=False,
        )

        class User(Base):
            __table__ = users
            created_day = column_property(func.date(users.c.created))

        class Inline(Base):
            __table__ = Table("inline", Base.metadata, Column("id", Integer, primary_key=True))
    """,
}


def test_table_object_mapped_with_dunder_table() -> None:
    files = TABLE_PROJECT
    index = index_of(files)
    user = model(index, "app.models.User")
    assert user.column_names == ("id", "created", "created_day")
    assert column(user, "created").server_default
    assert not user.implicit_returning
    assert model(index, "app.models.Inline").primary_key == ("id",)


# --------------------------------------------------------------------------
# inheritance
# --------------------------------------------------------------------------


INHERITANCE_PROJECT = {
    **BASE_2X,
    "app/models/employee.py": """
        from sqlalchemy import ForeignKey, func
        from sqlalchemy.orm import Mapped, mapped_column
        from app.db.base import Base

        class Employee(Base):
            __tablename__ = "employee"
            __mapper_args__ = {"polymorphic_on": "type", "eager_defaults": True}
            id: Mapped[int] = mapped_column(primary_key=True)
            type: Mapped[str]
            hired_at: Mapped[str] = mapped_column(server_default=func.now())

        class Manager(Employee):
            __mapper_args__ = {"polymorphic_identity": "manager"}
            reports: Mapped[int] = mapped_column(nullable=True)

        class Engineer(Employee):
            __tablename__ = "engineer"
            __mapper_args__ = {**Employee.__mapper_args__, "polymorphic_identity": "engineer"}
            id: Mapped[int] = mapped_column(ForeignKey("employee.id"), primary_key=True)
            level: Mapped[int]
    """,
}


def test_single_and_joined_table_inheritance_are_mapped_with_inherited_attributes() -> None:
    files = INHERITANCE_PROJECT
    index = index_of(files)
    assert [m.name for m in index.models] == ["Employee", "Engineer", "Manager"]
    manager = model(index, "app.models.employee.Manager")
    assert manager.column_names == ("id", "type", "hired_at", "reports")
    assert manager.eager_defaults is None  # its own __mapper_args__ replaces the base's
    engineer = model(index, "app.models.employee.Engineer")
    assert engineer.column_names == ("id", "type", "hired_at", "level")
    assert column(engineer, "id").foreign_key == "employee.id"  # redefined in place
    assert engineer.eager_defaults is True  # {**Employee.__mapper_args__, ...}


ABSTRACT_PROJECT = {
    **BASE_2X,
    "app/db/abstract.py": """
        from sqlalchemy import func
        from sqlalchemy.orm import Mapped, mapped_column
        from app.db.base import Base

        class Model(Base):
            __abstract__ = True
            __mapper_args__ = {"eager_defaults": True}
            id: Mapped[int] = mapped_column(primary_key=True)
            created_at: Mapped[str] = mapped_column(server_default=func.now())
    """,
    "app/models.py": """
        from sqlalchemy.orm import Mapped
        from app.db.abstract import Model

        class Invoice(Model):
            __tablename__ = "invoices"
            total: Mapped[int]
    """,
}


def test_abstract_base_in_another_module_contributes_and_is_not_mapped() -> None:
    files = ABSTRACT_PROJECT
    index = index_of(files)
    assert [m.qualname for m in index.models] == ["app.models.Invoice"]
    invoice = index.models[0]
    assert invoice.column_names == ("id", "created_at", "total")
    assert column(invoice, "created_at").server_default
    assert invoice.eager_defaults is True


OVERRIDE_PROJECT = {
    "app/models.py": """
        from sqlalchemy import Column, DateTime, Integer, func
        from sqlalchemy.orm import declarative_base

        Base = declarative_base()

        class Stamped:
            id = Column(Integer, primary_key=True)
            stamp = Column(DateTime, server_default=func.now())

        class Plain(Stamped, Base):
            __tablename__ = "plain"
            stamp = Column(DateTime)
    """,
}


def test_subclass_redefinition_replaces_the_inherited_attribute() -> None:
    files = OVERRIDE_PROJECT
    plain = model(index_of(files), "app.models.Plain")
    assert plain.column_names == ("id", "stamp")
    assert not column(plain, "stamp").server_default


# --------------------------------------------------------------------------
# declarative styles
# --------------------------------------------------------------------------


LEGACY_PROJECT = {
    "app/database.py": """
        from sqlalchemy.ext.declarative import declarative_base
        Base = declarative_base()
    """,
    "app/models.py": """
        import sqlalchemy as sa
        from sqlalchemy import Column, Integer, String
        from sqlalchemy.orm import relationship
        from .database import Base

        class Item(Base):
            __tablename__ = "items"
            id = Column(Integer, primary_key=True, index=True)
            title = Column(String, index=True)
            created = sa.Column(sa.DateTime, server_default=sa.func.now())
            owner_id = Column(Integer, sa.ForeignKey("users.id"))
            owner = relationship("User", back_populates="items")

        class User(Base):
            __tablename__ = "users"
            id = Column(Integer, primary_key=True, index=True)
            items = relationship("Item", back_populates="owner")
    """,
}


def test_column_style_declarative_base_of_sqlalchemy_1_4() -> None:
    files = LEGACY_PROJECT
    index = index_of(files)
    assert [m.qualname for m in index.models] == ["app.models.Item", "app.models.User"]
    item = model(index, "app.models.Item")
    assert column(item, "created").server_default
    assert relationship(item, "owner").many_to_one
    assert relationship(model(index, "app.models.User"), "items").collection


AS_DECLARATIVE_PROJECT = {
    "app/db/base_class.py": """
        from typing import Any
        from sqlalchemy.ext.declarative import as_declarative, declared_attr

        @as_declarative()
        class Base:
            id: Any
            __name__: str

            @declared_attr
            def __tablename__(cls) -> str:
                return cls.__name__.lower()
    """,
    "app/models/item.py": """
        from sqlalchemy import Column, ForeignKey, Integer
        from sqlalchemy.orm import relationship
        from app.db.base_class import Base

        class Item(Base):
            id = Column(Integer, primary_key=True)
            owner_id = Column(Integer, ForeignKey("user.id"))
            owner = relationship("User")

        class User(Base):
            id = Column(Integer, primary_key=True)
    """,
}


def test_as_declarative_base_with_declared_tablename() -> None:
    # The full-stack FastAPI template's base class.
    files = AS_DECLARATIVE_PROJECT
    index = index_of(files)
    assert [m.name for m in index.models] == ["Item", "User"]
    assert relationship(model(index, "app.models.item.Item"), "owner").foreign_keys == ("owner_id",)


REGISTRY_PROJECT = {
    "app/models.py": """
        from sqlalchemy import Column, Integer
        from sqlalchemy.orm import registry

        mapper_registry = registry()
        Base = mapper_registry.generate_base()

        class A(Base):
            __tablename__ = "a"
            id = Column(Integer, primary_key=True)

        @mapper_registry.mapped
        class B:
            __tablename__ = "b"
            id = Column(Integer, primary_key=True)
    """,
}


def test_registry_generate_base_and_mapped_decorator() -> None:
    files = REGISTRY_PROJECT
    assert [m.name for m in index_of(files).models] == ["A", "B"]


DATACLASS_PROJECT = {
    "app/models.py": """
        from sqlalchemy import ForeignKey, func
        from sqlalchemy.orm import (
            DeclarativeBase, Mapped, MappedAsDataclass, mapped_column, relationship,
        )

        class Base(MappedAsDataclass, DeclarativeBase):
            pass

        class User(Base):
            __tablename__ = "users"
            id: Mapped[int] = mapped_column(primary_key=True, init=False)
            created: Mapped[str] = mapped_column(server_default=func.now(), init=False)
            secret: Mapped[str] = mapped_column(repr=False, default="")
            posts: Mapped[list["Post"]] = relationship(default_factory=list)

        class Post(Base):
            __tablename__ = "posts"
            id: Mapped[int] = mapped_column(primary_key=True, init=False)
            user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)

            def __repr__(self) -> str:
                return f"Post({self.id})"
    """,
}


def test_mapped_as_dataclass_repr_reads_every_field() -> None:
    files = DATACLASS_PROJECT
    index = index_of(files)
    user = model(index, "app.models.User")
    assert user.repr_attributes == ("id", "created", "posts")
    assert user.repr_reads_columns
    assert model(index, "app.models.Post").repr_attributes == ("id",)


# --------------------------------------------------------------------------
# SQLModel
# --------------------------------------------------------------------------


SQLMODEL_PROJECT = {
    "app/models.py": """
        from datetime import datetime
        from typing import Optional
        from sqlalchemy import Column, DateTime, func, text
        from sqlmodel import Field, Relationship, SQLModel

        class TeamBase(SQLModel):
            name: str = Field(index=True)

        class Team(TeamBase, table=True):
            id: Optional[int] = Field(default=None, primary_key=True)
            heroes: list["Hero"] = Relationship(back_populates="team")

        class HeroBase(SQLModel):
            name: str
            secret_name: str
            age: int | None = None

        class Hero(HeroBase, table=True):
            id: int | None = Field(default=None, primary_key=True)
            team_id: int | None = Field(default=None, foreign_key="team.id")
            team: Team | None = Relationship(
                back_populates="heroes", sa_relationship_kwargs={"lazy": "selectin"}
            )
            created_at: datetime = Field(
                sa_column=Column(DateTime, server_default=func.now(), nullable=False)
            )
            updated_at: Optional[datetime] = Field(
                default=None,
                sa_column_kwargs={"server_default": text("now()"), "onupdate": func.now()},
            )
            token: str = Field(default_factory=lambda: "x")

        class HeroRead(HeroBase):
            id: int
    """,
}


def test_sqlmodel_table_classes_are_mapped_and_schemas_are_not() -> None:
    index = index_of(SQLMODEL_PROJECT)
    assert [m.name for m in index.models] == ["Hero", "Team"]


def test_sqlmodel_fields_are_columns_with_their_defaults() -> None:
    hero = model(index_of(SQLMODEL_PROJECT), "app.models.Hero")
    assert hero.column_names == (
        "name", "secret_name", "age", "id", "team_id", "created_at", "updated_at", "token",
    )
    assert hero.primary_key == ("id",)
    assert column(hero, "id").default == "none"
    assert column(hero, "team_id").foreign_key == "team.id"
    assert column(hero, "created_at").server_default
    updated = column(hero, "updated_at")
    assert (updated.server_default, updated.onupdate) == (True, "sql")
    assert column(hero, "token").default == "python"


def test_sqlmodel_relationships() -> None:
    index = index_of(SQLMODEL_PROJECT)
    heroes = relationship(model(index, "app.models.Team"), "heroes")
    assert (heroes.collection, heroes.lazy) == (True, "select")
    assert heroes.target_qualname == "app.models.Hero"
    team = relationship(model(index, "app.models.Hero"), "team")
    assert (team.collection, team.lazy, team.foreign_keys) == (False, "selectin", ("team_id",))


# --------------------------------------------------------------------------
# what is not an attribute, and what is not a model
# --------------------------------------------------------------------------


NOT_ATTRIBUTES_PROJECT = {
    **BASE_2X,
    "app/models.py": """
        from typing import ClassVar
        from sqlalchemy.ext.associationproxy import association_proxy
        from sqlalchemy.ext.hybrid import hybrid_property
        from sqlalchemy.orm import Mapped, mapped_column, synonym
        from app.db.base import Base

        class User(Base):
            __tablename__ = "users"
            id: Mapped[int] = mapped_column(primary_key=True)
            first: Mapped[str]
            registry_name: ClassVar[str] = "users"
            keywords = association_proxy("user_keywords", "keyword")
            alias = synonym("first")

            @property
            def display(self) -> str:
                return self.first

            @hybrid_property
            def upper(self) -> str:
                return self.first.upper()

            def greet(self) -> str:
                return "hi"
    """,
}


def test_classvars_methods_properties_hybrids_and_proxies_are_not_attributes() -> None:
    files = NOT_ATTRIBUTES_PROJECT
    user = model(index_of(files), "app.models.User")
    assert user.column_names == ("id", "first")
    assert user.relationships == ()
    for name in ("registry_name", "keywords", "alias", "display", "upper", "greet"):
        assert not user.has_attribute(name)


NOT_MAPPED_PROJECT = {
    **BASE_2X,
    "app/other.py": """
        from pydantic import BaseModel
        from sqlalchemy import Column, Integer
        from sqlalchemy.orm import (
            DeclarativeBase, Mapped, declarative_base, declared_attr, mapped_column,
        )
        from app.db.base import Base

        LegacyBase = declarative_base()

        class UserOut(BaseModel):
            id: int
            name: str

        class Plain:
            id = 1
            __tablename__ = "plain"  # not under a declarative base

        class TablenameMixin:
            @declared_attr.directive
            def __tablename__(cls) -> str:
                return cls.__name__.lower()

        class AbstractModel(Base):
            __abstract__ = True
            id: Mapped[int] = mapped_column(primary_key=True)

        class NoTable(Base):
            name = Column(Integer)

        class OtherBase(DeclarativeBase):
            __tablename__ = "never"
    """,
}


def test_classes_that_are_not_mapped_do_not_appear() -> None:
    files = NOT_MAPPED_PROJECT
    assert index_of(files).models == ()


# --------------------------------------------------------------------------
# __repr__
# --------------------------------------------------------------------------


REPR_PROJECT = {
    **BASE_2X,
    "app/models.py": """
        from sqlalchemy.orm import Mapped, mapped_column, relationship
        from app.db.base import Base

        class ReprMixin:
            def __repr__(self) -> str:
                return f"<{self.__class__.__name__} id={self.id} {self.describe()}>"

        class User(ReprMixin, Base):
            __tablename__ = "users"
            id: Mapped[int] = mapped_column(primary_key=True)
            name: Mapped[str]

            def describe(self) -> str:
                return "user"

        class Tag(Base):
            __tablename__ = "tags"
            id: Mapped[int] = mapped_column(primary_key=True)

            def __str__(self) -> str:
                return "tag"

        class Row(Base):
            __tablename__ = "rows"
            id: Mapped[int] = mapped_column(primary_key=True)
            name: Mapped[str]

            def __repr__(self) -> str:
                cols = ", ".join(
                    f"{c.name}={getattr(self, c.name)}" for c in self.__table__.columns
                )
                return f"Row({cols})"
    """,
}


def test_repr_reading_self_attributes_is_recorded_and_inherited() -> None:
    files = REPR_PROJECT
    index = index_of(files)
    user = model(index, "app.models.User")
    assert (user.repr_reads_columns, user.repr_attributes) == (True, ("id",))
    tag = model(index, "app.models.Tag")
    assert (tag.repr_reads_columns, tag.repr_attributes) == (False, ())
    row = model(index, "app.models.Row")
    assert row.repr_attributes == ("id", "name")


# --------------------------------------------------------------------------
# parsing, purity and determinism
# --------------------------------------------------------------------------


def test_syntax_error_raises_parse_error() -> None:
    with pytest.raises(ParseError):
        scan_module("class User(Base):\n    id = Column(\n", "app/models.py")


def test_python_3_12_syntax_parses() -> None:
    source = textwrap.dedent(
        """
        from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

        type UserId = int

        class Base(DeclarativeBase):
            pass

        class Repo[T]:
            def get(self) -> T: ...

        class User(Base):
            __tablename__ = "users"
            id: Mapped[int] = mapped_column(primary_key=True)
        """
    )
    index = build_model_index([scan_module(source, "app/models.py")])
    assert [m.name for m in index.models] == ["User"]


def test_scanning_never_executes_the_source(tmp_path) -> None:
    marker = tmp_path / "executed"
    source = textwrap.dedent(
        f"""
        import os
        open({str(marker)!r}, "w").write("module")
        os.system("touch {marker}")

        class User(Base):
            __tablename__ = open({str(marker)!r}, "w").write("class") and "users"
            id = Column(Integer, primary_key=True)
        """
    )
    scan_module(source, "app/models.py")
    assert not marker.exists()


def test_scan_result_is_a_picklable_value() -> None:
    source = textwrap.dedent(MIXIN_PROJECT["app/models/user.py"])
    first = scan_module(source, "app/models/user.py")
    assert pickle.loads(pickle.dumps(first)) == first
    assert scan_module(source, "app/models/user.py") == first


def test_index_is_independent_of_module_order() -> None:
    scanned = [scan_module(textwrap.dedent(s), p) for p, s in RELATIONSHIP_PROJECT.items()]
    forward = build_model_index(scanned)
    backward = build_model_index(list(reversed(scanned)))
    assert forward == backward
    assert [m.qualname for m in forward.models] == sorted(m.qualname for m in forward.models)


def test_src_layout_resolves_imports_by_suffix() -> None:
    files = {f"src/{path}": src for path, src in MIXIN_PROJECT.items()}
    user = model(index_of(files), "src.app.models.user.User")
    assert column(user, "created_at").server_default


# --------------------------------------------------------------------------
# The oracle: SQLAlchemy's own mappers agree with the static index.
#
# Each project above that SQLAlchemy accepts is written to a temporary folder and imported in a
# subprocess (its own registry, its own sys.modules); the mapper facts that the rules of
# docs/semantics.md depend on (docs/semantics.md#d1-what-the-model-source-decides) are compared
# with what the index read from the source.
# --------------------------------------------------------------------------

ORACLE_SCRIPT = r"""
import importlib, json, sys, warnings
warnings.simplefilter("ignore")
import sqlalchemy as sa
from sqlalchemy.orm import ColumnProperty, RelationshipProperty, configure_mappers

def kind(default):
    if default is None:
        return "none"
    return "sql" if getattr(default, "is_clause_element", False) else "python"

LAZY = {True: "select", False: "joined", None: "noload"}
modules = [importlib.import_module(name) for name in sys.argv[1:]]
configure_mappers()
models = {}
for module in modules:
    for obj in list(vars(module).values()):
        if not isinstance(obj, type) or obj.__module__ != module.__name__:
            continue
        mapper = sa.inspect(obj, raiseerr=False)
        if mapper is None or not hasattr(mapper, "attrs"):
            continue
        columns, expressions, relationships = {}, {}, {}
        for prop in mapper.attrs:
            if isinstance(prop, RelationshipProperty):
                many_to_one = prop.direction.name == "MANYTOONE"
                relationships[prop.key] = {
                    "lazy": prop.lazy if isinstance(prop.lazy, str) else LAZY[prop.lazy],
                    "collection": bool(prop.uselist),
                    "foreign_keys": sorted(
                        mapper.get_property_by_column(c).key for c in prop.local_columns
                    ) if many_to_one else [],
                }
                continue
            if not isinstance(prop, ColumnProperty):
                continue  # synonym, composite: not attributes of their own
            col = prop.columns[0]
            if not (isinstance(col, sa.Column) and any(col.table is t for t in mapper.tables)):
                expressions[prop.key] = bool(prop.expire_on_flush)
                continue
            computed = col.computed is not None
            columns[prop.key] = {
                "primary_key": bool(col.primary_key),
                # Computed/Identity are FetchedValues too; the index keeps Computed apart and
                # does not call a primary key server-generated (the PK is always fetched).
                "server_default": (
                    col.server_default is not None and not computed and not col.primary_key
                ),
                "computed": computed,
                "default": kind(col.default),
                "onupdate": kind(col.onupdate),
                "server_onupdate": col.server_onupdate is not None and not computed,
                "deferred": bool(prop.deferred),
                "foreign_key": (
                    next(iter(col.foreign_keys)).target_fullname if col.foreign_keys else None
                ),
            }
        eager = mapper.eager_defaults
        models[f"{obj.__module__}.{obj.__name__}"] = {
            "columns": columns,
            "expressions": expressions,
            "relationships": relationships,
            "eager_defaults": None if eager == "auto" else eager,
            "implicit_returning": mapper.local_table.implicit_returning,
        }
print(json.dumps(models, sort_keys=True))
"""

# Projects that only the oracle checks: shapes where SQLAlchemy's own rules are subtle.

TRICKY_RELATIONSHIPS_PROJECT = {
    "app/models.py": """
        from typing import Optional
        from sqlalchemy import Column, ForeignKey, Integer, String, Table
        from sqlalchemy.orm import (
            DeclarativeBase, Mapped, attribute_keyed_dict, backref, mapped_column, relationship,
        )

        class Base(DeclarativeBase):
            pass

        links = Table(
            "links", Base.metadata,
            Column("user_id", ForeignKey("auth.users.id"), primary_key=True),
            Column("group_id", ForeignKey("groups.id"), primary_key=True),
        )

        class User(Base):
            __tablename__ = "users"
            __table_args__ = {"schema": "auth"}
            id: Mapped[int] = mapped_column(primary_key=True)
            profile = relationship("Profile", uselist=False, backref="user")
            groups = relationship("Group", secondary=links, backref="members", lazy="subquery")
            notes: Mapped[dict[str, "Note"]] = relationship(
                collection_class=attribute_keyed_dict("title"), lazy="noload"
            )
            by_argument = relationship(argument="Note", lazy=None, viewonly=True)

        class Profile(Base):
            __tablename__ = "profiles"
            id = Column(Integer, primary_key=True)
            user_id = Column(Integer, ForeignKey("auth.users.id"))

        class Group(Base):
            __tablename__ = "groups"
            id = Column(Integer, primary_key=True)

        class Note(Base):
            __tablename__ = "notes"
            id: Mapped[int] = mapped_column(primary_key=True)
            title: Mapped[str] = mapped_column(String)
            user_id: Mapped[Optional[int]] = mapped_column(ForeignKey(User.id))
            author = relationship("app.models.User", foreign_keys="Note.user_id", viewonly=True)
            author_again: Mapped[User] = relationship(
                primaryjoin="Note.user_id == User.id", viewonly=True
            )

        class Tree(Base):
            __tablename__ = "tree"
            id = Column(Integer, primary_key=True)
            parent_id = Column(Integer, ForeignKey("tree.id"))
            parent = relationship(
                "Tree", remote_side="Tree.id", backref=backref("kids", lazy="selectin")
            )
    """,
}

ALIAS_FOREIGN_KEY_PROJECT = {
    "app/db.py": """
        from datetime import datetime
        from typing import Annotated
        from sqlalchemy import Computed, FetchedValue, ForeignKey, func
        from sqlalchemy.orm import DeclarativeBase, mapped_column

        class Base(DeclarativeBase):
            pass

        intpk = Annotated[int, mapped_column(primary_key=True)]
        user_fk = Annotated[int, mapped_column(ForeignKey("users.id"))]
        created = Annotated[datetime, mapped_column(server_default=func.now())]
        touched = Annotated[
            datetime, mapped_column(onupdate=func.now(), server_onupdate=FetchedValue())
        ]
        doubled = Annotated[int, mapped_column(Computed("1 + 1"))]
        lazy_text = Annotated[str, mapped_column(deferred=True)]
    """,
    "app/models.py": """
        import sqlalchemy as sa
        from sqlalchemy import orm
        from sqlalchemy.orm import Mapped, relationship
        from app.db import Base, created, doubled, intpk, lazy_text, touched, user_fk

        class User(Base):
            __tablename__ = "users"
            id: orm.Mapped[intpk]
            created_at: Mapped[created]
            plain_created: Mapped[created] = orm.mapped_column(default=None)
            touched_at: Mapped[touched] = orm.mapped_column(onupdate=None)
            two: Mapped[doubled]
            bio: Mapped[lazy_text] = orm.mapped_column(deferred=False)
            flag: Mapped[bool] = orm.mapped_column(server_default=sa.text("0"))

        class Post(Base):
            __tablename__ = "posts"
            id: Mapped[intpk]
            user_id: Mapped[user_fk]
            user: Mapped["User"] = relationship()
    """,
}

BASE_WITH_CLS_PROJECT = {
    "app/base.py": """
        from sqlalchemy import Column, DateTime, Integer, func
        from sqlalchemy.ext.declarative import declarative_base
        from sqlalchemy.orm import declared_attr

        class CustomBase:
            id = Column(Integer, primary_key=True)
            created = Column(DateTime, server_default=func.now())

            @declared_attr
            def __tablename__(cls):
                return cls.__name__.lower()

            def __repr__(self):
                return f"<{type(self).__name__} {self.id}>"

        Base = declarative_base(cls=CustomBase)
    """,
    "app/models.py": """
        from sqlalchemy import Column, ForeignKey, Integer, String
        from sqlalchemy.orm import column_property, deferred, relationship
        from sqlalchemy import select, func
        from app.base import Base

        class Author(Base):
            name = Column(String)
            books = relationship("Book", back_populates="author", lazy="selectin")

        class Book(Base):
            __mapper_args__ = dict(eager_defaults=True)
            author_id = Column(Integer, ForeignKey("author.id"))
            author = relationship("Author", back_populates="books")
            blurb = deferred(Column(String), group="text")

        Author.book_count = column_property(
            select(func.count(Book.id)).where(Book.author_id == Author.id).scalar_subquery()
        )
    """,
}

MIXIN_RELATIONSHIP_PROJECT = {
    "app/mixins.py": """
        from sqlalchemy import Column, ForeignKey, Integer
        from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

        class OwnedMixin:
            owner_id: Mapped[int] = mapped_column(ForeignKey("owners.id"))

            @declared_attr
            def owner(cls) -> Mapped["Owner"]:
                return relationship("Owner", lazy="joined")

        class TenantMixin:
            @declared_attr
            def tenant_id(cls):
                return Column(Integer, ForeignKey("tenants.id"), nullable=True)

            @declared_attr
            def tenant(cls):
                return relationship("Tenant")
    """,
    "app/models.py": """
        from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
        from app.mixins import OwnedMixin, TenantMixin

        class Base(DeclarativeBase):
            pass

        class Owner(Base):
            __tablename__ = "owners"
            id: Mapped[int] = mapped_column(primary_key=True)

        class Tenant(Base):
            __tablename__ = "tenants"
            id: Mapped[int] = mapped_column(primary_key=True)

        class Car(OwnedMixin, TenantMixin, Base):
            __tablename__ = "cars"
            id: Mapped[int] = mapped_column(primary_key=True)

        class Boat(OwnedMixin, Base):
            __tablename__ = "boats"
            id: Mapped[int] = mapped_column(primary_key=True)
    """,
}

JOINED_RELATIONSHIP_PROJECT = {
    "app/models.py": """
        from sqlalchemy import ForeignKey
        from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

        class Base(DeclarativeBase):
            pass

        class Company(Base):
            __tablename__ = "company"
            id: Mapped[int] = mapped_column(primary_key=True)
            staff: Mapped[list["Person"]] = relationship(back_populates="company")

        class Person(Base):
            __tablename__ = "person"
            __mapper_args__ = {"polymorphic_on": "kind", "polymorphic_identity": "person"}
            id: Mapped[int] = mapped_column(primary_key=True)
            kind: Mapped[str]
            company_id: Mapped[int | None] = mapped_column(ForeignKey("company.id"))
            company: Mapped["Company | None"] = relationship(back_populates="staff")

        class Engineer(Person):
            __tablename__ = "engineer"
            __mapper_args__ = {"polymorphic_identity": "engineer"}
            id: Mapped[int] = mapped_column(ForeignKey("person.id"), primary_key=True)
            lead_id: Mapped[int | None] = mapped_column(ForeignKey("company.id"))
            leads: Mapped["Company | None"] = relationship(foreign_keys=[lead_id], viewonly=True)
    """,
}


FASTAPI_PROJECT = {
    "app/db/base.py": """
        from sqlalchemy.ext.asyncio import AsyncAttrs
        from sqlalchemy.orm import DeclarativeBase

        class Base(AsyncAttrs, DeclarativeBase):
            __mapper_args__ = {"eager_defaults": True}
    """,
    "app/models/org.py": """
        import enum
        import uuid
        from datetime import datetime
        from typing import TYPE_CHECKING, List, Optional

        from sqlalchemy import DateTime, Enum, LargeBinary, String, func, text
        from sqlalchemy.dialects.postgresql import JSONB
        from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship
        from sqlalchemy import Column

        from app.db.base import Base

        if TYPE_CHECKING:
            from app.models.member import Member


        class Plan(str, enum.Enum):
            FREE = "free"
            PRO = "pro"


        class Org(Base):
            __tablename__ = "orgs"
            __mapper_args__ = {"eager_defaults": False}

            id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
            name: Mapped[str] = mapped_column(String(120), index=True)
            plan: Mapped[Plan] = mapped_column(
                Enum(Plan), default=Plan.FREE, server_default=Plan.FREE.value
            )
            settings: Mapped[dict] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
            created_at: Mapped[datetime] = mapped_column(
                DateTime(timezone=True), server_default=func.now()
            )
            updated_at: Mapped[datetime] = mapped_column(
                DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
            )
            logo = deferred(Column(LargeBinary), raiseload=True)
            members: Mapped[List["Member"]] = relationship(
                back_populates="org", cascade="all, delete-orphan", lazy="selectin"
            )
    """,
    "app/models/member.py": """
        import uuid
        from typing import Optional
        from sqlalchemy import ForeignKey, UniqueConstraint
        from sqlalchemy.orm import Mapped, mapped_column, relationship
        from app.db.base import Base
        from app.models.org import Org

        class Member(Base):
            __tablename__ = "members"
            __table_args__ = (UniqueConstraint("org_id", "email"),)

            id: Mapped[int] = mapped_column(primary_key=True)
            email: Mapped[str]
            org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"))
            org: Mapped[Org] = relationship(back_populates="members", lazy="raise")
            invited_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("members.id"))
            invited_by: Mapped[Optional["Member"]] = relationship(remote_side=[id])
    """,
}


ORACLE_PROJECTS = {
    "mixin": MIXIN_PROJECT,
    "reexport": REEXPORT_PROJECT,
    "imported_alias": IMPORTED_ALIAS_PROJECT,
    "local_alias": LOCAL_ALIAS_PROJECT,
    "defaults": DEFAULTS_PROJECT,
    "insert_default": INSERT_DEFAULT_PROJECT,
    "server_side": SERVER_SIDE_PROJECT,
    "db_name": DB_NAME_PROJECT,
    "deferred": DEFERRED_PROJECT,
    "relationships": RELATIONSHIP_PROJECT,
    "backref": BACKREF_PROJECT,
    "self_referential": SELF_REFERENTIAL_PROJECT,
    "string_annotation": STRING_ANNOTATION_PROJECT,
    "declared_attr": DECLARED_ATTR_PROJECT,
    "mapper_args": MAPPER_ARGS_PROJECT,
    "table_args": TABLE_ARGS_PROJECT,
    "fk_constraint": FK_CONSTRAINT_PROJECT,
    "table": TABLE_PROJECT,
    "inheritance": INHERITANCE_PROJECT,
    "abstract": ABSTRACT_PROJECT,
    "override": OVERRIDE_PROJECT,
    "legacy": LEGACY_PROJECT,
    "as_declarative": AS_DECLARATIVE_PROJECT,
    "registry": REGISTRY_PROJECT,
    "dataclass": DATACLASS_PROJECT,
    "not_attributes": NOT_ATTRIBUTES_PROJECT,
    "repr": REPR_PROJECT,
    "tricky_relationships": TRICKY_RELATIONSHIPS_PROJECT,
    "alias_foreign_key": ALIAS_FOREIGN_KEY_PROJECT,
    "base_with_cls": BASE_WITH_CLS_PROJECT,
    "mixin_relationship": MIXIN_RELATIONSHIP_PROJECT,
    "joined_relationship": JOINED_RELATIONSHIP_PROJECT,
    "fastapi": FASTAPI_PROJECT,
}


def static_facts(index: ModelIndex) -> dict:
    models = {}
    for m in index.models:
        models[m.qualname] = {
            "columns": {
                c.name: {
                    "primary_key": c.primary_key,
                    "server_default": c.server_default,
                    "computed": c.computed,
                    "default": c.default,
                    "onupdate": c.onupdate,
                    "server_onupdate": c.server_onupdate,
                    "deferred": c.deferred,
                    "foreign_key": c.foreign_key,
                }
                for c in m.columns
            },
            "expressions": {e.name: e.expire_on_flush for e in m.expressions},
            "relationships": {
                r.name: {
                    "lazy": r.lazy,
                    "collection": r.collection,
                    "foreign_keys": sorted(r.foreign_keys),
                }
                for r in m.relationships
            },
            "eager_defaults": m.eager_defaults,
            "implicit_returning": m.implicit_returning,
        }
    return models


def rooted(name: str, files: Dict[str, str]) -> Dict[str, str]:
    """The project with its ``app`` package renamed ``<name>_app``, so that every project can
    be imported side by side in one interpreter."""
    root = f"{name}_app"
    return {
        re.sub(r"^app/", f"{root}/", path): re.sub(r"\bapp\.", f"{root}.", source)
        for path, source in files.items()
    }


@pytest.fixture(scope="module")
def runtime_facts(tmp_path_factory) -> dict:
    """SQLAlchemy's own mapper facts for every oracle project, from one subprocess."""
    pytest.importorskip("sqlalchemy", minversion="2.0")
    folder = tmp_path_factory.mktemp("oracle")
    modules = []
    for name, files in ORACLE_PROJECTS.items():
        for path, source in rooted(name, files).items():
            target = folder / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(textwrap.dedent(source))
            for parent in Path(path).parents:
                if parent != Path("."):
                    (folder / parent / "__init__.py").touch()
            modules.append(module_name_for(path))
    result = subprocess.run(
        [sys.executable, "-c", ORACLE_SCRIPT, *sorted(modules)],
        cwd=folder,
        env={**os.environ, "PYTHONPATH": str(folder)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("name", sorted(ORACLE_PROJECTS))
def test_static_facts_agree_with_sqlalchemy_mappers(name: str, runtime_facts: dict) -> None:
    static = static_facts(index_of(rooted(name, ORACLE_PROJECTS[name])))
    runtime = {q: facts for q, facts in runtime_facts.items() if q.startswith(f"{name}_app.")}
    assert static == runtime


def test_attribute_assigned_after_the_class_body_is_recorded() -> None:
    author = model(index_of(BASE_WITH_CLS_PROJECT), "app.models.Author")
    assert author.expression("book_count") is not None


def test_declarative_base_cls_argument_contributes_columns_tablename_and_repr() -> None:
    index = index_of(BASE_WITH_CLS_PROJECT)
    book = model(index, "app.models.Book")
    assert book.column_names == ("id", "created", "author_id", "blurb")
    assert column(book, "created").server_default and column(book, "blurb").deferred
    assert relationship(book, "author").foreign_keys == ("author_id",)  # table "author"
    assert book.repr_attributes == ("id",)


def test_relationship_inherited_from_a_mapped_class_keeps_the_superclass_direction() -> None:
    engineer = model(index_of(JOINED_RELATIONSHIP_PROJECT), "app.models.Engineer")
    # Engineer adds another foreign key to company; Person.company still owns only its own.
    assert relationship(engineer, "company").foreign_keys == ("company_id",)
    assert relationship(engineer, "leads").foreign_keys == ("lead_id",)


def test_foreign_key_to_a_class_in_another_schema_includes_the_schema() -> None:
    note = model(index_of(TRICKY_RELATIONSHIPS_PROJECT), "app.models.Note")
    assert column(note, "user_id").foreign_key == "auth.users.id"
    # relationship("app.models.User", foreign_keys="Note.user_id")
    assert relationship(note, "author").many_to_one


def test_backrefs_of_one_to_one_and_many_to_many() -> None:
    index = index_of(TRICKY_RELATIONSHIPS_PROJECT)
    profile_user = relationship(model(index, "app.models.Profile"), "user")
    assert (profile_user.collection, profile_user.foreign_keys) == (False, ("user_id",))
    members = relationship(model(index, "app.models.Group"), "members")
    assert (members.collection, members.foreign_keys) == (True, ())
    tree = model(index, "app.models.Tree")
    assert relationship(tree, "parent").many_to_one
    kids = relationship(tree, "kids")
    assert (kids.collection, kids.lazy) == (True, "selectin")


def test_lazy_none_is_noload_and_keyed_dict_is_a_collection() -> None:
    user = model(index_of(TRICKY_RELATIONSHIPS_PROJECT), "app.models.User")
    assert relationship(user, "by_argument").lazy == "noload"
    notes = relationship(user, "notes")
    assert (notes.collection, notes.lazy) == (True, "noload")


def test_importing_the_module_does_not_import_libcst() -> None:
    # The prefilter and module names are used before any parsing; LibCST's import is slow.
    code = "import sys, codemods.model_index; assert 'libcst' not in sys.modules, 'imported'"
    result = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parent.parent)
    assert result.returncode == 0


def test_scanning_does_not_import_libcst() -> None:
    # The standard library's parser reads models; LibCST only writes fixes.
    code = (
        "import sys\n"
        "from codemods.model_index import scan_module\n"
        "found = scan_module('class User(Base):\\n    __tablename__ = \"users\"\\n', 'app/m.py')\n"
        "assert found.classes[0].line == 1\n"
        "assert 'libcst' not in sys.modules, 'imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parent.parent)
    assert result.returncode == 0


# --------------------------------------------------------------------------
# a class defined on two paths
# --------------------------------------------------------------------------


def test_a_model_defined_under_if_and_else_is_both_definitions_merged() -> None:
    index = index_of({**BASE_2X, "app/models.py": """
        from datetime import datetime
        from typing import TYPE_CHECKING

        from sqlalchemy import ForeignKey, func
        from sqlalchemy.orm import Mapped, mapped_column, relationship

        from app.db.base import Base

        class Owner(Base):
            __tablename__ = "owners"
            id: Mapped[int] = mapped_column(primary_key=True)

        if TYPE_CHECKING:
            class Ticket(Base):
                __tablename__ = "tickets"
                id: Mapped[int] = mapped_column(primary_key=True)
                opened_at: Mapped[datetime]
        else:
            class Ticket(Base):
                __tablename__ = "tickets"
                id: Mapped[int] = mapped_column(primary_key=True)
                opened_at: Mapped[datetime] = mapped_column(server_default=func.now())
                owner_id: Mapped[int] = mapped_column(ForeignKey("owners.id"))
                owner = relationship("Owner")
    """})
    ticket = model(index, "app.models.Ticket")
    assert [c.name for c in ticket.columns] == ["id", "opened_at", "owner_id"]
    assert column(ticket, "opened_at").server_default
    assert relationship(ticket, "owner").many_to_one


def test_a_column_declared_on_two_paths_keeps_what_either_leaves_unloaded() -> None:
    index = index_of({**BASE_2X, "app/models.py": """
        import sys
        from datetime import datetime

        from sqlalchemy import func
        from sqlalchemy.orm import Mapped, mapped_column

        from app.db.base import Base

        class Event(Base):
            __tablename__ = "events"
            id: Mapped[int] = mapped_column(primary_key=True)
            if sys.version_info >= (3, 11):
                at: Mapped[datetime] = mapped_column(default=datetime.now)
                edited: Mapped[datetime] = mapped_column(onupdate=func.now())
            else:
                at: Mapped[datetime] = mapped_column(server_default=func.now())
                edited: Mapped[datetime] = mapped_column(onupdate=datetime.now)
    """})
    event = model(index, "app.models.Event")
    assert column(event, "at").server_default and column(event, "at").default == "python"
    assert column(event, "edited").onupdate == "sql"


def test_a_model_defined_again_unconditionally_is_the_second_definition() -> None:
    index = index_of({**BASE_2X, "app/models.py": """
        from sqlalchemy import func
        from sqlalchemy.orm import Mapped, mapped_column

        from app.db.base import Base

        class Note(Base):
            __tablename__ = "notes"
            id: Mapped[int] = mapped_column(primary_key=True)
            stamp: Mapped[int] = mapped_column(server_default=func.now())

        class Note(Base):
            __tablename__ = "notes"
            id: Mapped[int] = mapped_column(primary_key=True)
            text: Mapped[str]
    """})
    assert model(index, "app.models.Note").column_names == ("id", "text")


# --------------------------------------------------------------------------
# interface objects: `db.Flow`, where `db` hands out the mapped classes
# --------------------------------------------------------------------------

INTERFACE_PROJECT = {
    **BASE_2X,
    "app/database/__init__.py": "from app.database.interface import DBInterface\n",
    "app/database/orm_models.py": """
        from sqlalchemy.orm import Mapped, mapped_column

        from app.db.base import Base

        class Flow(Base):
            __tablename__ = "flow"
            id: Mapped[int] = mapped_column(primary_key=True)

        class FlowRun(Base):
            __tablename__ = "flow_run"
            id: Mapped[int] = mapped_column(primary_key=True)
    """,
    "app/database/interface.py": """
        from app.database import orm_models
        from app.database.orm_models import FlowRun as Run

        class DBInterface:
            def __init__(self, config):
                self.config = config

            @property
            def Flow(self) -> type[orm_models.Flow]:
                return orm_models.Flow

            @property
            def FlowRun(self) -> "type[Run]":
                ...

            @property
            def dialect(self) -> str:
                return self.config.dialect

        class TracingInterface(DBInterface):
            Alias = orm_models.Flow
    """,
}


def test_an_interface_object_s_attributes_are_its_mapped_classes() -> None:
    index = index_of(INTERFACE_PROJECT)
    interfaces = {i.qualname: i.attributes for i in index.interfaces}
    flow, run = "app.database.orm_models.Flow", "app.database.orm_models.FlowRun"
    assert interfaces == {
        "app.database.interface.DBInterface": (("Flow", flow), ("FlowRun", run)),
        "app.database.interface.TracingInterface": (("Alias", flow), ("Flow", flow),
                                                    ("FlowRun", run)),
    }
    through = index.through_interface("app.database.interface.DBInterface", "FlowRun")
    assert through is not None and through.qualname == run
    assert index.through_interface("app.database.interface.DBInterface", "dialect") is None


def test_an_interface_imported_from_its_package_is_found() -> None:
    index = index_of(INTERFACE_PROJECT)
    through = index.through_interface("app.database.DBInterface", "Flow")
    assert through is not None and through.qualname == "app.database.orm_models.Flow"
    assert index.through_interface("app.other.DBInterface", "Flow") is None


def test_an_interface_module_passes_the_prefilter() -> None:
    source = INTERFACE_PROJECT["app/database/interface.py"].encode()
    assert may_define_models(source)
