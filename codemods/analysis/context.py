"""What one analysis accumulates: the module's sites and reads, and each function's own facts.

:class:`ModuleRun` holds what the whole module's analysis collects (sites, what was read
after each, the facts other modules will need); :class:`FunctionRun` what one function's
interpretation knows besides the state (its sessions, parameters, route, the reads it made).
The interpreter, the session model and the read checks all write here; findings and fixes
are built from it afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Set, Tuple

from codemods.analysis import ir
from codemods.analysis.names import Names, render
from codemods.analysis.state import Obj, Reason, State
from codemods.types import FlushEffect, ReturnedState, Settings, SiteKind, SiteReport

#: Last components of expressions that hold a session, besides configured ones.
SESSION_NAMES = frozenset({"session", "db", "_session", "_db", "db_session", "dbsession", "sess"})


@dataclass
class SiteInfo:
    """A statement that flushes, commits, rolls back or expires (or calls a helper that does)."""

    id: int
    stmt: ir.Stmt
    line: int
    kind: SiteKind
    session: str
    #: A statement can be inserted right after it (see :attr:`ir.ExprStmt.insertable`).
    insertable: bool
    #: The last line a fix follows: the statement's, or that of the refreshes right after it.
    after: int
    #: The end of a session block that commits and closes: a fix goes inside, flushing first.
    block_end: bool = False
    #: The line whose indentation a fix takes (the statement it follows).
    margin_line: int = 0
    #: The ``except`` clause the site is in (``except IntegrityError`` on line 12), if any.
    error_path: Optional[str] = None


@dataclass
class ReadRecord:
    """One read of unloaded attributes of one object (merged when a loop reads twice)."""

    line: int
    column: int
    obj_key: str
    obj: Obj
    attrs: Tuple[str, ...]
    reasons: Tuple[Reason, ...]
    #: Who reads, when the read is a serialization (``PUT /grants/{id} -> GrantOut.``).
    reader: Optional[str] = None
    #: Each attribute's reasons at the time of the read (the object's state moves on).
    causes: Mapping[str, frozenset] = field(default_factory=dict)
    #: The read happens after the object left the function (a route's response model).
    escaped: bool = False


@dataclass
class ModuleRun:
    """The analysis of one module so far."""

    names: Names
    settings: Settings
    path: str
    sites: Dict[int, SiteInfo] = field(default_factory=dict)
    site_by_stmt: Dict[int, SiteInfo] = field(default_factory=dict)
    site_reports: Dict[int, SiteReport] = field(default_factory=dict)
    #: The ``except`` clauses being interpreted, innermost last (a site there is on an error path).
    error_paths: List[str] = field(default_factory=list)
    #: Per site: attributes of its objects read after it; sites refreshed afterwards; sites
    #: whose objects were returned.
    site_reads: Dict[int, Set[str]] = field(default_factory=dict)
    refreshed_sites: Set[int] = field(default_factory=set)
    escaped_sites: Set[int] = field(default_factory=set)
    #: Per site: the values used after it that may be ORM objects the analysis could not tie to
    #: a model; the sites whose session had run only Core statements (no ORM object).
    site_unresolved: Dict[int, Set[str]] = field(default_factory=dict)
    core_sites: Set[int] = field(default_factory=set)
    #: Facts for other modules: objects returned with unloaded attributes, helpers that
    #: flush a session their caller passes, project functions called that return such objects.
    returned: List[ReturnedState] = field(default_factory=list)
    flush_effects: Set[FlushEffect] = field(default_factory=set)
    calls: Set[str] = field(default_factory=set)
    #: Project functions whose results this module could not type (the engine finds them).
    unresolved_calls: Set[str] = field(default_factory=set)
    #: Project functions given objects with unloaded attributes, whose reads are not known.
    unresolved_params: Set[str] = field(default_factory=set)
    #: Functions here that return a parameter as given: (qualname, position or None, name).
    returns_arg: Set[Tuple[str, Optional[int], str]] = field(default_factory=set)

    def new_site(self, place: "Place", kind: SiteKind, session: str) -> SiteInfo:
        """The site of the statement at ``place`` (one per statement, kind and session: loops
        visit it twice)."""
        stmt = place.site or place.stmt
        existing = self.site_by_stmt.get(id(stmt))
        if existing is not None and existing.kind == kind and existing.session == session:
            return existing
        insertable = place.stmt.insertable if place.fixable is None else place.fixable
        site = SiteInfo(len(self.sites) + 1, stmt, stmt.line, kind, session, insertable,
                        place.after(), place.inside, place.stmt.line,
                        self.error_paths[-1] if self.error_paths else None)
        self.sites[site.id] = site
        self.site_by_stmt[id(stmt)] = site
        return site


@dataclass(frozen=True)
class Place:
    """A statement in its block: where a site is, and where a fix after it goes. ``inside``:
    the site is the end of a session block that closes its session, and a fix goes at the
    end of the block, after the statement (a refresh after the block would find the object
    detached)."""

    block: ir.Block
    index: int
    inside: bool = False
    #: The statement that is the site, when it is not the one at ``index`` (the ``async with``).
    site: Optional[ir.Stmt] = None
    #: A fix can go after the statement at ``index`` (None: as that statement says).
    fixable: Optional[bool] = None

    @property
    def stmt(self) -> ir.Stmt:
        return self.block.statements[self.index]

    def after(self) -> int:
        """The last line of the statement and of the refreshes that follow it directly: a
        fix goes after them (it never splits a run of refreshes)."""
        statements = self.block.statements
        last = self.index
        while last + 1 < len(statements) and is_refresh(statements[last + 1]):
            last += 1
        return statements[last].end_line


def is_refresh(stmt: ir.Stmt) -> bool:
    """``await S.refresh(...)`` on a line of its own."""
    if not (isinstance(stmt, ir.ExprStmt) and stmt.insertable and isinstance(stmt.value, ir.Await)):
        return False
    call = stmt.value.value
    return isinstance(call, ir.Call) and isinstance(call.func, ir.Attribute) \
        and call.func.attr == "refresh"


@dataclass
class FunctionRun:
    """One function's interpretation: what it knows besides the state, and what it found."""

    module: ModuleRun
    function: ir.Function
    body: ir.Block
    #: ``package.module.Class.method``.
    fqn: str
    #: Expressions that hold a session here (annotated parameters, ``async with ... as s``).
    session_exprs: Set[str] = field(default_factory=set)
    #: Local variables and parameters holding instances of project classes (services).
    var_types: Dict[str, str] = field(default_factory=dict)
    #: Those built here with one session (``repo = Repo(session)``): that session.
    var_sessions: Dict[str, str] = field(default_factory=dict)
    #: Positional parameters (``self`` left out) by name: where a caller's argument lands.
    param_index: Dict[str, int] = field(default_factory=dict)
    #: (method, path, response model text) of a route handler.
    route: Optional[Tuple[str, str, Optional[str]]] = None
    reads: Dict[Tuple[int, int, str, Tuple[str, ...]], ReadRecord] = field(default_factory=dict)
    fg004: List[ReadRecord] = field(default_factory=list)
    escapes: List[Tuple[str, Obj, Tuple[Reason, ...]]] = field(default_factory=list)
    #: (continue states, break states) of the loops around the statement being run.
    loops: List[Tuple[List[State], List[State]]] = field(default_factory=list)
    #: Names bound to a Core ``update()``/``delete()``/``insert()`` statement (``stmt = update(M)``).
    core_names: Set[str] = field(default_factory=set)
    #: Names assigned in the function (a parameter assigned is no longer what was passed).
    assigned: Set[str] = field(default_factory=set)
    #: The parameter tests of the ``if`` branches being interpreted: ``(name, truthy)``.
    conditions: List[Tuple[str, bool]] = field(default_factory=list)
    order: int = 0
    #: The statement being run, in its block (a site is that statement).
    place: Optional[Place] = None
    #: A Core ``update()``/``delete()``/``insert()`` statement ran on a session here.
    core_statements: bool = False
    #: ``expire_on_commit`` of the sessions whose factory is known (others: the project's).
    expire_on_commit: Dict[str, bool] = field(default_factory=dict)

    def effect(self, session: str, kind: SiteKind) -> Tuple[str, SiteKind, Optional[Tuple[str, bool]],
                                                         Optional[str]]:
        """A session effect as the path to it qualifies it: under which parameter test, and
        through which ``except`` clause."""
        paths = self.module.error_paths
        return (session, kind, self.conditions[-1] if self.conditions else None,
                paths[-1] if paths else None)

    def expires_on_commit(self, session: str) -> bool:
        return self.expire_on_commit.get(session, self.settings.expire_on_commit)

    def next_order(self) -> int:
        """A new position in the order objects join the session (the order of fixes)."""
        self.order += 1
        return self.order

    @property
    def settings(self) -> Settings:
        return self.module.settings

    @property
    def names(self) -> Names:
        return self.module.names

    def session_of(self, expr: ir.Expr) -> Optional[str]:
        """The session expression ``expr`` is (``self.db``, ``session``), or None."""
        if isinstance(expr, ir.Name):
            text, last = expr.id, expr.id
        elif isinstance(expr, ir.Attribute):
            rendered = render(expr)  # `self.uow().session` too
            if rendered is None:
                return None
            text, last = rendered, expr.attr
        else:
            return None
        if text in self.session_exprs:
            return text
        configured = self.settings.session_names
        if last in SESSION_NAMES or last in configured or last.lower().endswith("session") \
                or text in configured:
            return text
        if isinstance(expr, ir.Attribute) and isinstance(expr.value, ir.Name) \
                and expr.value.id == "self" and last in self.function.owner.session_attrs:
            return text
        return None
