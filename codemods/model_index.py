"""ORM models → which attributes each mapped class has, read from source alone.

Two steps, so that the expensive one runs per file (in a worker process, cacheable per file)
and the cheap one runs once per project:

``scan_module(source, path) -> ModuleModels``
    Everything one file says about models: its imports, its classes (bases, ``__tablename__``,
    ``__mapper_args__``, ``__table_args__``, attribute declarations, ``__repr__`` reads), its
    ``Annotated[..., mapped_column(...)]`` aliases, its module-level SQL-expression constants
    (``NOW = func.now()``), its ``Table(...)`` objects and its ``declarative_base()`` names. It
    reads the standard library's syntax tree of the whole file (``frontend.parse``) and never
    imports or executes anything. The result is a frozen, picklable value that depends only on
    ``(source, path)``.

``build_model_index(modules) -> ModelIndex``
    Resolves names across files (bases, mixins, aliases, constants, relationship targets,
    foreign keys), merges attributes along each class's MRO and emits one ``ModelFacts`` per
    *mapped* class, sorted by qualname. Its output depends only on the set of modules given,
    never on their order.

What callers may rely on:

* ``ModelFacts.qualname`` is the module's dotted name (``module_name_for(path, roots)``) +
  ``"." + ClassName``.
* Attributes are in declaration order, inherited ones first; a subclass redefining an attribute
  replaces it in place.
* ``ColumnFacts.default``/``onupdate`` are ``"sql"`` exactly when the value is a SQL expression
  that the database evaluates (``func.*``, ``text()``, ``select()``..., or a module constant bound
  to one, in any scanned module); ``server_default`` also covers ``FetchedValue()`` and an
  ``Identity()``/``Sequence()`` on a non-primary-key column; ``computed`` is ``Computed(...)``.
* ``RelationshipFacts.target_qualname`` is set when the target class was found among the scanned
  modules; ``foreign_keys`` is non-empty only for a scalar many-to-one. A ``backref=`` adds the
  reverse relationship to the target, after the target's own relationships.
* ``ModelFacts.repr_attributes`` lists what ``repr()``/``str()`` of an instance reads.
* ``ModelIndex.interfaces`` lists the classes (not mapped) whose instances hand out mapped
  classes: a ``@property`` that returns one (``return orm_models.Flow``, or annotated
  ``-> type[orm_models.Flow]``) or a class attribute bound to one (``Flow = orm_models.Flow``),
  inherited ones included; ``ModelIndex.through_interface`` answers ``db.Flow``.
* A class, or a class attribute, defined on two paths (``if TYPE_CHECKING:``/``else:``, a
  version check, ``try``/``except``) is both definitions merged: what either leaves unloaded
  after a flush, the merged one does. Defined twice in a row, it is the second.
* A fact the source does not state literally is left at SQLAlchemy's default (the limits are
  listed in ``build_model_index``'s docstring); nothing is guessed from names.

The test suite checks these facts against SQLAlchemy's own mappers for every sample project.
"""

from __future__ import annotations

import ast
import builtins
import re
from dataclasses import dataclass, fields, replace
from typing import (
    Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Set, Tuple, Union,
)

from codemods import frontend
from codemods.imports import dotted_name, record_ast_import
from codemods.package_roots import Roots, module_name
from codemods.types import (
    ColumnFacts,
    DefaultKind,
    ExpressionFacts,
    InterfaceFacts,
    ModelFacts,
    ModelIndex,
    RelationshipFacts,
)

__all__ = [
    "BackrefDecl",
    "ClassDecl",
    "ColumnDecl",
    "ExpressionDecl",
    "ForeignKeyRef",
    "ModuleModels",
    "RelationshipDecl",
    "TableDecl",
    "build_model_index",
    "may_define_models",
    "module_name_for",
    "scan_module",
]


# --------------------------------------------------------------------------
# Per-file facts: what one module says, before any cross-module resolution.
#
# Every name below that ends in ``_ref`` is a dotted name resolved through the module's own
# imports (``from app.db import NOW`` makes ``NOW`` → ``app.db.NOW``; a name bound at module
# level becomes ``<module>.<name>``; anything else stays as written).  build_model_index looks
# those up across modules.
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class ForeignKeyRef:
    """The target of a ``ForeignKey(...)`` as written.

    ``"users.id"`` gives ``table``/``column``; ``User.id`` gives ``class_ref``/``column``;
    ``users_table.c.id`` gives ``table_ref``/``column``.
    """

    table: Optional[str] = None
    column: Optional[str] = None
    class_ref: Optional[str] = None
    table_ref: Optional[str] = None


@dataclass(frozen=True)
class ColumnDecl:
    """One column attribute (or an ``Annotated`` alias, or a ``Table`` column) as declared.

    ``None`` means "not said here", so that an explicit ``mapped_column(...)`` can be merged
    over an ``Annotated`` alias the way SQLAlchemy merges them (see ``_merge_columns``).
    """

    name: str
    primary_key: Optional[bool] = None
    default: Optional[DefaultKind] = None
    #: A name the default refers to; it makes the default "sql" if it names a SQL constant.
    default_ref: Optional[str] = None
    onupdate: Optional[DefaultKind] = None
    onupdate_ref: Optional[str] = None
    server_default: Optional[bool] = None
    server_onupdate: Optional[bool] = None
    computed: Optional[bool] = None
    #: ``Identity()``/``Sequence()``: server-generated unless the column is the primary key.
    identity: Optional[bool] = None
    deferred: Optional[bool] = None
    foreign_key: Optional[ForeignKeyRef] = None
    #: The database column name when it differs from the attribute (``Column("db_name", ...)``).
    db_name: Optional[str] = None
    #: ``repr=False`` (MappedAsDataclass): left out of the generated ``__repr__``.
    in_repr: Optional[bool] = None
    #: ``Mapped[alias]``: the ``Annotated`` alias this declaration is merged over.
    alias_ref: Optional[str] = None
    #: A plain annotated field (``name: str = Field(...)``): a column only in a SQLModel table.
    field_only: bool = False


@dataclass(frozen=True)
class ExpressionDecl:
    """``column_property(<expr>)``, ``query_expression()`` or ``deferred(<expr>)``."""

    name: str
    expire_on_flush: bool = True
    in_repr: Optional[bool] = None


@dataclass(frozen=True)
class BackrefDecl:
    """``backref="name"`` or ``backref=backref("name", lazy=..., uselist=...)``."""

    name: str
    lazy: str = "select"
    uselist: Optional[bool] = None


@dataclass(frozen=True)
class RelationshipDecl:
    name: str
    #: The target class's simple name (``"User"``, ``User``, ``"app.models.User"`` → ``User``).
    target: Optional[str] = None
    target_ref: Optional[str] = None
    lazy: str = "select"
    uselist: Optional[bool] = None
    #: What the annotation says: ``Mapped[list[X]]`` → True, ``Mapped[X]`` → False, else None.
    annotated_collection: Optional[bool] = None
    #: ``secondary=`` (or SQLModel ``link_model=``): many-to-many.
    secondary: bool = False
    #: ``foreign_keys=[...]`` as ``(class prefix or None, attribute)`` pairs.
    foreign_keys: Tuple[Tuple[Optional[str], str], ...] = ()
    remote_side: Tuple[str, ...] = ()
    backref: Optional[BackrefDecl] = None
    in_repr: Optional[bool] = None


AttributeDecl = Union[ColumnDecl, ExpressionDecl, RelationshipDecl]


@dataclass(frozen=True)
class TableDecl:
    """A ``Table("name", metadata, Column(...), ...)`` call."""

    name: Optional[str]
    columns: Tuple[ColumnDecl, ...] = ()
    implicit_returning: Optional[bool] = None
    schema: Optional[str] = None


@dataclass(frozen=True)
class ClassDecl:
    """One module-level class, or a name bound to ``declarative_base()`` (``synthetic``)."""

    name: str
    #: The line of the ``class`` statement (0 for a synthetic declarative base).
    line: int
    bases: Tuple[str, ...] = ()
    #: The class *is* a declarative base: ``class Base(DeclarativeBase)``, ``@as_declarative()``,
    #: ``metaclass=DeclarativeMeta``, ``Base = declarative_base()``.
    declarative_base: bool = False
    #: ``@registry.mapped`` / ``@registry.mapped_as_dataclass``: mapped without a base class.
    decorator_mapped: bool = False
    #: ``@registry.mapped_as_dataclass``: a dataclass-generated ``__repr__``.
    decorator_dataclass: bool = False
    #: ``class Hero(SQLModel, table=True)``.
    table_keyword: Optional[bool] = None
    #: ``class User(Base, repr=False)`` (MappedAsDataclass).
    repr_keyword: Optional[bool] = None
    abstract: bool = False
    tablename_declared: bool = False
    #: The literal ``__tablename__``, when it is one.
    tablename: Optional[str] = None
    #: ``@declared_attr def __tablename__(cls): return cls.__name__.lower()`` → ``"lower"``
    #: (``cls.__name__`` → ``"name"``; a library's snake-case rule → ``"snake"``), so that each
    #: subclass's table name is known.
    tablename_rule: Optional[str] = None
    #: ``__table_args__ = {"schema": "auth"}``: foreign keys to the table say ``auth.users.id``.
    schema: Optional[str] = None
    table_declared: bool = False
    table: Optional[TableDecl] = None
    table_ref: Optional[str] = None
    mapper_args_declared: bool = False
    #: ``__mapper_args__["eager_defaults"]`` (``"auto"`` → None).
    eager_defaults: Optional[bool] = None
    eager_defaults_given: bool = False
    #: ``{**Base.__mapper_args__, ...}`` or a non-literal: keys not given here are inherited.
    mapper_args_open: bool = False
    table_args_declared: bool = False
    implicit_returning: Optional[bool] = None
    table_args_open: bool = False
    #: ``ForeignKeyConstraint(["user_id"], ["users.id"])`` in ``__table_args__``.
    foreign_key_constraints: Tuple[Tuple[Tuple[str, ...], Tuple[str, ...]], ...] = ()
    #: ``self.<attr>`` names read by ``__repr__``/``__str__``; None when neither is defined.
    repr_reads: Optional[Tuple[str, ...]] = None
    #: ``getattr(self, ...)`` in ``__repr__``/``__str__``: every column may be read.
    repr_reads_all: bool = False
    attributes: Tuple[AttributeDecl, ...] = ()
    synthetic: bool = False
    #: ``(attribute, reference)`` for each ``@property`` returning a class (``return
    #: orm_models.Flow``, or annotated ``-> type[orm_models.Flow]``) and each class attribute
    #: bound to a name (``Flow = orm_models.Flow``): an interface's attributes, when the
    #: references turn out to be mapped classes.
    class_refs: Tuple[Tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ModuleModels:
    """Everything one file says about models. Frozen and picklable: cache it per file."""

    path: str
    module: str
    #: Local name → dotted name, for every module-level import.
    imports: Tuple[Tuple[str, str], ...] = ()
    classes: Tuple[ClassDecl, ...] = ()
    #: ``name = Annotated[T, mapped_column(...)]``; ``ColumnDecl.name`` is the alias name.
    aliases: Tuple[ColumnDecl, ...] = ()
    #: Module-level names bound to SQL expressions (``NOW = func.now()``).
    sql_constants: Tuple[str, ...] = ()
    tables: Tuple[Tuple[str, TableDecl], ...] = ()


# --------------------------------------------------------------------------
# Cheap helpers that need no syntax tree.
# --------------------------------------------------------------------------


def module_name_for(path: str, roots: Roots = ()) -> str:
    """The dotted module name Python gives the file at ``path`` (relative to the project root).

    ``app/models/user.py`` → ``app.models.user``; ``pkg/__init__.py`` → ``pkg``; with the
    project's package roots (``Settings.roots``), ``src/app/models/user.py`` →
    ``app.models.user`` in a src layout. Backslashes, a leading ``./`` and a ``.pyi`` suffix
    are accepted. See :mod:`codemods.package_roots` for how roots are found.
    """
    return module_name(path, roots)


# Cheap byte markers of model-related source. A file without any is skipped before parsing; a
# false positive costs one parse (a megabyte of generated code: seconds). ``= func.``/``= text(``
# catch constant modules (``NOW = func.now()``) that define no class. ``Column`` counts as a
# word only (a GraphQL ``ProjectColumn`` is not one), and SQLModel's ``Field(`` only with
# ``sqlmodel`` in the file (pydantic's is not a column).
_COLUMN_WORD = re.compile(rb"\bColumn\b")
_MODEL_MARKERS: Tuple[bytes, ...] = (
    b"mapped_column",
    b"relationship",
    b"Relationship",
    b"__tablename__",
    b"__table__",
    b"SQLModel",
    b"declarative",
    b"Declarative",
    b"Mapped[",
    b"column_property",
    b"deferred",
    b"query_expression",
    b"declared_attr",
    b"sqlmodel",
    b"registry(",
    b"= func.",
    b"= sa.func.",
    b"= sqlalchemy.func.",
    b"= text(",
    b"= sa.text(",
    # A database interface's properties: ``def Flow(self) -> type[orm_models.Flow]``.
    b"-> type[",
    b"-> Type[",
)


def may_define_models(data: bytes) -> bool:
    """Whether a file could hold mapped classes, mixins, aliases or SQL constants.

    A prefilter only: True for every file ``scan_module`` can learn something from (as long
    as it spells SQLAlchemy's names normally), and for many it cannot.
    """
    return any(marker in data for marker in _MODEL_MARKERS) or (
        b"Column" in data and _COLUMN_WORD.search(data) is not None)


def _last(dotted: Optional[str]) -> str:
    return dotted.rpartition(".")[2] if dotted else ""


def _dotted(expr: Optional[ast.AST]) -> Optional[str]:
    """``a.b.c`` for a chain of names, else None.

    ``True``, ``False`` and ``None`` count as names, as they did when this module read
    LibCST's tree: ``default=False`` is recorded as a reference to ``False``.
    """
    if isinstance(expr, ast.Constant) and (expr.value is None or isinstance(expr.value, bool)):
        return str(expr.value)
    return dotted_name(expr)


def _string(expr: Optional[ast.AST]) -> Optional[str]:
    """The value of a string literal (implicit concatenation included), else None."""
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return expr.value
    return None


_NO_VALUE = object()


def _literal(expr: Optional[ast.AST]) -> object:
    """True/False/None/str/int for a literal; ``_NO_VALUE`` for anything else."""
    if not isinstance(expr, ast.Constant):
        return _NO_VALUE
    value = expr.value
    if value is None or isinstance(value, (bool, str, int)):
        return value
    return _NO_VALUE


def _bool(expr: Optional[ast.AST]) -> Optional[bool]:
    value = _literal(expr)
    return value if isinstance(value, bool) else None


def _keywords(call: ast.Call) -> Dict[str, ast.expr]:
    return {keyword.arg: keyword.value for keyword in call.keywords if keyword.arg is not None}


def _positional(call: ast.Call) -> List[ast.expr]:
    return [arg for arg in call.args if not isinstance(arg, ast.Starred)]


def _elements(expr: Union[ast.List, ast.Tuple, ast.Set]) -> List[ast.expr]:
    """The elements of a display, ``*spread`` ones by what they spread."""
    return [el.value if isinstance(el, ast.Starred) else el for el in expr.elts]


def _dict_items(expr: Optional[ast.AST]) -> Tuple[Dict[str, ast.expr], bool]:
    """The string-keyed items of a dict display or ``dict(...)`` call, and whether it is open
    (``**spread``, non-literal keys, or not a literal at all)."""
    if isinstance(expr, ast.Dict):
        items: Dict[str, ast.expr] = {}
        open_ = False
        for key_expr, value in zip(expr.keys, expr.values):
            key = _string(key_expr)  # None for a ``**spread``
            if key is None:
                open_ = True
            else:
                items[key] = value
        return items, open_
    if isinstance(expr, ast.Call) and _dotted(expr.func) == "dict":
        spread = any(isinstance(arg, ast.Starred) for arg in expr.args)
        return _keywords(expr), spread or any(k.arg is None for k in expr.keywords)
    return {}, True


def _subscript_args(node: ast.Subscript) -> List[ast.expr]:
    """``X[a, b]`` → ``[a, b]``; slices are left out."""
    index = node.slice
    elements = index.elts if isinstance(index, ast.Tuple) else [index]
    return [el.value if isinstance(el, ast.Starred) else el
            for el in elements if not isinstance(el, ast.Slice)]


def _union_members(expr: ast.expr) -> List[ast.expr]:
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.BitOr):
        return _union_members(expr.left) + _union_members(expr.right)
    return [expr]


def _is_none(expr: ast.expr) -> bool:
    return (isinstance(expr, ast.Constant) and expr.value is None) or _string(expr) == "None"


def _parse_expression(text: str) -> Optional[ast.expr]:
    """The expression a string holds (a quoted annotation, ``"[Address.user_id]"``), or None."""
    try:
        return ast.parse(text, mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


# SQLAlchemy constructs that build SQL expressions: a default/onupdate made of one is evaluated
# by the database, so the ORM cannot know its value after the flush.
_SQL_CALLS = frozenset(
    {
        "text", "literal", "literal_column", "select", "cast", "null", "true", "false", "case",
        "column", "and_", "or_", "not_", "type_coerce", "bindparam", "extract", "exists",
        "tuple_", "over", "within_group", "distinct", "collate", "between", "union",
        "union_all", "values", "lateral", "any_", "all_", "asc", "desc", "label", "Sequence",
        "next_value", "coalesce",
    }
)
_COLLECTION_TYPES = frozenset(
    {
        "list", "List", "set", "Set", "frozenset", "FrozenSet", "AbstractSet", "MutableSet",
        "Sequence", "MutableSequence", "Collection", "Iterable", "tuple", "Tuple",
    }
)
_MAPPING_TYPES = frozenset({"dict", "Dict", "Mapping", "MutableMapping"})
_MAPPED_WRAPPERS = frozenset({"Mapped", "WriteOnlyMapped", "DynamicMapped"})
_DECLARATIVE_BASE_CLASSES = frozenset({"DeclarativeBase", "DeclarativeBaseNoMeta"})
_LAZY_BY_LITERAL = {True: "select", False: "joined", None: "noload"}
_LAZY_BY_WRAPPER = {"WriteOnlyMapped": "write_only", "DynamicMapped": "dynamic"}
_COLUMN_CALLS = ("Column", "mapped_column")
_BASE_FACTORIES = ("declarative_base", "generate_base")
#: ``Field(...)`` keywords that mean the same as ``Column(...)``'s (SQLModel).
_FIELD_COLUMN_KEYWORDS = ("default", "default_factory", "primary_key", "foreign_key")
_IGNORED_CALLS = frozenset(
    {"synonym", "composite", "association_proxy", "hybrid_property", "hybrid_method"}
)


@dataclass(frozen=True)
class _TypeInfo:
    """What an attribute's annotation says."""

    wrapper: Optional[str] = None  # Mapped / WriteOnlyMapped / DynamicMapped
    classvar: bool = False
    collection: Optional[bool] = None
    target: Optional[str] = None
    target_ref: Optional[str] = None
    #: ``Mapped[Annotated[T, mapped_column(...)]]`` written inline.
    inline_column: Optional[ColumnDecl] = None


#: Server-side facts an ``Annotated`` alias adds even when the explicit column says
#: ``server_default=None`` (SQLAlchemy's ``Column._merge`` only fills what is missing).
_MERGED_BY_OR = ("primary_key", "server_default", "server_onupdate", "computed", "identity")


def _merge_columns(base: ColumnDecl, top: ColumnDecl) -> ColumnDecl:
    """An explicit ``mapped_column`` (``top``) over an ``Annotated`` alias (``base``).

    Follows SQLAlchemy's merge: flags are OR-ed; an explicit ``default=`` of any value (None
    too) keeps the alias's default out; an ``onupdate`` or foreign key is taken from the alias
    when the explicit column has none; anything else the explicit column leaves unsaid comes
    from the alias.
    """
    changes: Dict[str, object] = {}
    for f in fields(ColumnDecl):
        if f.name in ("name", "field_only", "alias_ref", "default_ref", "onupdate_ref"):
            continue
        ours, theirs = getattr(top, f.name), getattr(base, f.name)
        if f.name in _MERGED_BY_OR:
            if theirs and not ours:
                changes[f.name] = True
        elif f.name == "onupdate":
            if ours in (None, "none") and theirs not in (None, "none"):
                changes["onupdate"], changes["onupdate_ref"] = theirs, base.onupdate_ref
        elif ours is None and theirs is not None:
            changes[f.name] = theirs
            if f.name == "default":
                changes["default_ref"] = base.default_ref
    changes["alias_ref"] = base.alias_ref
    return replace(top, **changes)


# --------------------------------------------------------------------------
# scan_module
# --------------------------------------------------------------------------


def scan_module(source: str, path: str, module: Optional[str] = None) -> ModuleModels:
    """Read one file's model facts. Raises ``frontend.ParseError`` if it does not parse.

    ``path`` is relative to the project root; ``module`` is the module's dotted name
    (default: ``module_name_for(path)``, the path from the project's top).
    Pure: the source is parsed, never imported or executed.
    """
    return _ModuleScanner(frontend.parse(source), path, module).scan()


_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


# Statements newer than the oldest Python flushguard runs on (``try: ... except*`` from 3.11,
# ``type Name = ...`` from 3.12) are known by their class's name: an older ``ast`` module has
# no such class, and the front end builds a node of that name for it.
def _is_try(stmt: ast.stmt) -> bool:
    return type(stmt).__name__ in ("Try", "TryStar")


def _is_type_alias(stmt: ast.stmt) -> bool:
    return type(stmt).__name__ == "TypeAlias"


def _flatten(body: Sequence[ast.stmt]) -> Iterator[ast.stmt]:
    """Statements of a block, looking through ``if``/``try``/``with`` (``if TYPE_CHECKING:``
    imports, ``try: ... except ImportError:`` fallbacks) but not into functions or classes."""
    for stmt, _ in _flatten_marked(body):
        yield stmt


def _flatten_marked(body: Sequence[ast.stmt],
                    conditional: bool = False) -> Iterator[Tuple[ast.stmt, bool]]:
    """:func:`_flatten`, each statement with whether it runs only on some paths (an arm of an
    ``if``, a ``try`` block or handler): two definitions of one name there are alternatives,
    where two in a row are a redefinition."""
    for stmt in body:
        if isinstance(stmt, ast.If):
            yield from _flatten_marked(stmt.body, True)
            yield from _flatten_marked(stmt.orelse, True)
        elif _is_try(stmt):
            yield from _flatten_marked(stmt.body, True)
            for handler in stmt.handlers:
                yield from _flatten_marked(handler.body, True)
            yield from _flatten_marked(stmt.orelse, True)
            yield from _flatten_marked(stmt.finalbody, conditional)
        elif isinstance(stmt, (ast.With, ast.AsyncWith)):
            yield from _flatten_marked(stmt.body, conditional)
        else:
            yield stmt, conditional


def _merge_alternative_columns(first: ColumnDecl, second: ColumnDecl) -> ColumnDecl:
    """One column declared on two paths (``if``/``else``): what either path's column leaves
    unloaded, the merged one does (server-side flags are OR-ed, a SQL default or onupdate
    wins over a Python one); anything else is the first's unless only the second says it."""
    changes: Dict[str, object] = {}
    for f in fields(ColumnDecl):
        ours, theirs = getattr(first, f.name), getattr(second, f.name)
        if f.name in ("name", "default_ref", "onupdate_ref"):
            continue
        if f.name in _MERGED_BY_OR or f.name == "deferred":
            if theirs and not ours:
                changes[f.name] = True
        elif f.name in ("default", "onupdate"):
            if theirs == "sql" and ours != "sql" or ours is None and theirs is not None:
                changes[f.name] = theirs
                changes[f"{f.name}_ref"] = getattr(second, f"{f.name}_ref")
        elif f.name == "field_only":
            changes[f.name] = ours and theirs
        elif ours is None and theirs is not None:
            changes[f.name] = theirs
    return replace(first, **changes)


def _merge_alternative_attributes(first: "AttributeDecl",
                                  second: "AttributeDecl") -> "AttributeDecl":
    if isinstance(first, ColumnDecl) and isinstance(second, ColumnDecl):
        return _merge_alternative_columns(first, second)
    return first


def _add_attribute(attributes: List["AttributeDecl"], attribute: "AttributeDecl",
                   conditional: bool) -> None:
    """Append ``attribute``; one of the same name is replaced (a redefinition) or, when either
    is declared on only some paths, merged with it (see :func:`_merge_alternative_columns`)."""
    for index, known in enumerate(attributes):
        if known.name == attribute.name:
            attributes[index] = (_merge_alternative_attributes(known, attribute)
                                 if conditional else attribute)
            return
    attributes.append(attribute)


def _merge_alternative_classes(first: ClassDecl, second: ClassDecl) -> ClassDecl:
    """One class defined on two paths (``if TYPE_CHECKING:``/``else:``, a version check): both
    definitions, merged. Bases and attributes are the union (attributes in the first's order,
    see :func:`_merge_alternative_columns` for one declared by both); a flag either sets is
    set, and a value either gives is given (the first's when both do)."""
    attributes = list(first.attributes)
    for attribute in second.attributes:
        _add_attribute(attributes, attribute, True)
    changes: Dict[str, object] = {
        "bases": first.bases + tuple(b for b in second.bases if b not in first.bases),
        "attributes": tuple(attributes),
    }
    for f in fields(ClassDecl):
        if f.name in changes or f.name in ("name", "line", "synthetic"):
            continue
        ours, theirs = getattr(first, f.name), getattr(second, f.name)
        if f.name == "repr_reads" and ours is not None and theirs is not None:
            changes[f.name] = ours + tuple(r for r in theirs if r not in ours)
        elif isinstance(ours, bool) and isinstance(theirs, bool):
            changes[f.name] = ours or theirs
        elif f.name == "foreign_key_constraints":
            changes[f.name] = ours + tuple(c for c in theirs if c not in ours)
        elif ours is None:
            changes[f.name] = theirs
    return replace(first, **changes)


def _self_reads(func: Union[ast.FunctionDef, ast.AsyncFunctionDef]) -> Tuple[List[str], bool]:
    """``self.<attr>`` names a method reads (``__repr__``/``__str__``), in the order of the
    source, and whether it reads attributes dynamically (``getattr(self, c.name)`` over the
    table's columns)."""
    params = func.args.args
    if not params:
        return [], False
    self_name = params[0].arg
    reads: List[Tuple[int, int, str]] = []
    reads_all = False
    for stmt in func.body:
        for node in ast.walk(stmt):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                attr = node.attr
                dunder = attr.startswith("__") and attr.endswith("__")
                if node.value.id == self_name and not dunder:
                    reads.append((node.lineno, node.col_offset, attr))
            elif isinstance(node, ast.Call) and _dotted(node.func) == "getattr":
                args = _positional(node)
                if args and isinstance(args[0], ast.Name) and args[0].id == self_name:
                    reads_all = True
    names: List[str] = []
    for _, _, attr in sorted(reads):  # ast.walk is breadth first
        if attr not in names:
            names.append(attr)
    return names, reads_all


def _first_return(func: Union[ast.FunctionDef, ast.AsyncFunctionDef]) -> Optional[ast.expr]:
    """The value of a function's first ``return <value>``, not looking into nested functions."""
    stack: List[ast.AST] = list(reversed(func.body))
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Return) and node.value is not None:
            return node.value
        if isinstance(node, (ast.stmt, ast.excepthandler, ast.match_case)) \
                and not isinstance(node, (*_FUNCTIONS, ast.ClassDef)):
            stack.extend(reversed(list(ast.iter_child_nodes(node))))
    return None


class _ModuleScanner:
    def __init__(self, module: ast.Module, path: str, name: Optional[str] = None) -> None:
        self.module = module
        self.path = path
        self.name = module_name_for(path) if name is None else name
        file_name = path.replace("\\", "/").rsplit("/", 1)[-1]
        self.is_package = file_name in ("__init__.py", "__init__.pyi")
        self.imports: Dict[str, str] = {}
        self.local_names: Set[str] = set()
        self.sql_constants: Dict[str, None] = {}

    # -- names -------------------------------------------------------------

    def resolve(self, dotted: Optional[str]) -> Optional[str]:
        """A dotted name as the module means it: through imports, then module-level names."""
        if not dotted:
            return None
        head, _, rest = dotted.partition(".")
        if head in self.imports:
            base = self.imports[head]
        elif head in self.local_names:
            base = f"{self.name}.{head}" if self.name else head
        else:
            return dotted
        return f"{base}.{rest}" if rest else base

    def _callee(self, call: ast.Call) -> str:
        """The last component of what is called (``sa.orm.relationship`` → ``relationship``)."""
        return _last(_dotted(call.func))

    # -- the module --------------------------------------------------------

    def scan(self) -> ModuleModels:
        marked = list(_flatten_marked(self.module.body))
        statements = [stmt for stmt, _ in marked]
        for stmt in statements:
            if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                record_ast_import(self.imports, stmt, self.name, self.is_package)
            elif isinstance(stmt, (ast.ClassDef, *_FUNCTIONS)):
                self.local_names.add(stmt.name)
            elif isinstance(stmt, (ast.Assign, ast.AnnAssign)) or _is_type_alias(stmt):
                for name in self._assigned_names(stmt):
                    self.local_names.add(name)
        # An imported name rebound at module level is the local binding.
        for name in self.local_names:
            self.imports.pop(name, None)

        classes: List[ClassDecl] = []
        aliases: List[ColumnDecl] = []
        tables: List[Tuple[str, TableDecl]] = []
        for stmt, conditional in marked:
            if isinstance(stmt, ast.ClassDef):
                self._add_class(classes, self._class(stmt), conditional)
                continue
            if not (isinstance(stmt, (ast.Assign, ast.AnnAssign)) or _is_type_alias(stmt)):
                continue
            if self._added_after_class(stmt, classes):
                continue
            names = self._assigned_names(stmt)
            value = stmt.value
            if len(names) != 1 or value is None:
                continue
            name = names[0]
            alias = self._alias(name, value)
            if alias is not None:
                aliases.append(alias)
            elif isinstance(value, ast.Call) and self._callee(value) in _BASE_FACTORIES:
                cls_ref = self.resolve(_dotted(_keywords(value).get("cls")))
                classes.append(
                    ClassDecl(
                        name=name,
                        line=0,
                        bases=(cls_ref,) if cls_ref else (),
                        declarative_base=True,
                        synthetic=True,
                    )
                )
            elif isinstance(value, ast.Call) and self._callee(value) == "Table":
                tables.append((name, self._table(value)))
            elif self._default_kind(value)[0] == "sql":
                self.sql_constants[name] = None
        return ModuleModels(
            path=self.path,
            module=self.name,
            imports=tuple(sorted(self.imports.items())),
            classes=tuple(classes),
            aliases=tuple(aliases),
            sql_constants=tuple(self.sql_constants),
            tables=tuple(tables),
        )

    @staticmethod
    def _add_class(classes: List[ClassDecl], decl: ClassDecl, conditional: bool) -> None:
        """Append a class; one of the same name defined on another path is merged with it
        (see :func:`_merge_alternative_classes`), one defined again unconditionally replaced."""
        for index, known in enumerate(classes):
            if known.name == decl.name and not known.synthetic:
                classes[index] = _merge_alternative_classes(known, decl) if conditional else decl
                return
        classes.append(decl)

    def _added_after_class(self, stmt: ast.stmt, classes: List[ClassDecl]) -> bool:
        """``Author.book_count = column_property(...)`` after the class body: declarative
        classes accept new attributes (the documented way to write a correlated subquery over
        a class defined later)."""
        if not isinstance(stmt, ast.Assign) or len(stmt.targets) != 1:
            return False
        target = stmt.targets[0]
        if not (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name)):
            return False
        for index in range(len(classes) - 1, -1, -1):
            decl = classes[index]
            if decl.name == target.value.id and not decl.synthetic:
                attribute = self._attribute(target.attr, None, stmt.value)
                if attribute is not None:
                    classes[index] = replace(decl, attributes=decl.attributes + (attribute,))
                return True
        return False

    @staticmethod
    def _assigned_names(stmt: ast.stmt) -> List[str]:
        if isinstance(stmt, ast.Assign):
            return [t.id for t in stmt.targets if isinstance(t, ast.Name)]
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            return [stmt.target.id]
        if _is_type_alias(stmt):
            return [stmt.name.id]  # type: ignore[attr-defined]
        return []

    def _alias(self, name: str, value: ast.expr) -> Optional[ColumnDecl]:
        """``name = Annotated[T, mapped_column(...)]``: the column facts the alias carries."""
        if not (isinstance(value, ast.Subscript) and _last(_dotted(value.value)) == "Annotated"):
            return None
        return self._annotated_column(value, name)

    def _annotated_column(self, node: ast.Subscript, name: str) -> Optional[ColumnDecl]:
        args = _subscript_args(node)
        if not args:
            return None
        column: Optional[ColumnDecl] = None
        for meta in args[1:]:
            if isinstance(meta, ast.Call) and self._callee(meta) in ("mapped_column", "Column"):
                column = self._column_call(meta, name)
        if column is None:
            return None
        # Annotated[other_alias, mapped_column(...)] chains onto the inner alias.
        inner = args[0]
        if isinstance(inner, (ast.Name, ast.Attribute)):
            column = replace(column, alias_ref=self.resolve(_dotted(inner)))
        return column

    # -- SQL expression vs Python value --------------------------------------

    def _default_kind(self, expr: Optional[ast.expr]) -> Tuple[DefaultKind, Optional[str]]:
        """How a ``default=``/``onupdate=`` value is evaluated, and the name it refers to.

        A name the module imports is only resolved by build_model_index (it may be a SQL
        constant of another module); until then it counts as a Python callable/value.
        """
        if expr is None or _is_none(expr):
            return "none", None
        dotted = _dotted(expr)
        if dotted is not None:
            if dotted in self.sql_constants:
                return "sql", None
            # Anything else named is a callable or a value (func.now uncalled is a callable to
            # SQLAlchemy too), unless build_model_index finds the name is a SQL constant.
            return "python", self.resolve(dotted)
        if isinstance(expr, ast.Call):
            return ("sql" if self._is_sql_call(expr) else "python"), None
        if isinstance(expr, ast.BinOp):
            left = self._default_kind(expr.left)[0]
            right = self._default_kind(expr.right)[0]
            return ("sql" if "sql" in (left, right) else "python"), None
        if isinstance(expr, ast.UnaryOp):
            return self._default_kind(expr.operand)[0], None
        return "python", None

    def _is_sql_call(self, call: ast.Call) -> bool:
        func = call.func
        dotted = _dotted(func)
        if dotted is None:
            # select(...).scalar_subquery(), func.now().op("+")(...): a method of a SQL object.
            if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Call):
                return self._is_sql_call(func.value)
            if isinstance(func, ast.Call):
                return self._is_sql_call(func)
            return False
        resolved = self.resolve(dotted) or dotted
        parts = resolved.split(".")
        head = dotted.partition(".")[0]
        # SQLAlchemy's own constructors (sqlmodel re-exports them), or a bare name from a star
        # import; not a project function that happens to be called ``select`` or ``func``.
        from_sqlalchemy = resolved.startswith(("sqlalchemy.", "sqlmodel.")) or (
            head not in self.imports and head not in self.local_names
        )
        if from_sqlalchemy and ("func" in parts[:-1] or "functions" in parts[:-1]):
            return True
        if isinstance(func, ast.Attribute) and _dotted(func.value) in self.sql_constants:
            return True  # NOW.op("+")(...): a method of a SQL constant
        return from_sqlalchemy and parts[-1] in _SQL_CALLS

    # -- columns ---------------------------------------------------------------

    def _foreign_key(self, call: ast.Call) -> Optional[ForeignKeyRef]:
        args = _positional(call)
        if not args:
            column = _keywords(call).get("column")
            if column is None:
                return None
            args = [column]
        target = args[0]
        text = _string(target)
        if text is not None:
            table, _, column = text.rpartition(".")
            return ForeignKeyRef(table=table or None, column=column)
        dotted = _dotted(target)
        if dotted is None or "." not in dotted:
            return None
        owner, _, column = dotted.rpartition(".")
        if owner.endswith(".c") or owner.endswith(".columns"):
            return ForeignKeyRef(table_ref=self.resolve(owner.rpartition(".")[0]), column=column)
        return ForeignKeyRef(class_ref=self.resolve(owner), column=column)

    def _column_call(
        self, call: ast.Call, name: str, *, field_only: bool = False
    ) -> ColumnDecl:
        """``Column(...)``/``mapped_column(...)``: positional schema items and keywords."""
        column = ColumnDecl(name=name, field_only=field_only)
        changes: Dict[str, object] = {}
        for index, arg in enumerate(_positional(call)):
            text = _string(arg)
            if index == 0 and text is not None:
                changes["db_name"] = text
            elif isinstance(arg, ast.Call):
                changes.update(self._schema_item(arg))
        column = replace(column, **changes)
        return self._column_keywords(column, _keywords(call))

    def _schema_item(self, call: ast.Call) -> Dict[str, object]:
        callee = self._callee(call)
        if callee == "ForeignKey":
            return {"foreign_key": self._foreign_key(call)}
        if callee == "Computed":
            return {"computed": True}
        if callee in ("FetchedValue", "DefaultClause"):
            return {"server_default": True}
        if callee in ("Identity", "Sequence"):
            return {"identity": True}
        return {}

    def _column_keywords(
        self, column: ColumnDecl, kwargs: Mapping[str, ast.expr]
    ) -> ColumnDecl:
        changes: Dict[str, object] = {}
        if "primary_key" in kwargs:
            changes["primary_key"] = _bool(kwargs["primary_key"]) is True
        # insert_default is the column default when both are given (dataclass mappings).
        default_expr = kwargs.get("insert_default", kwargs.get("default"))
        if default_expr is not None:
            changes["default"], changes["default_ref"] = self._default_kind(default_expr)
        if "default_factory" in kwargs and "default" not in changes:
            changes["default"] = "python"
        if "onupdate" in kwargs:
            changes["onupdate"], changes["onupdate_ref"] = self._default_kind(kwargs["onupdate"])
        if "server_default" in kwargs:
            changes["server_default"] = not _is_none(kwargs["server_default"])
        if "server_onupdate" in kwargs:
            changes["server_onupdate"] = not _is_none(kwargs["server_onupdate"])
        if "deferred" in kwargs:
            changes["deferred"] = _bool(kwargs["deferred"]) is True
        if "deferred_group" in kwargs and not _is_none(kwargs["deferred_group"]):
            changes["deferred"] = True
        if _bool(kwargs.get("deferred_raiseload")) is True:
            changes["deferred"] = True
        if "name" in kwargs and _string(kwargs["name"]) is not None:
            changes["db_name"] = _string(kwargs["name"])
        if "repr" in kwargs:
            changes["in_repr"] = _bool(kwargs["repr"]) is not False
        if "foreign_key" in kwargs:  # SQLModel Field(foreign_key="team.id")
            text = _string(kwargs["foreign_key"])
            if text is not None:
                table, _, col = text.rpartition(".")
                changes["foreign_key"] = ForeignKeyRef(table=table or None, column=col)
        return replace(column, **changes)

    def _table(self, call: ast.Call) -> TableDecl:
        args = _positional(call)
        name = _string(args[0]) if args else None
        columns: List[ColumnDecl] = []
        constraints: List[Tuple[Tuple[str, ...], Tuple[str, ...]]] = []
        for arg in args[1:]:
            if not isinstance(arg, ast.Call):
                continue
            callee = self._callee(arg)
            if callee == "Column":
                inner = _positional(arg)
                column_name = _string(inner[0]) if inner else None
                key = _string(_keywords(arg).get("key"))
                if column_name is None and key is None:
                    continue
                columns.append(
                    self._column_call(arg, key or column_name or "")
                )
            elif callee == "ForeignKeyConstraint":
                constraints.append(self._fk_constraint(arg))
        columns = _apply_fk_constraints(columns, constraints)
        kwargs = _keywords(call)
        return TableDecl(
            name=name,
            columns=tuple(columns),
            implicit_returning=_bool(kwargs.get("implicit_returning")),
            schema=_string(kwargs.get("schema")),
        )

    def _fk_constraint(self, call: ast.Call) -> Tuple[Tuple[str, ...], Tuple[str, ...]]:
        args = _positional(call)
        if len(args) < 2:
            return (), ()

        def names(expr: ast.expr) -> Tuple[str, ...]:
            if isinstance(expr, (ast.List, ast.Tuple)):
                out = []
                for element in _elements(expr):
                    text = _string(element)
                    if text is None:
                        dotted = _dotted(element)
                        if dotted is not None and "." in dotted:
                            # User.id → "<class ref>.id": resolved to a table in the index.
                            owner, _, col = dotted.rpartition(".")
                            text = f"@{self.resolve(owner)}.{col}"
                    if text is not None:
                        out.append(text)
                return tuple(out)
            return ()

        return names(args[0]), names(args[1])

    # -- annotations -----------------------------------------------------------

    def _type_info(self, annotation: Optional[ast.expr]) -> _TypeInfo:
        if annotation is None:
            return _TypeInfo()
        annotation = self._unquote(annotation)
        if isinstance(annotation, ast.Subscript):
            head = _last(_dotted(annotation.value))
            if head == "ClassVar":
                return _TypeInfo(classvar=True)
            if head in _MAPPED_WRAPPERS:
                args = _subscript_args(annotation)
                inner = self._inner_type(args[0]) if args else _TypeInfo()
                if head != "Mapped":
                    inner = replace(inner, collection=True)
                return replace(inner, wrapper=head)
        return self._inner_type(annotation)

    def _unquote(self, expr: ast.expr) -> ast.expr:
        text = _string(expr)
        if text is None:
            return expr
        return _parse_expression(text) or expr

    def _inner_type(self, expr: ast.expr) -> _TypeInfo:
        expr = self._unquote(expr)
        members = [m for m in _union_members(expr) if not _is_none(m)]
        if len(members) != 1:
            return _TypeInfo()
        expr = self._unquote(members[0])
        if isinstance(expr, ast.Subscript):
            head = _last(_dotted(expr.value))
            args = _subscript_args(expr)
            if head == "Optional" and args:
                return self._inner_type(args[0])
            if head == "Union":
                rest = [a for a in args if not _is_none(a)]
                return self._inner_type(rest[0]) if len(rest) == 1 else _TypeInfo()
            if head in _COLLECTION_TYPES or head in _MAPPING_TYPES:
                element = args[-1] if head in _MAPPING_TYPES else (args[0] if args else None)
                target = self._inner_type(element) if element is not None else _TypeInfo()
                return _TypeInfo(
                    collection=True, target=target.target, target_ref=target.target_ref
                )
            if head == "Annotated":
                column = self._annotated_column(expr, "")
                base = self._inner_type(args[0]) if args else _TypeInfo()
                return replace(base, inline_column=column)
            return _TypeInfo()
        dotted = _dotted(expr)
        if dotted is None:
            return _TypeInfo()
        return _TypeInfo(collection=False, target=_last(dotted), target_ref=self.resolve(dotted))

    # -- classes ---------------------------------------------------------------

    def _class(self, node: ast.ClassDef) -> ClassDecl:
        bases: List[str] = []
        declarative_base = False
        for value in node.bases:
            if isinstance(value, ast.Starred):
                continue
            if isinstance(value, ast.Subscript):  # Generic[T], Base[int]
                value = value.value
            dotted = _dotted(value)
            if dotted is None:
                continue
            resolved = self.resolve(dotted) or dotted
            bases.append(resolved)
            if _last(resolved) in _DECLARATIVE_BASE_CLASSES:
                declarative_base = True
        keywords = {a.arg: a.value for a in node.keywords if a.arg is not None}
        if _last(_dotted(keywords.get("metaclass"))) == "DeclarativeMeta":
            declarative_base = True
        decorator_mapped = decorator_dataclass = False
        for expr in node.decorator_list:
            if isinstance(expr, ast.Call):
                expr = expr.func
            name = _last(_dotted(expr))
            if name == "as_declarative":
                declarative_base = True
            elif name == "mapped":
                decorator_mapped = True
            elif name == "mapped_as_dataclass":
                decorator_mapped = decorator_dataclass = True

        decl = ClassDecl(
            name=node.name,
            line=node.lineno,
            bases=tuple(bases),
            declarative_base=declarative_base,
            decorator_mapped=decorator_mapped,
            decorator_dataclass=decorator_dataclass,
            table_keyword=_bool(keywords.get("table")),
            repr_keyword=_bool(keywords.get("repr")),
        )
        attributes: List[AttributeDecl] = []
        repr_reads: Optional[List[str]] = None
        reads_all = False
        class_refs: Dict[str, str] = {}
        for stmt, conditional in _flatten_marked(node.body):
            ref = self._class_ref(stmt)
            if ref is not None:
                class_refs.setdefault(stmt.name if isinstance(stmt, _FUNCTIONS)
                                      else self._assigned_names(stmt)[0], ref)
            if isinstance(stmt, _FUNCTIONS):
                name = stmt.name
                if name in ("__repr__", "__str__"):
                    reads, every = _self_reads(stmt)
                    known = repr_reads or []
                    repr_reads = known + [r for r in reads if r not in known]
                    reads_all = reads_all or every
                elif self._is_declared_attr(stmt):
                    decl = self._declared_attr(decl, stmt, attributes)
                continue
            if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
                decl = self._class_assignment(decl, stmt, attributes, conditional)
        return replace(
            decl,
            attributes=tuple(attributes),
            repr_reads=tuple(repr_reads) if repr_reads is not None else None,
            repr_reads_all=reads_all,
            class_refs=tuple(sorted(class_refs.items())),
        )

    def _class_ref(self, stmt: ast.stmt) -> Optional[str]:
        """The class a ``@property`` returns (``return orm_models.Flow``, ``-> type[X]``), or a
        class attribute is bound to (``Flow = orm_models.Flow``), as a resolved reference."""
        if isinstance(stmt, _FUNCTIONS):
            if not any(_last(_dotted(d)) in ("property", "cached_property")
                       for d in stmt.decorator_list):
                return None
            returned = _first_return(stmt)
            dotted = _dotted(returned) if isinstance(returned, (ast.Name, ast.Attribute)) else None
            annotation = self._unquote(stmt.returns) if stmt.returns is not None else None
            if dotted is None and isinstance(annotation, ast.Subscript) \
                    and _last(_dotted(annotation.value)) in ("type", "Type"):
                dotted = _dotted(self._unquote(annotation.slice))
            return self.resolve(dotted) if dotted else None
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 \
                and isinstance(stmt.targets[0], ast.Name) \
                and isinstance(stmt.value, (ast.Name, ast.Attribute)) \
                and not stmt.targets[0].id.startswith("__"):
            dotted = _dotted(stmt.value)
            # A class is named in CamelCase: `Flow = orm_models.Flow`, not `x = other.value`.
            if dotted and _last(dotted)[:1].isupper():
                return self.resolve(dotted)
        return None

    @staticmethod
    def _is_declared_attr(func: Union[ast.FunctionDef, ast.AsyncFunctionDef]) -> bool:
        for decorator in func.decorator_list:
            dotted = _dotted(decorator) or ""
            if "declared_attr" in dotted.split("."):
                return True
        return False

    def _declared_attr(
        self,
        decl: ClassDecl,
        func: Union[ast.FunctionDef, ast.AsyncFunctionDef],
        attributes: List[AttributeDecl],
    ) -> ClassDecl:
        value = _first_return(func)
        if value is None:
            return decl
        name = func.name
        if name == "__tablename__":
            params = func.args.args
            cls_name = params[0].arg if params else "cls"
            rule = None
            dotted = _dotted(value)
            if dotted == f"{cls_name}.__name__":
                rule = "name"
            elif (
                isinstance(value, ast.Call)
                and _dotted(value.func) == f"{cls_name}.__name__.lower"
            ):
                rule = "lower"
            return replace(
                decl, tablename_declared=True, tablename=_string(value), tablename_rule=rule
            )
        return self._member(decl, name, func.returns, value, attributes)

    def _class_assignment(
        self,
        decl: ClassDecl,
        stmt: Union[ast.Assign, ast.AnnAssign],
        attributes: List[AttributeDecl],
        conditional: bool = False,
    ) -> ClassDecl:
        names = self._assigned_names(stmt)
        if len(names) != 1:
            return decl
        annotation = stmt.annotation if isinstance(stmt, ast.AnnAssign) else None
        return self._member(decl, names[0], annotation, stmt.value, attributes, conditional)

    def _member(
        self,
        decl: ClassDecl,
        name: str,
        annotation: Optional[ast.expr],
        value: Optional[ast.expr],
        attributes: List[AttributeDecl],
        conditional: bool = False,
    ) -> ClassDecl:
        """One class-level binding: a dunder setting, an attribute, or nothing."""
        if name == "__tablename__":
            return replace(decl, tablename_declared=True, tablename=_string(value))
        if name == "__abstract__":
            return replace(decl, abstract=_bool(value) is True)
        if name == "__table__":
            if isinstance(value, ast.Call) and self._callee(value) == "Table":
                return replace(decl, table_declared=True, table=self._table(value))
            return replace(decl, table_declared=True, table_ref=self.resolve(_dotted(value)))
        if name == "__mapper_args__":
            items, open_ = _dict_items(value)
            given = "eager_defaults" in items
            eager = _literal(items["eager_defaults"]) if given else None
            return replace(
                decl,
                mapper_args_declared=True,
                eager_defaults=eager if isinstance(eager, bool) else None,
                eager_defaults_given=given,
                mapper_args_open=open_ and not given,
            )
        if name == "__table_args__":
            return self._table_args(decl, value)
        if name.startswith("__") and name.endswith("__"):
            return decl
        attribute = self._attribute(name, annotation, value)
        if attribute is not None:
            _add_attribute(attributes, attribute, conditional)
        return decl

    def _table_args(self, decl: ClassDecl, value: Optional[ast.expr]) -> ClassDecl:
        mapping: Optional[ast.expr] = value
        constraints: List[Tuple[Tuple[str, ...], Tuple[str, ...]]] = []
        open_ = False
        if isinstance(value, ast.Tuple):
            # (UniqueConstraint(...), ForeignKeyConstraint(...), {"implicit_returning": False})
            elements = _elements(value)
            last = elements[-1] if elements else None
            is_mapping = isinstance(last, ast.Dict) or (
                isinstance(last, ast.Call) and _dotted(last.func) == "dict"
            )
            mapping = last if is_mapping else None
            for element in elements:
                if (
                    isinstance(element, ast.Call)
                    and self._callee(element) == "ForeignKeyConstraint"
                ):
                    constraints.append(self._fk_constraint(element))
            open_ = any(isinstance(el, ast.Starred) for el in value.elts)
        implicit: Optional[bool] = None
        schema: Optional[str] = None
        if mapping is not None:
            items, mapping_open = _dict_items(mapping)
            open_ = open_ or mapping_open
            schema = _string(items.get("schema"))
            if "implicit_returning" in items:
                implicit = _bool(items["implicit_returning"])
                open_ = False
        return replace(
            decl,
            schema=schema,
            table_args_declared=True,
            implicit_returning=implicit,
            table_args_open=open_ and implicit is None,
            foreign_key_constraints=tuple(constraints),
        )

    def _attribute(
        self,
        name: str,
        annotation: Optional[ast.expr],
        value: Optional[ast.expr],
    ) -> Optional[AttributeDecl]:
        info = self._type_info(annotation)
        if info.classvar:
            return None
        mapped = info.wrapper is not None
        if isinstance(value, ast.Call):
            callee = self._callee(value)
            if callee in ("Column", "mapped_column"):
                return self._with_alias(self._column_call(value, name), info)
            if callee in ("column_property", "deferred"):
                return self._wrapped_column(callee, value, name, info)
            if callee == "query_expression":
                return ExpressionDecl(name=name)
            if callee in ("relationship", "dynamic_loader"):
                return self._relationship(value, name, info)
            if callee == "Relationship":
                return self._sqlmodel_relationship(value, name, info)
            if callee == "Field":
                return self._sqlmodel_field(value, name)
            if callee in _IGNORED_CALLS:
                return None
        if mapped:
            # Mapped[...] with no value (or a value we cannot read): a plain column, plus what
            # an Annotated alias says about it.
            return self._with_alias(ColumnDecl(name=name), info)
        if annotation is not None:
            # A plain annotated field: a column only if the class turns out to be a SQLModel table.
            default, ref = self._default_kind(value) if value is not None else ("none", None)
            return ColumnDecl(
                name=name, default=default, default_ref=ref, field_only=True
            )
        return None

    def _with_alias(self, column: ColumnDecl, info: _TypeInfo) -> ColumnDecl:
        if info.wrapper is None:
            return column
        if info.inline_column is not None:
            column = _merge_columns(info.inline_column, column)
            return column
        if info.target_ref is not None and column.alias_ref is None:
            column = replace(column, alias_ref=info.target_ref)
        return column

    def _wrapped_column(
        self, callee: str, call: ast.Call, name: str, info: _TypeInfo
    ) -> AttributeDecl:
        args = _positional(call)
        kwargs = _keywords(call)
        inner = args[0] if args else None
        if isinstance(inner, ast.Call) and self._callee(inner) in ("Column", "mapped_column"):
            column = self._with_alias(self._column_call(inner, name), info)
            if callee == "deferred" or _bool(kwargs.get("deferred")) is True:
                column = replace(column, deferred=True)
            if "repr" in kwargs:
                column = replace(column, in_repr=_bool(kwargs["repr"]) is not False)
            return column
        in_repr = _bool(kwargs["repr"]) is not False if "repr" in kwargs else None
        return ExpressionDecl(
            name=name,
            expire_on_flush=_bool(kwargs.get("expire_on_flush")) is not False,
            in_repr=in_repr,
        )

    def _target(self, expr: Optional[ast.expr]) -> Tuple[Optional[str], Optional[str]]:
        """(simple name, resolved ref) of a relationship target as written."""
        if expr is None:
            return None, None
        if isinstance(expr, ast.Lambda):
            expr = expr.body
        text = _string(expr)
        if text is not None:
            text = text.strip()
            if "." in text:
                return _last(text), text
            # A string is looked up in the registry by class name; an import of that name (often
            # under ``if TYPE_CHECKING:``) says which class is meant.
            return text, self.imports.get(text) or (f"{self.name}.{text}" if self.name else text)
        dotted = _dotted(expr)
        if dotted is None:
            return None, None
        return _last(dotted), self.resolve(dotted)

    def _name_list(
        self, expr: Optional[ast.expr]
    ) -> Tuple[Tuple[Optional[str], str], ...]:
        """``(owner, attribute)`` pairs of ``foreign_keys=``/``remote_side=``: ``[user_id]``,
        ``[Address.user_id]``, ``"[Address.user_id]"``, ``"user_id"``."""
        if expr is None:
            return ()
        text = _string(expr)
        if text is not None:
            expr = _parse_expression(text)
            if expr is None:
                return ()
        if isinstance(expr, (ast.List, ast.Tuple, ast.Set)):
            elements = _elements(expr)
        else:
            elements = [expr]
        out: List[Tuple[Optional[str], str]] = []
        for element in elements:
            dotted = _dotted(element)
            if dotted is None:
                continue
            owner, _, attr = dotted.rpartition(".")
            if owner.endswith(".c") or owner.endswith(".columns"):
                owner = ""
            out.append((owner or None, attr))
        return tuple(out)

    def _backref(self, expr: Optional[ast.expr]) -> Optional[BackrefDecl]:
        if expr is None:
            return None
        text = _string(expr)
        if text is not None:
            return BackrefDecl(name=text)
        if isinstance(expr, ast.Call) and self._callee(expr) == "backref":
            args = _positional(expr)
            name = _string(args[0]) if args else None
            if name is None:
                return None
            kwargs = _keywords(expr)
            return BackrefDecl(
                name=name,
                lazy=self._lazy(kwargs.get("lazy"), "select"),
                uselist=_bool(kwargs.get("uselist")),
            )
        return None

    @staticmethod
    def _lazy(expr: Optional[ast.expr], fallback: str) -> str:
        if expr is None:
            return fallback
        value = _literal(expr)
        if isinstance(value, str):
            return value
        if value is None or isinstance(value, bool):
            return _LAZY_BY_LITERAL[value]
        return fallback

    def _relationship(
        self, call: ast.Call, name: str, info: _TypeInfo
    ) -> RelationshipDecl:
        args = _positional(call)
        kwargs = _keywords(call)
        target, target_ref = self._target(args[0] if args else kwargs.get("argument"))
        if target is None:
            target, target_ref = info.target, info.target_ref
        secondary = len(args) > 1 or ("secondary" in kwargs and not _is_none(kwargs["secondary"]))
        implied_lazy = _LAZY_BY_WRAPPER.get(info.wrapper or "")
        if self._callee(call) == "dynamic_loader":
            implied_lazy = "dynamic"
        return RelationshipDecl(
            name=name,
            target=target,
            target_ref=target_ref,
            lazy=self._lazy(kwargs.get("lazy"), implied_lazy or "select"),
            uselist=_bool(kwargs.get("uselist")),
            annotated_collection=info.collection,
            secondary=secondary,
            foreign_keys=self._name_list(kwargs.get("foreign_keys")),
            remote_side=tuple(attr for _, attr in self._name_list(kwargs.get("remote_side"))),
            backref=self._backref(kwargs.get("backref")),
            in_repr=_bool(kwargs["repr"]) is not False if "repr" in kwargs else None,
        )

    def _sqlmodel_relationship(
        self, call: ast.Call, name: str, info: _TypeInfo
    ) -> RelationshipDecl:
        kwargs = _keywords(call)
        inner = kwargs.get("sa_relationship")
        if isinstance(inner, ast.Call):
            return self._relationship(inner, name, info)
        options: Mapping[str, ast.expr] = {}
        if "sa_relationship_kwargs" in kwargs:
            options = _dict_items(kwargs["sa_relationship_kwargs"])[0]
        secondary = ("link_model" in kwargs and not _is_none(kwargs["link_model"])) or (
            "secondary" in options and not _is_none(options["secondary"])
        )
        return RelationshipDecl(
            name=name,
            target=info.target,
            target_ref=info.target_ref,
            lazy=self._lazy(options.get("lazy"), "select"),
            uselist=_bool(options.get("uselist")),
            annotated_collection=info.collection,
            secondary=secondary,
            foreign_keys=self._name_list(options.get("foreign_keys")),
            remote_side=tuple(attr for _, attr in self._name_list(options.get("remote_side"))),
            backref=self._backref(options.get("backref")),
        )

    def _sqlmodel_field(self, call: ast.Call, name: str) -> ColumnDecl:
        kwargs = _keywords(call)
        sa_column = kwargs.get("sa_column")
        if isinstance(sa_column, ast.Call) and self._callee(sa_column) in _COLUMN_CALLS:
            # sa_column replaces everything else Field() says about the column.
            return self._column_call(sa_column, name, field_only=True)
        column = ColumnDecl(name=name, field_only=True)
        changes: Dict[str, object] = {}
        for item in _positional(call)[:1]:  # Field(<default>, ...)
            changes["default"], changes["default_ref"] = self._default_kind(item)
        column = replace(column, **changes)
        plain = {k: v for k, v in kwargs.items() if k in _FIELD_COLUMN_KEYWORDS}
        column = self._column_keywords(column, plain)
        column_args = kwargs.get("sa_column_args")
        if isinstance(column_args, (ast.List, ast.Tuple)):
            for element in _elements(column_args):
                if isinstance(element, ast.Call):
                    column = replace(column, **self._schema_item(element))
        if "sa_column_kwargs" in kwargs:
            items, _ = _dict_items(kwargs["sa_column_kwargs"])
            column = self._column_keywords(column, items)
        return column

def _apply_fk_constraints(
    columns: List[ColumnDecl], constraints: Sequence[Tuple[Tuple[str, ...], Tuple[str, ...]]]
) -> List[ColumnDecl]:
    """Give each column named by a ``ForeignKeyConstraint`` its target (scan-time, same class)."""
    targets: Dict[str, str] = {}
    for local, remote in constraints:
        for local_name, remote_name in zip(local, remote):
            targets[local_name] = remote_name
    if not targets:
        return columns
    out = []
    for column in columns:
        target = targets.get(column.db_name or column.name) or targets.get(column.name)
        if target is not None and column.foreign_key is None:
            column = replace(column, foreign_key=_fk_from_text(target))
        out.append(column)
    return out


def _fk_from_text(text: str) -> ForeignKeyRef:
    if text.startswith("@"):  # a class attribute, see _fk_constraint
        owner, _, column = text[1:].rpartition(".")
        return ForeignKeyRef(class_ref=owner, column=column)
    table, _, column = text.rpartition(".")
    return ForeignKeyRef(table=table or None, column=column)


# --------------------------------------------------------------------------
# build_model_index
# --------------------------------------------------------------------------

# Roots of references that are never a project's declarative base: when a base class resolves
# to one of these and is not found among the scanned modules, it does not make a class mapped.
_NOT_DECLARATIVE_ROOTS = frozenset(
    {
        "typing", "typing_extensions", "abc", "enum", "dataclasses", "collections", "pydantic",
        "pydantic_settings", "datetime", "uuid", "decimal", "fastapi", "starlette", "sqlalchemy",
        "sqlmodel", "builtins", "json", "attr", "attrs", "marshmallow",
    }
)
_BUILTIN_NAMES = frozenset(dir(builtins))


def build_model_index(modules: Iterable[ModuleModels]) -> ModelIndex:
    """Resolve scanned modules into one ``ModelIndex`` of every mapped class.

    A class is mapped when it is not ``__abstract__``, is not a declarative base itself, and
    either is ``SQLModel, table=True``, is decorated ``@registry.mapped``, inherits from a
    mapped class, or has (own or inherited, ``declared_attr`` included) ``__tablename__`` or
    ``__table__`` under a declarative base (a base class that is not among the scanned modules
    and is not a known library class counts as one).

    Not understood (left at SQLAlchemy's defaults): imperative mapping (``map_imperatively``),
    reflected tables (``autoload_with``), columns returned by project helper functions
    (``created_at: Mapped[datetime] = timestamp_column()`` is a plain column), mixins and bases
    from installed libraries other than those :mod:`codemods.library_models` describes
    (advanced-alchemy's, fastapi-users' tables, SQLModel),
    ``__mapper_args__``/``__table_args__``/``__tablename__`` computed by code other than a
    literal or ``cls.__name__[.lower()]``, ``primaryjoin=`` (direction comes from foreign
    keys), properties called inside ``__repr__``, and Flask-SQLAlchemy's
    automatic table names (a ``db.Model`` subclass needs ``__tablename__`` to be seen).
    """
    from codemods.library_models import library_modules_for

    scanned = list(modules)
    return _IndexBuilder(scanned + list(library_modules_for(scanned))).build()


@dataclass(frozen=True)
class _Merged:
    """An attribute of a class's MRO, with the class that declared it."""

    decl: AttributeDecl
    owner: str  # qualname of the declaring class


class _IndexBuilder:
    def __init__(self, modules: Iterable[ModuleModels]) -> None:
        # Sorting makes every "first wins" choice below independent of the caller's order.
        self.modules = sorted(modules, key=lambda m: (m.module, m.path))
        self.classes: Dict[str, Tuple[ModuleModels, ClassDecl]] = {}
        self.by_name: Dict[str, List[str]] = {}
        self.imports: Dict[str, Dict[str, str]] = {}
        self.aliases: Dict[str, ColumnDecl] = {}
        self.constants: Dict[str, None] = {}
        self.tables: Dict[str, TableDecl] = {}
        for module in self.modules:
            prefix = f"{module.module}." if module.module else ""
            self.imports.setdefault(module.module, dict(module.imports))
            for decl in module.classes:
                key = prefix + decl.name
                if key in self.classes:
                    continue
                self.classes[key] = (module, decl)
                self.by_name.setdefault(decl.name, []).append(key)
            for alias in module.aliases:
                self.aliases.setdefault(prefix + alias.name, alias)
            for name in module.sql_constants:
                self.constants.setdefault(prefix + name, None)
            for name, table in module.tables:
                self.tables.setdefault(prefix + name, table)
        self._mro: Dict[str, List[str]] = {}
        self._mapped: Dict[str, bool] = {}
        self._bases: Dict[str, Tuple[str, ...]] = {}
        self._find_cache: Dict[Tuple[int, str], Optional[str]] = {}

    # -- name resolution --------------------------------------------------------

    def find(self, ref: Optional[str], table: Mapping[str, object]) -> Optional[str]:
        """The key of ``table`` that a dotted reference means, or None.

        Exact; then through a scanned module's re-export (``app.db.base`` importing ``Base``
        from ``app.db.base_class``); then by unique suffix (``src/`` layouts, absolute paths);
        then one package level down (``from app.models import User`` when
        ``app/models/__init__.py`` was not scanned).
        """
        if not ref:
            return None
        cache_key = (id(table), ref)
        if cache_key not in self._find_cache:
            self._find_cache[cache_key] = self._find(ref, table, ())
        return self._find_cache[cache_key]

    def _find(self, ref: str, table: Mapping[str, object], seen: Tuple[str, ...]) -> Optional[str]:
        if ref in table:
            return ref
        if "." not in ref:
            return None
        module, _, last = ref.rpartition(".")
        reexport = self.imports.get(module, {}).get(last)
        if reexport is not None and reexport not in seen and len(seen) < 16:
            found = self._find(reexport, table, seen + (ref,))
            if found is not None:
                return found
        suffix = "." + ref
        candidates = [key for key in table if key.endswith(suffix)]
        if len(candidates) == 1:
            return candidates[0]
        deeper = [
            key
            for key in table
            if key.rpartition(".")[2] == last
            and _same_module(key.rpartition(".")[0].rpartition(".")[0], module)
        ]
        if len(deeper) == 1:
            return deeper[0]
        return None

    def find_class(self, ref: str, exclude: Optional[str] = None) -> Optional[str]:
        found = self.find(ref, self.classes)
        if found is not None and found != exclude:
            return found
        root = ref.partition(".")[0]
        if root in _NOT_DECLARATIVE_ROOTS:
            return None
        # A star import, or a module that was not scanned: a unique simple name will do.
        candidates = [key for key in self.by_name.get(_last(ref), []) if key != exclude]
        return candidates[0] if len(candidates) == 1 else None

    # -- classes ----------------------------------------------------------------

    def decl(self, key: str) -> Optional[ClassDecl]:
        entry = self.classes.get(key)
        return entry[1] if entry is not None else None

    def bases(self, key: str) -> Tuple[str, ...]:
        """Base classes: scanned class keys, or external references as written."""
        if key not in self._bases:
            decl = self.decl(key)
            out = []
            for ref in decl.bases if decl is not None else ():
                out.append(self.find_class(ref, exclude=key) or ref)
            self._bases[key] = tuple(out)
        return self._bases[key]

    def mro(self, key: str, stack: Tuple[str, ...] = ()) -> List[str]:
        """C3 linearization (depth-first if the hierarchy is not linearizable)."""
        if key in self._mro:
            return self._mro[key]
        if key not in self.classes or key in stack:
            return [key]
        bases = [b for b in self.bases(key) if b not in stack]
        sequences = [list(self.mro(b, stack + (key,))) for b in bases] + [list(bases)]
        merged = _c3_merge(sequences)
        if merged is None:
            merged = []
            for sequence in sequences[:-1]:
                merged.extend(n for n in sequence if n not in merged)
        result = [key] + merged
        self._mro[key] = result
        return result

    def _is_external(self, node: str) -> bool:
        return node not in self.classes

    def _is_sqlmodel(self, mro: Sequence[str]) -> bool:
        return any(self._is_external(n) and _last(n) == "SQLModel" for n in mro)

    def _is_dataclass(self, key: str, mro: Sequence[str]) -> bool:
        if any(self._is_external(n) and _last(n) == "MappedAsDataclass" for n in mro):
            return True
        return any(d is not None and d.decorator_dataclass for d in map(self.decl, mro))

    def _rooted(self, mro: Sequence[str]) -> bool:
        """Whether a declarative base (known, or an unknown external class) is in the MRO."""
        for node in mro[1:]:
            decl = self.decl(node)
            if decl is not None:
                if decl.declarative_base:
                    return True
                continue
            if _last(node) in _DECLARATIVE_BASE_CLASSES:
                return True
            if node.partition(".")[0] in _NOT_DECLARATIVE_ROOTS or node in _BUILTIN_NAMES:
                continue
            return True
        return False

    def is_mapped(self, key: str) -> bool:
        if key not in self._mapped:
            self._mapped[key] = False  # guards cycles
            self._mapped[key] = self._compute_mapped(key)
        return self._mapped[key]

    def _compute_mapped(self, key: str) -> bool:
        decl = self.decl(key)
        if decl is None or decl.declarative_base or decl.abstract or decl.synthetic:
            return False
        mro = self.mro(key)
        if self._is_sqlmodel(mro):
            return decl.table_keyword is True
        if decl.decorator_mapped:
            return True
        if any(not self._is_external(n) and self.is_mapped(n) for n in mro[1:]):
            return True
        if not self._rooted(mro):
            return False
        return any(
            d is not None and (d.tablename_declared or d.table_declared)
            for d in map(self.decl, mro)
        )

    def _table_of(self, key: str) -> Optional[TableDecl]:
        decl = self.decl(key)
        if decl is None or not decl.table_declared:
            return None
        if decl.table is not None:
            return decl.table
        found = self.find(decl.table_ref, self.tables)
        return self.tables.get(found) if found else None

    def tablename(self, key: str) -> Optional[str]:
        """The table a mapped class's own columns live in, when the source says it."""
        mro = self.mro(key)
        decl = self.decl(key)
        for node in mro:
            d = self.decl(node)
            if d is None:
                continue
            if d.table_declared:
                table = self._table_of(node)
                return table.name if table is not None else None
            if d.tablename_declared:
                if d.tablename is not None:
                    return d.tablename
                if d.tablename_rule == "lower" and decl is not None:
                    return decl.name.lower()
                if d.tablename_rule == "name" and decl is not None:
                    return decl.name
                if d.tablename_rule == "snake" and decl is not None:
                    return _SNAKE_CASE.sub(r"_\1", decl.name).lower()
                return None
        if self._is_sqlmodel(mro) and decl is not None:
            return decl.name.lower()  # SQLModel's own __tablename__ rule
        return None

    def schema_qualified_tablename(self, key: str) -> Optional[str]:
        """``schema.table`` as a ``ForeignKey`` to the class's table spells it."""
        name = self.tablename(key)
        if name is None:
            return None
        for node in self.mro(key):
            table = self._table_of(node)
            if table is not None:
                return f"{table.schema}.{name}" if table.schema else name
            decl = self.decl(node)
            if decl is not None and decl.table_args_declared:
                return f"{decl.schema}.{name}" if decl.schema else name
        return name

    # -- attributes -------------------------------------------------------------

    def merged_attributes(self, key: str, sqlmodel: bool) -> List[_Merged]:
        merged: Dict[str, _Merged] = {}
        for node in reversed(self.mro(key)):
            decl = self.decl(node)
            if decl is None:
                continue
            table = self._table_of(node)
            declared: List[AttributeDecl] = list(table.columns) if table is not None else []
            declared += list(decl.attributes)
            for attribute in declared:
                if isinstance(attribute, ColumnDecl) and attribute.field_only:
                    if not sqlmodel or attribute.name.startswith("_"):
                        continue
                merged[attribute.name] = _Merged(attribute, node)
        return list(merged.values())

    def resolve_alias(self, column: ColumnDecl, depth: int = 0) -> ColumnDecl:
        if column.alias_ref is None or depth > 8:
            return column
        found = self.find(column.alias_ref, self.aliases)
        if found is None:
            return replace(column, alias_ref=None)
        base = self.resolve_alias(self.aliases[found], depth + 1)
        return replace(_merge_columns(base, column), alias_ref=None)

    def _default(self, kind: Optional[DefaultKind], ref: Optional[str]) -> DefaultKind:
        if kind == "python" and ref is not None and self.find(ref, self.constants) is not None:
            return "sql"
        return kind or "none"

    def foreign_key_text(self, fk: Optional[ForeignKeyRef]) -> Optional[str]:
        """``"table.column"`` for a foreign key, resolving class and Table references."""
        if fk is None:
            return None
        table = fk.table
        if table is None and fk.class_ref is not None:
            target = self.find_class(fk.class_ref)
            table = self.schema_qualified_tablename(target) if target is not None else None
            if table is None:
                table = _last(fk.class_ref)
        if table is None and fk.table_ref is not None:
            found = self.find(fk.table_ref, self.tables)
            if found is not None and self.tables[found].name is not None:
                decl = self.tables[found]
                table = f"{decl.schema}.{decl.name}" if decl.schema else decl.name
            else:
                table = _last(fk.table_ref)
        if table is None:
            return fk.column
        return f"{table}.{fk.column}" if fk.column else table

    def column_facts(self, column: ColumnDecl, constraints: Mapping[str, str]) -> ColumnFacts:
        column = self.resolve_alias(column)
        primary_key = column.primary_key is True
        foreign_key = column.foreign_key
        if foreign_key is None:
            target = constraints.get(column.db_name or column.name) or constraints.get(column.name)
            if target is not None:
                foreign_key = _fk_from_text(target)
        return ColumnFacts(
            name=column.name,
            primary_key=primary_key,
            default=self._default(column.default, column.default_ref),
            server_default=bool(column.server_default)
            or (bool(column.identity) and not primary_key),
            computed=bool(column.computed),
            onupdate=self._default(column.onupdate, column.onupdate_ref),
            server_onupdate=bool(column.server_onupdate),
            deferred=bool(column.deferred),
            foreign_key=self.foreign_key_text(foreign_key),
        )

    # -- mapper and table arguments ----------------------------------------------

    def eager_defaults(self, mro: Sequence[str]) -> Optional[bool]:
        for node in mro:
            decl = self.decl(node)
            if decl is None or not decl.mapper_args_declared:
                continue
            if decl.eager_defaults_given:
                return decl.eager_defaults
            if not decl.mapper_args_open:
                return None
        return None

    def implicit_returning(self, key: str, mro: Sequence[str]) -> bool:
        for node in mro:
            table = self._table_of(node)
            if table is not None and table.implicit_returning is not None:
                return table.implicit_returning
            decl = self.decl(node)
            if decl is None or not decl.table_args_declared:
                continue
            if decl.implicit_returning is not None:
                return decl.implicit_returning
            if not decl.table_args_open:
                return True
        return True

    def fk_constraints(self, mro: Sequence[str]) -> Dict[str, str]:
        out: Dict[str, str] = {}
        for node in reversed(mro):
            decl = self.decl(node)
            if decl is None:
                continue
            for local, remote in decl.foreign_key_constraints:
                out.update(zip(local, remote))
        return out

    # -- relationships ------------------------------------------------------------

    def relationship_target(self, rel: RelationshipDecl, owner: str) -> Optional[str]:
        if rel.target_ref is not None:
            found = self.find(rel.target_ref, self.classes)
            if found is not None:
                return found
        if rel.target is None:
            return None
        # The registry resolves string names among mapped classes.
        candidates = [k for k in self.by_name.get(rel.target, []) if self.is_mapped(k)]
        if len(candidates) == 1:
            return candidates[0]
        owner_module = owner.rpartition(".")[0]
        same_module = [k for k in candidates if k.rpartition(".")[0] == owner_module]
        return same_module[0] if len(same_module) == 1 else None

    @staticmethod
    def _table_matches(fk: Optional[str], table: Optional[str]) -> bool:
        if fk is None or table is None:
            return False
        fk_table = fk.rpartition(".")[0]
        return fk_table == table or fk_table.endswith("." + table)

    def relationship_facts(
        self,
        key: str,
        rel: RelationshipDecl,
        owner: str,
        columns: Sequence[ColumnFacts],
    ) -> Tuple[RelationshipFacts, Optional[str]]:
        target_key = self.relationship_target(rel, owner)
        target_table = self.tablename(target_key) if target_key is not None else None
        own_table = self.tablename(key)
        column_names = {c.name for c in columns}
        self_referential = target_key is not None and (
            target_key in self.mro(key) or key in self.mro(target_key)
            or (target_table is not None and target_table == own_table)
        )

        own_names = {_last(n) for n in self.mro(key)}
        explicit_local = tuple(
            attr for owner_name, attr in rel.foreign_keys
            if attr in column_names and (owner_name is None or _last(owner_name) in own_names)
        )
        if self_referential:
            # SQLAlchemy's rule: one-to-many unless remote_side names the (non-FK) remote column.
            fk_columns = [c.name for c in columns if self._table_matches(c.foreign_key, own_table)]
            if rel.remote_side and not set(rel.remote_side) & set(fk_columns):
                local = explicit_local or tuple(fk_columns)
            else:
                local = explicit_local if rel.remote_side else ()
        elif rel.foreign_keys:
            local = explicit_local
        else:
            local = tuple(
                c.name for c in columns if self._table_matches(c.foreign_key, target_table)
            )

        if rel.secondary:
            if rel.uselist is not None:
                collection = rel.uselist
            else:
                collection = rel.annotated_collection is not False
            local = ()
        elif rel.uselist is not None:
            collection = rel.uselist
        elif rel.annotated_collection is not None:
            collection = rel.annotated_collection
        else:
            collection = not local
        facts = RelationshipFacts(
            name=rel.name,
            target=rel.target,
            target_qualname=target_key,
            lazy=rel.lazy,
            collection=collection,
            foreign_keys=() if collection else local,
        )
        return facts, target_key

    def backref_facts(
        self,
        forward: RelationshipFacts,
        rel: RelationshipDecl,
        source_key: str,
        target_key: str,
        target_columns: Sequence[ColumnFacts],
    ) -> RelationshipFacts:
        backref = rel.backref
        assert backref is not None
        source_table = self.tablename(source_key)
        # The reverse of a many-to-one is a collection; the reverse of a one-to-many (or of a
        # one-to-one held by the other side) is the many-to-one that owns the foreign key.
        if backref.uselist is not None:
            collection = backref.uselist
        elif rel.secondary or forward.many_to_one:
            collection = True
        else:
            collection = False
        local = tuple(
            c.name for c in target_columns if self._table_matches(c.foreign_key, source_table)
        )
        source_decl = self.decl(source_key)
        return RelationshipFacts(
            name=backref.name,
            target=source_decl.name if source_decl is not None else _last(source_key),
            target_qualname=source_key,
            lazy=backref.lazy,
            collection=collection,
            foreign_keys=() if collection or rel.secondary else local,
        )

    # -- __repr__ ------------------------------------------------------------------

    def repr_attributes(
        self, key: str, mro: Sequence[str], merged: Sequence[_Merged], dataclass_mapped: bool
    ) -> Tuple[str, ...]:
        names = [m.decl.name for m in merged]
        column_names = [m.decl.name for m in merged if isinstance(m.decl, ColumnDecl)]
        decl = self.decl(key)
        own_repr = decl is not None and decl.repr_reads is not None
        repr_off = decl is not None and decl.repr_keyword is False
        if dataclass_mapped and not own_repr and not repr_off:
            # The dataclass-generated __repr__ reads every field not declared repr=False.
            return tuple(m.decl.name for m in merged if m.decl.in_repr is not False)
        for node in mro:
            d = self.decl(node)
            if d is None or d.repr_reads is None:
                continue
            if d.repr_reads_all:
                return tuple(column_names)
            return tuple(n for n in d.repr_reads if n in names)
        return ()

    # -- the index -----------------------------------------------------------------

    def build(self) -> ModelIndex:
        models: Dict[str, ModelFacts] = {}
        pending_backrefs: List[Tuple[str, RelationshipFacts]] = []
        columns_by_key: Dict[str, Tuple[ColumnFacts, ...]] = {}
        mapped_keys = sorted(k for k in self.classes if self.is_mapped(k))
        merged_by_key: Dict[str, List[_Merged]] = {}

        for key in mapped_keys:
            mro = self.mro(key)
            sqlmodel = self._is_sqlmodel(mro)
            merged = self.merged_attributes(key, sqlmodel)
            merged_by_key[key] = merged
            constraints = self.fk_constraints(mro)
            columns_by_key[key] = tuple(
                self.column_facts(m.decl, constraints)
                for m in merged
                if isinstance(m.decl, ColumnDecl)
            )

        for key in mapped_keys:
            module, decl = self.classes[key]
            mro = self.mro(key)
            merged = merged_by_key[key]
            columns = columns_by_key[key]
            expressions = tuple(
                ExpressionFacts(name=m.decl.name, expire_on_flush=m.decl.expire_on_flush)
                for m in merged
                if isinstance(m.decl, ExpressionDecl)
            )
            relationships: List[RelationshipFacts] = []
            for m in merged:
                if not isinstance(m.decl, RelationshipDecl):
                    continue
                # A relationship of a mapped superclass belongs to that mapper: its direction
                # comes from the superclass's columns, not from columns a subclass adds. One
                # from a mixin is copied onto each mapped class that uses it.
                inherited_from_mapped = m.owner != key and self.is_mapped(m.owner)
                mapper_key = m.owner if inherited_from_mapped else key
                facts, target_key = self.relationship_facts(
                    mapper_key, m.decl, m.owner, columns_by_key[mapper_key]
                )
                relationships.append(facts)
                # A backref is created once, by the mapper that owns the relationship.
                creates_backref = m.decl.backref is not None and target_key is not None
                if creates_backref and not inherited_from_mapped:
                    for target in mapped_keys:
                        if target_key in self.mro(target):
                            backref = self.backref_facts(
                                facts, m.decl, key, target, columns_by_key[target]
                            )
                            pending_backrefs.append((target, backref))
            repr_attributes = self.repr_attributes(key, mro, merged, self._is_dataclass(key, mro))
            column_names = {c.name for c in columns} | {e.name for e in expressions}
            models[key] = ModelFacts(
                name=decl.name,
                qualname=key,
                path=module.path,
                line=decl.line,
                columns=columns,
                expressions=expressions,
                relationships=tuple(relationships),
                eager_defaults=self.eager_defaults(mro),
                implicit_returning=self.implicit_returning(key, mro),
                repr_reads_columns=any(n in column_names for n in repr_attributes),
                repr_attributes=repr_attributes,
            )

        for key, facts in pending_backrefs:
            model = models[key]
            if model.has_attribute(facts.name):
                continue  # declared on the class itself (SQLAlchemy would refuse the backref)
            models[key] = replace(model, relationships=model.relationships + (facts,))
        return ModelIndex(models=tuple(models[k] for k in sorted(models)),
                          interfaces=self.interfaces(models))

    def interfaces(self, models: Mapping[str, ModelFacts]) -> Tuple[InterfaceFacts, ...]:
        """Every class (not mapped) with attributes that are mapped classes: ``db.Flow``."""
        found = []
        for key in sorted(self.classes):
            if key in models:
                continue
            attributes: Dict[str, str] = {}
            for node in reversed(self.mro(key)):
                decl = self.decl(node)
                for name, ref in decl.class_refs if decl is not None else ():
                    target = self.find_class(ref)
                    if target is not None and target in models:
                        attributes[name] = target
                    else:
                        attributes.pop(name, None)
            if attributes:
                found.append(InterfaceFacts(key, tuple(sorted(attributes.items()))))
        return tuple(found)


#: advanced-alchemy's table names: ``UserAccount`` → ``user_account`` (its own expression).
_SNAKE_CASE = re.compile(r"((?<=[a-z0-9])[A-Z]|(?!^)[A-Z](?=[a-z]))")


def _same_module(candidate: str, module: str) -> bool:
    return candidate == module or candidate.endswith("." + module)


def _c3_merge(sequences: List[List[str]]) -> Optional[List[str]]:
    sequences = [list(s) for s in sequences if s]
    result: List[str] = []
    while sequences:
        for sequence in sequences:
            head = sequence[0]
            if not any(head in other[1:] for other in sequences):
                break
        else:
            return None
        result.append(head)
        sequences = [[n for n in s if n != head] for s in sequences]
        sequences = [s for s in sequences if s]
    return result
