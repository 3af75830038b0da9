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
class InterfaceFacts:
    """A class whose instances hand out mapped classes as attributes (a database interface,
    prefect's ``PrefectDBInterface``: ``db.Flow`` is the mapped class ``Flow``), from a
    ``@property`` returning the class or a class attribute bound to it."""

    #: The interface class's qualified name
    #: (``prefect.server.database.interface.PrefectDBInterface``).
    qualname: str
    #: (attribute, qualname of the mapped class), sorted by attribute; inherited ones included.
    attributes: Tuple[Tuple[str, str], ...] = ()

    def model_qualname(self, attribute: str) -> Optional[str]:
        for name, qualname in self.attributes:
            if name == attribute:
                return qualname
        return None


@dataclass(frozen=True)
class ModelIndex:
    """Every mapped class of a project, looked up by the name code uses."""

    models: Tuple[ModelFacts, ...] = ()
    #: Classes whose instances hand out mapped classes (see :class:`InterfaceFacts`), sorted.
    interfaces: Tuple[InterfaceFacts, ...] = ()

    def through_interface(self, interface_qualname: str, attribute: str) -> Optional[ModelFacts]:
        """The mapped class that ``attribute`` of an instance of the class
        ``interface_qualname`` is (``db.Flow`` with ``db: PrefectDBInterface``), or None."""
        package, _, name = interface_qualname.rpartition(".")
        # As for models: the class itself, or one re-exported by a package above its module
        # (``from prefect.server.database import PrefectDBInterface``).
        found = [i for i in self.interfaces if i.qualname == interface_qualname] or [
            i for i in self.interfaces
            if i.qualname.endswith("." + name) and i.qualname.startswith(package + ".")]
        if len(found) != 1:
            return None
        qualname = found[0].model_qualname(attribute)
        return self.by_qualname(qualname) if qualname is not None else None

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
class SessionFactoryFacts:
    """One session factory of the project: ``SessionLocal = async_sessionmaker(...)``."""

    #: The module it is defined in (``app.db``).
    module: str
    #: What it is assigned to, as written (``SessionLocal``, ``self.factory``), or None.
    name: Optional[str]
    #: ``module.name`` for a module-level name, else None.
    qualname: Optional[str]
    #: The literal ``expire_on_commit=``; True when absent; None when not a literal.
    expire_on_commit: Optional[bool]
    #: ``app/db.py:12 async_sessionmaker(expire_on_commit=False)``.
    source: str


@dataclass(frozen=True)
class SessionDependencyFacts:
    """A function that yields (or returns) a session of a known factory (a FastAPI
    dependency ``get_db``): a session parameter it provides gets that factory's settings."""

    #: ``app.deps.get_db`` (``module.Class.method`` for a method).
    qualname: str
    #: The factory's :attr:`SessionFactoryFacts.qualname`.
    factory: str


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
    #: Package roots, ``(folder, package)`` pairs longest folder first (``folder`` relative to
    #: the project's top, ``""`` the top itself; ``package`` the dotted name the folder has,
    #: ``""`` for one on ``sys.path``): a file's module name is its path below the longest
    #: root folder that holds it (:func:`codemods.package_roots.module_name`).
    roots: Tuple[Tuple[str, str], ...] = ()
    roots_source: str = "the project's top"
    #: Every session factory found outside tests, each with its own ``expire_on_commit``
    #: (``expire_on_commit`` above is the one a session of an unknown factory gets).
    session_factories: Tuple[SessionFactoryFacts, ...] = ()
    #: The functions that yield a session of one of those factories.
    session_dependencies: Tuple[SessionDependencyFacts, ...] = ()

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


#: What left an attribute unloaded: an INSERT or UPDATE that did not fetch a generated value,
#: a column_property, an unset deferred column, a SQL expression assigned, a relationship the
#: flush did not load, everything expired (commit, rollback, expire), or a project function
#: that returned the object so (``callee``).
CauseKind = Literal["insert", "update", "expression", "deferred", "sql-assigned", "relationship",
                    "expired", "callee"]


@dataclass(frozen=True)
class Cause:
    """Why an attribute is unloaded after a site, as a value (the rule, not only a sentence)."""

    code: str
    kind: CauseKind
    #: One sentence for the user (``created_at` has a server default that ...``).
    why: str
    #: Depends on what the source cannot show (the backend, the session's identity map).
    possible: bool = False
    #: The verdict turns on the database backend, which is not known.
    backend_unknown: bool = False


@dataclass(frozen=True)
class Fix:
    applicability: Applicability
    #: The line of the statement the fix follows (1-based, in the original text).
    line: int
    #: The inserted statement(s), without indentation.
    text: str
    #: Where and what exactly it inserts (after the statement and any refreshes after it).
    edit: Optional["Edit"] = None


@dataclass(frozen=True)
class Edit:
    """Insert ``text`` (whole lines, indented, each with the file's line break) before the
    0-based line ``before`` of the original text, and import ``imports`` from SQLAlchemy
    (``select``, ``selectinload``: what a 1.4 re-select needs)."""

    before: int
    text: str
    imports: Tuple[str, ...] = ()


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
    #: Why each attribute is unloaded: (attribute, cause), in the order of ``attributes``.
    causes: Tuple[Tuple[str, Cause], ...] = ()
    #: Who reads them, when that is not the function itself (FG004 and serializations):
    #: ``PUT /grants/{id} -> GrantOut.updated_at``, ``app.api.show (app/api.py:12: `.name`)``.
    reader: Optional[str] = None
    #: Set when every path to the crash goes through an ``except`` clause: which one
    #: (```except IntegrityError`` on line 12`).
    error_path: Optional[str] = None

    @property
    def sort_key(self) -> Tuple[str, int, int, str, str]:
        return (self.path, self.line, self.column, self.code, self.object)

    def cause_of(self, attribute: str) -> Optional[Cause]:
        for name, cause in self.causes:
            if name == attribute:
                return cause
        return None


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
    #: ``consumers-safe``, ``unsafe``, ``possible``, ``core-statements`` (only Core
    #: ``update()``/``delete()``/``insert()`` ran on its session), ``no-objects`` (its function
    #: holds no ORM object across it) or ``untracked`` (a value used after it may be an ORM
    #: object that could not be tied to a model).
    category: str = "untracked"
    #: Attributes of its objects read after it (loaded or not).
    reads: Tuple[str, ...] = ()
    #: A call of a project helper that flushes/commits this session (its qualname), when the
    #: site is that call rather than a literal ``flush()``/``commit()``.
    via: Optional[str] = None
    #: What made it untracked: each value used after it that could not be tied to a model,
    #: with what it is (``seat`` (``await self._get_seat(...)``)).
    unresolved: Tuple[str, ...] = ()


@dataclass(frozen=True)
class ReturnedState:
    """An ORM object (or a list of them) a function returns, with the load state it has there.

    What its callers receive: the model, whether it is still pending (added, not yet
    flushed: the caller's flush INSERTs it), which relationships and deferred columns its
    query loaded, and every attribute unloaded at the return with the function whose flush,
    commit or rollback left it so (``via`` itself, or a function it called).
    """

    #: The function whose callers receive it (``app.services.GrantService.update``).
    via: str
    #: The model's qualname.
    model: str
    #: (attribute, possible, origin) for every attribute unloaded at the return.
    unloaded: Tuple[Tuple[str, bool, str], ...]
    path: str
    line: int
    is_list: bool = False
    #: The element of a returned tuple (``return items, None``: 0), or None: the whole value.
    position: Optional[int] = None
    #: New and not INSERTed yet; ``given``: the attributes the code gave it; ``added``: in a
    #: session (the caller's flush INSERTs it).
    pending: bool = False
    given: Tuple[str, ...] = ()
    added: bool = True
    #: Relationships and deferred columns loaded with it (its query's options, eager strategies).
    loaded: Tuple[str, ...] = ()
    #: False when only the return annotation says what it is (not which relationships are loaded).
    loads_known: bool = True

    @property
    def origins(self) -> FrozenSet[str]:
        return frozenset(origin for _, _, origin in self.unloaded)


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
    #: Only when a parameter is true (or false): ``(name, position or None, truthy, whether its
    #: default is true (None: no constant default))`` for ``if commit: await s.commit()``.
    when: Optional[Tuple[str, Optional[int], bool, Optional[bool]]] = None
    #: Only on the path through this ``except`` clause of the function (that returns normally).
    error_path: Optional[str] = None
    #: Parameters the function refreshes after its sites on every path that returns normally:
    #: ``(position or None, name, attribute names or None for a plain refresh)``. The caller
    #: sees those arguments reloaded (``await s.commit(); await s.refresh(obj); return obj``).
    reloads: Tuple[Tuple[Optional[int], str, Optional[Tuple[str, ...]]], ...] = ()


@dataclass(frozen=True)
class ParamUse:
    """What one function reads of one parameter itself, and to whom it passes it on."""

    #: Its position among the positional parameters (``self`` not counted); None: keyword-only.
    index: Optional[int]
    name: str
    #: ``(attribute, line, function)`` of each read ``param.attribute``: the function is
    #: the method that reads it (a class's), or "" (the summarised function itself).
    reads: Tuple[Tuple[str, int, str], ...] = ()
    #: ``(callee, position, keyword, line)`` of each call given the parameter (a class: its
    #: constructor, which stores it in a field its methods read).
    passes: Tuple[Tuple[str, Optional[int], Optional[str], int], ...] = ()
    #: The attributes it assigns (``param.status = ...``; ``*``: ``setattr`` with a computed name).
    writes: Tuple[str, ...] = ()


@dataclass(frozen=True)
class ParamSummary:
    """What a function (or a class, through the fields its constructor stores) reads of each
    parameter: one :class:`ParamUse` per parameter."""

    function: str
    path: str
    params: Tuple[ParamUse, ...]


@dataclass(frozen=True)
class ParamReads:
    """Every attribute a call reads of one argument, wherever it is read (transitively)."""

    index: Optional[int]
    name: str
    #: ``(attribute, reading function, path, line)``.
    reads: Tuple[Tuple[str, str, str, int], ...]
    #: The attributes it (or a function it passes the argument to) assigns.
    writes: Tuple[str, ...] = ()


@dataclass(frozen=True)
class CallFacts:
    """What the rest of the project says about the functions a module calls or defines."""

    #: What each function returns: one state, or one per element of a returned tuple.
    returns: Mapping[str, Tuple[ReturnedState, ...]] = field(default_factory=dict)
    flushers: Mapping[str, Tuple[FlushEffect, ...]] = field(default_factory=dict)
    consumers: Mapping[str, Tuple[ConsumerRead, ...]] = field(default_factory=dict)
    #: Origins whose returned objects reach no caller the project shows.
    untraced: FrozenSet[str] = frozenset()
    #: The project's pydantic schemas (a ``codemods.schema_index.SchemaIndex``), or None, and a
    #: digest of them (what a function's result can depend on, without hashing them again).
    schemas: Any = None
    schemas_key: str = ""
    #: Functions whose results a caller could not type: interpret them wherever they are.
    wanted: FrozenSet[str] = frozenset()
    #: What each known function reads of its parameters (transitively), by qualname.
    param_reads: Mapping[str, Tuple[ParamReads, ...]] = field(default_factory=dict)
    #: Functions (and classes) whose parameter reads a caller asked for: summarise them.
    params_wanted: FrozenSet[str] = frozenset()
    #: Module-level instances by qualname, and the class each is (``pkg.svc.organization`` →
    #: ``pkg.svc.OrganizationService``): a call of ``organization.get`` is of the class's method.
    aliases: Mapping[str, str] = field(default_factory=dict)
    #: Methods a class inherits, by the qualname a caller writes (``pkg.UserRepo.create``) →
    #: the base class's that defines it (``pkg.kit.RepositoryBase.create``).
    inherited: Mapping[str, str] = field(default_factory=dict)
    #: Functions that return one of their parameters as given (``return obj``): (position or
    #: None, name). The caller gets back the very object it passed, in its state after the call.
    returns_arg: Mapping[str, Tuple[Optional[int], str]] = field(default_factory=dict)


@dataclass(frozen=True)
class ModuleResult:
    """The outcome of analysing one module: pure data, no I/O done."""

    path: str
    findings: Tuple[Finding, ...] = ()
    sites: Tuple[SiteReport, ...] = ()
    #: The fixes to apply (safe ones, and unsafe ones with ``--unsafe-fixes``), in order.
    edits: Tuple[Edit, ...] = ()
    #: Objects this module's functions return with unloaded attributes.
    returned: Tuple[ReturnedState, ...] = ()
    #: Reads here of attributes that another function left unloaded.
    consumer_reads: Tuple[ConsumerRead, ...] = ()
    #: Functions here that flush a session their caller passes in.
    flush_effects: Tuple[FlushEffect, ...] = ()
    #: Project functions with unloaded returns that this module calls (resolved qualnames).
    calls: Tuple[str, ...] = ()
    #: Project functions (resolved qualnames) whose results this module could not type.
    unresolved_calls: Tuple[str, ...] = ()
    #: Project functions given an object with unloaded attributes whose reads are not known.
    unresolved_params: Tuple[str, ...] = ()
    #: What this module's functions asked for (``CallFacts.params_wanted``) read of their parameters.
    param_summaries: Tuple[ParamSummary, ...] = ()
    #: Its module-level instances of classes: (qualname, the class's qualname).
    instances: Tuple[Tuple[str, str], ...] = ()
    #: Its classes: (qualname, the qualnames of its bases, the names of the methods it defines).
    classes: Tuple[Tuple[str, Tuple[str, ...], Tuple[str, ...]], ...] = ()
    #: Its functions that return a parameter as given: (qualname, position or None, name).
    returns_arg: Tuple[Tuple[str, Optional[int], str], ...] = ()
    #: Every question its analysis asked of the cross-file facts, with the answer
    #: (``(("returns", "app.svc.get"), <the facts' answer>)``): facts that answer them all
    #: the same give the same result, whatever else changed in the project.
    depends: Tuple[Tuple[Tuple[str, str], Any], ...] = ()
