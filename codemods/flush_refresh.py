"""The codemod: flush/commit sites, tracked ORM objects, unsafe reads, inserted refreshes.

``analyze_module(source, path, models, settings)`` is the whole semantic core: it
takes text and facts and returns findings and the fixed text.  It does no I/O.

Each ``async def`` is interpreted statement by statement over an abstract state:
which variables hold which ORM objects, what the code gave them, and which of
their attributes a flush, commit, rollback or expire left unloaded (and why, and
where).  Branches run from the same state and join (an attribute is unloaded
after the join when it is unloaded on any arm); loop bodies run twice so that a
flush at the end of one iteration reaches a read at the start of the next.  The
rules applied at each event are R1-R4 of the measured truth tables.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Set, Tuple, Union

import libcst as cst

from codemods.imports import dotted, record_import
from codemods.files import SITE_MARKERS
from codemods.model_index import module_name_for
from codemods.outline import Block, Outline, Positions, restore
from codemods.outline import parse as parse_outline
from codemods.types import (
    CallFacts,
    ConsumerRead,
    Finding,
    FlushEffect,
    ReturnedState,
    Fix,
    ModelFacts,
    ModelIndex,
    ModuleResult,
    Settings,
    Site,
    SiteKind,
    SiteReport,
)

# Last components of expressions that hold a session, besides configured ones.
SESSION_NAMES = frozenset({"session", "db", "_session", "_db", "db_session", "dbsession", "sess"})
SESSION_TYPES = frozenset({"AsyncSession", "Session", "async_scoped_session", "scoped_session"})
# Calls that read every column attribute of the object passed to them.
WHOLE_OBJECT_READERS = frozenset({"model_validate", "from_orm", "jsonable_encoder", "asdict"})
LOADER_OPTIONS = frozenset(
    {"selectinload", "joinedload", "subqueryload", "immediateload", "contains_eager"}
)
# Relationship strategies whose plain read never emits SQL implicitly: `raise` raises
# InvalidRequestError (not our error), the others return a query or nothing.
NEVER_LOADING_LAZY = frozenset({"raise", "noload", "dynamic", "write_only"})
# raise_on_sql raises instead of loading, except when the object itself is expired
# (loading the expired primary key comes first: MissingGreenlet).
RAISING_LAZY = NEVER_LOADING_LAZY | {"raise_on_sql"}
EAGER_LAZY = frozenset({"selectin", "joined", "subquery", "immediate"})
SINGLE_RESULT = frozenset({"scalar_one", "scalar_one_or_none", "scalar", "first", "one", "one_or_none"})
LIST_RESULT = frozenset({"all", "fetchall"})
# t-string parts (Python 3.14), where the installed LibCST has them: each interpolation is
# evaluated where the t-string is (a read), and, unlike an f-string's, not formatted.
TEMPLATE_PARTS: Tuple[type, ...] = tuple(
    getattr(cst, name) for name in ("TemplatedStringExpression", "BaseTemplatedStringContent")
    if hasattr(cst, name))
NOQA_RE = re.compile(r"#\s*(?:noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*))?|flushguard:\s*ignore)", re.I)

RULE_NAMES = {
    "FG001": "unloaded-column-after-flush",
    "FG002": "unloaded-relationship-after-flush",
    "FG003": "expired-after-commit",
    "FG004": "unloaded-object-escapes",
}


# ---------------------------------------------------------------------------
# Abstract state
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Reason:
    """Why one attribute is unloaded: the site that did it, the rule, one sentence."""

    site_id: int
    line: int
    kind: SiteKind
    session: str
    code: str
    why: str
    possible: bool = False
    #: The function whose flush did it, when that is another function (a callee).
    origin: Optional[str] = None


@dataclass
class Obj:
    """What is known about one ORM object (or every element of a tracked list)."""

    model: ModelFacts
    origin: str  # "new", "loaded", "param"
    ref: str  # the model's name as this module writes it
    session: Optional[str] = None
    in_session: bool = False
    persistent: bool = False  # INSERTed (or loaded): refresh is allowed
    committed: bool = False  # survives a later rollback as a persistent object
    home: Optional[str] = None  # the variable a tracked list was first bound to
    is_list: bool = False
    order: int = 0  # when it joined the session, for the order of fixes
    given: Set[str] = field(default_factory=set)
    sql_assigned: Set[str] = field(default_factory=set)
    loaded_rels: Set[str] = field(default_factory=set)
    dirty: bool = False
    rel_dirty: bool = False
    unloaded: Dict[str, Set[Reason]] = field(default_factory=dict)
    expired: Set[Reason] = field(default_factory=set)  # everything expired (commit, ...)
    reloaded: Set[str] = field(default_factory=set)  # set or refreshed since `expired`
    children: List["Obj"] = field(default_factory=list)  # cascaded with this one
    sites: Set[int] = field(default_factory=set)  # sites it was in the session at

    def copy(self, memo: Dict[int, "Obj"]) -> "Obj":
        if id(self) in memo:
            return memo[id(self)]
        clone = Obj(
            model=self.model,
            origin=self.origin,
            ref=self.ref,
            session=self.session,
            in_session=self.in_session,
            persistent=self.persistent,
            committed=self.committed,
            home=self.home,
            is_list=self.is_list,
            order=self.order,
            given=set(self.given),
            sql_assigned=set(self.sql_assigned),
            loaded_rels=set(self.loaded_rels),
            dirty=self.dirty,
            rel_dirty=self.rel_dirty,
            unloaded={k: set(v) for k, v in self.unloaded.items()},
            expired=set(self.expired),
            reloaded=set(self.reloaded),
            sites=set(self.sites),
        )
        memo[id(self)] = clone
        clone.children = [child.copy(memo) for child in self.children]
        return clone

    def reasons_for(self, attr: str) -> Set[Reason]:
        reasons: Set[Reason] = set()
        if self.expired and attr not in self.reloaded:
            reasons |= self.expired
        reasons |= self.unloaded.get(attr, set())
        return reasons

    def mark_loaded(self, attr: str) -> None:
        self.unloaded.pop(attr, None)
        if self.expired:
            self.reloaded.add(attr)

    def unload(self, attr: str, reason: Reason) -> None:
        self.unloaded.setdefault(attr, set()).add(reason)


@dataclass(frozen=True)
class Query:
    """A ``select(Model)`` statement, or the result of executing one."""

    model: ModelFacts
    ref: str
    options: Tuple[str, ...] = ()
    session: Optional[str] = None
    executed: bool = False
    scalars: bool = False


class EmptyList:
    """``items = []``: a list that may be filled with ORM objects by ``append``."""


EMPTY_LIST = EmptyList()

Value = Union[Obj, Query, EmptyList]


class State:
    """Variable bindings at one program point."""

    def __init__(self, bindings: Optional[Dict[str, Value]] = None,
                 effects: Optional[Set[Tuple[str, SiteKind]]] = None) -> None:
        self.bindings: Dict[str, Value] = bindings if bindings is not None else {}
        #: (session, kind) of every flush/commit/rollback on the path so far.
        self.effects: Set[Tuple[str, SiteKind]] = effects if effects is not None else set()

    def copy(self) -> "State":
        memo: Dict[int, Obj] = {}
        return State(
            {k: (v.copy(memo) if isinstance(v, Obj) else v) for k, v in self.bindings.items()},
            set(self.effects),
        )

    def objects(self) -> List[Obj]:
        seen: Dict[int, Obj] = {}
        for value in self.bindings.values():
            if isinstance(value, Obj):
                for obj in _with_children(value):
                    seen.setdefault(id(obj), obj)
        return sorted(seen.values(), key=lambda o: o.order)


def _with_children(obj: Obj) -> Iterator[Obj]:
    stack = [obj]
    seen: Set[int] = set()
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        stack.extend(current.children)


def join(states: Sequence[Optional[State]]) -> Optional[State]:
    """The state after control flow merges: unloaded on any arm is unloaded."""
    live = [s for s in states if s is not None]
    if not live:
        return None
    if len(live) == 1:
        return live[0]
    result = live[0].copy()
    for other in live[1:]:
        result.effects |= other.effects
        merged: Dict[str, Value] = {}
        for key in set(result.bindings) | set(other.bindings):
            a = result.bindings.get(key)
            b = other.bindings.get(key)
            if a is None or b is None:
                merged[key] = a if a is not None else b  # type: ignore[assignment]
            elif isinstance(a, Obj) and isinstance(b, Obj) and a.model is b.model:
                _merge_into(a, b)
                merged[key] = a
            elif isinstance(a, Query) and a == b:
                merged[key] = a
            elif isinstance(a, EmptyList) or isinstance(b, EmptyList):
                # `items = []` on one arm, filled on the other (a loop that ran): the filled one
                keep = b if isinstance(a, EmptyList) else a
                if isinstance(keep, (EmptyList, Obj)) and (not isinstance(keep, Obj) or keep.is_list):
                    merged[key] = keep
            # bound to different things on different arms: track neither (never guess)
        result.bindings = merged
    return result


def _merge_into(a: Obj, b: Obj) -> None:
    if a is b:
        return
    a.in_session = a.in_session or b.in_session
    a.persistent = a.persistent or b.persistent
    a.given &= b.given
    a.loaded_rels &= b.loaded_rels
    a.sql_assigned |= b.sql_assigned
    a.dirty = a.dirty or b.dirty
    a.rel_dirty = a.rel_dirty or b.rel_dirty
    a.sites |= b.sites
    for attr, reasons in b.unloaded.items():
        a.unloaded.setdefault(attr, set()).update(reasons)
    if b.expired:
        if a.expired:
            # An attribute reloaded on one arm only is unloaded for the other arm's reasons
            # alone (not for the expiry its own arm reloaded it after).
            for attr in a.reloaded - b.reloaded:
                a.unloaded.setdefault(attr, set()).update(b.expired)
            for attr in b.reloaded - a.reloaded:
                a.unloaded.setdefault(attr, set()).update(a.expired)
            a.reloaded |= b.reloaded
        else:
            a.reloaded = set(b.reloaded)
        a.expired |= b.expired
    if a.session is None:
        a.session = b.session


# ---------------------------------------------------------------------------
# Results collected while interpreting
# ---------------------------------------------------------------------------


@dataclass
class SiteInfo:
    id: int
    stmt: cst.CSTNode  # the statement the fix goes after
    line: int
    kind: SiteKind
    session: str
    block_ok: bool  # the statement sits in a block where a statement can be inserted


@dataclass
class ReadRecord:
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
class FixPlan:
    site: SiteInfo
    obj_key: str
    obj: Obj
    certain: Set[str] = field(default_factory=set)
    possible: Set[str] = field(default_factory=set)
    escapes: bool = False


class FunctionAnalysis:
    """Interprets one async function body; collects reads, escapes and sites."""

    def __init__(self, analyzer: "ModuleAnalyzer", func: cst.FunctionDef, qualname: str,
                 owner: "ClassInfo") -> None:
        self.a = analyzer
        self.func = func
        self.qualname = qualname
        self.fqn = f"{analyzer.module_name}.{qualname}"
        self.owner = owner
        self.session_exprs: Set[str] = set()
        self.class_session_attrs = owner.session_attrs
        #: Local variables and parameters holding instances of project classes (services).
        self.var_types: Dict[str, str] = {}
        self.param_index: Dict[str, int] = {}
        self.route = _route_of(func, analyzer)
        self.fg004: List[ReadRecord] = []
        self.reads: Dict[Tuple[int, int, str, Tuple[str, ...]], ReadRecord] = {}
        self.escapes: List[Tuple[str, Obj, Tuple[Reason, ...]]] = []
        self.loop_stack: List[Tuple[List[State], List[State]]] = []  # (continues, breaks)
        self.order = 0
        #: The statement being evaluated (where a read's position is looked up).
        self.line: Optional[cst.CSTNode] = None

    # -- entry ---------------------------------------------------------------

    def run(self) -> None:
        state = State()
        params = self.func.params
        positional = list(params.posonly_params) + list(params.params)
        if self.owner.name and positional and positional[0].name.value in ("self", "cls"):
            positional = positional[1:]
        self.param_index = {p.name.value: i for i, p in enumerate(positional)}
        for param in list(params.posonly_params) + list(params.params) + list(params.kwonly_params):
            name = param.name.value
            annotation = param.annotation.annotation if param.annotation else None
            declared = _annotated_class(annotation) if annotation is not None else None
            if declared is not None:
                self.var_types[name] = self.a.type_aliases.get(declared, declared)
            if annotation is None:
                if name in SESSION_NAMES or name in self.a.settings.session_names:
                    self.session_exprs.add(name)
                continue
            type_names = _annotation_names(annotation)
            if type_names & SESSION_TYPES:
                self.session_exprs.add(name)
                continue
            for type_name in sorted(type_names):
                model = self.a.resolve_model(type_name)
                if model is not None:
                    self.order += 1
                    state.bindings[name] = Obj(
                        model=model, origin="param", ref=type_name, persistent=True,
                        order=self.order, loaded_rels=set(),
                    )
                    break
        body = self.func.body
        if isinstance(body, cst.IndentedBlock):
            end = self.exec_block(body.body, state, block_ok=True)
        else:
            end = self.exec_block(body.body, state, block_ok=False)
        if end is not None:
            self.publish_effects(end)

    # -- statements ------------------------------------------------------------

    def exec_block(self, stmts: Sequence[cst.CSTNode], state: Optional[State],
                   block_ok: bool = True) -> Optional[State]:
        for stmt in stmts:
            if state is None:
                return None
            state = self.exec_stmt(stmt, state, block_ok)
        return state

    def exec_body(self, body: cst.BaseSuite, state: Optional[State]) -> Optional[State]:
        if isinstance(body, cst.IndentedBlock):
            return self.exec_block(body.body, state, block_ok=True)
        return self.exec_block(body.body, state, block_ok=False)

    def exec_stmt(self, stmt: cst.CSTNode, state: State, block_ok: bool) -> Optional[State]:
        if isinstance(stmt, (cst.SimpleStatementLine, cst.SimpleStatementSuite)):
            # A fix can only follow a line that holds one statement and sits in a block.
            insertable = isinstance(stmt, cst.SimpleStatementLine) and block_ok and len(stmt.body) == 1
            for small in stmt.body:
                if state is None:
                    return None
                state = self.exec_small(small, state, stmt, insertable)
            return state
        if isinstance(stmt, cst.If):
            self.eval(stmt.test, state, stmt, block_ok)
            then_state = self.exec_body(stmt.body, state.copy())
            if stmt.orelse is None:
                else_state: Optional[State] = state
            elif isinstance(stmt.orelse, cst.If):
                else_state = self.exec_stmt(stmt.orelse, state.copy(), block_ok)
            else:
                else_state = self.exec_body(stmt.orelse.body, state.copy())
            return join([then_state, else_state])
        if isinstance(stmt, (cst.For,)):
            iter_value = self.eval(stmt.iter, state, stmt, block_ok)
            if isinstance(iter_value, Obj) and iter_value.is_list and self.refreshes_each(stmt):
                # `for x in items: await S.refresh(x, [...])` refreshes every element; an
                # empty list has no element left to read, so the loop is not a branch here.
                state.bindings[self.a.text(stmt.target)] = iter_value  # shared, not copied
                self.exec_body(stmt.body, state)
                # The element name must not outlive the loop as a second name of the list: a
                # join with another path would merge that path's list state into this one's.
                state.bindings.pop(self.a.text(stmt.target), None)
                return state
            return self.exec_loop(stmt, state, block_ok, target=stmt.target, iter_=stmt.iter,
                                  iter_value=iter_value)
        if isinstance(stmt, cst.While):
            self.eval(stmt.test, state, stmt, block_ok)
            return self.exec_loop(stmt, state, block_ok, target=None, iter_=None, iter_value=None)
        if isinstance(stmt, (cst.Try, cst.TryStar)):
            body_state = self.exec_body(stmt.body, state.copy())
            handler_start = join([state, body_state])
            outs: List[Optional[State]] = []
            if stmt.orelse is not None:
                outs.append(self.exec_body(stmt.orelse.body, body_state.copy() if body_state else None))
            else:
                outs.append(body_state)
            for handler in stmt.handlers:
                outs.append(self.exec_body(handler.body, handler_start.copy() if handler_start else None))
            result = join(outs)
            if stmt.finalbody is not None:
                start = result if result is not None else handler_start
                final = self.exec_body(stmt.finalbody.body, start.copy() if start else None)
                return final if result is not None else None
            return result
        if isinstance(stmt, cst.With):
            return self.exec_with(stmt, state, block_ok)
        if isinstance(stmt, cst.Match):
            self.eval(stmt.subject, state, stmt, block_ok)
            outs = [self.exec_body(case.body, state.copy()) for case in stmt.cases]
            outs.append(state)
            return join(outs)
        if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
            if isinstance(stmt, cst.FunctionDef):
                # A nested function reads the state at its definition.
                self.eval(stmt.body, state, stmt, block_ok, events=False)
                state.bindings.pop(stmt.name.value, None)
            return state
        return state

    def refreshes_each(self, stmt: cst.For) -> bool:
        body = stmt.body.body
        return (isinstance(stmt.target, cst.Name) and len(body) >= 1
                and all(_is_refresh_stmt(s) or _is_reselect_stmt(s) for s in body))

    def exec_loop(self, stmt: Union[cst.For, cst.While], state: State, block_ok: bool,
                  target: Optional[cst.BaseExpression], iter_: Optional[cst.BaseExpression],
                  iter_value: Optional[Value]) -> Optional[State]:
        continues: List[State] = []
        breaks: List[State] = []
        self.loop_stack.append((continues, breaks))
        entry = state
        current: Optional[State] = state.copy()
        for _ in range(2):
            if current is None:
                break
            if target is not None and iter_ is not None:
                self.bind_loop_target(target, iter_, iter_value, current)
            if isinstance(stmt, cst.While):
                self.eval(stmt.test, current, stmt, block_ok)
            after = self.exec_body(stmt.body, current)
            current = join([entry, after] + [c for c in continues])
            if current is not None:
                current = current.copy()
        self.loop_stack.pop()
        exit_state = join([current] + breaks)
        if stmt.orelse is not None and exit_state is not None:
            exit_state = self.exec_body(stmt.orelse.body, exit_state)
        return exit_state

    def exec_with(self, stmt: cst.With, state: State, block_ok: bool) -> Optional[State]:
        ends: List[Tuple[str, str]] = []  # (session, "commit"|"flush") on exit
        for item in stmt.items:
            self.eval(item.item, state, stmt, block_ok)
            call = item.item
            if isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute):
                session = self.session_of(call.func.value)
                method = call.func.attr.value
                if session is not None and method == "begin" and item.asname is None:
                    ends.append((session, "commit"))
                elif session is not None and method == "begin_nested":
                    ends.append((session, "flush"))
            if item.asname is not None:
                for name in _target_names(item.asname.name):
                    state.bindings.pop(name, None)
                    if name in SESSION_NAMES or name.endswith("session"):
                        self.session_exprs.add(name)
        after = self.exec_body(stmt.body, state)
        if after is None:
            return None
        for session, kind in reversed(ends):
            site = self.a.new_site(stmt, "commit" if kind == "commit" else "flush", session, block_ok)
            self.record_site(site, after, session)
            if kind == "commit":
                self.do_commit(after, session, site)
            else:
                self.do_flush(after, session, site, only=None)
        return after

    def exec_small(self, small: cst.BaseSmallStatement, state: State, line: cst.CSTNode,
                   block_ok: bool) -> Optional[State]:
        if isinstance(small, cst.Expr):
            self.eval(small.value, state, line, block_ok)
            return state
        if isinstance(small, cst.Assign):
            value = self.eval(small.value, state, line, block_ok)
            if isinstance(small.value, cst.Call) and len(small.targets) == 1 \
                    and isinstance(small.targets[0].target, cst.Name):
                constructed = dotted(small.value.func)
                if constructed and self.a.resolve_model(constructed) is None:
                    self.var_types[small.targets[0].target.value] = constructed
            for target in small.targets:
                self.assign(target.target, small.value, value, state, line, block_ok)
            return state
        if isinstance(small, cst.AnnAssign):
            value = None
            if small.value is not None:
                value = self.eval(small.value, state, line, block_ok)
            if value is None:
                model = None
                for type_name in sorted(_annotation_names(small.annotation.annotation)):
                    model = self.a.resolve_model(type_name)
                    if model is not None:
                        break
                if model is not None and small.value is not None:
                    self.order += 1
                    value = Obj(model=model, origin="param", ref=type_name, persistent=True,
                                order=self.order)
            self.assign(small.target, small.value, value, state, line, block_ok)
            return state
        if isinstance(small, cst.AugAssign):
            # `obj.n += 1` reads obj.n first.
            self.eval(small.target, state, line, block_ok)
            self.eval(small.value, state, line, block_ok)
            self.assign(small.target, small.value, None, state, line, block_ok, aug=True)
            return state
        if isinstance(small, cst.Return):
            if small.value is not None:
                value = self.eval(small.value, state, line, block_ok)
                self.escape(small.value, state)
                self.returned(small.value, value, state)
            self.publish_effects(state)
            return None
        if isinstance(small, cst.Raise):
            if small.exc is not None:
                self.eval(small.exc, state, line, block_ok)
            return None
        if isinstance(small, cst.Continue):
            if self.loop_stack:
                self.loop_stack[-1][0].append(state)
            return None
        if isinstance(small, cst.Break):
            if self.loop_stack:
                self.loop_stack[-1][1].append(state)
            return None
        if isinstance(small, cst.Del):
            for name in _target_names(small.target):
                state.bindings.pop(name, None)
            return state
        if isinstance(small, (cst.Assert,)):
            self.eval(small.test, state, line, block_ok)
            return state
        return state

    def bind_loop_target(self, target: cst.BaseExpression, iter_: cst.BaseExpression,
                         iter_value: Optional[Value], state: State) -> None:
        # A named list is looked up again: `state` may be a copy of the one evaluated.
        value = state.bindings.get(self.a.text(iter_)) if isinstance(iter_, (cst.Name, cst.Attribute)) \
            else iter_value
        for name in _target_names(target):
            state.bindings.pop(name, None)
        if isinstance(target, (cst.Name, cst.Attribute)):
            key = self.a.text(target)
            if isinstance(value, Obj) and value.is_list:
                state.bindings[key] = value
            elif isinstance(value, Query) and value.executed:
                self.order += 1
                state.bindings[key] = self.loaded_obj(value)

    # -- assignment ------------------------------------------------------------

    def assign(self, target: cst.BaseAssignTargetExpression, value_node: Optional[cst.BaseExpression],
               value: Optional[Value], state: State, line: cst.CSTNode, block_ok: bool,
               aug: bool = False) -> None:
        if isinstance(target, cst.Attribute):
            owner_key = self.a.text(target.value)
            owner = state.bindings.get(owner_key)
            attr = target.attr.value
            if isinstance(owner, Obj) and owner.model.has_attribute(attr):
                self.write(owner_key, owner, attr, value_node, value, state, target)
                return
        if isinstance(target, (cst.Name, cst.Attribute)):
            key = self.a.text(target)
            # re-binding drops whatever was known about the old value
            for bound in [k for k in state.bindings if k == key or k.startswith(key + ".")]:
                state.bindings.pop(bound, None)
            if value is not None and not aug:
                if isinstance(value, Obj) and value.is_list and value.home is None:
                    value.home = key
                state.bindings[key] = value
            return
        for name in _target_names(target):
            state.bindings.pop(name, None)

    def write(self, owner_key: str, owner: Obj, attr: str, value_node: Optional[cst.BaseExpression],
              value: Optional[Value], state: State, node: cst.CSTNode) -> None:
        rel = owner.model.relationship(attr)
        if rel is not None and rel.collection and owner.persistent:
            # Assigning a collection loads the old one to compute removals: a read.
            self.check_read(owner_key, owner, (attr,), node)
        owner.given.add(attr)
        owner.mark_loaded(attr)
        if rel is not None:
            owner.loaded_rels.add(attr)
            if isinstance(value, Obj):
                self.link(owner, value)
            if owner.persistent:
                owner.rel_dirty = True
        else:
            if owner.persistent:
                owner.dirty = True
            if value_node is not None and self.a.is_sql_expression(value_node):
                owner.sql_assigned.add(attr)
            else:
                owner.sql_assigned.discard(attr)

    def link(self, parent: Obj, child: Obj) -> None:
        """``parent.rel = child`` / ``Child(parent=p)``: the save-update cascade ties them."""
        if child not in parent.children:
            parent.children.append(child)
        if parent.in_session and not child.in_session and child.origin == "new":
            self.order += 1
            child.in_session, child.session, child.order = True, parent.session, self.order
        if child.in_session and not parent.in_session and parent.origin == "new":
            self.order += 1
            parent.in_session, parent.session, parent.order = True, child.session, self.order
        if child.persistent and parent.origin == "new":
            child.rel_dirty = True
        if parent.persistent and child.origin == "new":
            parent.rel_dirty = True

    # -- expressions -------------------------------------------------------------

    def eval(self, node: cst.CSTNode, state: State, line: cst.CSTNode, block_ok: bool,
             events: bool = True) -> Optional[Value]:
        """Walk ``node`` in evaluation order: reads are checked, events applied.

        Returns what the expression evaluates to, when that is a tracked object
        or query.
        """
        self.line = line
        if isinstance(node, cst.Await):
            inner = node.expression
            if isinstance(inner, cst.Call):
                return self.eval_call(inner, state, line, block_ok, events, awaited=True)
            return self.eval(inner, state, line, block_ok, events)
        if isinstance(node, cst.Call):
            return self.eval_call(node, state, line, block_ok, events, awaited=False)
        if isinstance(node, cst.Attribute):
            self.eval(node.value, state, line, block_ok, events)
            owner_key = self.a.text(node.value)
            owner = state.bindings.get(owner_key)
            if owner is None and isinstance(node.value, cst.Subscript):
                # items[0].created_at
                base = state.bindings.get(self.a.text(node.value.value))
                if isinstance(base, Obj) and base.is_list:
                    owner, owner_key = base, self.a.text(node.value.value)
            if isinstance(owner, Obj) and owner.model.has_attribute(node.attr.value):
                self.check_read(owner_key, owner, (node.attr.value,), node)
            return state.bindings.get(self.a.text(node)) if isinstance(node.value, (cst.Name, cst.Attribute)) else None
        if isinstance(node, (cst.Name,)):
            return state.bindings.get(node.value)
        if isinstance(node, cst.Lambda):
            self.eval(node.body, state, line, block_ok, events=False)
            return None
        if isinstance(node, (cst.ListComp, cst.SetComp, cst.GeneratorExp, cst.DictComp)):
            inner = state.copy()
            comp: Optional[cst.BaseCompFor] = node.for_in
            while comp is not None:
                iter_value = self.eval(comp.iter, inner, line, block_ok, events)
                self.bind_loop_target(comp.target, comp.iter, iter_value, inner)
                for cond in comp.ifs:
                    self.eval(cond.test, inner, line, block_ok, events)
                comp = comp.inner_for_in
            if isinstance(node, cst.DictComp):
                self.eval(node.key, inner, line, block_ok, events)
                self.eval(node.value, inner, line, block_ok, events)
                return None
            element = self.eval(node.elt, inner, line, block_ok, events)
            if isinstance(node, cst.ListComp) and isinstance(element, Obj) and not element.is_list \
                    and element.origin == "new":
                self.order += 1
                group = Obj(model=element.model, origin="new", ref=element.ref, is_list=True,
                            order=self.order, given=set(element.given),
                            sql_assigned=set(element.sql_assigned),
                            loaded_rels=set(element.loaded_rels))
                return group
            return None
        if isinstance(node, cst.FormattedStringExpression):
            self.eval(node.expression, state, line, block_ok, events)
            self.whole_object_read(node.expression, state, node, repr_only=True)
            return None
        if isinstance(node, (cst.List, cst.Tuple, cst.Set)):
            values = [self.eval(el.value, state, line, block_ok, events) for el in node.elements]
            objs = [v for v in values if isinstance(v, Obj) and not v.is_list]
            if isinstance(node, cst.List) and not node.elements:
                return EMPTY_LIST
            if isinstance(node, cst.List) and objs and len(objs) == len(values):
                return self._list_of(objs)
            return None
        if isinstance(node, (cst.FunctionDef,)):
            return None
        for child in node.children:
            if isinstance(child, (cst.BaseExpression, cst.BaseSuite, cst.BaseStatement,
                                  cst.BaseSmallStatement, cst.Arg, cst.Element, cst.BaseDictElement,
                                  cst.FormattedStringExpression, cst.BaseFormattedStringContent,
                                  cst.SubscriptElement, cst.BaseSlice, cst.Comparison, cst.ComparisonTarget,
                                  cst.Parameters, cst.Param, *TEMPLATE_PARTS)):
                self.eval(child, state, line, block_ok, events)
        return None

    def _list_of(self, objs: List[Obj]) -> Optional[Obj]:
        models = {id(o.model) for o in objs}
        if len(models) != 1:
            return None
        first = objs[0]
        self.order += 1
        group = Obj(model=first.model, origin=first.origin, ref=first.ref, is_list=True,
                    order=self.order, children=list(objs))
        group.given = set.intersection(*(o.given for o in objs))
        group.loaded_rels = set.intersection(*(o.loaded_rels for o in objs))
        return group

    def eval_call(self, call: cst.Call, state: State, line: cst.CSTNode, block_ok: bool,
                  events: bool, awaited: bool) -> Optional[Value]:
        func = call.func
        method = func.attr.value if isinstance(func, cst.Attribute) else None
        session = self.session_of(func.value) if isinstance(func, cst.Attribute) else None
        if session is not None and method == "run_sync":
            return None  # reads inside run_sync run in the greenlet: safe
        if isinstance(func, cst.Attribute) and method in {"awaitable_attrs"}:
            return None
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Attribute) \
                and func.value.attr.value == "awaitable_attrs":
            return None
        # the receiver, then the arguments, in order
        arg_values: List[Optional[Value]] = []
        receiver: Optional[Value] = None
        if session is None:
            if isinstance(func, cst.Attribute):
                receiver = self.eval(func.value, state, line, block_ok, events)
            else:
                self.eval(func, state, line, block_ok, events)
        for arg in call.args:
            arg_values.append(self.eval(arg.value, state, line, block_ok, events))
        if session is not None:
            if events:
                return self.session_call(session, method or "", call, arg_values, state, line, block_ok, awaited)
            return None
        name = _call_name(func)
        # Model(...) constructs a new object
        if name is not None:
            model = self.a.resolve_model(self.a.text(func))
            if model is not None:
                return self.construct(model, self.a.text(func), call, arg_values, state)
            if name == "select" and call.args:
                first = call.args[0].value
                entity = self.a.resolve_model(self.a.text(first))
                if entity is not None and len(call.args) == 1:
                    return Query(model=entity, ref=self.a.text(first))
                return None
        if isinstance(func, cst.Attribute) and isinstance(receiver, Query):
            return self.query_method(receiver, method or "", call)
        if awaited and events:
            callee = self.resolve_callee(func)
            if callee is not None:
                returned = self.a.facts.returns.get(callee)
                if returned is not None:
                    self.a.calls.add(callee)
                if callee in self.a.facts.flushers:
                    # The helper flushes what it was given: nothing escapes unloaded.
                    self.apply_flush_effects(callee, func, call, arg_values, state, line, block_ok)
                    return self.returned_obj(returned) if returned is not None else None
                if returned is not None:
                    return self.returned_obj(returned)
        # whole-object readers: Schema.model_validate(obj), jsonable_encoder(obj), repr(obj)
        if name in WHOLE_OBJECT_READERS or name in {"repr", "str"} or name == "print":
            schema = self.a.resolve_schema(self.a.text(func.value)) \
                if isinstance(func, cst.Attribute) and name in {"model_validate", "from_orm"} else None
            for arg in call.args[:1] if schema is not None else call.args:
                if schema is not None:
                    self.serialize_read(arg.value, state, schema, arg.value, f"{self.fqn} -> ")
                else:
                    self.whole_object_read(arg.value, state, arg.value,
                                           repr_only=name in {"repr", "str", "print"})
        # obj.coll.append(child): child joins the session with obj
        if isinstance(func, cst.Attribute) and method in {"append", "add", "extend", "insert"} \
                and isinstance(func.value, cst.Attribute):
            owner = state.bindings.get(self.a.text(func.value.value))
            rel_name = func.value.attr.value
            if isinstance(owner, Obj) and owner.model.relationship(rel_name) is not None:
                owner.loaded_rels.add(rel_name)
                if owner.persistent:
                    owner.rel_dirty = True
                for value in arg_values:
                    if isinstance(value, Obj):
                        self.link(owner, value)
        elif isinstance(func, cst.Attribute) and method in {"append", "extend"}:
            owner_key = self.a.text(func.value)
            owner = state.bindings.get(owner_key)
            first = arg_values[0] if arg_values else None
            if isinstance(owner, EmptyList) and isinstance(first, Obj) and not first.is_list:
                # The list now holds objects of this model: track it like `[Model(...) ...]`.
                group = self._list_of([first])
                if group is not None:
                    group.home = owner_key
                    group.in_session, group.session = first.in_session, first.session
                    group.persistent = first.persistent
                    state.bindings[owner_key] = group
            elif isinstance(owner, Obj) and owner.is_list:
                for value in arg_values:
                    if isinstance(value, Obj) and value.model is owner.model:
                        owner.children.append(value)
        if name == "setattr" and len(call.args) >= 2:
            owner = state.bindings.get(self.a.text(call.args[0].value))
            attr_node = call.args[1].value
            if isinstance(owner, Obj):
                if isinstance(attr_node, cst.SimpleString) and owner.model.has_attribute(attr_node.evaluated_value):
                    self.write(self.a.text(call.args[0].value), owner, str(attr_node.evaluated_value),
                               call.args[2].value if len(call.args) > 2 else None, None, state, call)
                elif owner.persistent:
                    owner.dirty = True
        # an object passed to another function escapes (the call index follows it)
        if name not in WHOLE_OBJECT_READERS and name not in {"setattr", "getattr", "isinstance", "len", "print", "repr", "str"}:
            for arg in call.args:
                self.escape(arg.value, state)
        return None

    def query_method(self, query: Query, method: str, call: cst.Call) -> Optional[Value]:
        if method == "options":
            options = list(query.options)
            for arg in call.args:
                options.extend(self.a.loader_options(arg.value, query.model))
            return Query(query.model, query.ref, tuple(options), query.session, query.executed, query.scalars)
        if not query.executed:
            if method in {"where", "filter", "filter_by", "order_by", "limit", "offset", "join",
                          "outerjoin", "execution_options", "with_for_update", "distinct", "group_by"}:
                return query
            return None
        if method in {"scalars", "unique"}:
            return Query(query.model, query.ref, query.options, query.session, True,
                         scalars=query.scalars or method == "scalars")
        if method in SINGLE_RESULT and (query.scalars or method.startswith("scalar")):
            self.order += 1
            return self.loaded_obj(query)
        if method in LIST_RESULT and query.scalars:
            self.order += 1
            obj = self.loaded_obj(query)
            obj.is_list = True
            return obj
        return None

    def loaded_obj(self, query: Query) -> Obj:
        rels = set(query.options)
        for rel in query.model.relationships:
            if rel.lazy in EAGER_LAZY:
                rels.add(rel.name)
        return Obj(model=query.model, origin="loaded", ref=query.ref, session=query.session,
                   in_session=True, persistent=True, order=self.order, loaded_rels=rels)

    def construct(self, model: ModelFacts, ref: str, call: cst.Call, arg_values: List[Optional[Value]],
                  state: State) -> Obj:
        self.order += 1
        obj = Obj(model=model, origin="new", ref=ref, order=self.order)
        for arg, value in zip(call.args, arg_values):
            if arg.keyword is None:
                if arg.star == "**":
                    obj.given.add("*")  # unknown keywords: be conservative about what was given
                continue
            attr = arg.keyword.value
            column = model.column(attr)
            if isinstance(arg.value, cst.Name) and arg.value.value == "None" and column is not None \
                    and (column.server_default or column.computed or column.default == "sql"):
                continue  # the INSERT leaves a None out: the server value applies (measured)
            obj.given.add(attr)
            if self.a.is_sql_expression(arg.value):
                obj.sql_assigned.add(attr)
            rel = model.relationship(attr)
            if rel is not None:
                obj.loaded_rels.add(attr)
                if isinstance(value, Obj):
                    if value.is_list:
                        for child in value.children or [value]:
                            self.link(obj, child)
                    else:
                        self.link(obj, value)
        return obj

    # -- session events ------------------------------------------------------------

    def session_call(self, session: str, method: str, call: cst.Call, arg_values: List[Optional[Value]],
                     state: State, line: cst.CSTNode, block_ok: bool, awaited: bool) -> Optional[Value]:
        args = call.args
        first = arg_values[0] if arg_values else None
        if method in {"add", "add_all"}:
            targets: List[Obj] = []
            if isinstance(first, Obj):
                targets = list(first.children) if first.is_list and first.children else [first]
                if first.is_list:
                    targets.append(first)
            for obj in targets:
                for member in _with_children(obj):
                    if member.origin == "new" and not member.in_session:
                        self.order += 1
                        member.in_session, member.session, member.order = True, session, self.order
            return None
        if method in {"flush", "commit", "rollback"} and awaited:
            kind: SiteKind = "flush" if method == "flush" else method  # type: ignore[assignment]
            state.effects.add((session, kind))
            site = self.a.new_site(line, kind, session, block_ok)
            self.record_site(site, state, session)
            only: Optional[List[Obj]] = None
            if method == "flush" and isinstance(first, Obj):
                only = list(first.children) + [first] if first.is_list else [first]
            if method == "flush":
                self.do_flush(state, session, site, only)
            elif method == "commit":
                self.do_commit(state, session, site)
            else:
                self.do_rollback(state, session, site)
            return None
        if method in {"expire", "expire_all"}:
            site = self.a.new_site(line, "expire", session, block_ok)
            self.record_site(site, state, session)
            names = _string_list(args[1].value) if len(args) > 1 else None
            for arg in args:
                if arg.keyword is not None and arg.keyword.value == "attribute_names":
                    names = _string_list(arg.value)
            reason_for = lambda code: Reason(site.id, site.line, "expire", session, "FG003",
                                             f"`{method}()` expires it")
            victims = [first] if method == "expire" and isinstance(first, Obj) else (
                self.session_objects(state, session) if method == "expire_all" else [])
            for obj in victims:
                # A pending object is never expired: expire_all() passes it by, expire() of it
                # raises (and a refresh of it would too).
                if not isinstance(obj, Obj) or not obj.persistent:
                    continue
                if names is None:
                    obj.expired = {reason_for("FG003")}
                    obj.reloaded = set()
                else:
                    for attr in names:
                        obj.unload(attr, reason_for("FG003"))
            return None
        if method == "refresh" and awaited and isinstance(first, Obj):
            names = None
            if len(args) > 1 and args[1].keyword is None:
                names = _string_list(args[1].value)
            for arg in args[1:]:
                if arg.keyword is not None and arg.keyword.value == "attribute_names":
                    names = _string_list(arg.value)
            self.do_refresh(first, names)
            return None
        if method in {"get", "get_one"} and awaited and args:
            model = self.a.resolve_model(self.a.text(args[0].value))
            if model is None:
                return None
            # get() of an object already in the identity map returns it as it is.
            for obj in state.objects():
                if obj.model is model and not obj.is_list and not obj.expired \
                        and obj.in_session and len(args) > 1 and self._refers_to_pk(args[1].value, obj, state):
                    return obj
            options: List[str] = []
            for arg in args:
                if arg.keyword is not None and arg.keyword.value == "options":
                    options.extend(self.a.loader_options(arg.value, model))
            self.order += 1
            return self.loaded_obj(Query(model, self.a.text(args[0].value), tuple(options), session, True))
        if method in {"execute", "scalars", "scalar", "stream", "stream_scalars"} and args:
            query = first if isinstance(first, Query) else None
            if query is None:
                return None
            executed = Query(query.model, query.ref, query.options, session, True,
                             scalars=method in {"scalars", "stream_scalars"})
            self.reselect(state, executed)
            if method == "scalar":
                self.order += 1
                return self.loaded_obj(executed)
            return executed
        if method == "merge" and awaited:
            return None
        if method in {"expunge"} and isinstance(first, Obj):
            first.in_session = False
        if method == "delete":
            return None
        return None

    def _refers_to_pk(self, node: cst.BaseExpression, obj: Obj, state: State) -> bool:
        if isinstance(node, cst.Attribute):
            owner = state.bindings.get(self.a.text(node.value))
            return owner is obj and node.attr.value in obj.model.primary_key
        return False

    def session_objects(self, state: State, session: str) -> List[Obj]:
        return [o for o in state.objects()
                if o.in_session and (o.session is None or o.session == session)
                or (o.origin == "param" and (o.session is None or o.session == session))]

    def record_site(self, site: SiteInfo, state: State, session: str,
                    via: Optional[str] = None) -> None:
        """Note the site for the audit; a loop body visits it twice, and the visits merge.

        A helper call (``via``) is noted only when objects of this function are in its session:
        otherwise it is the helper's own sites that the audit lists.
        """
        objects = self.session_objects(state, session)
        if via is not None and not objects and site.id not in self.a.site_reports:
            return
        for obj in objects:
            # Later reads belong to this site, the latest on the path (not to an earlier
            # flush that a rollback has since superseded).
            obj.sites = {site.id}
        keys = {k for k, v in state.bindings.items() if isinstance(v, Obj) and v in objects}
        models = {o.model.name for o in objects}
        seen = self.a.site_reports.get(site.id)
        if seen is not None:
            keys |= set(seen.objects)
            models |= set(seen.models)
        self.a.site_reports[site.id] = SiteReport(
            path=self.a.path, line=site.line, kind=site.kind, session=session, function=self.qualname,
            objects=tuple(sorted(keys)), models=tuple(sorted(models)), via=via,
        )

    def do_flush(self, state: State, session: str, site: SiteInfo, only: Optional[List[Obj]]) -> None:
        settings = self.a.settings
        for obj in self.session_objects(state, session):
            if only is not None and obj not in only:
                continue
            model = obj.model
            def reason(code: str, why: str, possible: bool = False) -> Reason:
                return Reason(site.id, site.line, site.kind, session, code, why, possible)
            if obj.origin == "new" and not obj.persistent:
                if not obj.in_session:
                    continue
                # R1: INSERT
                for expr in model.expressions:
                    obj.unload(expr.name, reason("FG001", f"`{expr.name}` is a column_property: "
                                                 "a flush never loads it"))
                for column in model.columns:
                    if column.name in obj.given and column.name not in obj.sql_assigned:
                        continue
                    if "*" in obj.given:
                        continue
                    if column.name in obj.sql_assigned:
                        obj.unload(column.name, reason("FG001", f"`{column.name}` was assigned a SQL "
                                                       "expression: the flush expires it"))
                        continue
                    if column.deferred:
                        obj.unload(column.name, reason("FG001", f"`{column.name}` is deferred and was "
                                                       "not given a value"))
                        continue
                    generated = self._insert_generated(column)
                    if generated is None:
                        continue
                    verdict = self._insert_fetch_verdict(model, column)
                    if verdict == "fetched":
                        continue
                    obj.unload(column.name, reason("FG001", f"`{column.name}` has {generated} that "
                                                   f"the INSERT does not fetch ({verdict})",
                                                   possible=verdict.startswith("unknown")))
                for rel in model.relationships:
                    if rel.name in obj.loaded_rels or rel.lazy in RAISING_LAZY:
                        continue
                    if rel.many_to_one:
                        if not any(fk in obj.given for fk in rel.foreign_keys):
                            continue  # FK never set: reads None without SQL
                        obj.unload(rel.name, reason(
                            "FG002", f"`{rel.name}` was not assigned: only its foreign key was set, "
                            "so it loads unless the target is already in the session", possible=True))
                        continue
                    if "*" in obj.given:
                        continue
                    obj.unload(rel.name, reason("FG002", f"`{rel.name}` was never assigned before the "
                                                "flush, so it is not loaded"))
                obj.persistent = True
                obj.sql_assigned.clear()
                continue
            # R2: UPDATE of a loaded object with a net change, R2(d) unloaded relationships
            if obj.origin == "loaded":
                for rel in model.relationships:
                    if rel.name in obj.loaded_rels or rel.lazy in RAISING_LAZY or rel.name in obj.unloaded:
                        continue
                    if rel.many_to_one:
                        obj.unload(rel.name, reason(
                            "FG002", f"`{rel.name}` was not loaded by the query: it loads unless "
                            "its target is already in the session", possible=True))
                    else:
                        obj.unload(rel.name, reason("FG002", f"`{rel.name}` was not loaded by the "
                                                    "query that loaded the object"))
            if not (obj.dirty or obj.rel_dirty):
                continue
            for expr in model.expressions:
                if expr.expire_on_flush:
                    obj.unload(expr.name, reason("FG001", f"`{expr.name}` is a column_property: "
                                                 "the UPDATE expires it"))
            if obj.dirty:
                for column in model.columns:
                    if column.name in obj.sql_assigned:
                        if settings.sqlalchemy == "1.4" and model.eager_defaults is True \
                                and settings.backend == "postgresql":
                            continue
                        obj.unload(column.name, reason("FG001", f"`{column.name}` was assigned a SQL "
                                                       "expression: the UPDATE expires it"))
                        continue
                    if column.name in obj.given:
                        continue
                    why = self._update_generated(model, column)
                    if why is not None:
                        obj.unload(column.name, reason("FG001", why, possible=why.startswith("possibly")))
            obj.dirty = obj.rel_dirty = False
            obj.sql_assigned.clear()

    def _insert_generated(self, column) -> Optional[str]:
        if column.primary_key:
            return None
        if column.computed:
            return "a `Computed` expression"
        if column.server_default:
            return "a server default"
        if column.default == "sql":
            return "a SQL-expression default"
        return None

    def _insert_fetch_verdict(self, model: ModelFacts, column) -> str:
        settings = self.a.settings
        sql_default_only = column.default == "sql" and not column.server_default and not column.computed
        if settings.sqlalchemy == "1.4":
            if model.eager_defaults is True:
                if not sql_default_only or settings.backend == "postgresql":
                    return "fetched"
                if settings.backend == "unknown":
                    return "unknown backend: SQLAlchemy 1.4 fetches it only on PostgreSQL"
                return "SQLAlchemy 1.4 fetches SQL-expression defaults only on PostgreSQL"
            return "SQLAlchemy 1.4 defaults to eager_defaults=False"
        if model.eager_defaults is True:
            return "fetched"
        if model.eager_defaults is False:
            return "the model sets eager_defaults=False"
        if not model.implicit_returning:
            return "the table sets implicit_returning=False"
        returning = settings.returning
        if returning is True:
            return "fetched"
        if returning is False:
            return "MySQL has no RETURNING"
        return ("unknown backend: MySQL has no RETURNING, the others fetch it; "
                "set `backend` in [tool.flushguard]")

    def _update_generated(self, model: ModelFacts, column) -> Optional[str]:
        settings = self.a.settings
        eager = model.eager_defaults is True
        if column.server_onupdate or column.computed:
            if eager:
                return None
            what = "server_onupdate" if column.server_onupdate else "a `Computed` expression"
            return f"`{column.name}` has {what}: the UPDATE does not fetch it"
        if column.onupdate == "sql":
            if eager and settings.sqlalchemy != "1.4":
                return None
            if eager and settings.backend == "postgresql":
                return None
            return f"`{column.name}` has a SQL-expression onupdate: the UPDATE expires it"
        return None

    def do_commit(self, state: State, session: str, site: SiteInfo) -> None:
        self.do_flush(state, session, site, None)
        for obj in self.session_objects(state, session):
            if obj.origin == "new" and not obj.in_session:
                continue
            obj.persistent = True
            obj.committed = True
            if self.a.settings.expire_on_commit:
                obj.expired = {Reason(site.id, site.line, "commit", session, "FG003",
                                      "`commit()` expires every attribute (expire_on_commit=True)")}
                obj.reloaded = set()
                obj.unloaded = {}
                obj.loaded_rels = set()

    def do_rollback(self, state: State, session: str, site: SiteInfo) -> None:
        for key, value in list(state.bindings.items()):
            if not isinstance(value, Obj):
                continue
            if value.origin == "new" and value.in_session and not value.committed:
                # A new object rolled back becomes transient: it is no longer ours to refresh.
                state.bindings.pop(key)
        for obj in self.session_objects(state, session):
            obj.expired = {Reason(site.id, site.line, "rollback", session, "FG003",
                                  "`rollback()` expires every attribute")}
            obj.reloaded = set()
            obj.unloaded = {}
            obj.loaded_rels = set()

    def do_refresh(self, obj: Obj, names: Optional[List[str]]) -> None:
        self.a.refreshed_sites.update(obj.sites)
        targets = [obj] + (obj.children if obj.is_list else [])
        for target in targets:
            if names is None:
                for attr in list(target.unloaded):
                    rel = target.model.relationship(attr)
                    if rel is None or rel.lazy in EAGER_LAZY:
                        target.unloaded.pop(attr)
                if target.expired:
                    target.reloaded |= set(target.model.column_names)
                    target.reloaded |= {r.name for r in target.model.relationships if r.lazy in EAGER_LAZY}
            else:
                for attr in names:
                    target.mark_loaded(attr)
                    if target.model.relationship(attr) is not None:
                        target.loaded_rels.add(attr)

    def reselect(self, state: State, query: Query) -> None:
        """A SELECT of a model reloads the expired attributes of its objects in the session."""
        for obj in state.objects():
            if obj.model is not query.model or not obj.persistent:
                continue
            for attr in list(obj.unloaded):
                rel = obj.model.relationship(attr)
                if rel is None or attr in query.options or rel.lazy in EAGER_LAZY:
                    obj.unloaded.pop(attr)
            if obj.expired:
                obj.reloaded |= set(obj.model.column_names)
                obj.reloaded |= set(query.options)
            obj.loaded_rels |= set(query.options)

    # -- reads and escapes ------------------------------------------------------------

    def check_read(self, key: str, obj: Obj, attrs: Tuple[str, ...], node: cst.CSTNode,
                   reader: Optional[str] = None, escaped: bool = False) -> None:
        for site_id in obj.sites:
            self.a.site_reads.setdefault(site_id, set()).update(attrs)
        unsafe: List[str] = []
        reasons: Set[Reason] = set()
        causes: Dict[str, frozenset] = {}
        for attr in attrs:
            rel = obj.model.relationship(attr)
            if rel is not None and (rel.lazy in NEVER_LOADING_LAZY
                                    or (rel.lazy == "raise_on_sql" and not obj.expired)):
                continue
            found = obj.reasons_for(attr)
            if found:
                unsafe.append(attr)
                reasons |= found
                causes[attr] = frozenset(found)
        if not unsafe:
            return
        pos = self.a.position(node, self.line)
        record_key = (pos[0], pos[1], key, tuple(unsafe))
        existing = self.reads.get(record_key)
        if existing is not None:
            reasons |= set(existing.reasons)
            for attr, found in existing.causes.items():
                causes[attr] = causes.get(attr, frozenset()) | found
        self.reads[record_key] = ReadRecord(pos[0], pos[1], key, obj, tuple(unsafe),
                                            tuple(sorted(reasons, key=_reason_key)), reader, causes,
                                            escaped)

    def whole_object_read(self, node: cst.BaseExpression, state: State, at: cst.CSTNode,
                          repr_only: bool) -> None:
        if not isinstance(node, (cst.Name, cst.Attribute)):
            return
        key = self.a.text(node)
        obj = state.bindings.get(key)
        if not isinstance(obj, Obj):
            return
        if repr_only:
            if obj.model.repr_attributes:
                self.check_read(key, obj, obj.model.repr_attributes, at)
            return
        self.check_read(key, obj, obj.model.column_names, at)

    def escape(self, node: cst.BaseExpression, state: State) -> None:
        nodes: List[cst.BaseExpression] = [node]
        if isinstance(node, (cst.Tuple, cst.List)):
            nodes = [el.value for el in node.elements]
        for item in nodes:
            if isinstance(item, (cst.Name, cst.Attribute)):
                obj = state.bindings.get(self.a.text(item))
                if isinstance(obj, Obj):
                    reasons: Set[Reason] = set(obj.expired)
                    for found in obj.unloaded.values():
                        reasons |= found
                    self.escapes.append((self.a.text(item), obj, tuple(reasons)))

    # -- across functions ---------------------------------------------------------

    def resolve_callee(self, func: cst.BaseExpression) -> Optional[str]:
        """The qualname of the project function a call names, when the source shows it."""
        if isinstance(func, cst.Name):
            return self.a.qualify(func.value)
        if not isinstance(func, cst.Attribute):
            return None
        method, base = func.attr.value, func.value
        if isinstance(base, cst.Name) and base.value in ("self", "cls") and self.owner.name:
            return f"{self.a.module_name}.{self.owner.name}.{method}"
        if isinstance(base, cst.Attribute) and isinstance(base.value, cst.Name) \
                and base.value.value == "self" and base.attr.value in self.owner.attr_types:
            owner = self.a.qualify(self.owner.attr_types[base.attr.value])
            return f"{owner}.{method}" if owner else None
        if isinstance(base, cst.Name) and base.value in self.var_types:
            owner = self.a.qualify(self.var_types[base.value])
            return f"{owner}.{method}" if owner else None
        if isinstance(base, cst.Call):
            owner = self.a.qualify(dotted(base.func) or "")
            return f"{owner}.{method}" if owner else None
        name = dotted(func)
        return self.a.qualify(name) if name else None

    def apply_flush_effects(self, callee: str, func: cst.BaseExpression, call: cst.Call,
                            arg_values: List[Optional[Value]], state: State,
                            line: cst.CSTNode, block_ok: bool) -> None:
        """A call to a helper that flushes the session it is given is a flush here.

        New objects handed to it are taken to be added by it (``await self._save(obj)``).
        """
        for effect in self.a.facts.flushers[callee]:
            session: Optional[str] = None
            if effect.target.startswith("self."):
                if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) \
                        and func.value.value == "self":
                    session = effect.target
            else:
                _, index, param = effect.target.split(":", 2)
                for position, arg in enumerate(call.args):
                    if (arg.keyword is not None and arg.keyword.value == param) or \
                            (arg.keyword is None and not arg.star and position == int(index)):
                        session = self.a.text(arg.value)
            if session is None:
                continue
            for value in arg_values:
                if isinstance(value, Obj):
                    for member in _with_children(value):
                        if member.origin == "new" and not member.in_session:
                            self.order += 1
                            member.in_session, member.session, member.order = True, session, self.order
            site = self.a.new_site(line, effect.kind, session, block_ok)
            self.record_site(site, state, session, via=callee)
            state.effects.add((session, effect.kind))
            if effect.kind == "flush":
                self.do_flush(state, session, site, None)
            elif effect.kind == "commit":
                self.do_commit(state, session, site)
            else:
                self.do_rollback(state, session, site)

    def publish_effects(self, state: State) -> None:
        """What a caller sees: the flushes on paths that return normally (a rollback in an
        ``except`` that re-raises is not something the caller continues after)."""
        for session, kind in state.effects:
            if session.startswith("self.") and self.owner.name:
                self.a.flush_effects.add(FlushEffect(self.fqn, session, kind))
            elif session in self.param_index:
                self.a.flush_effects.add(FlushEffect(self.fqn, f"arg:{self.param_index[session]}:{session}", kind))

    def returned_obj(self, returned: ReturnedState) -> Optional[Obj]:
        model = self.a.models.by_qualname(returned.model)
        if model is None:
            return None
        self.order += 1
        obj = Obj(model=model, origin="returned", ref=model.name, in_session=True, persistent=True,
                  is_list=returned.is_list, order=self.order)
        for attr, possible in returned.attributes:
            obj.unload(attr, Reason(0, returned.line, "flush", "", "FG004",
                                    f"`{returned.origin}` returns it unloaded", possible, returned.origin))
        return obj

    def serialize_read(self, node: cst.BaseExpression, state: State, schema, at: cst.CSTNode,
                       reader: str, escaped: bool = False) -> None:
        """A schema validating ``node`` from attributes reads each of its fields."""
        if not isinstance(node, (cst.Name, cst.Attribute)):
            return
        key = self.a.text(node)
        obj = state.bindings.get(key)
        if not isinstance(obj, Obj):
            return
        attrs = tuple(f for f, _ in schema.fields if obj.model.has_attribute(f))
        self.check_read(key, obj, attrs, at, reader=f"{reader}{schema.name}.", escaped=escaped)

    def returned(self, value: cst.BaseExpression, evaluated: Optional[Value], state: State) -> None:
        """``return x``: a route serializes it; any other function hands it to its callers."""
        named = isinstance(value, (cst.Name, cst.Attribute))
        key = self.a.text(value) if named else "the returned object"
        obj = state.bindings.get(key) if named else evaluated
        if not isinstance(obj, Obj):
            return
        self.a.escaped_sites.update(obj.sites)
        if self.route is not None:
            method, path, schema_ref = self.route
            schema = self.a.resolve_schema(schema_ref) if schema_ref else None
            if schema is not None:
                attrs = tuple(f for f, _ in schema.fields if obj.model.has_attribute(f))
                self.check_read(key, obj, attrs, value, reader=f"{method} {path} -> {schema.name}.",
                                escaped=True)
            return
        by_origin: Dict[Optional[str], Dict[str, bool]] = {}
        for attr in obj.model.column_names + tuple(r.name for r in obj.model.relationships):
            for reason in obj.reasons_for(attr):
                seen = by_origin.setdefault(reason.origin, {})
                seen[attr] = seen.get(attr, True) and reason.possible
        line, column = self.a.position(value, self.line)
        for origin, attrs in by_origin.items():
            self.a.returned.append(ReturnedState(
                via=self.fqn, origin=origin or self.fqn, model=obj.model.qualname,
                attributes=tuple(sorted(attrs.items())), path=self.a.path, line=line,
                is_list=obj.is_list))
        if None not in by_origin:
            return
        # FG004 at the return: what this function's callers read of what it left unloaded.
        local = {a for a, r in ((a, obj.reasons_for(a)) for a in by_origin[None])
                 if any(x.origin is None for x in r)}
        consumers = [c for c in self.a.facts.consumers.get(self.fqn, ()) if c.attribute in local]
        if consumers:
            read = tuple(sorted({c.attribute for c in consumers}))
            reasons = {r for a in read for r in obj.reasons_for(a) if r.origin is None}
            readers = "; ".join(sorted({c.reader for c in consumers}))
            self.fg004.append(ReadRecord(line, column, key, obj, read,
                                         tuple(sorted(reasons, key=_reason_key)), readers,
                                         {a: frozenset(obj.reasons_for(a)) for a in read}))
        elif self.fqn in self.a.facts.untraced:
            columns = tuple(a for a in sorted(local) if obj.model.relationship(a) is None)
            reasons = {replace(r, possible=True) for a in columns for r in obj.reasons_for(a)
                       if r.origin is None}
            if columns:
                self.fg004.append(ReadRecord(
                    line, column, key, obj, columns, tuple(sorted(reasons, key=_reason_key)), None,
                    {a: frozenset(replace(r, possible=True) for r in obj.reasons_for(a)) for a in columns}))

    def session_of(self, node: cst.BaseExpression) -> Optional[str]:
        if not isinstance(node, (cst.Name, cst.Attribute)):
            return None
        text = self.a.text(node)
        if text in self.session_exprs:
            return text
        last = node.value if isinstance(node, cst.Name) else node.attr.value
        names = SESSION_NAMES | set(self.a.settings.session_names)
        if last in names or last.lower().endswith("session") or text in self.a.settings.session_names:
            return text
        if isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name) \
                and node.value.value == "self" and last in self.class_session_attrs:
            return text
        return None


def _plain_text(node: cst.CSTNode) -> Optional[str]:
    """The source text of ``a`` or ``a.b.c`` written plainly (no brackets, no spaces), the
    commonest node whose text is asked for, without generating code; else None."""
    if isinstance(node, cst.Name):
        return node.value if not node.lpar else None
    if isinstance(node, cst.Attribute) and not node.lpar:
        dot = node.dot
        if not (isinstance(dot.whitespace_before, cst.SimpleWhitespace) and not dot.whitespace_before.value
                and isinstance(dot.whitespace_after, cst.SimpleWhitespace) and not dot.whitespace_after.value):
            return None
        base = _plain_text(node.value)
        return f"{base}.{node.attr.value}" if base is not None else None
    return None


def _reason_key(reason: Reason) -> Tuple[int, str, str]:
    return (reason.line, reason.code, reason.why)


# ---------------------------------------------------------------------------
# Module level: imports, model resolution, fixes, rewriting
# ---------------------------------------------------------------------------


class _Relevance:
    """Which functions of a module can hold anything to find: those that contain a
    flush/commit/rollback/expire site or call a function the facts know of (one that
    returns unloaded objects or flushes the session it is given)."""

    #: ``name(`` and ``name (``: a call, as far as a text search can tell.
    _CALL = re.compile(r"\b(\w+)\s*\(")

    def __init__(self, names: Iterable[str]) -> None:
        self.markers = tuple(m.decode() for m in SITE_MARKERS)
        # A set, not a regex alternation: the cost of a search must not grow with the project.
        self.calls = frozenset(name.rpartition(".")[2] for name in names)

    def keep(self, block: Block, text: str) -> bool:
        if any(marker in text for marker in self.markers):
            return True
        return bool(self.calls) and not self.calls.isdisjoint(self._CALL.findall(text))


_RELEVANCE: Dict[Tuple[str, ...], _Relevance] = {}


def _relevance(facts: CallFacts) -> _Relevance:
    names = tuple(sorted({*facts.returns, *facts.flushers}))
    found = _RELEVANCE.get(names)
    if found is None:
        _RELEVANCE.clear()  # one set of facts per round: keep only the latest
        found = _RELEVANCE[names] = _Relevance(names)
    return found


class ModuleAnalyzer:
    def __init__(self, source: str, path: str, models: ModelIndex, settings: Settings,
                 module_name: Optional[str], facts: Optional[CallFacts] = None,
                 whole: bool = False) -> None:
        self.source = source
        self.facts = facts if facts is not None else CallFacts()
        self.calls: Set[str] = set()
        self.returned: List[ReturnedState] = []
        self.flush_effects: Set[FlushEffect] = set()
        self.local_defs: Set[str] = set()
        #: Per site: attributes of its objects read later; refreshed; returned.
        self.site_reads: Dict[int, Set[str]] = {}
        self.refreshed_sites: Set[int] = set()
        self.escaped_sites: Set[int] = set()
        self.path = path
        self.models = models
        self.settings = settings
        self.module_name = module_name if module_name is not None else module_name_for(path)
        #: The parsed module: its outline (the functions that can matter, the rest stubbed,
        #: line numbers kept) when ``whole`` is false and the outline is sound, else all of it.
        if whole:
            self.tree, self.outline = cst.parse_module(source), None
        else:
            self.tree, self.outline = parse_outline(source, _relevance(self.facts).keep)
        self._positions = Positions(self.tree, source, self.outline)
        self.imports: Dict[str, str] = {}
        self.sites: Dict[int, SiteInfo] = {}
        self.site_by_node: Dict[int, SiteInfo] = {}
        self.site_reports: Dict[int, SiteReport] = {}
        self.lines = source.splitlines()
        self.local_classes: Set[str] = set()
        self._text_cache: Dict[int, str] = {}
        self._collect_imports()

    # helpers used by FunctionAnalysis

    def text(self, node: cst.CSTNode) -> str:
        cached = self._text_cache.get(id(node))
        if cached is None:
            cached = _plain_text(node) or self.tree.code_for_node(node)
            self._text_cache[id(node)] = cached
        return cached

    def position(self, node: cst.CSTNode, within: Optional[cst.CSTNode] = None) -> Tuple[int, int]:
        """(line, column) of ``node``, both from 1; ``within`` is the statement that holds it."""
        return self._positions.of(node, within)

    def new_site(self, stmt: cst.CSTNode, kind: SiteKind, session: str, block_ok: bool) -> SiteInfo:
        existing = self.site_by_node.get(id(stmt))
        if existing is not None and existing.kind == kind and existing.session == session:
            return existing
        site = SiteInfo(len(self.sites) + 1, stmt, self.position(stmt)[0], kind, session, block_ok)
        self.sites[site.id] = site
        self.site_by_node[id(stmt)] = site
        return site

    def resolve_model(self, name: str) -> Optional[ModelFacts]:
        name = name.strip()
        if not name or not re.match(r"^[A-Za-z_][\w.]*$", name):
            name = name.strip("\"'")
            if not re.match(r"^[A-Za-z_][\w.]*$", name):
                return None
        head, _, rest = name.partition(".")
        if head in self.imports:
            qual = self.imports[head] + ("." + rest if rest else "")
            simple = qual.rsplit(".", 1)[-1]
            return self.models.resolve(simple, qual)
        if rest:
            return None
        if name in self.local_classes:
            return self.models.resolve(name, f"{self.module_name}.{name}")
        return None

    def is_sql_expression(self, node: cst.BaseExpression) -> bool:
        """``Model.col + 1``, ``func.now()``: values the database computes."""
        for sub in _walk(node):
            if isinstance(sub, cst.Attribute) and isinstance(sub.value, cst.Name):
                if sub.value.value == "func":
                    return True
                # `Model.column + 1`, but not `Model.Status.ACTIVE` (a nested enum)
                model = self.resolve_model(sub.value.value)
                if model is not None and (model.column(sub.attr.value) is not None
                                          or model.expression(sub.attr.value) is not None):
                    return True
            if isinstance(sub, cst.Call):
                name = _call_name(sub.func)
                if name in {"text", "literal_column", "select", "case", "cast", "coalesce"}:
                    return True
        return False

    def loader_options(self, node: cst.BaseExpression, model: ModelFacts) -> List[str]:
        found: List[str] = []
        for sub in _walk(node):
            if isinstance(sub, cst.Call) and _call_name(sub.func) in LOADER_OPTIONS and sub.args:
                target = sub.args[0].value
                if isinstance(target, cst.Attribute) and model.relationship(target.attr.value):
                    found.append(target.attr.value)
                elif isinstance(target, cst.SimpleString) and model.relationship(str(target.evaluated_value)):
                    found.append(str(target.evaluated_value))
        return found

    def qualify(self, name: str) -> Optional[str]:
        """The qualified name of a module-level class/function or an imported name, else None."""
        head, _, rest = name.partition(".")
        if head in self.imports:
            base = self.imports[head]
        elif head in self.local_classes or head in self.local_defs:
            base = f"{self.module_name}.{head}"
        else:
            return None
        return f"{base}.{rest}" if rest else base

    def resolve_schema(self, name: str):
        """The pydantic schema ``name`` refers to here (list[...] and Optional unwrapped), or None."""
        schemas = self.facts.schemas
        if schemas is None:
            return None
        for candidate in reversed(re.findall(r"[A-Za-z_][\w.]*", name)):
            found = schemas.resolve(candidate.rsplit(".", 1)[-1], self.qualify(candidate))
            if found is not None:
                return found
        return None

    def _collect_imports(self) -> None:
        self.router_prefixes: Dict[str, str] = {}
        #: ``Service = Annotated[OrganizationService, Depends(...)]`` → {"Service": "OrganizationService"}
        self.type_aliases: Dict[str, str] = {}
        for stmt in self.tree.body:
            if isinstance(stmt, cst.ClassDef):
                self.local_classes.add(stmt.name.value)
            elif isinstance(stmt, cst.FunctionDef):
                self.local_defs.add(stmt.name.value)
            elif isinstance(stmt, cst.SimpleStatementLine):
                # router = APIRouter(prefix="/grants"): route paths in messages start with it
                for small in stmt.body:
                    if isinstance(small, cst.Assign) and isinstance(small.value, cst.Subscript) \
                            and len(small.targets) == 1 and isinstance(small.targets[0].target, cst.Name):
                        aliased = _annotated_class(small.value)
                        if aliased is not None and aliased != dotted(small.value.value):
                            self.type_aliases[small.targets[0].target.value] = aliased
                    if isinstance(small, cst.Assign) and isinstance(small.value, cst.Call) \
                            and len(small.targets) == 1 and isinstance(small.targets[0].target, cst.Name):
                        for arg in small.value.args:
                            if arg.keyword is not None and arg.keyword.value == "prefix" \
                                    and isinstance(arg.value, cst.SimpleString):
                                self.router_prefixes[small.targets[0].target.value] = \
                                    str(arg.value.evaluated_value)
        is_package = self.path.endswith("__init__.py")
        for node in _small_statements(self.tree.body):
            if isinstance(node, (cst.Import, cst.ImportFrom)):
                record_import(self.imports, node, self.module_name, is_package)

    def suppressed(self, line: int, code: str) -> bool:
        if line <= 0 or line > len(self.lines):
            return False
        match = NOQA_RE.search(self.lines[line - 1])
        if match is None:
            return False
        codes = match.group("codes")
        if codes is None:
            return True
        return code in re.split(r"[\s,]+", codes.upper())


# ---------------------------------------------------------------------------
# Walking the module
# ---------------------------------------------------------------------------


def _walk(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.children))


def _suites(stmt: cst.CSTNode) -> Iterator[Sequence[cst.CSTNode]]:
    """The statement lists nested in a compound statement (not its expressions)."""
    blocks: List[Optional[cst.CSTNode]] = []
    if isinstance(stmt, (cst.If, cst.For, cst.While, cst.With, cst.FunctionDef, cst.ClassDef)):
        blocks.append(stmt.body)
    if isinstance(stmt, (cst.If, cst.For, cst.While)) and stmt.orelse is not None:
        if isinstance(stmt.orelse, cst.If):
            yield [stmt.orelse]
        else:
            blocks.append(stmt.orelse.body)
    if isinstance(stmt, (cst.Try, cst.TryStar)):
        blocks.append(stmt.body)
        blocks.extend(h.body for h in stmt.handlers)
        if stmt.orelse is not None:
            blocks.append(stmt.orelse.body)
        if stmt.finalbody is not None:
            blocks.append(stmt.finalbody.body)
    if isinstance(stmt, cst.Match):
        blocks.extend(case.body for case in stmt.cases)
    for block in blocks:
        if isinstance(block, cst.IndentedBlock):
            yield block.body


def _small_statements(body: Sequence[cst.CSTNode]) -> Iterator[cst.CSTNode]:
    """Every simple statement of a module, at any depth, without walking expressions."""
    for stmt in body:
        if isinstance(stmt, (cst.SimpleStatementLine, cst.SimpleStatementSuite)):
            yield from stmt.body
        else:
            for suite in _suites(stmt):
                yield from _small_statements(suite)


def _compound_statements(body: Sequence[cst.CSTNode]) -> Iterator[cst.CSTNode]:
    """Every compound statement of a body, at any depth, without walking expressions."""
    for stmt in body:
        if not isinstance(stmt, (cst.SimpleStatementLine, cst.SimpleStatementSuite)):
            yield stmt
            for suite in _suites(stmt):
                yield from _compound_statements(suite)


def _call_name(func: cst.BaseExpression) -> Optional[str]:
    if isinstance(func, cst.Name):
        return func.value
    if isinstance(func, cst.Attribute):
        return func.attr.value
    return None


def _annotation_names(node: cst.BaseExpression) -> Set[str]:
    names: Set[str] = set()
    for sub in _walk(node):
        if isinstance(sub, cst.Name):
            names.add(sub.value)
        elif isinstance(sub, cst.SimpleString):
            value = sub.evaluated_value
            if isinstance(value, str):
                names.update(re.findall(r"[A-Za-z_]\w*", value))
    return names


def _target_names(node: cst.CSTNode) -> List[str]:
    if isinstance(node, cst.Name):
        return [node.value]
    if isinstance(node, (cst.Tuple, cst.List)):
        out: List[str] = []
        for el in node.elements:
            out.extend(_target_names(el.value))
        return out
    if isinstance(node, cst.StarredElement):
        return _target_names(node.value)
    return []


def _string_list(node: cst.BaseExpression) -> Optional[List[str]]:
    if isinstance(node, (cst.List, cst.Tuple, cst.Set)):
        out: List[str] = []
        for el in node.elements:
            if isinstance(el.value, cst.SimpleString) and isinstance(el.value.evaluated_value, str):
                out.append(el.value.evaluated_value)
            else:
                return None
        return out
    return None


@dataclass(frozen=True)
class ClassInfo:
    """The class a method belongs to: its name, session attributes and typed attributes."""

    name: str = ""
    session_attrs: frozenset = frozenset()
    #: ``self.grants = GrantService(db)`` / ``grants: GrantService`` → {"grants": "GrantService"}
    attr_types: Mapping[str, str] = field(default_factory=dict)


def _async_functions(module: cst.Module) -> Iterator[Tuple[cst.FunctionDef, str, ClassInfo]]:
    """Every ``async def`` with its qualified name and the class it is a method of."""

    def visit(body: Sequence[cst.CSTNode], prefix: str, owner: ClassInfo) -> Iterator[
            Tuple[cst.FunctionDef, str, ClassInfo]]:
        for stmt in body:
            if isinstance(stmt, cst.ClassDef):
                info = ClassInfo(stmt.name.value if not prefix else f"{prefix}{stmt.name.value}",
                                 frozenset(_class_session_attrs(stmt)), _class_attr_types(stmt))
                inner = stmt.body.body if isinstance(stmt.body, cst.IndentedBlock) else stmt.body.body
                yield from visit(inner, f"{prefix}{stmt.name.value}.", info)
            elif isinstance(stmt, cst.FunctionDef):
                if stmt.asynchronous is not None:
                    yield stmt, f"{prefix}{stmt.name.value}", owner
                inner = stmt.body.body if isinstance(stmt.body, cst.IndentedBlock) else stmt.body.body
                yield from visit(inner, f"{prefix}{stmt.name.value}.", ClassInfo())
            else:
                for suite in _suites(stmt):
                    yield from visit(suite, prefix, owner)

    yield from visit(module.body, "", ClassInfo())


def _annotated_class(annotation: cst.BaseExpression) -> Optional[str]:
    """``GrantService`` or ``Annotated[GrantService, Depends(...)]`` → ``GrantService``."""
    if isinstance(annotation, cst.Subscript) and dotted(annotation.value) in ("Annotated", "typing.Annotated") \
            and annotation.slice:
        first = annotation.slice[0].slice
        if isinstance(first, cst.Index):
            return dotted(first.value)
        return None
    return dotted(annotation)


def _class_attr_types(cls: cst.ClassDef) -> Dict[str, str]:
    types: Dict[str, str] = {}
    for node in _small_statements(cls.body.body if isinstance(cls.body, cst.IndentedBlock) else ()):
        if isinstance(node, cst.AnnAssign):
            name = node.target.value if isinstance(node.target, cst.Name) else (
                node.target.attr.value if isinstance(node.target, cst.Attribute) else None)
            declared = _annotated_class(node.annotation.annotation)
            if name and declared:
                types[name] = declared
        elif isinstance(node, cst.Assign) and isinstance(node.value, cst.Call):
            constructed = dotted(node.value.func)
            for target in node.targets:
                if isinstance(target.target, cst.Attribute) and isinstance(target.target.value, cst.Name) \
                        and target.target.value.value == "self" and constructed:
                    types[target.target.attr.value] = constructed
    return types


ROUTE_METHODS = frozenset({"get", "post", "put", "patch", "delete"})


def _route_of(func: cst.FunctionDef, analyzer: "ModuleAnalyzer") -> Optional[Tuple[str, str, Optional[str]]]:
    """``@router.put("/grants/{id}", response_model=GrantOut)`` → ("PUT", "/grants/{id}", "GrantOut")."""
    for decorator in func.decorators:
        call = decorator.decorator
        if not (isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute)
                and call.func.attr.value in ROUTE_METHODS):
            continue
        path = ""
        schema: Optional[str] = None
        prefix = analyzer.router_prefixes.get(dotted(call.func.value) or "", "")
        for arg in call.args:
            if arg.keyword is None and isinstance(arg.value, cst.SimpleString) and not path:
                path = prefix + str(arg.value.evaluated_value)
            elif arg.keyword is not None and arg.keyword.value == "response_model":
                schema = analyzer.text(arg.value)
        if schema is None and func.returns is not None:
            schema = analyzer.text(func.returns.annotation)
        return call.func.attr.value.upper(), path or prefix or "/", schema
    return None


def _class_session_attrs(cls: cst.ClassDef) -> Set[str]:
    """Attributes a class annotates as sessions (``db: AsyncSession``, ``self.db: AsyncSession = db``)."""
    attrs: Set[str] = set()
    body = cls.body.body if isinstance(cls.body, cst.IndentedBlock) else ()
    # Statements only, never expressions: walking every expression of a large service
    # class cost more than analysing it.
    for node in [*_small_statements(body), *_compound_statements(body)]:
        if isinstance(node, cst.AnnAssign):
            target = node.target
            if _annotation_names(node.annotation.annotation) & SESSION_TYPES:
                if isinstance(target, cst.Name):
                    attrs.add(target.value)
                elif isinstance(target, cst.Attribute):
                    attrs.add(target.attr.value)
        if isinstance(node, cst.FunctionDef) and node.name.value == "__init__":
            session_params = {
                p.name.value for p in node.params.params
                if p.annotation is not None and _annotation_names(p.annotation.annotation) & SESSION_TYPES
            }
            for sub in _small_statements(node.body.body if isinstance(node.body, cst.IndentedBlock) else ()):
                if isinstance(sub, cst.Assign) and isinstance(sub.value, cst.Name) \
                        and sub.value.value in session_params:
                    for target in sub.targets:
                        if isinstance(target.target, cst.Attribute):
                            attrs.add(target.target.attr.value)
    return attrs


# ---------------------------------------------------------------------------
# Findings and fixes
# ---------------------------------------------------------------------------


def _attr_order(model: ModelFacts, attrs: Iterable[str]) -> List[str]:
    declared = [c.name for c in model.columns] + [e.name for e in model.expressions] + [
        r.name for r in model.relationships]
    wanted = set(attrs)
    return [a for a in declared if a in wanted] + sorted(wanted - set(declared))


def _message(code: str, obj_key: str, attrs: Sequence[str], reasons: Sequence[Reason]) -> str:
    attr_text = ", ".join(f"`{obj_key}.{a}`" for a in attrs)
    first = reasons[0]
    sentence = first.why
    if code == "FG003":
        return f"{attr_text} read after line {first.line}, where {sentence}"
    return f"{attr_text} is not loaded after the {first.kind} on line {first.line}: {sentence}"


def _escape_message(record: ReadRecord, attrs: Sequence[str], reasons: Sequence[Reason]) -> str:
    first = reasons[0]
    names = ", ".join(f"`{a}`" for a in attrs)
    if record.reader:
        return (f"`{record.obj_key}` is returned with {names} unloaded by the {first.kind} on line "
                f"{first.line} ({first.why}); read by {record.reader}")
    return (f"`{record.obj_key}` is returned with {names} unloaded by the {first.kind} on line "
            f"{first.line} ({first.why}); no caller in the project shows whether it is read")


def _refresh_text(settings: Settings, session: str, target: str, names: Sequence[str]) -> str:
    quoted = ", ".join(f'"{n}"' for n in names)
    if settings.refresh_keyword:
        return f"await {session}.refresh({target}, attribute_names=[{quoted}])"
    return f"await {session}.refresh({target}, [{quoted}])"


def _reselect_text(session: str, obj: Obj, target: str, rels: Sequence[str]) -> str:
    model = obj.ref
    where = " & ".join(f"({model}.{pk} == {target}.{pk})" for pk in obj.model.primary_key) \
        if len(obj.model.primary_key) > 1 else f"{model}.{obj.model.primary_key[0]} == {target}.{obj.model.primary_key[0]}"
    options = ", ".join(f"selectinload({model}.{r})" for r in rels)
    return f"await {session}.execute(select({model}).where({where}).options({options}))"


def analyze_module(source: str, path: str, models: ModelIndex, settings: Settings,
                   module_name: Optional[str] = None, facts: Optional[CallFacts] = None,
                   whole: bool = False) -> ModuleResult:
    """Find unsafe reads in ``source`` and return them with the fixed text.

    Pure: no file is read or written.  Raises ``libcst.ParserSyntaxError`` when
    the source does not parse (the caller reports it).  Unless ``whole``, only an
    outline of the module is parsed (see :mod:`codemods.outline`): the functions that
    can hold a finding, the rest stubbed; the result is the same.
    """
    analyzer = ModuleAnalyzer(source, path, models, settings, module_name, facts, whole)
    plans: Dict[Tuple[int, str], FixPlan] = {}
    findings: List[Tuple[Finding, Optional[Tuple[int, str]]]] = []

    consumer_reads: List[ConsumerRead] = []

    def emit(record: ReadRecord, qualname: str, fg004: bool) -> None:
        """Findings (and fix plans) for one read, per rule; reads of a callee's leftovers
        become consumer reads for that callee instead."""
        local: List[Reason] = []
        for reason in record.reasons:
            if reason.origin is None:
                local.append(reason)
                continue
            for attr in record.attrs:
                if reason in record.causes.get(attr, ()):
                    reader = f"{record.reader}{attr}" if record.reader and not fg004 else \
                        f"{analyzer.module_name}.{qualname} ({path}:{record.line}: `.{attr}`)"
                    consumer_reads.append(ConsumerRead(reason.origin, attr, reader))
        by_code: Dict[str, List[Reason]] = {}
        for reason in local:
            code = "FG004" if (fg004 or record.escaped) else reason.code
            by_code.setdefault(code, []).append(reason)
        for code, reasons in sorted(by_code.items()):
            if not settings.rule_enabled(code):
                continue
            if analyzer.suppressed(record.line, code) or any(
                    analyzer.suppressed(r.line, code) for r in reasons):
                continue
            attrs = tuple(_attr_order(record.obj.model, (
                a for a in record.attrs if any(r in record.causes.get(a, ()) for r in reasons))))
            possible = all(r.possible for r in reasons)
            # The fix goes after each site that is a cause of the read.
            plan_key: Optional[Tuple[int, str]] = None
            fix_obj_key = _fix_target(record.obj_key, record.obj)
            for reason in reasons:
                site = analyzer.sites[reason.site_id]
                key = (site.id, fix_obj_key)
                plan = plans.get(key)
                if plan is None:
                    plan = plans[key] = FixPlan(site=site, obj_key=fix_obj_key, obj=record.obj)
                for attr in attrs:
                    if reason in record.causes.get(attr, ()):
                        (plan.possible if reason.possible else plan.certain).add(attr)
                # The finding's fix is one that can be inserted (a site on a line of its own
                # in a block), when any of its sites has one.
                if plan_key is None or (site.block_ok and not plans[plan_key].site.block_ok):
                    plan_key = key
            site_reason = reasons[-1]
            message = _message(code, record.obj_key, attrs, reasons)
            if fg004:
                message = _escape_message(record, attrs, reasons)
            elif record.reader:
                message += f" (read by {record.reader}{', '.join(attrs)})"
            finding = Finding(
                path=path, line=record.line, column=record.column, code=code, message=message,
                object=record.obj_key, model=record.obj.model.name, attributes=attrs,
                site=Site(line=site_reason.line, kind=site_reason.kind, session=site_reason.session),
                certainty="possible" if possible else "certain", function=qualname,
            )
            findings.append((finding, plan_key))

    for func, qualname, owner in _async_functions(analyzer.tree):
        analysis = FunctionAnalysis(analyzer, func, qualname, owner)
        analysis.run()
        for record in sorted(analysis.reads.values(), key=lambda r: (r.line, r.column, r.obj_key)):
            emit(record, qualname, fg004=False)
        for record in analysis.fg004:
            emit(record, qualname, fg004=True)
        # Escaping objects: name every column the site left unloaded (SPEC "The fix").
        for key, obj, reasons in analysis.escapes:
            for reason in reasons:
                plan = plans.get((reason.site_id, _fix_target(key, obj)))
                if plan is not None:
                    plan.escapes = True
                    # A plan with only possible reads (an untraced escape) stays an unsafe fix.
                    certain = not reason.possible and bool(plan.certain)
                    for attr in obj.model.column_names:
                        if reason in obj.reasons_for(attr) and obj.model.relationship(attr) is None:
                            (plan.certain if certain else plan.possible).add(attr)

    # Turn plans into statements after their sites.
    insertions: Dict[int, List[Tuple[FixPlan, str, bool]]] = {}
    needs_imports: Set[str] = set()
    plan_fix: Dict[Tuple[int, str], Fix] = {}
    for key, plan in sorted(plans.items(), key=lambda kv: (kv[1].site.line, kv[1].obj.order)):
        safe_names = _attr_order(plan.obj.model, plan.certain)
        all_names = _attr_order(plan.obj.model, plan.certain | plan.possible)
        applicability = "safe" if safe_names else "unsafe"
        names = all_names if (settings.unsafe_fixes or not safe_names) else safe_names
        if not names or not plan.site.block_ok:
            continue
        text = _fix_statement(analyzer, plan, names, needs_imports)
        apply = bool(safe_names) or settings.unsafe_fixes
        insertions.setdefault(id(plan.site.stmt), []).append((plan, text, apply))
        plan_fix[key] = Fix(applicability=applicability, line=plan.site.line, text=text)

    result_findings: List[Finding] = []
    for finding, plan_key in findings:
        fix = plan_fix.get(plan_key) if plan_key is not None else None
        if fix is not None and finding.certainty == "possible":
            fix = Fix("unsafe", fix.line, fix.text)
        result_findings.append(_replace_fix(finding, fix))

    new_source = source
    error: Optional[str] = None
    to_apply = {k: [(p, t) for p, t, apply in v if apply] for k, v in insertions.items()}
    to_apply = {k: v for k, v in to_apply.items() if v}
    if to_apply:
        new_tree = analyzer.tree.visit(_Inserter(analyzer.tree, to_apply))
        if needs_imports:
            new_tree = _add_imports(new_tree, needs_imports)
        new_source = new_tree.code
        parsed = analyzer.outline.text if analyzer.outline is not None else source
        rendered = analyzer.tree.code
        if rendered != parsed:  # LibCST's round trip lost something: redo its edits on the text
            new_source = _replay(parsed, rendered, new_source) or new_source
        try:  # never hand out a fix that does not parse (a bug of ours)
            cst.parse_module(new_source)
        except cst.ParserSyntaxError:
            error = "internal error: the fixed file would not parse; left unchanged"
            new_source = source
        if analyzer.outline is not None and error is None:
            restored = restore(source, analyzer.outline.text, new_source)
            if restored is None:  # the fix did more than insert lines: redo it on the whole module
                return analyze_module(source, path, models, settings, module_name, facts, whole=True)
            new_source = restored
    result_findings.sort(key=lambda f: f.sort_key)
    return ModuleResult(
        path=path,
        findings=tuple(result_findings),
        sites=_categorised(analyzer, result_findings),
        new_source=new_source,
        changed=new_source != source,
        error=error,
        returned=tuple(analyzer.returned),
        consumer_reads=tuple(sorted(set(consumer_reads), key=lambda c: (c.origin, c.attribute, c.reader))),
        flush_effects=tuple(sorted(analyzer.flush_effects, key=lambda e: (e.function, e.target, e.kind))),
        calls=tuple(sorted(analyzer.calls)),
    )


def _replay(text: str, rendered: str, rewritten: str) -> Optional[str]:
    """The edits that turn ``rendered`` (LibCST's rendering of ``text``) into ``rewritten``,
    made to ``text`` itself; None when an edit touches a line ``rendered`` does not share with
    ``text``. LibCST renders blank lines before an indented comment that ends a file as
    nothing, and a fix must not take them away."""
    import difflib

    from codemods.outline import split_lines

    base, old, new = split_lines(text), split_lines(rendered), split_lines(rewritten)
    where: Dict[int, int] = {len(old): len(base)}
    for block in difflib.SequenceMatcher(None, base, old, autojunk=False).get_matching_blocks():
        for k in range(block.size):
            where[block.b + k] = block.a + k
    out: List[str] = []
    position = 0
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        if i1 not in where or any(i not in where for i in range(i1, i2)):
            return None
        start = where[i1]
        end = where[i2 - 1] + 1 if i2 > i1 else start
        if start < position or end < start:
            return None
        out.extend(base[position:start])
        out.extend(new[j1:j2])
        position = end
    out.extend(base[position:])
    return "".join(out)


def _categorised(analyzer: ModuleAnalyzer, findings: Sequence[Finding]) -> Tuple[SiteReport, ...]:
    """Each site with what became of it (the audit's categories)."""
    certain = {f.site.line for f in findings if f.certainty == "certain"}
    possible = {f.site.line for f in findings if f.certainty == "possible"}
    out: List[SiteReport] = []
    for site_id, report in analyzer.site_reports.items():
        reads = analyzer.site_reads.get(site_id, set())
        primary_key: Set[str] = set()
        for name in report.models:
            for model in analyzer.models.by_name(name):
                primary_key |= set(model.primary_key)
        if report.line in certain:
            category = "unsafe"
        elif report.line in possible:
            category = "possible"
        elif not report.objects:
            category = "untracked"
        elif site_id in analyzer.refreshed_sites:
            category = "refresh-follows"
        elif site_id in analyzer.escaped_sites:
            category = "consumers-safe"
        elif reads and reads <= primary_key:
            category = "pk-only"
        elif reads:
            category = "loaded-reads-only"
        else:
            category = "no-reads"
        out.append(replace(report, category=category, reads=tuple(sorted(reads))))
    return tuple(sorted(out, key=lambda s: (s.line, s.kind)))


def _fix_target(obj_key: str, obj: Obj) -> str:
    """Reads through a loop variable are fixed on the list it iterates."""
    if obj.is_list and obj.home is not None:
        return obj.home
    return obj_key


def _replace_fix(finding: Finding, fix: Optional[Fix]) -> Finding:
    return replace(finding, fix=fix)


def _fix_statement(analyzer: ModuleAnalyzer, plan: FixPlan, names: Sequence[str],
                   needs_imports: Set[str]) -> str:
    settings = analyzer.settings
    session = plan.site.session
    obj = plan.obj
    target = plan.obj_key
    loop_var = None
    if obj.is_list:
        loop_var = _element_name(target, analyzer)
        target_ref = loop_var
    else:
        target_ref = target
    rels = [n for n in names if obj.model.relationship(n) is not None]
    if settings.sqlalchemy == "1.4" and rels:
        needs_imports.update({"select", "selectinload"})
        statement = _reselect_text(session, obj, target_ref, rels)
        if plan.site.kind in ("rollback", "expire") or (
                plan.site.kind == "commit" and settings.expire_on_commit):
            # The re-select's WHERE reads the primary key, which the site expired: load it first.
            indent = analyzer.tree.default_indent if loop_var is not None else ""
            statement = (_refresh_text(settings, session, target_ref, obj.model.primary_key)
                         + analyzer.tree.default_newline + indent + statement)
    else:
        statement = _refresh_text(settings, session, target_ref, names)
    if loop_var is not None:
        indent = analyzer.tree.default_indent
        newline = analyzer.tree.default_newline
        return f"for {loop_var} in {target}:{newline}{indent}{statement}"
    return statement


def _element_name(list_name: str, analyzer: ModuleAnalyzer) -> str:
    base = list_name.rsplit(".", 1)[-1]
    candidates = []
    if base.endswith("s") and len(base) > 1:
        candidates.append(base[:-1])
    candidates += [f"{base}_item", "obj"]
    # Every word of the module, strings and comments included: a superset of its names,
    # read from the text rather than by walking the whole tree.
    used = set(re.findall(r"\w+", analyzer.source))
    for candidate in candidates:
        if candidate not in used and candidate.isidentifier():
            return candidate
    number = 2
    while f"{base}_item{number}" in used:  # never rebind a name the module uses
        number += 1
    return f"{base}_item{number}"


class _Inserter(cst.CSTTransformer):
    """Inserts fix statements after their site statements (after any refreshes already there)."""

    def __init__(self, module: cst.Module, insertions: Dict[int, List[Tuple[FixPlan, str]]]) -> None:
        self.module = module
        self.insertions = insertions
        self.config = module.config_for_parsing

    def _rebuild(self, original_body: Sequence[cst.CSTNode], updated_body: Sequence[cst.CSTNode]) -> List[cst.CSTNode]:
        out: List[cst.CSTNode] = []
        pending: List[cst.CSTNode] = []
        for original, updated in zip(original_body, updated_body):
            if pending and not _is_refresh_stmt(original):
                out.extend(pending)
                pending = []
            out.append(updated)
            plans = self.insertions.get(id(original))
            if plans:
                for _, text in plans:
                    pending.extend(cst.parse_module(text + self.module.default_newline,
                                                    config=self.config).body)
        out.extend(pending)
        return out

    def leave_IndentedBlock(self, original_node: cst.IndentedBlock, updated_node: cst.IndentedBlock) -> cst.IndentedBlock:
        if not any(id(s) in self.insertions for s in original_node.body):
            return updated_node
        return updated_node.with_changes(body=self._rebuild(original_node.body, updated_node.body))

    def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
        if not any(id(s) in self.insertions for s in original_node.body):
            return updated_node
        return updated_node.with_changes(body=self._rebuild(original_node.body, updated_node.body))


def _is_refresh_stmt(stmt: cst.CSTNode) -> bool:
    if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
        return False
    small = stmt.body[0]
    if isinstance(small, cst.Expr) and isinstance(small.value, cst.Await):
        call = small.value.expression
        return isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute) \
            and call.func.attr.value == "refresh"
    return False


def _is_reselect_stmt(stmt: cst.CSTNode) -> bool:
    """``await S.execute(select(M).where(...).options(...))``: the re-select that loads a
    relationship on SQLAlchemy 1.4 (what a fix writes there instead of a refresh)."""
    if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
        return False
    small = stmt.body[0]
    if not (isinstance(small, cst.Expr) and isinstance(small.value, cst.Await)):
        return False
    call = small.value.expression
    if not (isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute)
            and call.func.attr.value == "execute" and call.args):
        return False
    query = call.args[0].value
    return isinstance(query, cst.Call) and isinstance(query.func, cst.Attribute) \
        and query.func.attr.value == "options"


def _add_imports(tree: cst.Module, names: Set[str]) -> cst.Module:
    from libcst.codemod import CodemodContext
    from libcst.codemod.visitors import AddImportsVisitor

    context = CodemodContext()
    for name in sorted(names):
        module = "sqlalchemy.orm" if name == "selectinload" else "sqlalchemy"
        AddImportsVisitor.add_needed_import(context, module, name)
    return AddImportsVisitor(context).transform_module(tree)
