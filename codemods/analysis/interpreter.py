"""The interpreter: runs one function's IR statement by statement over the abstract state.

Statements change the state (bindings, branches that join, loops run twice so that a flush
at the end of one iteration reaches a read at the start of the next); expressions are
evaluated in source order, and each kind of event goes where it is understood: session
methods to :mod:`.session`, attribute reads to :mod:`.reads`, the rules to :mod:`.orm_rules`
through the session model. A function's own facts (its sessions, route, parameters) and
what it finds live in its :class:`~.context.FunctionRun`.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Optional, Sequence, Tuple

from codemods.analysis import calls, ir, reads, session
from codemods.analysis.context import SESSION_NAMES, FunctionRun, Place, is_refresh
from codemods.analysis.lower import SESSION_TYPES
from codemods.analysis.names import call_name, key_of, position_of, render
from codemods.analysis.state import (
    EMPTY_LIST, EmptyList, Obj, Opaque, Query, State, TupleOf, Value, join)
from codemods.types import ModelFacts

#: Calls that read every column attribute of the object passed to them.
WHOLE_OBJECT_READERS = frozenset({"model_validate", "from_orm", "jsonable_encoder", "asdict"})
#: Calls an object passed to does not escape through.
NOT_ESCAPING = WHOLE_OBJECT_READERS | {"setattr", "getattr", "isinstance", "len", "print", "repr",
                                        "str"}
COLLECTION_METHODS = frozenset({"append", "add", "extend", "insert"})
#: Calls that call a function given to them with each element of an iterable.
KEY_FUNCTION_CALLS = frozenset({"sorted", "min", "max", "map", "filter", "groupby"})
#: Calls whose iteration gives the elements of their first argument.
ELEMENT_PRESERVING = frozenset({"sorted", "reversed", "list", "tuple", "set", "iter", "frozenset"})
#: Annotations of plain values (never an ORM object).
PLAIN_TYPES = frozenset({
    "Optional", "Union", "Annotated", "Any", "List", "Dict", "Set", "Tuple", "FrozenSet", "Type",
    "Sequence", "Mapping", "MutableMapping", "Iterable", "Iterator", "Callable", "Awaitable",
    "Literal", "UUID", "Decimal", "Enum", "Path", "None", "TypedDict", "Self", "AsyncIterator",
    "AsyncGenerator", "Generator", "Coroutine", "ClassVar", "Final", "Depends", "Query", "Body",
    "Header", "Cookie", "Form", "File", "UploadFile", "Request", "Response", "BackgroundTasks",
})

class Interpreter:
    """Interprets one function (see the module's docstring)."""

    #: The handler of each kind of statement and expression (filled in below the class).
    STATEMENTS: Dict[type, Callable[..., Optional[State]]] = {}
    EXPRESSIONS: Dict[type, Callable[..., Optional[Value]]] = {}

    def __init__(self, run: FunctionRun) -> None:
        self.run = run
        self.names = run.names
    # -- entry -----------------------------------------------------------------

    def run_function(self) -> None:
        """Bind the parameters, run the body, and publish the session effects of a normal end."""
        run, function = self.run, self.run.function
        state = State()
        positional = [p for p in function.params if p.kind != "kwonly"]
        if function.owner.name and positional and positional[0].name in ("self", "cls"):
            positional = positional[1:]
        run.param_index = {p.name: i for i, p in enumerate(positional)}
        for param in function.params:
            self._bind_parameter(param, state)
        end = self.block(run.body, state)
        if end is not None:
            calls.publish_effects(self, end)

    def _bind_parameter(self, param: ir.Param, state: State) -> None:
        """A parameter typed with a model is an object of the caller's session; a session is a
        session; one that may be an object of no known model is opaque (never guessed)."""
        run = self.run
        if param.annotated_class is not None:
            run.var_types[param.name] = self.names.type_aliases.get(param.annotated_class,
                                                                    param.annotated_class)
        if param.annotation_names is None:
            if param.name in SESSION_NAMES or param.name in run.settings.session_names:
                self._session_parameter(param)
            elif param.name not in ("self", "cls"):
                state.bindings[param.name] = Opaque("an untyped parameter")
            return
        if SESSION_TYPES.intersection(param.annotation_names):
            self._session_parameter(param)
            return
        for type_name in param.annotation_names:
            model = self.names.resolve_model(type_name)
            if model is not None:
                state.bindings[param.name] = Obj(model=model, origin="param", ref=type_name,
                                                 persistent=True, order=run.next_order())
                return
        unknown = [n for n in param.annotation_names if n not in PLAIN_TYPES and n[:1].isupper()
                   and self.names.resolve_schema(n) is None and not self.names.is_project_class(n)]
        if unknown and param.name not in ("self", "cls"):
            state.bindings[param.name] = Opaque(f"a parameter typed `{param.annotated_class or unknown[0]}`, "
                                                "not a model flushguard knows")

    # -- statements --------------------------------------------------------------

    def block(self, block: Optional[ir.Block], state: Optional[State]) -> Optional[State]:
        """Run the statements of ``block``; None: no path goes on after it."""
        if block is None:
            return state
        run, handlers = self.run, self.STATEMENTS
        for index, stmt in enumerate(block.statements):
            if state is None:
                return None
            run.place = Place(block, index)
            state = handlers[type(stmt)](self, stmt, state)
        return state

    def _expression_statement(self, stmt: ir.ExprStmt, state: State) -> State:
        self.eval(stmt.value, state)
        return state

    def _assign(self, stmt: ir.Assign, state: State) -> State:
        value = self.eval(stmt.value, state)
        if value is None:
            value = self._opaque_result(stmt.value)
        if isinstance(stmt.value, ir.Call) and len(stmt.targets) == 1 \
                and isinstance(stmt.targets[0], ir.Name) \
                and session.statement_root(stmt.value) in session.CORE_STATEMENTS:
            self.run.core_names.add(stmt.targets[0].id)  # `stmt = update(M).where(...)`
        elif isinstance(stmt.value, ir.Call) and len(stmt.targets) == 1 \
                and isinstance(stmt.targets[0], ir.Name):
            constructed = key_of(stmt.value.func)
            if constructed and self.names.resolve_model(constructed) is None:
                name = stmt.targets[0].id
                self.run.var_types[name] = constructed  # `svc = Service(db)`
                given = [self.run.session_of(a.value) for a in stmt.value.args if not a.star]
                sessions = {g for g in given if g is not None}
                if len(sessions) == 1:  # its `self.<session>` is the session given to it
                    self.run.var_sessions[name] = sessions.pop()
        for target in stmt.targets:
            self.assign(target, stmt.value, value, state)
        return state

    def _annotated_assign(self, stmt: ir.AnnAssign, state: State) -> State:
        value = self.eval(stmt.value, state) if stmt.value is not None else None
        if value is None and stmt.value is not None:
            # `user: User = await repo.get(...)`: the annotation says what it holds.
            for type_name in stmt.annotation_names:
                model = self.names.resolve_model(type_name)
                if model is not None:
                    value = Obj(model=model, origin="param", ref=type_name, persistent=True,
                                order=self.run.next_order())
                    break
            else:
                value = self._opaque_result(stmt.value)
        self.assign(stmt.target, stmt.value, value, state)
        return state

    def _session_parameter(self, param: ir.Param) -> None:
        """A session parameter; from a dependency of a known factory, with its settings."""
        self.run.session_exprs.add(param.name)
        factory = self._dependency_factory(param.dependency) if param.dependency else None
        if factory is not None and factory.expire_on_commit is not None:
            self.run.expire_on_commit[param.name] = factory.expire_on_commit

    def _opaque_result(self, expr: ir.Expr) -> Optional[Opaque]:
        """A call's result that may be an ORM object the analysis could not type: an awaited
        call of something other than the session (``await self.get_group(id)``), or a class
        that is not a model flushguard knows (``User(...)`` whose ``User`` it cannot resolve)."""
        awaited = isinstance(expr, ir.Await)
        call = expr.value if awaited else expr  # type: ignore[union-attr]
        if not isinstance(call, ir.Call):
            return None
        func = call.func
        shown = render(func)
        if isinstance(func, ir.Attribute) and self.run.session_of(func.value) is not None:
            if func.attr in ("get", "get_one") and call.args:
                entity = render(call.args[0].value) or "its entity"
                return Opaque(f"`{shown}({entity}, ...)`, `{entity}` not a model flushguard knows")
            return None
        if awaited:
            return Opaque(f"`await {shown}(...)`" if shown else "an awaited call's result")
        name = call_name(func)
        if name is not None and name[:1].isupper() and name not in PLAIN_TYPES \
                and self.names.resolve_schema(name) is None \
                and not (shown and self.names.is_project_class(shown)):
            return Opaque(f"`{shown}(...)`, not a model flushguard knows")
        return None

    def _augmented_assign(self, stmt: ir.AugAssign, state: State) -> State:
        self.eval(stmt.target, state)  # `obj.n += 1` reads obj.n first
        self.eval(stmt.value, state)
        self.assign(stmt.target, stmt.value, None, state, augmented=True)
        return state

    def _return(self, stmt: ir.Return, state: State) -> None:
        value_node = stmt.value
        run = self.run
        if isinstance(value_node, ir.Name) and value_node.id not in run.assigned \
                and any(p.name == value_node.id for p in run.function.params):
            run.module.returns_arg.add((run.fqn, run.param_index.get(value_node.id), value_node.id))
        if stmt.value is not None:
            value = self.eval(stmt.value, state)
            reads.escape(self.run, _escaping_keys(stmt.value), state)
            if isinstance(stmt.value, ir.Display) and stmt.value.kind == "tuple":
                for position, element in enumerate(stmt.value.elements):
                    self._returned(element, None, state, stmt.at, position)
            else:
                self._returned(stmt.value, value, state, stmt.at, None)
        calls.publish_effects(self, state)
        return None

    def _returned(self, expr: ir.Expr, value: Optional[Value], state: State, at: Tuple[int, int],
                  position: Optional[int]) -> None:
        key = key_of(expr)
        obj = state.bindings.get(key) if key is not None else value
        if type(obj) is Opaque:
            reads.unresolved_use(self.run, key, obj)  # type: ignore[arg-type]
        reads.returned(self.run, key, obj if isinstance(obj, Obj) else None, at, position)

    def _raise(self, stmt: ir.Raise, state: State) -> None:
        if stmt.exc is not None:
            self.eval(stmt.exc, state)
        return None

    def _continue(self, stmt: ir.Continue, state: State) -> None:
        if self.run.loops:
            self.run.loops[-1][0].append(state)
        return None

    def _break(self, stmt: ir.Break, state: State) -> None:
        if self.run.loops:
            self.run.loops[-1][1].append(state)
        return None

    def _delete(self, stmt: ir.Delete, state: State) -> State:
        for target in stmt.targets:
            for name in _target_names(target):
                state.bindings.pop(name, None)
        return state

    def _assert(self, stmt: ir.Assert, state: State) -> State:
        self.eval(stmt.test, state)
        return state

    def _if(self, stmt: ir.If, state: State) -> Optional[State]:
        """Both branches, joined; under a test of a parameter (``if commit:``) each branch's
        session effects are published with the value it needs."""
        self.eval(stmt.test, state)
        tested = self._parameter_test(stmt.test)
        # `if case and commit:` needs `commit` true in the body; its `else` needs nothing.
        exact = not (isinstance(stmt.test, ir.Other) and stmt.test.conjuncts)
        conditions = self.run.conditions
        if tested is not None:
            conditions.append(tested)
        try:
            then_state = self.block(stmt.body, state.copy())
        finally:
            if tested is not None:
                conditions.pop()
        if stmt.orelse is None:
            return join([then_state, state])
        negated = (tested[0], not tested[1]) if tested is not None and exact else None
        if negated is not None:
            conditions.append(negated)
        try:
            else_state = self.block(stmt.orelse, state.copy())
        finally:
            if negated is not None:
                conditions.pop()
        return join([then_state, else_state])

    def _parameter_test(self, test: ir.Expr) -> Optional[Tuple[str, bool]]:
        """``commit`` → ("commit", True), ``not commit`` → ("commit", False), for a parameter;
        in an ``and`` chain, the first parameter it tests."""
        params = {p.name: p for p in self.run.function.params}
        if isinstance(test, ir.Other) and test.conjuncts:
            # The flag among them: a parameter with a constant default (`commit=False`).
            tested = [(name, truthy) for name, truthy in test.conjuncts if name in params]
            tested.sort(key=lambda t: params[t[0]].default_truthy is None)
            return tested[0] if tested else None
        truthy = True
        if isinstance(test, ir.Other) and len(test.children) == 1 and test.negated:
            test, truthy = test.children[0], False
        if isinstance(test, ir.Name) and any(p.name == test.id for p in self.run.function.params):
            return test.id, truthy
        return None

    def _for(self, stmt: ir.For, state: State) -> Optional[State]:
        iter_value = self.eval(stmt.iter, state)
        element = self.element_of(stmt.iter, iter_value, state)
        if isinstance(element, Obj) and element.is_list and _refreshes_each(stmt):
            # `for x in items: await S.refresh(x, [...])` refreshes every element; an empty list
            # has no element left to read, so the loop is not a branch here.
            name = stmt.target.id  # type: ignore[union-attr]
            state.bindings[name] = element  # shared, not copied
            self.block(stmt.body, state)
            # The element name must not outlive the loop as a second name of the list: a join
            # with another path would merge that path's list state into this one's.
            state.bindings.pop(name, None)
            return state
        return self._loop(stmt, state, stmt.body, stmt.orelse, loop_target=(stmt.target, stmt.iter,
                                                                            iter_value))

    def _while(self, stmt: ir.While, state: State) -> Optional[State]:
        self.eval(stmt.test, state)
        return self._loop(stmt, state, stmt.body, stmt.orelse, test=stmt.test)

    def _loop(self, stmt: ir.Stmt, state: State, body: ir.Block, orelse: Optional[ir.Block],
              loop_target: Optional[Tuple[ir.Expr, ir.Expr, Optional[Value]]] = None,
              test: Optional[ir.Expr] = None) -> Optional[State]:
        """The body twice (what the end of one iteration leaves reaches the start of the next),
        each time from the join of the entry and the iterations so far."""
        continues: List[State] = []
        breaks: List[State] = []
        place = self.run.place
        self.run.loops.append((continues, breaks))
        current: Optional[State] = state.copy()
        for _ in range(2):
            if current is None:
                break
            self.run.place = place
            if loop_target is not None:
                self.bind_loop_target(*loop_target, current)
            if test is not None:
                self.eval(test, current)
            after = self.block(body, current)
            current = join([state, after, *continues])
            if current is not None:
                current = current.copy()
        self.run.loops.pop()
        exit_state = join([current, *breaks])
        if orelse is not None and exit_state is not None:
            exit_state = self.block(orelse, exit_state)
        return exit_state

    def _try(self, stmt: ir.Try, state: State) -> Optional[State]:
        body_state = self.block(stmt.body, state.copy())
        handler_start = join([state, body_state])
        outs: List[Optional[State]] = []
        if stmt.orelse is not None:
            outs.append(self.block(stmt.orelse, body_state.copy() if body_state else None))
        else:
            outs.append(body_state)
        paths = self.run.module.error_paths
        for index, handler in enumerate(stmt.handlers):
            clause, line = stmt.clauses[index] if index < len(stmt.clauses) else ("except", stmt.line)
            paths.append(f"`{clause}` on line {line}")
            try:
                outs.append(self.block(handler, handler_start.copy() if handler_start else None))
            finally:
                paths.pop()
        result = join(outs)
        if stmt.finalbody is not None:
            start = result if result is not None else handler_start
            final = self.block(stmt.finalbody, start.copy() if start else None)
            return final if result is not None else None
        return result

    def _with(self, stmt: ir.With, state: State) -> Optional[State]:
        """Session blocks: ``async with s.begin():`` and ``async with factory.begin() as s:``
        commit at the end of the block (the latter then closes the session),
        ``begin_nested()`` flushes; ``async with factory() as s:`` closes it. A session from a
        factory of the project has that factory's ``expire_on_commit``."""
        run = self.run
        place = run.place
        ends: List[Tuple[str, str, bool]] = []  # (session, kind, the block closes the session)
        for item in stmt.items:
            self.eval(item.context, state)
            context = item.context
            targets = _target_names(item.target) if item.target is not None else []
            for name in targets:
                state.bindings.pop(name, None)
                if name in SESSION_NAMES or name.endswith("session"):
                    run.session_exprs.add(name)
            if not isinstance(context, ir.Call):
                continue
            constructed = key_of(context.func)
            if len(targets) == 1 and constructed and self.names.model_of(context.func) is None:
                run.var_types[targets[0]] = constructed  # `async with Service.with_session() as s`
            func = context.func
            factory = self._factory(func.value if isinstance(func, ir.Attribute)
                                    and func.attr == "begin" else func)
            if factory is not None and len(targets) == 1:
                run.session_exprs.add(targets[0])
                if factory.expire_on_commit is not None:
                    run.expire_on_commit[targets[0]] = factory.expire_on_commit
                if isinstance(func, ir.Attribute) and func.attr == "begin":
                    ends.append((targets[0], "commit", True))
                continue
            if isinstance(func, ir.Attribute):
                owner = run.session_of(func.value)
                if owner is not None and func.attr == "begin" and item.target is None:
                    ends.append((owner, "commit", False))
                elif owner is not None and func.attr == "begin_nested":
                    ends.append((owner, "flush", False))
        after = self.block(stmt.body, state)
        if after is None:
            return None
        for owner, kind, closes in reversed(ends):
            at = place
            if closes:  # a fix goes at the end of the block, unless the commit expires it again
                last = stmt.body.statements[-1]
                at = Place(stmt.body, len(stmt.body.statements) - 1, True, stmt,
                           last.insertable and not run.expires_on_commit(owner))
            site = run.module.new_site(at, "commit" if kind == "commit" else "flush", owner)  # type: ignore[arg-type]
            session.record_site(run, site, after, owner)
            session.apply_site(run, after, site, owner)
        return after

    def _factory(self, expr: ir.Expr):
        """The project's session factory ``expr`` names (``SessionLocal``), if any."""
        key = key_of(expr)
        qualified = self.names.qualify(key) if key else None
        if qualified is None:
            return None
        for factory in self.run.settings.session_factories:
            if factory.qualname == qualified:
                return factory
        return None

    def _dependency_factory(self, dependency: str):
        """The session factory a dependency (``get_db``) yields sessions of, if known."""
        qualified = self.names.qualify(dependency)
        settings = self.run.settings
        for provided in settings.session_dependencies:
            if provided.qualname == qualified:
                for factory in settings.session_factories:
                    if factory.qualname == provided.factory:
                        return factory
        return None

    def _match(self, stmt: ir.Match, state: State) -> Optional[State]:
        self.eval(stmt.subject, state)
        outs: List[Optional[State]] = [self.block(case, state.copy()) for case in stmt.cases]
        outs.append(state)
        return join(outs)

    def _nested_def(self, stmt: ir.NestedDef, state: State) -> State:
        """A nested function reads the state at its definition; it changes nothing."""
        for expr in stmt.reads:
            self.eval(expr, state, events=False)
        state.bindings.pop(stmt.name, None)
        return state

    def bind_loop_target(self, target: ir.Expr, iter_: ir.Expr, iter_value: Optional[Value],
                         state: State) -> None:
        """Each element of a tracked list (or of an executed query) is bound to the target,
        through ``enumerate``, ``zip``, ``.items()`` and the like (``for i, (k, p) in ...``)."""
        for name in _target_names(target):
            state.bindings.pop(name, None)
        self._bind_element(target, self.element_of(iter_, iter_value, state), state)

    def _bind_element(self, target: ir.Expr, element: Optional[Value], state: State) -> None:
        if isinstance(target, ir.Display) and isinstance(element, TupleOf):
            items = dict(element.items)
            for position, part in enumerate(target.elements):
                self._bind_element(part, items.get(position), state)
            return
        key = key_of(target)
        if key is not None and isinstance(element, Obj):
            state.bindings[key] = element

    def element_of(self, iter_: ir.Expr, iter_value: Optional[Value],
                   state: State) -> Optional[Value]:
        """What iterating ``iter_`` gives: the tracked list itself standing for each of its
        elements, an object of an executed query, or a tuple of them (``enumerate(rows)``,
        ``zip(a, b)``, ``d.items()``); None when no element is tracked."""
        if isinstance(iter_, ir.Call):
            func, args = iter_.func, [a.value for a in iter_.args if a.keyword is None]
            name = call_name(func)
            if isinstance(func, ir.Name) and args:
                if name in ELEMENT_PRESERVING:
                    return self.element_of(args[0], None, state)
                if name == "filter" and len(args) == 2:
                    return self.element_of(args[1], None, state)
                if name == "enumerate":
                    return _tuple_of({1: self.element_of(args[0], None, state)})
                if name == "zip":
                    return _tuple_of({i: self.element_of(a, None, state) for i, a in enumerate(args)})
            if isinstance(func, ir.Attribute) and not args:
                if name == "values":
                    return self.element_of(func.value, None, state)
                if name == "items":
                    return _tuple_of({1: self.element_of(func.value, None, state)})
        # A named list is looked up again: `state` may be a copy of the one evaluated.
        key = key_of(iter_)
        value = state.bindings.get(key) if key is not None else (
            None if isinstance(iter_, (ir.Name, ir.Attribute)) else iter_value)
        if isinstance(value, Obj) and value.is_list:
            return value
        if isinstance(value, Query) and value.executed:
            return session.loaded(self.run, value)
        return None

    # -- assignment --------------------------------------------------------------

    def assign(self, target: ir.Expr, value_node: Optional[ir.Expr], value: Optional[Value],
               state: State, augmented: bool = False) -> None:
        """Bind ``target``; an attribute of a tracked object is a write to that object."""
        if isinstance(target, ir.Attribute):
            base = self.eval(target.value, state) if isinstance(target.value, ir.Subscript) \
                else None  # `phases[pid].position = i` writes to an element
            owner_key, owner = self.owner_of(target.value, base, state)
            if type(owner) is Opaque:
                reads.unresolved_use(self.run, owner_key, owner)  # type: ignore[arg-type]
            if isinstance(owner, Obj) and owner.model.has_attribute(target.attr):
                self.write(owner_key, owner, target.attr, value_node, value, state,  # type: ignore[arg-type]
                           (target.line, target.col))
                return
        if isinstance(target, (ir.Name, ir.Attribute)):
            key = key_of(target)
            if key is None:
                return
            if isinstance(target, ir.Name):
                self.run.assigned.add(key)
            # re-binding drops whatever was known about the old value
            for bound in [k for k in state.bindings if k == key or k.startswith(key + ".")]:
                state.bindings.pop(bound, None)
            if value is not None and not augmented:
                if isinstance(value, Obj) and value.is_list and value.home is None:
                    dict_built = isinstance(value_node, ir.Comprehension) and value_node.kind == "dict"
                    value.home = f"{key}.values()" if dict_built else key
                state.bindings[key] = value
            return
        if isinstance(target, ir.Display) and isinstance(value, TupleOf):
            items = dict(value.items)
            for position, element in enumerate(target.elements):
                self.assign(element, None, items.get(position), state)
            return
        for name in _target_names(target):
            state.bindings.pop(name, None)

    def write(self, owner_key: str, owner: Obj, attr: str, value_node: Optional[ir.Expr],
              value: Optional[Value], state: State, at: Tuple[int, int]) -> None:
        """``owner.attr = value``: given; a changed column makes the flush an UPDATE."""
        relationship = owner.model.relationship(attr)
        if relationship is not None and relationship.collection and owner.persistent:
            # Assigning a collection loads the old one to compute removals: a read.
            reads.check_read(self.run, owner_key, owner, (attr,), at)
        owner.given.add(attr)
        owner.mark_loaded(attr)
        if relationship is not None:
            owner.loaded_rels.add(attr)
            if isinstance(value, Obj):
                self.link(owner, value)
            if owner.persistent:
                owner.rel_dirty = True
            return
        if owner.persistent:
            owner.dirty = True
        if value_node is not None and self.names.is_sql_expression(value_node):
            owner.sql_assigned.add(attr)
        else:
            owner.sql_assigned.discard(attr)

    def link(self, parent: Obj, child: Obj) -> None:
        """``parent.rel = child`` / ``Child(parent=p)``: the save-update cascade ties them."""
        run = self.run
        if child not in parent.children:
            parent.children.append(child)
        if parent.in_session and not child.in_session and child.origin == "new":
            child.in_session, child.session, child.order = True, parent.session, run.next_order()
        if child.in_session and not parent.in_session and parent.origin == "new":
            parent.in_session, parent.session, parent.order = True, child.session, run.next_order()
        if child.persistent and parent.origin == "new":
            child.rel_dirty = True
        if parent.persistent and child.origin == "new":
            parent.rel_dirty = True

    # -- expressions ---------------------------------------------------------------

    def eval(self, expr: ir.Expr, state: State, events: bool = True) -> Optional[Value]:
        """Evaluate ``expr`` in source order: reads are checked, events applied (unless not
        ``events``: a lambda's or nested function's body reads, it changes no session).
        Returns the tracked object, list or query it evaluates to, if any."""
        return self.EXPRESSIONS[type(expr)](self, expr, state, events)

    def _name(self, expr: ir.Name, state: State, events: bool) -> Optional[Value]:
        return state.bindings.get(expr.id)

    def _attribute(self, expr: ir.Attribute, state: State, events: bool) -> Optional[Value]:
        value = self.eval(expr.value, state, events)
        owner_key, owner = self.owner_of(expr.value, value, state)
        if isinstance(owner, Obj) and owner.model.has_attribute(expr.attr):
            reads.check_read(self.run, owner_key, owner, (expr.attr,), (expr.line, expr.col))  # type: ignore[arg-type]
        elif type(owner) is Opaque:
            reads.unresolved_use(self.run, owner_key, owner)  # type: ignore[arg-type]
        return state.bindings.get(expr.text) if expr.text is not None else None

    def owner_of(self, expr: ir.Expr, value: Optional[Value],
                 state: State) -> Tuple[Optional[str], Optional[Value]]:
        """The key and value of the object ``expr`` (whose attribute is read or written)
        evaluates to: a bound name, or the tracked list an element of which it is."""
        key = key_of(expr)
        if key is not None:
            return key, state.bindings.get(key)
        if isinstance(expr, ir.Subscript) and isinstance(value, Obj):  # items[0].created_at
            base_key = key_of(expr.value)
            if base_key is not None:
                if value.home is None:
                    value.home = base_key  # a fix refreshes the list's elements
                return render(expr) or base_key, value
        return None, None

    def _await(self, expr: ir.Await, state: State, events: bool) -> Optional[Value]:
        if isinstance(expr.value, ir.Call):
            return self._call(expr.value, state, events, awaited=True)
        return self.eval(expr.value, state, events)

    def _display(self, expr: ir.Display, state: State, events: bool) -> Optional[Value]:
        values = [self.eval(e, state, events) for e in expr.elements]
        if expr.kind != "list":
            return None
        if not expr.elements:
            return EMPTY_LIST
        objs = [v for v in values if isinstance(v, Obj) and not v.is_list]
        if objs and len(objs) == len(values):
            return self._list_of(objs)
        return None

    def _starred(self, expr: ir.Starred, state: State, events: bool) -> Optional[Value]:
        return self.eval(expr.value, state, events)

    def _subscript(self, expr: ir.Subscript, state: State, events: bool) -> Optional[Value]:
        """``rows[0]``, ``by_id[pid]``: an element of a tracked list (or dict) is the list."""
        base = self.eval(expr.value, state, events)
        self.eval(expr.index, state, events)
        return base if isinstance(base, Obj) and base.is_list else None

    def _comprehension(self, expr: ir.Comprehension, state: State, events: bool) -> Optional[Value]:
        """Its generators bind their targets for the element only (the names the function
        had are restored after); a list, set or dict of tracked objects is a tracked list:
        the very list it iterates (``{p.id: p for p in rows}`` holds the rows' objects), the
        objects a query loaded, or new objects built per element."""
        targets = {n for g in expr.generators for n in _target_names(g.target)}
        saved = {n: state.bindings[n] for n in targets if n in state.bindings}
        try:
            for generator in expr.generators:
                iter_value = self.eval(generator.iter, state, events)
                self.bind_loop_target(generator.target, generator.iter, iter_value, state)
                for condition in generator.conditions:
                    self.eval(condition, state, events)
            element = self.eval(expr.element, state, events)
            if expr.value is not None:  # {p.id: p for p in rows}: the values are what is tracked
                element = self.eval(expr.value, state, events)
        finally:
            for name in targets:
                state.bindings.pop(name, None)
            state.bindings.update(saved)
        if expr.kind == "generator" or not isinstance(element, Obj):
            return None
        if element.is_list:
            return element
        if element.origin == "loaded" and key_of(expr.value or expr.element) in targets:
            element.is_list = True  # {p.id: p for p in result.scalars()}: the rows a query loaded
            return element
        if expr.kind == "list" and element.origin == "new":
            return Obj(model=element.model, origin="new", ref=element.ref, is_list=True,
                       order=self.run.next_order(), given=set(element.given),
                       sql_assigned=set(element.sql_assigned), loaded_rels=set(element.loaded_rels))
        return None

    def _lambda(self, expr: ir.Lambda, state: State, events: bool,
                element: Optional[Value] = None) -> None:
        """A lambda's body reads (it changes no session); given the ``element`` it is called
        with (``sorted(objs, key=lambda o: o.created_at)``), its first parameter is that."""
        inner = state.copy() if expr.params else state
        for name in expr.params:
            inner.bindings.pop(name, None)
        if element is not None and expr.params:
            self._bind_element(ir.Name(expr.params[0], 0, 0), element, inner)
        self.eval(expr.body, inner, events=False)
        return None

    def _key_functions(self, expr: ir.Call, state: State) -> None:
        """``sorted(objs, key=lambda o: ...)``, ``min``/``max``/``map``/``filter``/``groupby``
        and ``objs.sort(key=...)``: each lambda is called with the elements of the iterable."""
        func, args = expr.func, expr.args
        name = call_name(func)
        iterable: Optional[ir.Expr] = None
        if isinstance(func, ir.Attribute) and name == "sort":
            iterable = func.value
        elif name in KEY_FUNCTION_CALLS and (isinstance(func, ir.Name) or name == "groupby"):
            others = [a.value for a in args if a.keyword is None and not a.star
                      and not isinstance(a.value, ir.Lambda)]
            iterable = others[0] if others else None
        if iterable is None:
            return
        element = self.element_of(iterable, None, state)
        if element is None:
            return
        for arg in args:
            if isinstance(arg.value, ir.Lambda):
                self._lambda(arg.value, state, False, element)

    def _formatted(self, expr: ir.Formatted, state: State, events: bool) -> None:
        self.eval(expr.value, state, events)
        reads.whole_object_read(self.run, key_of(expr.value), state, (expr.line, expr.col),
                                repr_only=True)
        return None

    def _value_only(self, expr: ir.Interpolation, state: State, events: bool) -> None:
        self.eval(expr.value, state, events)
        return None

    def _named(self, expr: ir.NamedExpr, state: State, events: bool) -> Optional[Value]:
        """``if obj := (await s.scalars(q)).first():`` binds like an assignment."""
        value = self.eval(expr.value, state, events)
        if events:
            self.assign(expr.target, expr.value, value, state)
        return value

    def _other(self, expr: ir.Other, state: State, events: bool) -> None:
        for child in expr.children:
            self.eval(child, state, events)
        return None

    def _list_of(self, objs: Sequence[Obj]) -> Optional[Obj]:
        """One tracked list for objects of one model (what all of them have in common)."""
        if len({id(o.model) for o in objs}) != 1:
            return None
        first = objs[0]
        group = Obj(model=first.model, origin=first.origin, ref=first.ref, is_list=True,
                    order=self.run.next_order(), children=list(objs))
        group.given = set.intersection(*(o.given for o in objs))
        group.loaded_rels = set.intersection(*(o.loaded_rels for o in objs))
        return group

    # -- calls -----------------------------------------------------------------------

    def _call(self, expr: ir.Call, state: State, events: bool, awaited: bool = False) -> Optional[Value]:
        """A call: the receiver and arguments first, then what the call is (a session method,
        a model constructor, a query, a project function, a reader of whole objects...)."""
        func = expr.func
        method = func.attr if isinstance(func, ir.Attribute) else None
        owner = self.run.session_of(func.value) if isinstance(func, ir.Attribute) else None
        if owner is not None and method == "run_sync":
            return None  # reads inside run_sync run in the greenlet: safe
        if method == "awaitable_attrs" or (isinstance(func, ir.Attribute)
                                           and isinstance(func.value, ir.Attribute)
                                           and func.value.attr == "awaitable_attrs"):
            return None
        receiver: Optional[Value] = None
        if owner is None:
            if isinstance(func, ir.Attribute):
                receiver = self.eval(func.value, state, events)
            else:
                self.eval(func, state, events)
        values = [self.eval(arg.value, state, events) for arg in expr.args]
        self._key_functions(expr, state)
        if owner is not None:
            if not events:
                return None
            return session.call(self.run, state, owner, method or "", expr, values, awaited)
        name = call_name(func)
        if isinstance(func, ir.Name) and name in ELEMENT_PRESERVING and len(values) == 1 \
                and isinstance(values[0], Obj) and values[0].is_list:
            return values[0]  # list(rows), sorted(rows): the same objects
        if name is not None:
            built = self._construct_or_select(expr, values, state)
            if built is not None or (name == "select" and expr.args):
                return built
        if isinstance(func, ir.Attribute) and isinstance(receiver, Query):
            return session.query_method(self.run, receiver, method or "", expr)
        calls.passed_to(self, expr, values)
        if awaited and events:
            found = calls.project_call(self, expr, values, state)
            if found is not None:
                return found[0]
        self._reads_and_links(expr, name, values, state)
        return None

    def _construct_or_select(self, expr: ir.Call, values: List[Optional[Value]],
                             state: State) -> Optional[Value]:
        model = self.names.model_of(expr.func, self.run.var_types)
        if model is not None:
            built = self.construct(model, key_of(expr.func) or model.name, expr, values)
            self._targets_in_session(built, expr, state)
            return built
        if call_name(expr.func) == "select" and expr.args:
            first = expr.args[0].value
            entity = self.names.model_of(first, self.run.var_types)
            if entity is not None and len(expr.args) == 1:
                return Query(model=entity, ref=key_of(first) or entity.name)
        return None

    def construct(self, model: ModelFacts, ref: str, expr: ir.Call,
                  values: List[Optional[Value]]) -> Obj:
        """``Model(a=..., rel=...)``: a new object with what the code gave it."""
        obj = Obj(model=model, origin="new", ref=ref, order=self.run.next_order())
        for arg, value in zip(expr.args, values):
            if arg.keyword is None:
                if arg.star == "**":
                    obj.given.add("*")  # unknown keywords: any attribute may have been given
                continue
            attr = arg.keyword
            column = model.column(attr)
            if isinstance(arg.value, ir.Const) and arg.value.value is None and column is not None \
                    and (column.server_default or column.computed or column.default == "sql"):
                continue  # the INSERT leaves a None out: the server value applies (measured)
            obj.given.add(attr)
            if self.names.is_sql_expression(arg.value):
                obj.sql_assigned.add(attr)
            if model.relationship(attr) is not None:
                obj.loaded_rels.add(attr)
                if isinstance(value, Obj):
                    for child in (value.children or [value]) if value.is_list else [value]:
                        self.link(obj, child)
        return obj

    def _targets_in_session(self, obj: Obj, expr: ir.Call, state: State) -> None:
        """``Phase(board_id=board.id)`` with ``board`` in the session: the many-to-one reads
        that object from the identity map without SQL (L2), as if it had been assigned."""
        for arg in expr.args:
            value = arg.value
            if arg.keyword is None or not isinstance(value, ir.Attribute):
                continue
            owner = state.bindings.get(key_of(value.value) or "")
            if not (isinstance(owner, Obj) and not owner.is_list and owner.in_session
                    and not owner.expired):
                continue
            pk = owner.model.column(value.attr)
            if pk is None or not pk.primary_key:
                continue
            for relationship in obj.model.relationships:
                if not relationship.collection and arg.keyword in relationship.foreign_keys \
                        and relationship.target_qualname == owner.model.qualname:
                    obj.loaded_rels.add(relationship.name)

    def _reads_and_links(self, expr: ir.Call, name: Optional[str], values: List[Optional[Value]],
                         state: State) -> None:
        """Whole-object readers, collection appends, ``setattr``, and objects passed on."""
        func = expr.func
        method = func.attr if isinstance(func, ir.Attribute) else None
        run = self.run
        if name in WHOLE_OBJECT_READERS or name in {"repr", "str", "print"}:
            schema = None
            if isinstance(func, ir.Attribute) and name in {"model_validate", "from_orm"}:
                text = render(func.value)
                schema = self.names.resolve_schema(text) if text else None
            for arg in expr.args[:1] if schema is not None else expr.args:
                at = position_of(arg.value)
                if schema is not None:
                    reads.serialize_read(run, key_of(arg.value), state, schema, at, f"{run.fqn} -> ")
                else:
                    reads.whole_object_read(run, key_of(arg.value), state, at,
                                            repr_only=name in {"repr", "str", "print"})
        if isinstance(func, ir.Attribute) and method in COLLECTION_METHODS \
                and isinstance(func.value, ir.Attribute):
            self._append_to_relationship(func.value, values, state)
        elif isinstance(func, ir.Attribute) and method in {"append", "extend"}:
            self._append_to_list(func.value, values, state)
        if name == "setattr" and len(expr.args) >= 2:
            self._setattr(expr, state)
        if name == "getattr" and len(expr.args) >= 2:
            self._getattr(expr, state)
        if name not in NOT_ESCAPING:
            reads.escape(run, [k for arg in expr.args for k in _escaping_keys(arg.value)], state)

    def _append_to_relationship(self, collection: ir.Attribute, values: List[Optional[Value]],
                                state: State) -> None:
        """``obj.coll.append(child)``: the collection is loaded, and child joins obj's session."""
        owner_key = key_of(collection.value)
        owner = state.bindings.get(owner_key) if owner_key is not None else None
        if not (isinstance(owner, Obj) and owner.model.relationship(collection.attr) is not None):
            return
        owner.loaded_rels.add(collection.attr)
        if owner.persistent:
            owner.rel_dirty = True
        for value in values:
            if isinstance(value, Obj):
                self.link(owner, value)

    def _append_to_list(self, target: ir.Expr, values: List[Optional[Value]], state: State) -> None:
        """``items.append(obj)``: the list now holds objects of that model."""
        owner_key = key_of(target)
        owner = state.bindings.get(owner_key) if owner_key is not None else None
        first = values[0] if values else None
        if isinstance(owner, EmptyList) and isinstance(first, Obj) and not first.is_list:
            group = self._list_of([first])
            if group is not None:
                group.home = owner_key
                group.in_session, group.session = first.in_session, first.session
                group.persistent = first.persistent
                state.bindings[owner_key] = group  # type: ignore[index]
        elif isinstance(owner, Obj) and owner.is_list:
            for value in values:
                if isinstance(value, Obj) and value.model is owner.model:
                    owner.children.append(value)

    def _getattr(self, expr: ir.Call, state: State) -> None:
        """``getattr(obj, "name")`` reads the attribute (a computed name: nothing known)."""
        owner_key = key_of(expr.args[0].value)
        owner = state.bindings.get(owner_key) if owner_key is not None else None
        attr = expr.args[1].value
        if isinstance(owner, Obj) and isinstance(attr, ir.Const) and isinstance(attr.value, str) \
                and owner.model.has_attribute(attr.value):
            reads.check_read(self.run, owner_key, owner, (attr.value,),  # type: ignore[arg-type]
                             position_of(expr.args[0].value))

    def _setattr(self, expr: ir.Call, state: State) -> None:
        """``setattr(obj, "name", value)`` writes the attribute; another name may be any column."""
        owner_key = key_of(expr.args[0].value)
        owner = state.bindings.get(owner_key) if owner_key is not None else None
        if not isinstance(owner, Obj):
            return
        attr_node = expr.args[1].value
        if isinstance(attr_node, ir.Const) and isinstance(attr_node.value, str) \
                and owner.model.has_attribute(attr_node.value):
            value_node = expr.args[2].value if len(expr.args) > 2 else None
            self.write(owner_key, owner, attr_node.value, value_node, None, state,  # type: ignore[arg-type]
                       (expr.line, expr.col))
        elif owner.persistent:
            owner.dirty = True


def _nothing(self: Interpreter, expr: ir.Expr, state: State, events: bool) -> None:
    return None


def _same(self: Interpreter, stmt: ir.Stmt, state: State) -> State:
    return state


Interpreter.STATEMENTS.update({
    ir.ExprStmt: Interpreter._expression_statement, ir.Assign: Interpreter._assign,
    ir.AnnAssign: Interpreter._annotated_assign, ir.AugAssign: Interpreter._augmented_assign,
    ir.Return: Interpreter._return, ir.Raise: Interpreter._raise, ir.Continue: Interpreter._continue,
    ir.Break: Interpreter._break, ir.Delete: Interpreter._delete, ir.Assert: Interpreter._assert,
    ir.If: Interpreter._if, ir.For: Interpreter._for, ir.While: Interpreter._while,
    ir.Try: Interpreter._try, ir.With: Interpreter._with, ir.Match: Interpreter._match,
    ir.NestedDef: Interpreter._nested_def, ir.Skipped: _same,
})
Interpreter.EXPRESSIONS.update({
    ir.Name: Interpreter._name, ir.Attribute: Interpreter._attribute, ir.Call: Interpreter._call,
    ir.Await: Interpreter._await, ir.Const: _nothing, ir.Display: Interpreter._display,
    ir.Starred: Interpreter._starred, ir.Subscript: Interpreter._subscript,
    ir.Comprehension: Interpreter._comprehension, ir.Lambda: Interpreter._lambda,
    ir.Formatted: Interpreter._formatted, ir.Interpolation: Interpreter._value_only,
    ir.NamedExpr: Interpreter._named, ir.Other: Interpreter._other,
})


def _tuple_of(elements: Dict[int, Optional[Value]]) -> Optional[TupleOf]:
    """The tracked positions of a tuple of elements, or None when none is tracked."""
    items = tuple((i, v) for i, v in elements.items() if v is not None)
    return TupleOf(items) if items else None  # type: ignore[arg-type]


def _target_names(target: ir.Expr) -> List[str]:
    """The names an assignment target binds."""
    if isinstance(target, ir.Name):
        return [target.id]
    if isinstance(target, ir.Display):
        out: List[str] = []
        for element in target.elements:
            out.extend(_target_names(element))
        return out
    if isinstance(target, ir.Starred):
        return _target_names(target.value)
    return []


def _escaping_keys(value: ir.Expr) -> List[Optional[str]]:
    """The keys of the objects an expression hands out (``return a, b``, ``f([a, b])``: both)."""
    if isinstance(value, ir.Display) and value.kind in ("tuple", "list"):
        return [key_of(e) for e in value.elements]
    return [key_of(value)]


def _is_reselect(stmt: ir.Stmt) -> bool:
    """``await S.execute(select(M).where(...).options(...))`` on a line of its own: the re-select
    that loads a relationship on SQLAlchemy 1.4 (what a fix writes there instead of a refresh)."""
    if not (isinstance(stmt, ir.ExprStmt) and stmt.insertable and isinstance(stmt.value, ir.Await)):
        return False
    call = stmt.value.value
    if not (isinstance(call, ir.Call) and isinstance(call.func, ir.Attribute)
            and call.func.attr == "execute" and call.args):
        return False
    query = call.args[0].value
    return isinstance(query, ir.Call) and isinstance(query.func, ir.Attribute) \
        and query.func.attr == "options"


def _refreshes_each(stmt: ir.For) -> bool:
    statements = stmt.body.statements
    return isinstance(stmt.target, ir.Name) and len(statements) >= 1 \
        and all(is_refresh(s) or _is_reselect(s) for s in statements)
