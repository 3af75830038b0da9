"""The ``AsyncSession`` model: what each session method does to the tracked objects.

:func:`call` dispatches a session method (``add``, ``flush``, ``commit``, ``refresh``,
``get``, ``execute``...) through :data:`METHODS`; a flush, commit or rollback, written out or
done by a helper, is applied by :func:`apply_site`, which asks :mod:`.orm_rules` what each
object of the session is left with. Every site is also noted for the audit (:func:`record_site`).
"""

from __future__ import annotations

from dataclasses import replace

from typing import Callable, Dict, List, Optional, Sequence, Set

from codemods.analysis import ir, orm_rules
from codemods.analysis.context import FunctionRun, SiteInfo
from codemods.analysis.names import string_list
from codemods.analysis.state import Obj, Opaque, Query, Reason, State, Value, with_children
from codemods.types import Cause, SiteKind, SiteReport

SINGLE_RESULT = frozenset({"scalar_one", "scalar_one_or_none", "scalar", "first", "one", "one_or_none"})
LIST_RESULT = frozenset({"all", "fetchall"})
QUERY_BUILDERS = frozenset({"where", "filter", "filter_by", "order_by", "limit", "offset", "join",
                            "outerjoin", "execution_options", "with_for_update", "distinct",
                            "group_by"})


class Call:
    """One session method call: the run, the state, the session and the evaluated arguments."""

    __slots__ = ("run", "state", "session", "method", "node", "values", "awaited")

    def __init__(self, run: FunctionRun, state: State, session: str, method: str, node: ir.Call,
                 values: List[Optional[Value]], awaited: bool) -> None:
        self.run, self.state, self.session, self.method = run, state, session, method
        self.node, self.values, self.awaited = node, values, awaited

    @property
    def first(self) -> Optional[Value]:
        return self.values[0] if self.values else None

    def keyword(self, name: str) -> Optional[ir.Expr]:
        for arg in self.node.args:
            if arg.keyword == name:
                return arg.value
        return None


def call(run: FunctionRun, state: State, session: str, method: str, node: ir.Call,
         values: List[Optional[Value]], awaited: bool) -> Optional[Value]:
    """Apply ``session.method(...)`` to ``state``; returns what the call evaluates to when that
    is a tracked object or query."""
    handler = METHODS.get(method)
    if handler is None:
        return None
    return handler(Call(run, state, session, method, node, values, awaited))


def _add(c: Call) -> None:
    """``add(obj)``, ``add_all(objs)``: new objects (and what cascades with them) join the session."""
    first = c.first
    if not isinstance(first, Obj):
        return None
    targets = list(first.children) if first.is_list and first.children else [first]
    if first.is_list:
        targets.append(first)
    for obj in targets:
        join_session(c.run, obj, c.session)
    return None


def join_session(run: FunctionRun, obj: Obj, session: str) -> None:
    """``obj`` and its cascade, when new and not yet in a session, join ``session``."""
    for member in with_children(obj):
        if member.origin == "new" and not member.in_session:
            member.in_session, member.session, member.order = True, session, run.next_order()


def _site(c: Call) -> None:
    """``await flush()``, ``commit()``, ``rollback()``: a site."""
    if not c.awaited or c.run.place is None:
        return None
    kind: SiteKind = "flush" if c.method == "flush" else c.method  # type: ignore[assignment]
    c.state.effects.add(c.run.effect(c.session, kind))
    site = c.run.module.new_site(c.run.place, kind, c.session)
    record_site(c.run, site, c.state, c.session)
    only: Optional[List[Obj]] = None
    first = c.first
    if kind == "flush" and isinstance(first, Obj):
        only = list(first.children) + [first] if first.is_list else [first]
    apply_site(c.run, c.state, site, c.session, only)
    return None


def apply_site(run: FunctionRun, state: State, site: SiteInfo, session: str,
               only: Optional[Sequence[Obj]] = None) -> None:
    """What the site's kind does to the session's objects (a flush of ``only`` those)."""
    if site.kind == "flush":
        flush(run, state, session, site, only)
    elif site.kind == "commit":
        commit(run, state, session, site)
    else:
        rollback(run, state, session, site)


def only_possible(state: State, site_id: int) -> None:
    """Make what the site ``site_id`` left unloaded a possible cause only (a helper's effect on
    an error path: the normal path must not pay a refresh for it)."""
    def soften(reasons: Set[Reason]) -> Set[Reason]:
        return {replace(r, cause=replace(r.cause, possible=True)) if r.site_id == site_id else r
                for r in reasons}

    for obj in state.objects():
        obj.expired = soften(obj.expired)
        for attr, reasons in obj.unloaded.items():
            obj.unloaded[attr] = soften(reasons)


def session_objects(state: State, session: str) -> List[Obj]:
    """The tracked objects in ``session`` (parameters: in whatever session the caller has)."""
    return [o for o in state.objects()
            if o.in_session and (o.session is None or o.session == session)
            or (o.origin == "param" and (o.session is None or o.session == session))]


def flush(run: FunctionRun, state: State, session: str, site: SiteInfo,
          only: Optional[Sequence[Obj]] = None) -> None:
    """INSERT the new objects and UPDATE the changed ones; each keeps what the rules leave
    unloaded, with ``site`` as the reason."""
    settings = run.settings
    for obj in session_objects(state, session):
        if only is not None and obj not in only:
            continue
        obj.touched()

        def reason(cause) -> Reason:
            return Reason(site.id, site.line, site.kind, session, cause)

        if obj.origin == "new" and not obj.persistent:
            if not obj.in_session:
                continue
            for attr, cause in orm_rules.after_insert(obj.model, obj.given, obj.sql_assigned,
                                                      obj.loaded_rels, settings).items():
                obj.unload(attr, reason(cause))
            obj.persistent = True
            obj.sql_assigned.clear()
            continue
        if obj.origin == "loaded":
            # Not what is unloaded already (its site is the first flush since the query),
            # unless some path here has not flushed since: this flush is its site there.
            already = set(obj.unloaded) - obj.unblamed
            for attr, cause in orm_rules.not_loaded_by_query(obj.model, obj.loaded_rels,
                                                             already, obj.loads_known).items():
                obj.unload(attr, reason(cause))
            obj.unblamed.clear()
        if not (obj.dirty or obj.rel_dirty):
            continue
        if obj.expired and obj.dirty:  # the UPDATE needs the expired key: loaded first
            obj.reloaded |= orm_rules.loaded_before_update(obj.model)
        for attr, cause in orm_rules.after_update(obj.model, obj.given, obj.sql_assigned, obj.dirty,
                                                  settings).items():
            obj.unload(attr, reason(cause))
        obj.dirty = obj.rel_dirty = False
        obj.sql_assigned.clear()


def commit(run: FunctionRun, state: State, session: str, site: SiteInfo) -> None:
    """A flush, then (``expire_on_commit``) every attribute of every object in the session expired."""
    flush(run, state, session, site, None)
    expire = run.expires_on_commit(session)
    for obj in session_objects(state, session):
        if obj.origin == "new" and not obj.in_session:
            continue
        obj.persistent = True
        obj.committed = True
        if expire:
            obj.expire_all(Reason(site.id, site.line, "commit", session,
                                  orm_rules.expired("commit", "block" if site.block_end else "commit")))


def rollback(run: FunctionRun, state: State, session: str, site: SiteInfo) -> None:
    """New objects not yet committed become transient (no longer ours to refresh); every
    other object of the session is expired."""
    for key, value in list(state.bindings.items()):
        if isinstance(value, Obj) and value.origin == "new" and value.in_session \
                and not value.committed:
            state.bindings.pop(key)
    for obj in session_objects(state, session):
        obj.expire_all(Reason(site.id, site.line, "rollback", session,
                              orm_rules.expired("rollback", "rollback")))


def _expire(c: Call) -> None:
    """``expire(obj[, names])``, ``expire_all()``: a site; pending objects are passed by."""
    if c.run.place is None:
        return None
    site = c.run.module.new_site(c.run.place, "expire", c.session)
    record_site(c.run, site, c.state, c.session)
    args = c.node.args
    names = string_list(args[1].value) if len(args) > 1 else None
    keyword = c.keyword("attribute_names")
    if keyword is not None:
        names = string_list(keyword)
    reason = Reason(site.id, site.line, "expire", c.session, orm_rules.expired("expire", c.method))
    first = c.first
    if c.method == "expire":
        victims = [first] if isinstance(first, Obj) else []
    else:
        victims = session_objects(c.state, c.session)
    for obj in victims:
        # expire_all() passes a pending object by; expire() of it raises (a refresh would too).
        if not obj.persistent:
            continue
        obj.touched()
        if names is None:
            obj.expired = {reason}
            obj.reloaded = set()
        else:
            for attr in names:
                obj.unload(attr, reason)
    return None


def _refresh(c: Call) -> None:
    """``await refresh(obj[, names])``: the named attributes, or every column, loaded again."""
    first = c.first
    if not (c.awaited and isinstance(first, Obj)):
        return None
    args = c.node.args
    names = None
    if len(args) > 1 and args[1].keyword is None:
        names = string_list(args[1].value)
    keyword = c.keyword("attribute_names")
    if keyword is not None:
        names = string_list(keyword)
    refresh(c.run, first, names, c.run.place.stmt.line if c.run.place is not None else None)
    return None


def refresh(run: FunctionRun, obj: Obj, names: Optional[List[str]],
            line: Optional[int] = None) -> None:
    """A named refresh loads exactly the names. A plain one (F1, F2) loads the non-deferred
    columns, the eager relationships and those its first query's options named; it expires
    every other relationship and deferred column, even one loaded or given before. ``line``:
    the refresh statement's."""
    run.module.refreshed_sites.update(obj.sites)
    for target in [obj] + (obj.children if obj.is_list else []):
        if names is not None:
            for attr in names:
                target.mark_loaded(attr)
                column = target.model.column(attr)
                if column is not None and column.deferred:
                    # Loaded now, as if the query had undeferred it: a later flush does not
                    # unload it again.
                    target.loaded_rels.add(attr)
                relationship = target.model.relationship(attr)
                if relationship is not None:
                    target.loaded_rels.add(attr)
                    if target.expired and relationship.many_to_one:
                        # Loading it reads the expired foreign key, which loads every
                        # expired column (measured: a refresh naming a many-to-one after a
                        # rollback leaves no column unloaded).
                        target.reloaded |= {c.name for c in target.model.columns
                                            if not c.deferred}
            target.refreshed_names |= set(names)
            continue
        kept = {r.name for r in target.model.relationships
                if r.lazy in orm_rules.EAGER_LAZY or r.name in target.remembered}
        for attr in list(target.unloaded):
            column = target.model.column(attr)
            if (column is not None and not column.deferred) or attr in kept \
                    or (column is None and target.model.relationship(attr) is None):
                target.unloaded.pop(attr)
                target.unblamed.discard(attr)
        loads = {c.name for c in target.model.columns if not c.deferred} | kept
        if target.expired:
            target.reloaded |= loads
        _expired_by_plain_refresh(run, target, kept, line)
        target.refreshed_all = True  # and every name it loads, for a join with a named refresh
        target.refreshed_names |= loads


def _expired_by_plain_refresh(run: FunctionRun, target: Obj, kept: Set[str],
                              line: Optional[int]) -> None:
    """What a plain refresh leaves unloaded that was loaded: lazy relationships (a many-to-one
    loads without SQL when its target is in the session: possible) and deferred columns.

    The site is the object's last one. A fix there goes after the refreshes that follow it
    directly: it helps when this refresh is one of them, not when it comes later (the fix
    would go before the refresh that unloads again what it loads): then there is no fix."""
    site = run.module.sites.get(max(target.sites)) if target.sites else None
    if site is None:
        return
    fixable = line is None or site.line <= line <= site.after
    for relationship in target.model.relationships:
        name = relationship.name
        if name in kept or name not in target.loaded_rels \
                or orm_rules.reads_without_sql(relationship, False):
            continue
        target.loaded_rels.discard(name)
        target.unload(name, Reason(site.id, site.line, site.kind, site.session, Cause(
            "FG002", "refresh", f"a plain `refresh()` after it expires the lazy relationship "
            f"`{name}` and does not load it again", possible=not relationship.collection),
            fixable=fixable))
    for column in target.model.columns:
        if column.deferred and column.name in target.given:
            target.unload(column.name, Reason(site.id, site.line, site.kind, site.session, Cause(
                "FG001", "refresh", f"a plain `refresh()` after it expires the deferred column "
                f"`{column.name}` and does not load it again"), fixable=fixable))


def _get(c: Call) -> Optional[Value]:
    """``await get(Model, pk)``: the object already in the identity map as it is, else a loaded one."""
    args = c.node.args
    if not (c.awaited and args):
        return None
    names = c.run.names
    model = names.model_of(args[0].value, c.run.var_types)
    if model is None:
        return None
    for obj in c.state.objects():
        if obj.model is model and not obj.is_list and not obj.expired and obj.in_session \
                and len(args) > 1 and _refers_to_pk(args[1].value, obj, c.state):
            return obj
    options: List[str] = []
    for arg in args:
        if arg.keyword == "options":
            options.extend(names.loader_options(arg.value, model))
    ref = _ref(args[0].value)
    return loaded(c.run, Query(model, ref, tuple(options), c.session, True))


def _ref(expr: ir.Expr) -> str:
    if isinstance(expr, ir.Name):
        return expr.id
    if isinstance(expr, ir.Attribute) and expr.text is not None:
        return expr.text
    if isinstance(expr, ir.Const):
        return repr(expr.value)
    return ""


def _refers_to_pk(expr: ir.Expr, obj: Obj, state: State) -> bool:
    if isinstance(expr, ir.Attribute):
        owner_key = expr.value.id if isinstance(expr.value, ir.Name) else (
            expr.value.text if isinstance(expr.value, ir.Attribute) else None)
        return owner_key is not None and state.bindings.get(owner_key) is obj \
            and expr.attr in obj.model.primary_key
    return False


CORE_STATEMENTS = frozenset({"update", "delete", "insert"})


def _execute(c: Call) -> Optional[Value]:
    """``execute(select(M))`` and friends: a result of ``M`` objects; the SELECT reloads what
    the session's ``M`` objects had expired. A Core ``update()``/``delete()``/``insert()`` is
    noted (the sites after it hold no ORM object of it)."""
    query = c.first
    if c.node.args:
        statement = c.node.args[0].value
        if statement_root(statement) in CORE_STATEMENTS or (
                isinstance(statement, ir.Name) and statement.id in c.run.core_names):
            c.run.core_statements = True
    if not (c.node.args and isinstance(query, Query)):
        return None
    executed = Query(query.model, query.ref, query.options, c.session, True,
                     scalars=c.method in {"scalars", "stream_scalars"})
    reselect(c.state, executed)
    if c.method == "scalar":
        return loaded(c.run, executed)
    return executed


def statement_root(expr: ir.Expr) -> Optional[str]:
    """The call a chain of methods starts from: ``update`` for ``update(M).where(...).values(...)``."""
    while isinstance(expr, ir.Call):
        func = expr.func
        if isinstance(func, ir.Attribute) and isinstance(func.value, ir.Call):
            expr = func.value
            continue
        return func.id if isinstance(func, ir.Name) else (
            func.attr if isinstance(func, ir.Attribute) else None)
    return None


def _expunge(c: Call) -> None:
    first = c.first
    if isinstance(first, Obj):
        first.in_session = False
    return None


METHODS: Dict[str, Callable[[Call], Optional[Value]]] = {
    "add": _add, "add_all": _add,
    "flush": _site, "commit": _site, "rollback": _site,
    "expire": _expire, "expire_all": _expire,
    "refresh": _refresh,
    "get": _get, "get_one": _get,
    "execute": _execute, "scalars": _execute, "scalar": _execute, "stream": _execute,
    "stream_scalars": _execute,
    "expunge": _expunge,
}


def loaded(run: FunctionRun, query: Query) -> Obj:
    """An object a query loaded: every column, and the relationships its options or eager
    strategies load."""
    rels = set(query.options)
    for relationship in query.model.relationships:
        if relationship.lazy in orm_rules.EAGER_LAZY:
            rels.add(relationship.name)
    return Obj(model=query.model, origin="loaded", ref=query.ref, session=query.session,
               in_session=True, persistent=True, order=run.next_order(), loaded_rels=rels,
               remembered=set(query.options))


def query_method(run: FunctionRun, query: Query, method: str, node: ir.Call) -> Optional[Value]:
    """A method of a ``select()`` or of its result: options, filters, ``scalars()``, ``first()``..."""
    if method == "options":
        options = list(query.options)
        for arg in node.args:
            options.extend(run.names.loader_options(arg.value, query.model))
        return Query(query.model, query.ref, tuple(options), query.session, query.executed,
                     query.scalars)
    if not query.executed:
        return query if method in QUERY_BUILDERS else None
    if method in {"scalars", "unique"}:
        return Query(query.model, query.ref, query.options, query.session, True,
                     scalars=query.scalars or method == "scalars")
    if method in SINGLE_RESULT and (query.scalars or method.startswith("scalar")):
        return loaded(run, query)
    if method in LIST_RESULT and query.scalars:
        obj = loaded(run, query)
        obj.is_list = True
        return obj
    return None


def reselect(state: State, query: Query) -> None:
    """A SELECT of a model reloads the expired attributes of its objects in the session, but
    not the deferred columns it does not undefer: it does not select them."""
    for obj in state.objects():
        if obj.model is not query.model or not obj.persistent:
            continue
        deferred = {c.name for c in obj.model.columns if c.deferred} - set(query.options)
        for attr in list(obj.unloaded):
            relationship = obj.model.relationship(attr)
            if attr in deferred:
                continue
            if relationship is None or attr in query.options \
                    or relationship.lazy in orm_rules.EAGER_LAZY:
                obj.unloaded.pop(attr)
                obj.unblamed.discard(attr)
        if obj.expired:
            obj.reloaded |= set(obj.model.column_names) - deferred
            obj.reloaded |= set(query.options)
        obj.loaded_rels |= set(query.options)


def record_site(run: FunctionRun, site: SiteInfo, state: State, session: str,
                via: Optional[str] = None) -> None:
    """Note the site for the audit; a loop body visits it twice, and the visits merge.

    A helper call (``via``) is noted only when objects of this function are in its session:
    otherwise it is the helper's own sites that the audit lists.
    """
    module = run.module
    objects = session_objects(state, session)
    if via is not None and not objects and site.id not in module.site_reports:
        return
    for obj in objects:
        # Later reads belong to this site, the latest on the path (not to an earlier flush
        # that a rollback has since superseded).
        obj.sites = {site.id}
    for value in state.bindings.values():
        if type(value) is Opaque:
            value.sites = {site.id}  # type: ignore[union-attr]
    if not objects and run.core_statements:
        module.core_sites.add(site.id)
    keys = {k for k, v in state.bindings.items() if isinstance(v, Obj) and v in objects}
    models = {o.model.name for o in objects}
    seen = module.site_reports.get(site.id)
    if seen is not None:
        keys |= set(seen.objects)
        models |= set(seen.models)
    module.site_reports[site.id] = SiteReport(
        path=module.path, line=site.line, kind=site.kind, session=session,
        function=run.function.qualname, objects=tuple(sorted(keys)), models=tuple(sorted(models)),
        via=via,
    )
