"""What a function reads of its parameters: the summaries a caller checks its arguments with.

A caller that passes an object with unloaded attributes to ``_payload(w)`` crashes wherever
``_payload`` (or ``_fmt``, to which it passes ``w`` on) reads one of them. This module says,
for the functions and classes a caller asked about (``CallFacts.params_wanted``), which
attributes each parameter has read directly and to which calls it is passed on; the engine
closes the passes over the project (:func:`close`) and gives the result back to the callers
as ``CallFacts.param_reads``.

A class is summarised through its constructor: ``ItemOut(db_record=item)`` stores ``item``
in a field, and every ``self.db_record.<attr>`` its methods read (a property, a GraphQL
resolver) is a read of the argument. A read after the function refreshes the parameter is
not counted.
"""

from __future__ import annotations

from typing import Dict, Iterable, Iterator, List, Mapping, Optional, Set, Tuple

from codemods.analysis import ir
from codemods.analysis.lower import Bodies
from codemods.analysis.names import Names, call_name, walk
from codemods.types import ParamReads, ParamSummary, ParamUse

#: Calls whose iteration gives the elements of their first argument.
_SAME_ELEMENTS = frozenset({"sorted", "reversed", "list", "tuple", "set", "iter", "enumerate"})


def summarise(module: ir.Module, bodies: Bodies, names: Names, module_name: str, path: str,
              wanted: Iterable[str]) -> Tuple[ParamSummary, ...]:
    """The summaries of the functions and classes of this module among ``wanted``."""
    prefix = f"{module_name}."
    own = {q[len(prefix):] for q in wanted if q.startswith(prefix)}
    if not own:
        return ()
    functions = {f.qualname: f for f in module.defs}
    fields = dict(module.class_fields)
    summaries: List[ParamSummary] = []
    for qualname in sorted(own):
        function = functions.get(qualname)
        if function is not None:
            params = _function_params(function, bodies, names, module_name)
        elif qualname in fields or any(f.owner.name == qualname for f in module.defs):
            params = _class_params(qualname, fields.get(qualname, ()), functions, bodies, names,
                                   module_name)
        else:
            continue
        summaries.append(ParamSummary(f"{prefix}{qualname}", path, params))
    return tuple(summaries)


def _positional(function: ir.Function) -> List[ir.Param]:
    params = [p for p in function.params if p.kind != "kwonly"]
    if function.owner.name and params and params[0].name in ("self", "cls"):
        params = params[1:]
    return params


def _function_params(function: ir.Function, bodies: Bodies, names: Names,
                     module_name: str) -> Tuple[ParamUse, ...]:
    body = bodies.of(function)
    positional = _positional(function)
    uses = []
    for param in function.params:
        if param.name in ("self", "cls") and param not in positional:
            continue
        index = positional.index(param) if param in positional else None
        reads, passes, writes = _uses_of(param.name, body, function, names, module_name)
        uses.append(ParamUse(index, param.name, reads, passes, writes))
    return tuple(uses)


def _class_params(qualname: str, declared: Tuple[str, ...], functions: Mapping[str, ir.Function],
                  bodies: Bodies, names: Names, module_name: str) -> Tuple[ParamUse, ...]:
    """A class's constructor parameters: its ``__init__``'s (each stored field's reads by the
    methods added), or, without one, its declared fields (a dataclass, a pydantic model)."""
    methods = [f for f in functions.values() if f.owner.name == qualname]
    field_reads = _field_reads(methods, bodies, module_name)
    init = functions.get(f"{qualname}.__init__")
    if init is None:
        return tuple(ParamUse(i, name, tuple(sorted(field_reads.get(name, ()))))
                     for i, name in enumerate(declared))
    stored = _stored_fields(bodies.of(init))
    uses = []
    for param in _function_params(init, bodies, names, module_name):
        reads = set(param.reads)
        for field in stored.get(param.name, ()):
            reads |= field_reads.get(field, set())
        uses.append(ParamUse(param.index, param.name, tuple(sorted(reads)), param.passes,
                             param.writes))
    return tuple(uses)


def _field_reads(methods: Iterable[ir.Function], bodies: Bodies,
                 module_name: str) -> Dict[str, Set[Tuple[str, int, str]]]:
    """``self.<field>.<attr>`` read anywhere in the class's methods, per field."""
    found: Dict[str, Set[Tuple[str, int, str]]] = {}
    for method in methods:
        for expr, _ in _expressions(bodies.of(method)):
            for node in walk(expr):
                if isinstance(node, ir.Attribute) and isinstance(node.value, ir.Attribute) \
                        and isinstance(node.value.value, ir.Name) and node.value.value.id == "self":
                    found.setdefault(node.value.attr, set()).add(
                        (node.attr, node.line, f"{module_name}.{method.qualname}"))
    return found


def _stored_fields(body: ir.Block) -> Dict[str, List[str]]:
    """``self.field = param`` in a constructor: param → the fields it is stored in."""
    stored: Dict[str, List[str]] = {}
    for stmt in _statements(body):
        if isinstance(stmt, (ir.Assign, ir.AnnAssign)) and isinstance(stmt.value, ir.Name):
            targets = stmt.targets if isinstance(stmt, ir.Assign) else (stmt.target,)
            for target in targets:
                if isinstance(target, ir.Attribute) and isinstance(target.value, ir.Name) \
                        and target.value.id == "self":
                    stored.setdefault(stmt.value.id, []).append(target.attr)
    return stored


def _uses_of(param: str, body: ir.Block, function: ir.Function, names: Names,
             module_name: str) -> Tuple[Tuple[Tuple[str, int, str], ...],
                                        Tuple[Tuple[str, Optional[int], Optional[str], int], ...],
                                        Tuple[str, ...]]:
    """The attributes read of ``param`` (and of the names that alias it: ``x = param``, the
    elements of ``for x in param``), the calls it is given to (none after a refresh of it),
    and the attributes assigned to it."""
    aliases = {param}
    for stmt in _statements(body):  # aliases first: a loop variable is read in the loop
        if isinstance(stmt, ir.Assign) and isinstance(stmt.value, ir.Name) \
                and stmt.value.id in aliases:
            aliases.update(t.id for t in stmt.targets if isinstance(t, ir.Name))
        elif isinstance(stmt, ir.For) and _iterates(stmt.iter, aliases) \
                and isinstance(stmt.target, ir.Name):
            aliases.add(stmt.target.id)
    writes = {stmt.target.attr for stmt in _statements(body)  # `param.n += 1` writes (and reads)
              if isinstance(stmt, ir.AugAssign) and isinstance(stmt.target, ir.Attribute)
              and isinstance(stmt.target.value, ir.Name) and stmt.target.value.id in aliases}
    reads: Set[Tuple[str, int, str]] = set()
    passes: Set[Tuple[str, Optional[int], Optional[str], int]] = set()
    refreshed_at: Optional[int] = None
    for expr, target in _expressions(body):
        if isinstance(target, ir.Attribute) and isinstance(target.value, ir.Name) \
                and target.value.id in aliases:
            writes.add(target.attr)
        for node in walk(expr):
            if isinstance(node, ir.Comprehension):
                for generator in node.generators:
                    if _iterates(generator.iter, aliases) and isinstance(generator.target, ir.Name):
                        aliases.add(generator.target.id)
            elif isinstance(node, ir.Attribute) and isinstance(node.value, ir.Name) \
                    and node.value.id in aliases and node is not target:
                reads.add((node.attr, node.line, ""))
            elif isinstance(node, ir.Call):
                if call_name(node.func) == "refresh" and node.args \
                        and isinstance(node.args[0].value, ir.Name) \
                        and node.args[0].value.id in aliases:
                    line = _line(node.func)
                    refreshed_at = line if refreshed_at is None else min(refreshed_at, line)
                    continue
                if call_name(node.func) == "setattr" and len(node.args) >= 2 \
                        and isinstance(node.args[0].value, ir.Name) \
                        and node.args[0].value.id in aliases:
                    name = node.args[1].value
                    writes.add(name.value if isinstance(name, ir.Const)
                               and isinstance(name.value, str) else "*")
                    continue
                callee = _callee(node.func, function, names, module_name)
                if callee is None:
                    continue
                position = 0
                for arg in node.args:
                    if arg.star:
                        continue
                    if isinstance(arg.value, ir.Name) and arg.value.id in aliases:
                        passes.add((callee, None if arg.keyword else position, arg.keyword,
                                    _line(node.func)))
                    if arg.keyword is None:
                        position += 1
    if refreshed_at is not None:
        reads = {read for read in reads if read[1] <= refreshed_at}
        passes = {p for p in passes if p[3] <= refreshed_at}
    return (tuple(sorted(reads)), tuple(sorted(passes, key=lambda p: (p[0], p[3], p[1] or -1))),
            tuple(sorted(writes)))


def _iterates(expr: ir.Expr, aliases: Set[str]) -> bool:
    if isinstance(expr, ir.Name):
        return expr.id in aliases
    if isinstance(expr, ir.Call) and call_name(expr.func) in _SAME_ELEMENTS and expr.args:
        return _iterates(expr.args[0].value, aliases)
    return False


def _callee(func: ir.Expr, function: ir.Function, names: Names, module_name: str) -> Optional[str]:
    """The qualified name of the project function or class a call names, when the source shows it."""
    if isinstance(func, ir.Name):
        return names.qualify(func.id)
    if not isinstance(func, ir.Attribute):
        return None
    owner = function.owner
    if isinstance(func.value, ir.Name) and func.value.id in ("self", "cls") and owner.name:
        return f"{module_name}.{owner.name}.{func.attr}"
    if isinstance(func.value, ir.Attribute) and isinstance(func.value.value, ir.Name) \
            and func.value.value.id == "self" and owner.attr_type(func.value.attr):
        qualified = names.qualify(owner.attr_type(func.value.attr))  # type: ignore[arg-type]
        return f"{qualified}.{func.attr}" if qualified else None
    return names.qualify(func.text) if func.text else None


def _line(expr: ir.Expr) -> int:
    for node in walk(expr):
        line = getattr(node, "line", 0)
        if line:
            return line
    return 0


def _statements(block: Optional[ir.Block]) -> Iterator[ir.Stmt]:
    """Every statement of ``block`` and of the blocks inside it, in source order."""
    if block is None:
        return
    for stmt in block.statements:
        yield stmt
        for inner in _blocks(stmt):
            yield from _statements(inner)


def _blocks(stmt: ir.Stmt) -> Iterator[Optional[ir.Block]]:
    if isinstance(stmt, (ir.If, ir.For, ir.While)):
        yield stmt.body
        yield stmt.orelse
    elif isinstance(stmt, ir.Try):
        yield stmt.body
        yield from stmt.handlers
        yield stmt.orelse
        yield stmt.finalbody
    elif isinstance(stmt, ir.With):
        yield stmt.body
    elif isinstance(stmt, ir.Match):
        yield from stmt.cases


def _expressions(block: ir.Block) -> Iterator[Tuple[ir.Expr, Optional[ir.Expr]]]:
    """Each expression the statements evaluate, with the attribute it assigns (``obj.a = v``
    writes ``obj.a``: not a read), if any."""
    for stmt in _statements(block):
        if isinstance(stmt, ir.Assign):
            yield stmt.value, None
            for target in stmt.targets:
                yield target, target if isinstance(target, ir.Attribute) else None
        elif isinstance(stmt, ir.AnnAssign):
            if stmt.value is not None:
                yield stmt.value, None
            yield stmt.target, stmt.target if isinstance(stmt.target, ir.Attribute) else None
        elif isinstance(stmt, (ir.AugAssign,)):
            yield stmt.value, None
            yield stmt.target, None  # `obj.n += 1` reads obj.n
        elif isinstance(stmt, (ir.ExprStmt,)):
            yield stmt.value, None
        elif isinstance(stmt, ir.Return) and stmt.value is not None:
            yield stmt.value, None
        elif isinstance(stmt, ir.Raise) and stmt.exc is not None:
            yield stmt.exc, None
        elif isinstance(stmt, ir.Assert):
            yield stmt.test, None
        elif isinstance(stmt, (ir.If, ir.While)):
            yield stmt.test, None
        elif isinstance(stmt, ir.For):
            yield stmt.iter, None
        elif isinstance(stmt, ir.With):
            for item in stmt.items:
                yield item.context, None
        elif isinstance(stmt, ir.Match):
            yield stmt.subject, None
        elif isinstance(stmt, ir.NestedDef):
            for expr in stmt.reads:
                yield expr, None


def close(summaries: Mapping[str, ParamSummary]
          ) -> Tuple[Dict[str, Tuple[ParamReads, ...]], Set[str]]:
    """Every summarised function's reads of each parameter, the reads of the functions it
    passes the parameter to included (cycles end where they started), and the functions
    passed to whose summaries are not known yet (to ask for)."""
    missing: Set[str] = set()
    memo: Dict[Tuple[str, int], Tuple[Tuple[str, str, str, int], ...]] = {}
    written: Dict[Tuple[str, int], Set[str]] = {}

    def reads_of(function: str, use: ParamUse, active: Set[Tuple[str, str]]
                 ) -> Tuple[Tuple[str, str, str, int], ...]:
        summary = summaries[function]
        key = (function, id(use))
        if key in memo:
            return memo[key]
        found: Set[Tuple[str, str, str, int]] = {
            (attr, reader or function, summary.path, line) for attr, line, reader in use.reads}
        writes = written.setdefault(key, set(use.writes))
        active = active | {(function, use.name)}
        for callee, position, keyword, _ in use.passes:
            target = summaries.get(callee)
            if target is None:
                missing.add(callee)
                continue
            for param in target.params:
                matches = (keyword is not None and param.name == keyword) or \
                    (keyword is None and position is not None and param.index == position)
                if matches and (callee, param.name) not in active:
                    found.update(reads_of(callee, param, active))
                    writes |= written.get((callee, id(param)), set())
        result = tuple(sorted(found))
        if len(active) == 1:  # only a result not cut short by a cycle is final
            memo[key] = result
        return result

    closed = {name: tuple(ParamReads(use.index, use.name, reads_of(name, use, set()),
                                     tuple(sorted(written[(name, id(use))])))
                          for use in summary.params)
              for name, summary in summaries.items()}
    return closed, missing
