"""Calls across functions: what a project function the facts know does to the objects a
caller gives it, and what the caller gets back.

A helper that flushes, commits or rolls back the session it is given is a site at the call
(:func:`apply_flush_effects`), and each function publishes such effects of its own for its
callers (:func:`publish_effects`), with the parameters it refreshes after them. An object a
function returns carries what it left unloaded (:func:`returned_obj`); an object passed to a
function is read and written there as its summary says (:func:`passed_to`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence, Set, Tuple

from codemods.analysis import ir, reads, session
from codemods.analysis.names import key_of, position_of, render
from codemods.analysis.state import Obj, Reason, State, TupleOf, Value
from codemods.types import Cause, FlushEffect, ReturnedState

if TYPE_CHECKING:
    from codemods.analysis.interpreter import Interpreter


def project_call(interp: "Interpreter", expr: ir.Call, values: List[Optional[Value]],
                  state: State) -> Optional[Tuple[Optional[Value]]]:
    """An awaited call of a project function the facts know: its flushes happen here, and
    what it returns carries what it left unloaded. None: not such a call."""
    callee = resolve_callee(interp, expr.func)
    if callee is None:
        return None
    facts = interp.names.facts
    returned = facts.returns(callee)
    if returned is not None:
        interp.run.module.calls.add(callee)
    else:
        interp.run.module.unresolved_calls.add(callee)
    given_back = _argument_returned(interp, callee, expr, values)
    if facts.flushers(callee):
        # The helper flushes what it was given: nothing escapes unloaded.
        made = apply_flush_effects(interp, callee, expr, values, state)
        if given_back is not None:
            if isinstance(given_back, Obj) and returned is not None:
                _left_by(given_back, callee, set(made))
            return (given_back,)
        return (_loaded_in(interp, returned_value(interp, returned), expr)
                if returned is not None else None,)
    if given_back is not None:
        return (given_back,)
    if returned is not None:
        return (_loaded_in(interp, returned_value(interp, returned), expr),)
    return None


def _loaded_in(interp: "Interpreter", value: Optional[Value], expr: ir.Call) -> Optional[Value]:
    """Objects a getter loaded are in the session the call gave it (``get_x(db, id)``,
    ``repo.get(id)`` with ``repo = Repo(db)``): a rollback of another session leaves them be."""
    run = interp.run
    found: Optional[str] = None
    for arg in expr.args:
        if not arg.star:
            found = found or run.session_of(arg.value)
    found = found or receiver_session(interp, expr.func)
    if found is None:
        return value
    objects = [value] if isinstance(value, Obj) else \
        [v for _, v in value.items if isinstance(v, Obj)] if isinstance(value, TupleOf) else []
    for obj in objects:
        if obj.origin == "loaded" and obj.session is None:
            obj.session = found
    return value


def _argument_returned(interp: "Interpreter", callee: str, expr: ir.Call,
                       values: List[Optional[Value]]) -> Optional[Value]:
    """The object passed to a function that returns that parameter as given
    (``user = await repo.create(User(...))``): the same object."""
    returned = interp.names.facts.returns_arg(callee)
    if returned is None:
        return None
    return _argument(expr, values, *returned)


def passed_to(interp: "Interpreter", expr: ir.Call, values: List[Optional[Value]]) -> None:
    """Objects given to a project function (or class) are read there as its summary says:
    each attribute it (or a function it passes the object on to) reads is read here."""
    given = [(arg, value) for arg, value in zip(expr.args, values)
             if isinstance(value, Obj) and not arg.star]
    if not given:
        return
    callee = resolve_callee(interp, expr.func)
    if callee is None:
        return
    summary = interp.names.facts.param_reads(callee)
    if summary is None:
        # Asked for when it matters: what it reads of objects with unloaded attributes,
        # what a helper that flushes writes to the objects it flushes.
        if any(value.all_reasons() for _, value in given) \
                or interp.names.facts.flushers(callee):  # type: ignore[union-attr]
            interp.run.module.unresolved_params.add(callee)
        return
    position = 0
    for arg, value in zip(expr.args, values):
        at = position if arg.keyword is None else None
        if arg.keyword is None and not arg.star:
            position += 1
        if not isinstance(value, Obj) or arg.star:
            continue
        key = key_of(arg.value) or render(arg.value) or "the argument"
        for param in summary:
            if (arg.keyword is not None and param.name == arg.keyword) or \
                    (at is not None and param.index == at):
                # A class reads later, through the instance it makes: an escape (FG004).
                _read_by_callee(interp, key, value, param.reads, position_of(arg.value),
                                     escaped=callee.rpartition(".")[2][:1].isupper())
                _written_by_callee(interp, value, param.writes)


def _written_by_callee(interp: "Interpreter", obj: Obj, writes: Sequence[str]) -> None:
    """The callee assigns these attributes: given, and a changed column of a persistent
    object makes its next flush an UPDATE (``*``: any column, ``setattr`` in a loop)."""
    for attr in writes:
        if attr == "*":
            if obj.persistent:
                obj.dirty = True
            continue
        if not obj.model.has_attribute(attr):
            continue
        obj.given.add(attr)
        obj.mark_loaded(attr)
        if obj.persistent:
            if obj.model.relationship(attr) is not None:
                obj.rel_dirty = True
            else:
                obj.dirty = True


def _read_by_callee(interp: "Interpreter", key: str, obj: Obj, callee_reads: Sequence[Tuple[str, str, str, int]],
                    at: Tuple[int, int], escaped: bool = False) -> None:
    """Each reading function's attributes, read at the call (``at``)."""
    by_reader: Dict[Tuple[str, str, int], List[str]] = {}
    for attr, reader, path, line in callee_reads:
        if obj.model.has_attribute(attr):
            by_reader.setdefault((reader, path, line), []).append(attr)
    for (reader, path, line), attrs in sorted(by_reader.items()):
        reads.check_read(interp.run, key, obj, tuple(dict.fromkeys(attrs)), at,
                         reader=f"`{reader}` at {path}:{line}: ", escaped=escaped)


# -- across functions --------------------------------------------------------------


def resolve_callee(interp: "Interpreter", func: ir.Expr) -> Optional[str]:
    """The qualified name of the project function a call names, when the source shows it
    (a method through ``self``, a typed attribute or variable, ``super()``, an instance
    built here or a module-level one), canonical: the class's method, not the instance's."""
    found = _callee_name(interp, func)
    return interp.names.facts.canonical(found) if found is not None else None


def _callee_name(interp: "Interpreter", func: ir.Expr) -> Optional[str]:
    names, run = interp.names, interp.run
    if isinstance(func, ir.Name):
        return names.qualify(func.id)
    if not isinstance(func, ir.Attribute):
        return None
    method, base = func.attr, func.value
    owner = run.function.owner
    if isinstance(base, ir.Name) and base.id in ("self", "cls") and owner.name:
        return f"{names.module_name}.{owner.name}.{method}"
    if isinstance(base, ir.Call) and isinstance(base.func, ir.Name) \
            and base.func.id == "super" and owner.bases:
        qualified = names.qualify(owner.bases[0])
        return f"{qualified}.{method}" if qualified else None
    if isinstance(base, ir.Attribute) and isinstance(base.value, ir.Name) \
            and base.value.id == "self" and owner.attr_type(base.attr) is not None:
        qualified = names.qualify(_instance_of(owner.attr_type(base.attr)))  # type: ignore[arg-type]
        return f"{qualified}.{method}" if qualified else None
    if isinstance(base, ir.Name) and base.id in run.var_types:
        qualified = names.qualify(_instance_of(run.var_types[base.id]))
        return f"{qualified}.{method}" if qualified else None
    if isinstance(base, ir.Call):
        qualified = names.qualify(_instance_of(key_of(base.func) or ""))
        return f"{qualified}.{method}" if qualified else None
    return names.qualify(func.text) if func.text else None


def apply_flush_effects(interp: "Interpreter", callee: str, expr: ir.Call, values: List[Optional[Value]],
                        state: State) -> List[int]:
    """A call to a helper that flushes the session it is given is a flush here (the
    sites made, returned).

    New objects handed to it are taken to be added by it (``await self._save(obj)``).
    """
    run = interp.run
    func = expr.func
    reloads: Tuple[Tuple[Optional[int], str, Optional[Tuple[str, ...]]], ...] = ()
    made: List[int] = []
    for effect in interp.names.facts.flushers(callee) or ():
        target: Optional[str] = None
        if effect.target.startswith("self."):
            if isinstance(func, ir.Attribute) and isinstance(func.value, ir.Name) \
                    and func.value.id == "self":
                target = effect.target
            else:
                # `repo.save(x)` with repo = Repo(s), `Repo(s).save(x)`: that session; a
                # repository injected by a dependency (`self.users.create(x)`): its own
                # session, named after it, which holds what this function did not load
                # from a session of its own.
                target = receiver_session(interp, func)
                if target is None and isinstance(func, ir.Attribute) \
                        and isinstance(func.value, (ir.Name, ir.Attribute)):
                    receiver = render(func.value)
                    target = receiver + effect.target[len("self"):] if receiver else None
        else:
            _, index, param = effect.target.split(":", 2)
            for position, arg in enumerate(expr.args):
                if arg.keyword == param or (arg.keyword is None and not arg.star
                                            and position == int(index)):
                    target = render(arg.value)
        if target is None or run.place is None or not _holds(effect, expr) \
                or callee == run.fqn:  # a function calling itself (a retry) adds nothing
            continue
        for value in values:
            if isinstance(value, Obj):
                session.join_session(run, value, target)
        paths = run.module.error_paths
        if effect.error_path:
            paths.append(effect.error_path if f"`{callee}`" in effect.error_path
                         else f"{effect.error_path} of `{callee}`")
        try:
            site = run.module.new_site(run.place, effect.kind, target)
            made.append(site.id)
            state.effects.add(run.effect(target, effect.kind))
        finally:
            if effect.error_path:
                paths.pop()
        # Objects passed as they are built (`repo.create(Item(...))`) are in no variable yet.
        bound = {id(v) for v in state.bindings.values()}
        unbound = {f"{v.ref}(...)": v for v in values
                   if isinstance(v, Obj) and id(v) not in bound}
        state.bindings.update(unbound)  # named as the audit shows them: `Item(...)`
        session.record_site(run, site, state, target, via=callee)
        session.apply_site(run, state, site, target)
        if effect.error_path:  # a refresh here would cost the normal path a query
            session.only_possible(state, site.id)
        for key in unbound:
            state.bindings.pop(key, None)
        reloads = effect.reloads
    for position, name, attributes in reloads:
        # The helper refreshed what it was given after its sites (``commit(); refresh(obj)``).
        value = _argument(expr, values, position, name)
        if isinstance(value, Obj) and not value.is_list:
            session.refresh(run, value, list(attributes) if attributes is not None else None)
    return made


def publish_effects(interp: "Interpreter", state: State) -> None:
    """What a caller sees: the flushes on paths that return normally (a rollback in an
    ``except`` that re-raises is not something the caller continues after), and the
    parameters refreshed after them on this path."""
    run = interp.run
    params = {p.name: p for p in run.function.params}
    reloads = _reloads(interp, state)
    for target, kind, condition, error_path in state.effects:
        when = None
        if condition is not None:
            name, truthy = condition
            when = (name, run.param_index.get(name), truthy, params[name].default_truthy)
        if target.startswith("self.") and run.function.owner.name:
            _publish(interp, FlushEffect(run.fqn, target, kind, when, error_path, reloads))
        elif target in run.param_index:
            _publish(interp, FlushEffect(run.fqn, f"arg:{run.param_index[target]}:{target}",
                                      kind, when, error_path, reloads))


def _reloads(interp: "Interpreter", state: State) -> Tuple[Tuple[Optional[int], str,
                                                Optional[Tuple[str, ...]]], ...]:
    """The parameters (never rebound) refreshed since the last site that touched them."""
    run = interp.run
    found = []
    for param in run.function.params:
        value = state.bindings.get(param.name)
        if param.name in run.assigned or not isinstance(value, Obj) or value.is_list:
            continue
        if value.refreshed_all:
            found.append((run.param_index.get(param.name), param.name, None))
        elif value.refreshed_names:
            found.append((run.param_index.get(param.name), param.name,
                          tuple(sorted(value.refreshed_names))))
    return tuple(found)


def _publish(interp: "Interpreter", effect: FlushEffect) -> None:
    """One effect per site kind and condition: the paths that return normally agree on
    what they reload only as far as each of them reloads it."""
    effects = interp.run.module.flush_effects
    bare = replace(effect, reloads=())
    for old in effects:
        if replace(old, reloads=()) == bare:
            if old.reloads != effect.reloads:
                effects.discard(old)
                effects.add(replace(effect, reloads=_common_reloads(old.reloads,
                                                                    effect.reloads)))
            return
    effects.add(effect)


def returned_value(interp: "Interpreter", states: Tuple[ReturnedState, ...]) -> Optional[Value]:
    """What a call of a function the facts know evaluates to: its object, or a tuple."""
    if len(states) == 1 and states[0].position is None:
        return returned_obj(interp, states[0])
    items = tuple((s.position, obj) for s in states if s.position is not None
                  for obj in [returned_obj(interp, s)] if obj is not None)
    return TupleOf(items) if items else None  # type: ignore[arg-type]


def returned_obj(interp: "Interpreter", returned: ReturnedState) -> Optional[Obj]:
    """The object a callee returns, in the state it returns it: still pending (this
    function's flush INSERTs it), or persistent with what its query loaded, and each
    attribute it left unloaded (the callee that did it is the origin)."""
    model = interp.names.models.by_qualname(returned.model)
    if model is None:
        return None
    order = interp.run.next_order()
    if returned.pending:
        obj = Obj(model=model, origin="new", ref=model.name, in_session=returned.added,
                  is_list=returned.is_list, order=order, given=set(returned.given))
    else:
        obj = Obj(model=model, origin="loaded", ref=model.name, in_session=True,
                  persistent=True, is_list=returned.is_list, order=order,
                  loaded_rels=set(returned.loaded), loads_known=returned.loads_known)
    for attr, possible, origin in returned.unloaded:
        cause = Cause("FG004", "callee", f"`{origin}` returns it unloaded", possible)
        obj.unload(attr, Reason(0, returned.line, "flush", "", cause, origin))
    return obj


def _instance_of(constructed: str) -> str:
    """The class an instance was made from: ``Repo`` for ``Repo(...)``, and for an
    alternative constructor ``Repo.from_session(...)`` (a classmethod returning ``Self``)."""
    owner, _, method = constructed.rpartition(".")
    if owner and owner.rpartition(".")[2][:1].isupper() and method[:1].islower():
        return owner
    return constructed


def _argument(expr: ir.Call, values: List[Optional[Value]], position: Optional[int],
              name: str) -> Optional[Value]:
    """The object a call passes as the parameter at ``position`` (or by its ``name``)."""
    index = 0
    for arg, value in zip(expr.args, values):
        if arg.star:
            return None
        if arg.keyword == name or (arg.keyword is None and index == position):
            return value if isinstance(value, Obj) else None
        if arg.keyword is None:
            index += 1
    return None


def _left_by(obj: Obj, callee: str, site_ids: Set[int]) -> None:
    """What a helper that flushes its argument and returns it left unloaded is the helper's
    to refresh, before its own ``return`` (``return await self._amend(x, data)`` has no
    place for a refresh after the call): reads of it are consumer reads of the helper."""
    def retag(reasons: Set[Reason]) -> Set[Reason]:
        return {replace(r, origin=callee) if r.site_id in site_ids and r.origin is None else r
                for r in reasons}

    obj.expired = retag(obj.expired)
    for attr, reasons in obj.unloaded.items():
        obj.unloaded[attr] = retag(reasons)


def _common_reloads(a, b):
    """What two paths both reload: a plain refresh on both, else the names both refresh."""
    theirs = {(position, name): names for position, name, names in b}
    common = []
    for position, name, names in a:
        if (position, name) not in theirs:
            continue
        other = theirs[(position, name)]
        if names is None or other is None:
            kept = other if names is None else names
        else:
            kept = tuple(sorted(set(names) & set(other)))
            if not kept:
                continue
        common.append((position, name, kept))
    return tuple(common)


def _holds(effect: FlushEffect, call: ir.Call) -> bool:
    """Whether a helper's effect under a parameter test can happen at this call: not when the
    argument (or, not passed, the default) is a constant of the other truth."""
    if effect.when is None:
        return True
    name, position, truthy, default = effect.when
    value: Optional[ir.Expr] = None
    passed = False
    index = 0
    for arg in call.args:
        if arg.star:
            return True  # *args / **kwargs: anything may be passed
        if arg.keyword == name or (arg.keyword is None and index == position):
            value, passed = arg.value, True
        if arg.keyword is None:
            index += 1
    if not passed:
        return default is None or default == truthy
    if isinstance(value, ir.Const):
        return bool(value.value) == truthy
    return True


def receiver_session(interp: "Interpreter", func: ir.Expr) -> Optional[str]:
    """The session a method's object was built with: ``repo.get`` with ``repo = Repo(db)``,
    or ``Repo(db).get`` (its ``self.<session>`` is ``db``)."""
    if not isinstance(func, ir.Attribute):
        return None
    run = interp.run
    if isinstance(func.value, ir.Name):
        return run.var_sessions.get(func.value.id)
    if isinstance(func.value, ir.Call):
        given = {run.session_of(a.value) for a in func.value.args if not a.star}
        given.discard(None)
        return given.pop() if len(given) == 1 else None
    return None
