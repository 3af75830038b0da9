"""The plain values that cross module boundaries.

Everything here is a frozen dataclass: cheap to pickle into and out of worker
processes, safe to share, and comparable in tests.  Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Dict, FrozenSet, List, Literal, Mapping, Optional, Tuple

Backend = Literal["postgresql", "mysql", "mariadb", "sqlite", "unknown"]
BACKENDS: Tuple[str, ...] = ("postgresql", "mysql", "mariadb", "sqlite", "unknown")

DefaultKind = Literal["none", "python", "sql"]
SiteKind = Literal["flush", "commit", "rollback", "expire"]
Applicability = Literal["safe", "unsafe"]
Certainty = Literal["certain", "possible"]


# --------------------------------------------------------------------------
# Model facts: what the source says about each mapped class.
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnFacts:
    """One column attribute of a mapped class, as declared in source."""

    name: str
    primary_key: bool = False
    #: ``default=``: a Python value/callable, or a SQL expression (``func.now()``).
    default: DefaultKind = "none"
    #: ``server_default=``, ``FetchedValue()``, or ``Identity()`` on a non-PK column.
    server_default: bool = False
    computed: bool = False
    #: ``onupdate=``: Python value/callable, or a SQL expression.
    onupdate: DefaultKind = "none"
    server_onupdate: bool = False
    deferred: bool = False
    #: ``ForeignKey("table.col")`` target, when the column declares one.
    foreign_key: Optional[str] = None


@dataclass(frozen=True)
class ExpressionFacts:
    """A ``column_property(<expr>)`` or ``query_expression()`` attribute."""

    name: str
    expire_on_flush: bool = True


@dataclass(frozen=True)
class RelationshipFacts:
    name: str
    #: The target class name as written (``"User"`` or ``User``), if known.
    target: Optional[str] = None
    lazy: str = "select"
    collection: bool = True
    #: For a scalar many-to-one: the local foreign-key column attribute names.
    foreign_keys: Tuple[str, ...] = ()
    #: ``package.module.Class`` of the target, when it is a model of the project.
    target_qualname: Optional[str] = None

    @property
    def many_to_one(self) -> bool:
        return not self.collection and bool(self.foreign_keys)


@dataclass(frozen=True)
class ModelFacts:
    """A mapped class with every attribute it inherits, resolved."""

    name: str
    #: ``package.module.Class``: unique across the project.
    qualname: str
    path: str
    line: int
    columns: Tuple[ColumnFacts, ...] = ()
    expressions: Tuple[ExpressionFacts, ...] = ()
    relationships: Tuple[RelationshipFacts, ...] = ()
    #: ``__mapper_args__["eager_defaults"]``: True, False, or None for the default.
    eager_defaults: Optional[bool] = None
    #: ``__table_args__["implicit_returning"]``.
    implicit_returning: bool = True
    #: The class (or a base) defines ``__repr__``/``__str__`` reading column attributes.
    repr_reads_columns: bool = False
    #: The attributes (columns, expressions, relationships) that ``repr()``/``str()`` read, in
    #: order: an explicit ``__repr__``/``__str__`` over ``self.<attr>``, or every field of a
    #: ``MappedAsDataclass`` model (its generated ``__repr__``).
    repr_attributes: Tuple[str, ...] = ()

    def column(self, name: str) -> Optional[ColumnFacts]:
        for column in self.columns:
            if column.name == name:
                return column
        return None

    def expression(self, name: str) -> Optional[ExpressionFacts]:
        for expression in self.expressions:
            if expression.name == name:
                return expression
        return None

    def relationship(self, name: str) -> Optional[RelationshipFacts]:
        for relationship in self.relationships:
            if relationship.name == name:
                return relationship
        return None

    @property
    def primary_key(self) -> Tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.primary_key)

    @property
    def column_names(self) -> Tuple[str, ...]:
        return tuple(c.name for c in self.columns) + tuple(e.name for e in self.expressions)

    def has_attribute(self, name: str) -> bool:
        return (
            self.column(name) is not None
            or self.expression(name) is not None
            or self.relationship(name) is not None
        )


@dataclass(frozen=True)
class ModelIndex:
    """Every mapped class of a project, looked up by the name code uses."""

    models: Tuple[ModelFacts, ...] = ()

    def by_qualname(self, qualname: str) -> Optional[ModelFacts]:
        return self._by_qualname.get(qualname)

    def by_name(self, name: str) -> Tuple[ModelFacts, ...]:
        return self._by_name.get(name, ())

    # The analysis asks these thousands of times per module: look up, don't scan.
    @cached_property
    def _by_qualname(self) -> Dict[str, ModelFacts]:
        found: Dict[str, ModelFacts] = {}
        for model in self.models:
            found.setdefault(model.qualname, model)  # the first, as a scan would find
        return found

    @cached_property
    def _by_name(self) -> Dict[str, Tuple[ModelFacts, ...]]:
        found: Dict[str, List[ModelFacts]] = {}
        for model in self.models:
            found.setdefault(model.name, []).append(model)
        return {name: tuple(models) for name, models in found.items()}

    def resolve(self, name: str, qualname_hint: Optional[str] = None) -> Optional[ModelFacts]:
        """The model a module refers to as ``name``.

        ``qualname_hint`` is where the module imported the name from
        (``app.models.User``); without it a name must be unique in the project.
        """
        if qualname_hint is not None:
            found = self.by_qualname(qualname_hint)
            if found is not None:
                return found
            # ``from app.models import User`` where User lives in app.models.user
            suffix = "." + name
            candidates = [
                m
                for m in self.by_name(name)
                if m.qualname.startswith(qualname_hint.rsplit(".", 1)[0] + ".")
                and m.qualname.endswith(suffix)
            ]
            # The module says where the name comes from: a model of the same name elsewhere
            # is another class (a pydantic `Role` is not the mapped `Role`).
            return candidates[0] if len(candidates) == 1 else None
        candidates_by_name = self.by_name(name)
        if len(candidates_by_name) == 1:
            return candidates_by_name[0]
        return None


# --------------------------------------------------------------------------
# Settings: everything one run needs, detected or configured.
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """One run's settings: project detection overridden by configuration."""

    backend: Backend = "unknown"
    #: How the backend was learnt (``alembic.ini: sqlalchemy.url``, ``--backend``...).
    backend_source: str = "not detected"
    #: ``"1.4"`` or ``"2"``.
    sqlalchemy: str = "2"
    sqlalchemy_source: str = "default"
    expire_on_commit: bool = True
    expire_on_commit_source: str = "SQLAlchemy default"
    #: Extra names (last component) of expressions that hold an ``AsyncSession``.
    session_names: Tuple[str, ...] = ()
    select: Tuple[str, ...] = ()
    ignore: Tuple[str, ...] = ()
    #: Also apply fixes for *possible* findings.
    unsafe_fixes: bool = False
    #: ``refresh(obj, attribute_names=[...])`` instead of ``refresh(obj, [...])``.
    refresh_keyword: bool = False
    #: File discovery: ``exclude`` replaces the default exclusions, ``extend_exclude`` adds to them.
    exclude: Tuple[str, ...] = ()
    extend_exclude: Tuple[str, ...] = ()
    #: Also analyse files carrying an ``@generated`` marker.
    include_generated: bool = False
    #: Worker processes; None: one per core.
    jobs: Optional[int] = None
    #: Output format named by configuration; None: the command's own default.
    format: Optional[str] = None
    #: ``auto`` (only on a terminal), ``always`` or ``never``.
    color: str = "auto"

    @property
    def returning(self) -> Optional[bool]:
        """Whether SQLAlchemy 2.x's INSERT..RETURNING fetches server values (None: unknown backend).

        SQLAlchemy 1.4 follows other rules (its eager_defaults is False by default); the
        analysis decides those cases before asking this.
        """
        if self.backend == "unknown":
            return None
        return self.backend != "mysql"

    def rule_enabled(self, code: str) -> bool:
        if self.select and not any(code.startswith(s) for s in self.select):
            return False
        return not any(code.startswith(i) for i in self.ignore)


# --------------------------------------------------------------------------
# Results: what the analysis of one module produces.
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Site:
    """The statement that left attributes unloaded."""

    line: int
    kind: SiteKind
    #: The session expression as written (``self.db``).
    session: str


@dataclass(frozen=True)
class Fix:
    applicability: Applicability
    #: The line the inserted statement follows (1-based, in the original text).
    line: int
    #: The inserted statement(s), without indentation.
    text: str


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    column: int
    code: str
    message: str
    #: The variable holding the object (``user``, ``self.org``).
    object: str
    model: str
    attributes: Tuple[str, ...]
    site: Site
    certainty: Certainty = "certain"
    fix: Optional[Fix] = None
    function: str = ""

    @property
    def sort_key(self) -> Tuple[str, int, int, str, str]:
        return (self.path, self.line, self.column, self.code, self.object)


@dataclass(frozen=True)
class SiteReport:
    """One flush/commit/rollback/expire statement, whatever came of it (for audit)."""

    path: str
    line: int
    kind: SiteKind
    session: str
    function: str
    objects: Tuple[str, ...] = ()
    models: Tuple[str, ...] = ()
    #: What became of it: ``refresh-follows``, ``pk-only``, ``no-reads``, ``loaded-reads-only``,
    #: ``consumers-safe``, ``unsafe``, ``possible`` or ``untracked`` (no ORM object tied to it).
    category: str = "untracked"
    #: Attributes of its objects read after it (loaded or not).
    reads: Tuple[str, ...] = ()
    #: A call of a project helper that flushes/commits this session (its qualname), when the
    #: site is that call rather than a literal ``flush()``/``commit()``.
    via: Optional[str] = None


@dataclass(frozen=True)
class ReturnedState:
    """An object a function returns while some of its attributes are unloaded."""

    #: The function whose callers receive it (``app.services.GrantService.update``).
    via: str
    #: The function whose flush/commit left the attributes unloaded (``via`` or one it called).
    origin: str
    #: The model's qualname.
    model: str
    #: (attribute, possible) for every attribute unloaded at the return.
    attributes: Tuple[Tuple[str, bool], ...]
    path: str
    line: int
    is_list: bool = False


@dataclass(frozen=True)
class ConsumerRead:
    """A read, somewhere else, of an attribute that ``origin`` left unloaded."""

    origin: str
    attribute: str
    #: Who reads it: ``PUT /grants/{id} -> GrantOut.updated_at``, ``app.api.show (app/api.py:12)``.
    reader: str


@dataclass(frozen=True)
class FlushEffect:
    """A function that flushes/commits/rolls back a session its caller gave it."""

    function: str
    #: ``self.db`` (the caller's own attribute, for a method called on self) or ``arg:1:session``.
    target: str
    kind: SiteKind


@dataclass(frozen=True)
class CallFacts:
    """What the rest of the project says about the functions a module calls or defines."""

    returns: Mapping[str, ReturnedState] = field(default_factory=dict)
    flushers: Mapping[str, Tuple[FlushEffect, ...]] = field(default_factory=dict)
    consumers: Mapping[str, Tuple[ConsumerRead, ...]] = field(default_factory=dict)
    #: Origins whose returned objects reach no caller the project shows.
    untraced: FrozenSet[str] = frozenset()
    #: The project's pydantic schemas (a ``codemods.schema_index.SchemaIndex``), or None.
    schemas: Any = None


@dataclass(frozen=True)
class ModuleResult:
    """The outcome of analysing one module: pure data, no I/O done."""

    path: str
    findings: Tuple[Finding, ...] = ()
    sites: Tuple[SiteReport, ...] = ()
    #: The fixed source text; equal to the input when nothing was fixed.
    new_source: str = ""
    changed: bool = False
    error: Optional[str] = None
    notes: Tuple[str, ...] = field(default_factory=tuple)
    #: Objects this module's functions return with unloaded attributes.
    returned: Tuple[ReturnedState, ...] = ()
    #: Reads here of attributes that another function left unloaded.
    consumer_reads: Tuple[ConsumerRead, ...] = ()
    #: Functions here that flush a session their caller passes in.
    flush_effects: Tuple[FlushEffect, ...] = ()
    #: Project functions with unloaded returns that this module calls (resolved qualnames).
    calls: Tuple[str, ...] = ()
    #: Origins whose objects this module passes where no reader can be traced.
    untraced: Tuple[str, ...] = ()
