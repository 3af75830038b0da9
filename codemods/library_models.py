"""Base classes and mixins that installed libraries give a project's models, as facts.

flushguard reads only the project's source, so a model built on a library's base would lack
the columns the library declares (its primary key, its timestamps). These are those
declarations, written as the model index's own per-file facts (:class:`ModuleModels`), so that
the index resolves them like any mixin of the project. They were measured on the released
libraries (each base subclassed and its SQLAlchemy mapper inspected; ``tests`` pin the
facts per base):

* advanced-alchemy 1.12.0 (``advanced_alchemy.base``, ``advanced_alchemy.mixins``): every
  default and ``onupdate`` is a Python callable (``uuid4``, ``datetime.now``...), the
  ``BigInt`` primary keys come from a ``Sequence`` and the ``Identity`` ones from an
  ``Identity()``, and the table name is the class name in snake case;
* fastapi-users-db-sqlalchemy 7.0.0 (``fastapi_users_db_sqlalchemy``): the user, OAuth
  account and access token tables, with Python-side defaults only;
* SQLModel 0.0.50 declares no column of its own; its rules (``table=True``, the table named
  after the class) live in :mod:`codemods.model_index`.

A library module is added to a project's index only when a scanned module imports from that
library, so a project's own class of the same name is never shadowed.
"""

from __future__ import annotations

from typing import Dict, Iterable, Tuple

from codemods.model_index import ClassDecl, ColumnDecl, ForeignKeyRef, ModuleModels

__all__ = ["LIBRARY_MODULES", "library_modules_for"]

_DECLARATIVE_BASE = "sqlalchemy.orm.DeclarativeBase"
_ASYNC_ATTRS = "sqlalchemy.ext.asyncio.AsyncAttrs"
_AA = "advanced_alchemy"


def _mixin(name: str, *columns: ColumnDecl, bases: Tuple[str, ...] = ()) -> ClassDecl:
    return ClassDecl(name=name, line=0, bases=bases, attributes=columns)


def _primary_key(default: str = "python", identity: bool = False) -> ColumnDecl:
    return ColumnDecl(name="id", primary_key=True, default=default, identity=identity or None)


_SENTINEL = ColumnDecl(name="_sentinel", db_name="sa_orm_sentinel", default="python")
_MIXINS = f"{_AA}.mixins"

_ADVANCED_ALCHEMY: Tuple[ModuleModels, ...] = (
    ModuleModels(path="<advanced_alchemy/mixins/sentinel.py>", module=f"{_MIXINS}.sentinel",
                 classes=(_mixin("SentinelMixin", _SENTINEL),)),
    ModuleModels(path="<advanced_alchemy/mixins/audit.py>", module=f"{_MIXINS}.audit", classes=(
        _mixin("AuditColumns",
               ColumnDecl(name="created_at", default="python"),
               ColumnDecl(name="updated_at", default="python", onupdate="python")),)),
    ModuleModels(path="<advanced_alchemy/mixins/bigint.py>", module=f"{_MIXINS}.bigint", classes=(
        # A Sequence (BigIntPrimaryKey) or an Identity() (IdentityPrimaryKey) gives the key;
        # the primary key is fetched after every INSERT whatever generates it.
        _mixin("BigIntPrimaryKey", _primary_key("none", identity=True)),
        _mixin("IdentityPrimaryKey", _primary_key("none", identity=True)),
    )),
    ModuleModels(path="<advanced_alchemy/mixins/uuid.py>", module=f"{_MIXINS}.uuid",
                 imports=(("SentinelMixin", f"{_MIXINS}.sentinel.SentinelMixin"),), classes=tuple(
                     _mixin(name, _primary_key(), bases=(f"{_MIXINS}.sentinel.SentinelMixin",))
                     for name in ("UUIDPrimaryKey", "UUIDv6PrimaryKey", "UUIDv7PrimaryKey"))),
    ModuleModels(path="<advanced_alchemy/mixins/nanoid.py>", module=f"{_MIXINS}.nanoid",
                 classes=(_mixin("NanoIDPrimaryKey", _primary_key(),
                                 bases=(f"{_MIXINS}.sentinel.SentinelMixin",)),)),
    ModuleModels(path="<advanced_alchemy/mixins/slug.py>", module=f"{_MIXINS}.slug",
                 classes=(_mixin("SlugKey", ColumnDecl(name="slug")),)),
    ModuleModels(path="<advanced_alchemy/mixins/__init__.py>", module=_MIXINS, imports=tuple(
        (name, f"{_MIXINS}.{module}.{name}") for module, name in (
            ("audit", "AuditColumns"), ("bigint", "BigIntPrimaryKey"),
            ("bigint", "IdentityPrimaryKey"), ("nanoid", "NanoIDPrimaryKey"),
            ("sentinel", "SentinelMixin"), ("slug", "SlugKey"), ("uuid", "UUIDPrimaryKey"),
            ("uuid", "UUIDv6PrimaryKey"), ("uuid", "UUIDv7PrimaryKey")))),
)

#: advanced_alchemy.base: (class, its primary-key mixin or None, with AuditColumns).
_AA_BASES = (
    ("UUIDBase", "uuid.UUIDPrimaryKey", False),
    ("UUIDAuditBase", "uuid.UUIDPrimaryKey", True),
    ("UUIDv6Base", "uuid.UUIDv6PrimaryKey", False),
    ("UUIDv6AuditBase", "uuid.UUIDv6PrimaryKey", True),
    ("UUIDv7Base", "uuid.UUIDv7PrimaryKey", False),
    ("UUIDv7AuditBase", "uuid.UUIDv7PrimaryKey", True),
    ("NanoIDBase", "nanoid.NanoIDPrimaryKey", False),
    ("NanoIDAuditBase", "nanoid.NanoIDPrimaryKey", True),
    ("BigIntBase", "bigint.BigIntPrimaryKey", False),
    ("BigIntAuditBase", "bigint.BigIntPrimaryKey", True),
    ("IdentityBase", "bigint.IdentityPrimaryKey", False),
    ("IdentityAuditBase", "bigint.IdentityPrimaryKey", True),
    ("DefaultBase", None, False),
)


def _aa_base(name: str, key: object, audit: bool) -> ClassDecl:
    bases = [f"{_AA}.base.CommonTableAttributes"]
    if key is not None:
        bases.append(f"{_MIXINS}.{key}")
    if audit:
        bases.append(f"{_MIXINS}.audit.AuditColumns")
    bases += [f"{_AA}.base.AdvancedDeclarativeBase", _ASYNC_ATTRS]
    return ClassDecl(name=name, line=0, bases=tuple(bases), abstract=True)


_ADVANCED_ALCHEMY_BASE = ModuleModels(
    path="<advanced_alchemy/base.py>", module=f"{_AA}.base",
    classes=(
        ClassDecl(name="AdvancedDeclarativeBase", line=0, bases=(_DECLARATIVE_BASE,),
                  declarative_base=True, abstract=True),
        # A declared_attr __tablename__: the class name in snake case (see model_index).
        ClassDecl(name="CommonTableAttributes", line=0, tablename_declared=True,
                  tablename_rule="snake"),
        *(_aa_base(*row) for row in _AA_BASES),
    ),
)
# `from advanced_alchemy.extensions.litestar import base` and litestar's own re-export.
_AA_REEXPORTS = tuple(
    ModuleModels(path=f"<{module}>", module=module, imports=tuple(
        (name, f"{_AA}.base.{name}") for name, _, _ in _AA_BASES))
    for module in (f"{_AA}.extensions.litestar.base", "litestar.plugins.sqlalchemy.base",
                   "litestar.contrib.sqlalchemy.base")
)

_FU = "fastapi_users_db_sqlalchemy"
_USER_COLUMNS = (
    ColumnDecl(name="email"),
    ColumnDecl(name="hashed_password"),
    ColumnDecl(name="is_active", default="python"),
    ColumnDecl(name="is_superuser", default="python"),
    ColumnDecl(name="is_verified", default="python"),
)
_OAUTH_COLUMNS = tuple(ColumnDecl(name=name) for name in (
    "oauth_name", "access_token", "expires_at", "refresh_token", "account_id", "account_email"))
_USER_ID = ColumnDecl(name="user_id", foreign_key=ForeignKeyRef(table="user", column="id"))

_FASTAPI_USERS: Tuple[ModuleModels, ...] = (
    ModuleModels(path="<fastapi_users_db_sqlalchemy/__init__.py>", module=_FU, classes=(
        ClassDecl(name="SQLAlchemyBaseUserTable", line=0, tablename_declared=True,
                  tablename="user", attributes=_USER_COLUMNS),
        ClassDecl(name="SQLAlchemyBaseUserTableUUID", line=0,
                  bases=(f"{_FU}.SQLAlchemyBaseUserTable",), attributes=(_primary_key(),)),
        ClassDecl(name="SQLAlchemyBaseOAuthAccountTable", line=0, tablename_declared=True,
                  tablename="oauth_account", attributes=_OAUTH_COLUMNS),
        ClassDecl(name="SQLAlchemyBaseOAuthAccountTableUUID", line=0,
                  bases=(f"{_FU}.SQLAlchemyBaseOAuthAccountTable",),
                  attributes=(_primary_key(), _USER_ID)),
    )),
    ModuleModels(path="<fastapi_users_db_sqlalchemy/access_token.py>", module=f"{_FU}.access_token",
                 classes=(
        ClassDecl(name="SQLAlchemyBaseAccessTokenTable", line=0, tablename_declared=True,
                  tablename="accesstoken", attributes=(
                      ColumnDecl(name="token", primary_key=True),
                      ColumnDecl(name="created_at", default="python"))),
        ClassDecl(name="SQLAlchemyBaseAccessTokenTableUUID", line=0,
                  bases=(f"{_FU}.access_token.SQLAlchemyBaseAccessTokenTable",),
                  attributes=(_USER_ID,)),
    )),
)

#: The library modules, by the top-level package whose import brings them in.
LIBRARY_MODULES: Dict[str, Tuple[ModuleModels, ...]] = {
    _AA: (*_ADVANCED_ALCHEMY, _ADVANCED_ALCHEMY_BASE, *_AA_REEXPORTS),
    "litestar": _AA_REEXPORTS[1:],
    _FU: _FASTAPI_USERS,
}


def library_modules_for(modules: Iterable[ModuleModels]) -> Tuple[ModuleModels, ...]:
    """The library modules that the project's scanned ``modules`` import from."""
    wanted = []
    for module in modules:
        for _, target in module.imports:
            top = target.partition(".")[0]
            if top in LIBRARY_MODULES and top not in wanted:
                wanted.append(top)
    found: Dict[str, ModuleModels] = {}
    for top in sorted(wanted):
        for library in LIBRARY_MODULES[top]:
            found.setdefault(library.module, library)
    return tuple(found.values())
