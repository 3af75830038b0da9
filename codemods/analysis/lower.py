"""Lowering: the standard library's syntax tree of a module to the IR (:mod:`.ir`).

:func:`lower_module` walks the tree once and keeps, for every function, what the
interpreter asks: statements with their first line and whether a fix can follow them,
expressions reduced to the shapes that bind, read, call or build objects. Positions become
1-based character columns (the tree counts UTF-8 bytes). The result depends on the text
alone, never on the module's name, the models or the rest of the project, so it is cached
by the file's digest.
"""

from __future__ import annotations

import ast
import re
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Set, Tuple

from codemods import files
from codemods.analysis import ir
from codemods.imports import dotted_name as dotted

#: What makes a function able to hold a site: the text markers of :mod:`codemods.files`.
SITE_MARKERS = tuple(marker.decode() for marker in files.SITE_MARKERS)
#: ``name(`` and ``name (``: a call, as far as the text tells.
_CALLED = re.compile(r"\b(\w+)\s*\(")
SESSION_TYPES = frozenset({"AsyncSession", "Session", "async_scoped_session", "scoped_session"})
ROUTE_METHODS = frozenset({"get", "post", "put", "patch", "delete"})
_WORD = re.compile(r"[A-Za-z_]\w*")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_LINE_WITH_BREAK = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")

_NOTHING = ir.Other(())


class _Text:
    """The module's lines, for columns in characters and source segments."""

    def __init__(self, source: str) -> None:
        self.lines = _LINE_BREAK.split(source)
        self.ascii = source.isascii()
        self._encoded: Dict[int, bytes] = {}
        self._indents: Dict[int, int] = {}

    def column(self, line: int, offset: int) -> int:
        """The 1-based character column of byte ``offset`` on ``line``."""
        if not self.ascii and 0 < line <= len(self.lines):
            text = self.lines[line - 1]
            if not text.isascii():
                data = self._encoded.get(line)
                if data is None:
                    data = self._encoded[line] = text.encode("utf-8", "surrogatepass")
                return len(data[:offset].decode("utf-8", "replace")) + 1
        return offset + 1

    def indent(self, line: int) -> int:
        """The width of the leading whitespace of ``line`` (ASCII: bytes and characters agree)."""
        found = self._indents.get(line)
        if found is None:
            text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
            found = self._indents[line] = len(text) - len(text.lstrip(" \t\f"))
        return found

    def segment(self, node: ast.AST) -> str:
        """The source text of ``node`` as written."""
        start, end = node.lineno, node.end_lineno or node.lineno
        first = self.column(start, node.col_offset) - 1
        last = self.column(end, node.end_col_offset or 0) - 1
        if start == end:
            return self.lines[start - 1][first:last]
        parts = [self.lines[start - 1][first:], *self.lines[start:end - 1],
                 self.lines[end - 1][:last]]
        return "\n".join(parts)

    def brace_before(self, line: int, column: int) -> int:
        """The column of the ``{`` that opens an f-string replacement field whose expression
        starts at ``column`` (the expression's own column when the brace is not on its line)."""
        if 0 < line <= len(self.lines):
            text = self.lines[line - 1]
            index = column - 2
            while index >= 0 and text[index] in " \t":
                index -= 1
            if index >= 0 and text[index] == "{":
                return index + 1
        return column


def annotation_names(node: ast.AST) -> Tuple[str, ...]:
    """Every name an annotation mentions, string annotations' words included, sorted."""
    names: Set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            names.add(sub.id)
        elif isinstance(sub, ast.Attribute):
            names.add(sub.attr)
        elif isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            names.update(_WORD.findall(sub.value))
    return tuple(sorted(names))


def annotated_class(node: ast.AST) -> Optional[str]:
    """``Service`` for ``Service`` or ``Annotated[Service, Depends(...)]``."""
    if isinstance(node, ast.Subscript) and dotted(node.value) in ("Annotated", "typing.Annotated"):
        index = node.slice
        first = index.elts[0] if isinstance(index, ast.Tuple) and index.elts else index
        return dotted(first)
    return dotted(node)


class _Lowering:
    """One module's lowering; ``lower_*`` methods return IR values."""

    def __init__(self, source: str) -> None:
        self.text = _Text(source)
        self.ascii = self.text.ascii
        self.expressions: Dict[type, Callable[[ast.AST], ir.Expr]] = {
            ast.Name: self._name,
            ast.Attribute: self._attribute,
            ast.Call: self._call,
            ast.Await: self._await,
            ast.Constant: self._constant,
            ast.List: self._display,
            ast.Tuple: self._display,
            ast.Set: self._display,
            ast.Starred: self._starred,
            ast.Subscript: self._subscript,
            ast.ListComp: self._comprehension,
            ast.SetComp: self._comprehension,
            ast.GeneratorExp: self._comprehension,
            ast.DictComp: self._comprehension,
            ast.Lambda: self._lambda,
            ast.JoinedStr: self._joined,
            ast.NamedExpr: self._named,
            ast.IfExp: self._if_expression,
            ast.Dict: self._dict,
        }
        template = getattr(ast, "TemplateStr", None)
        if template is not None:  # Python 3.14's t-strings
            self.expressions[template] = self._template

    # -- expressions ------------------------------------------------------------

    def expr(self, node: ast.AST) -> ir.Expr:
        lower = self.expressions.get(type(node))
        if lower is not None:
            return lower(node)
        return self._other(node)

    def _position(self, node: ast.AST) -> Tuple[int, int]:
        if self.ascii:
            return node.lineno, node.col_offset + 1  # type: ignore[attr-defined]
        return node.lineno, self.text.column(node.lineno, node.col_offset)  # type: ignore[attr-defined]

    def _name(self, node: ast.Name) -> ir.Expr:
        if self.ascii:
            return ir.Name(node.id, node.lineno, node.col_offset + 1)
        return ir.Name(node.id, *self._position(node))

    def _attribute(self, node: ast.Attribute) -> ir.Expr:
        value = node.value
        text = None
        if isinstance(value, ast.Name):
            text = f"{value.id}.{node.attr}"
        elif isinstance(value, ast.Attribute):
            text = dotted(node)
        return ir.Attribute(self.expr(value), node.attr, *self._position(node), text)

    def _call(self, node: ast.Call) -> ir.Expr:
        func = node.func
        parts: List[Tuple[Tuple[int, int], ir.Arg]] = []
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                parts.append(((arg.lineno, arg.col_offset), ir.Arg(self.expr(arg.value), None, "*")))
            else:
                parts.append(((arg.lineno, arg.col_offset), ir.Arg(self.expr(arg))))
        for keyword in node.keywords:
            lowered = ir.Arg(self.expr(keyword.value), keyword.arg, "" if keyword.arg else "**")
            parts.append(((keyword.lineno, keyword.col_offset), lowered))
        if node.args and node.keywords and parts[len(node.args)][0] < parts[len(node.args) - 1][0]:
            parts.sort(key=lambda part: part[0])  # `f(k=1, *rest)`: as written
        return ir.Call(self.expr(func), tuple(arg for _, arg in parts), *self._position(node))

    def _await(self, node: ast.Await) -> ir.Expr:
        return ir.Await(self.expr(node.value))

    def _constant(self, node: ast.Constant) -> ir.Expr:
        return ir.Const(node.value)

    def _display(self, node: ast.AST) -> ir.Expr:
        kind = "list" if isinstance(node, ast.List) else ("tuple" if isinstance(node, ast.Tuple) else "set")
        return ir.Display(kind, tuple(self.expr(e) for e in node.elts))  # type: ignore[attr-defined]

    def _starred(self, node: ast.Starred) -> ir.Expr:
        return ir.Starred(self.expr(node.value))

    def _subscript(self, node: ast.Subscript) -> ir.Expr:
        return ir.Subscript(self.expr(node.value), self.expr(node.slice))

    def _comprehension(self, node: ast.AST) -> ir.Expr:
        generators = tuple(
            ir.Generator(self.expr(g.target), self.expr(g.iter), tuple(self.expr(c) for c in g.ifs))
            for g in node.generators)  # type: ignore[attr-defined]
        if isinstance(node, ast.DictComp):
            return ir.Comprehension("dict", self.expr(node.key), self.expr(node.value), generators)
        kind = {ast.ListComp: "list", ast.SetComp: "set", ast.GeneratorExp: "generator"}[type(node)]
        return ir.Comprehension(kind, self.expr(node.elt), None, generators)  # type: ignore[attr-defined]

    def _lambda(self, node: ast.Lambda) -> ir.Expr:
        args = node.args
        return ir.Lambda(self.expr(node.body), tuple(a.arg for a in (*args.posonlyargs, *args.args)))

    def _joined(self, node: ast.JoinedStr) -> ir.Expr:
        parts: List[ir.Expr] = []
        for value in node.values:
            if isinstance(value, ast.FormattedValue):
                inner = self.expr(value.value)
                line, column = self._position(value.value)
                parts.append(ir.Formatted(inner, line, self.text.brace_before(line, column)))
        return ir.Other(tuple(parts))

    def _template(self, node: ast.AST) -> ir.Expr:
        return ir.Other(tuple(ir.Interpolation(self.expr(v.value)) for v in node.values  # type: ignore[attr-defined]
                              if not isinstance(v, ast.Constant)))

    def _named(self, node: ast.NamedExpr) -> ir.Expr:
        return ir.NamedExpr(self.expr(node.target), self.expr(node.value))

    def _if_expression(self, node: ast.IfExp) -> ir.Expr:
        return self._children((node.body, node.test, node.orelse))

    def _dict(self, node: ast.Dict) -> ir.Expr:
        ordered: List[ast.AST] = []
        for key, value in zip(node.keys, node.values):
            if key is not None:
                ordered.append(key)
            ordered.append(value)
        return self._children(ordered)

    def _other(self, node: ast.AST) -> ir.Expr:
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not) \
                and isinstance(node.operand, ast.Name):
            return ir.Other((self.expr(node.operand),), True)  # `if not commit:`
        if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.And):
            conjuncts = tuple(_tested_name(value) for value in node.values)
            kept = tuple(c for c in conjuncts if c is not None)
            if kept:  # `if case and track_view:`: what the body needs of each name
                children = self._children(node.values)
                return ir.Other(children.children if isinstance(children, ir.Other) else (),
                                conjuncts=kept)
        return self._children(ast.iter_child_nodes(node))

    def _children(self, nodes: Iterable[ast.AST]) -> ir.Expr:
        """Only the children that can do something: a name or a literal alone does nothing."""
        kept = []
        for child in nodes:
            if isinstance(child, (ast.Name, ast.Constant, ast.expr_context, ast.operator,
                                  ast.boolop, ast.cmpop, ast.unaryop)):
                continue
            lowered = self.expr(child)
            if lowered is not _NOTHING:
                kept.append(lowered)
        return ir.Other(tuple(kept)) if kept else _NOTHING

    # -- statements -------------------------------------------------------------

    def block(self, statements: Sequence[ast.stmt]) -> ir.Block:
        """A suite; its statements are insertable when it is an indented block of its own."""
        indented = bool(statements) and self._begins_line(statements[0])
        lowered: List[ir.Stmt] = []
        last = len(statements) - 1
        for index, stmt in enumerate(statements):
            insertable = indented and self._begins_line(stmt) and not (
                index < last and statements[index + 1].lineno == stmt.end_lineno) and not (
                index > 0 and statements[index - 1].end_lineno == stmt.lineno)
            lowered.append(self.statement(stmt, insertable))
        return ir.Block(tuple(lowered))

    def _begins_line(self, stmt: ast.stmt) -> bool:
        return self.text.indent(stmt.lineno) == stmt.col_offset

    def _optional_block(self, statements: Sequence[ast.stmt]) -> Optional[ir.Block]:
        return self.block(statements) if statements else None

    def statement(self, node: ast.stmt, insertable: bool) -> ir.Stmt:
        line, end = node.lineno, node.end_lineno or node.lineno
        if isinstance(node, ast.Expr):
            return ir.ExprStmt(self.expr(node.value), line, end, insertable)
        if isinstance(node, ast.Assign):
            return ir.Assign(tuple(self.expr(t) for t in node.targets), self.expr(node.value),
                             line, end, insertable)
        if isinstance(node, ast.AnnAssign):
            value = self.expr(node.value) if node.value is not None else None
            return ir.AnnAssign(self.expr(node.target), annotation_names(node.annotation), value,
                                line, end, insertable)
        if isinstance(node, ast.AugAssign):
            return ir.AugAssign(self.expr(node.target), self.expr(node.value), line, end, insertable)
        if isinstance(node, ast.Return):
            if node.value is None:
                return ir.Return(None, line, end, insertable)
            return ir.Return(self.expr(node.value), line, end, insertable,
                             self._position(node.value))
        if isinstance(node, ast.Raise):
            return ir.Raise(self.expr(node.exc) if node.exc is not None else None, line, end, insertable)
        if isinstance(node, ast.Continue):
            return ir.Continue(line, end, insertable)
        if isinstance(node, ast.Break):
            return ir.Break(line, end, insertable)
        if isinstance(node, ast.Delete):
            return ir.Delete(tuple(self.expr(t) for t in node.targets), line, end, insertable)
        if isinstance(node, ast.Assert):
            return ir.Assert(self.expr(node.test), line, end, insertable)
        return self._compound(node, insertable)

    def _compound(self, node: ast.stmt, insertable: bool) -> ir.Stmt:
        line, end = node.lineno, node.end_lineno or node.lineno
        if isinstance(node, ast.If):
            return ir.If(self.expr(node.test), self.block(node.body),
                         self._optional_block(node.orelse), line, end, insertable)
        if isinstance(node, (ast.For, ast.AsyncFor)):
            return ir.For(self.expr(node.target), self.expr(node.iter), self.block(node.body),
                          self._optional_block(node.orelse), line, end, insertable)
        if isinstance(node, ast.While):
            return ir.While(self.expr(node.test), self.block(node.body),
                            self._optional_block(node.orelse), line, end, insertable)
        if isinstance(node, (ast.Try, getattr(ast, "TryStar", ast.Try))):
            star = "*" if type(node).__name__ == "TryStar" else ""
            clauses = tuple((f"except{star} {self.text.segment(h.type)}" if h.type is not None
                             else "except", h.lineno) for h in node.handlers)
            return ir.Try(self.block(node.body), tuple(self.block(h.body) for h in node.handlers),
                          self._optional_block(node.orelse), self._optional_block(node.finalbody),
                          line, end, insertable, clauses)
        if isinstance(node, (ast.With, ast.AsyncWith)):
            items = tuple(ir.WithItem(self.expr(i.context_expr),
                                      self.expr(i.optional_vars) if i.optional_vars is not None else None)
                          for i in node.items)
            return ir.With(items, self.block(node.body), line, end, insertable)
        if isinstance(node, ast.Match):
            return ir.Match(self.expr(node.subject), tuple(self.block(c.body) for c in node.cases),
                            line, end, insertable)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return ir.NestedDef(node.name, tuple(self._reads(node.body)), line, end, insertable)
        return ir.Skipped(line, end, insertable)  # pass, import, class: nothing to follow

    def _reads(self, statements: Sequence[ast.stmt]) -> Iterable[ir.Expr]:
        """What a nested function's body evaluates, in source order: loads, not the targets
        it writes (``obj.a = 1`` reads ``obj``, not ``obj.a``; ``obj.a += 1`` reads it)."""
        for stmt in statements:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            for child in ast.iter_child_nodes(stmt):
                if isinstance(child, ast.stmt):
                    yield from self._reads((child,))
                elif isinstance(child, (ast.excepthandler, ast.match_case)):
                    yield from self._reads(child.body)
                elif isinstance(child, ast.withitem):
                    yield self.expr(child.context_expr)
                elif isinstance(child, ast.expr):
                    if _stored(child, stmt):
                        yield from self._target_loads(child)
                        continue
                    lowered = self.expr(child)
                    if lowered is not _NOTHING:
                        yield lowered

    def _target_loads(self, target: ast.expr) -> Iterable[ir.Expr]:
        """The loads inside an assignment target: ``a.b`` of ``a.b.c = v``, ``xs`` and ``i``
        of ``xs[i] = v``."""
        if isinstance(target, ast.Attribute):
            parts: Sequence[ast.expr] = (target.value,)
        elif isinstance(target, ast.Subscript):
            parts = (target.value, target.slice)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                yield from self._target_loads(element)
            return
        elif isinstance(target, ast.Starred):
            yield from self._target_loads(target.value)
            return
        else:
            return
        for part in parts:
            lowered = self.expr(part)
            if lowered is not _NOTHING and not isinstance(lowered, ir.Name):
                yield lowered

    # -- functions and classes ------------------------------------------------------

    def function(self, node: ast.AST, qualname: str, owner: ir.ClassInfo) -> ir.Function:
        """The function's header: what it takes, returns and may call (its body is lowered on
        demand, :func:`lower_body`)."""
        args = node.args  # type: ignore[attr-defined]
        line, end = node.lineno, node.end_lineno or node.lineno  # type: ignore[attr-defined]
        if not isinstance(node, ast.AsyncFunctionDef):
            # Only what a summary of its parameters needs: a synchronous function holds no site.
            return ir.Function(
                qualname=qualname, is_async=False, line=line, end_line=end,
                indent=node.col_offset, owner=owner,  # type: ignore[attr-defined]
                params=tuple(ir.Param(a.arg, kind, None, None)
                             for kind, group in (("posonly", args.posonlyargs), ("normal", args.args),
                                                 ("kwonly", args.kwonlyargs)) for a in group),
                routes=(), returns=None, has_site=False, calls=())
        params = []
        positional = [*args.posonlyargs, *args.args]
        defaults = dict(zip(positional[len(positional) - len(args.defaults):], args.defaults))
        defaults.update((a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None)
        for kind, group in (("posonly", args.posonlyargs), ("normal", args.args),
                            ("kwonly", args.kwonlyargs)):
            for arg in group:
                annotation = arg.annotation
                params.append(ir.Param(
                    arg.arg, kind,
                    annotation_names(annotation) if annotation is not None else None,
                    annotated_class(annotation) if annotation is not None else None,
                    _dependency(defaults.get(arg)) or _dependency(annotation),
                    _truthy(defaults.get(arg))))
        returns = node.returns  # type: ignore[attr-defined]
        text = "\n".join(self.text.lines[line - 1:end])
        return ir.Function(
            qualname=qualname, is_async=isinstance(node, ast.AsyncFunctionDef), line=line,
            end_line=end, indent=node.col_offset, owner=owner,  # type: ignore[attr-defined]
            params=tuple(params), routes=tuple(self._routes(node)),
            returns=self.text.segment(returns) if returns else None,
            has_site=any(marker in text for marker in SITE_MARKERS),
            calls=tuple(sorted(set(_CALLED.findall(text)))))

    def _routes(self, node: ast.AST) -> Iterable[ir.Route]:
        for decorator in node.decorator_list:  # type: ignore[attr-defined]
            if not (isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute)
                    and decorator.func.attr in ROUTE_METHODS):
                continue
            path: Optional[str] = None
            response_model: Optional[str] = None
            for arg in decorator.args:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and path is None:
                    path = arg.value
            for keyword in decorator.keywords:
                if keyword.arg == "response_model":
                    response_model = self.text.segment(keyword.value)
            yield ir.Route(decorator.func.attr, dotted(decorator.func.value), path, response_model)


def _is_overload(node: ast.AST) -> bool:
    """``@overload`` / ``@typing.overload``: a signature only, never run."""
    return any(dotted(d) in ("overload", "typing.overload", "typing_extensions.overload")
               for d in node.decorator_list)  # type: ignore[attr-defined]


def _truthy(node: Optional[ast.AST]) -> Optional[bool]:
    """Whether a constant default is true; None for no default or another expression."""
    return bool(node.value) if isinstance(node, ast.Constant) else None


def _dependency(node: Optional[ast.AST]) -> Optional[str]:
    """``get_db`` for ``Depends(get_db)``, alone or in ``Annotated[..., Depends(get_db)]``."""
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Tuple):
        for element in node.slice.elts[1:]:
            found = _dependency(element)
            if found:
                return found
        return None
    if isinstance(node, ast.Call) and dotted(node.func) in ("Depends", "fastapi.Depends") \
            and node.args:
        return dotted(node.args[0])
    return None


def _stored(node: ast.expr, stmt: ast.stmt) -> bool:
    """``node`` is an assignment target of ``stmt`` (a write, not a read); ``x.a += 1`` reads."""
    if isinstance(stmt, ast.Assign):
        return node in stmt.targets
    if isinstance(stmt, ast.AnnAssign):
        return node is stmt.target or node is stmt.annotation
    if isinstance(stmt, ast.Delete):
        return True
    if isinstance(stmt, (ast.For, ast.AsyncFor)):
        return node is stmt.target
    return False


def _class_info(node: ast.ClassDef, name: str) -> ir.ClassInfo:
    """What a class body says of its instances: session attributes and typed attributes."""
    session_attrs: Set[str] = set()
    attr_types: Dict[str, str] = {}
    for stmt in _statements(node.body):
        if isinstance(stmt, ast.AnnAssign):
            target = stmt.target
            attr = target.id if isinstance(target, ast.Name) else (
                target.attr if isinstance(target, ast.Attribute) else None)
            if SESSION_TYPES.intersection(annotation_names(stmt.annotation)) and attr:
                session_attrs.add(attr)
            declared = annotated_class(stmt.annotation)
            if attr and declared:
                attr_types[attr] = declared
        elif isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Call):
            constructed = dotted(stmt.value.func)
            for target in stmt.targets:
                if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) \
                        and target.value.id == "self" and constructed:
                    attr_types[target.attr] = constructed
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and stmt.name == "__init__":
            params = [*stmt.args.posonlyargs, *stmt.args.args, *stmt.args.kwonlyargs]
            sessions = {a.arg for a in params if a.annotation is not None
                        and SESSION_TYPES.intersection(annotation_names(a.annotation))}
            # `def __init__(self, users: UserRepository): self.users = users`
            typed = {a.arg: declared for a in params if a.annotation is not None
                     and a.arg not in sessions
                     for declared in [annotated_class(a.annotation)] if declared}
            for inner in _statements(stmt.body):
                if isinstance(inner, ast.Assign) and isinstance(inner.value, ast.Name) \
                        and inner.value.id in sessions:
                    session_attrs.update(t.attr for t in inner.targets if isinstance(t, ast.Attribute))
                elif isinstance(inner, ast.Assign) and isinstance(inner.value, ast.Name) \
                        and inner.value.id in typed:
                    for target in inner.targets:
                        if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) \
                                and target.value.id == "self":
                            attr_types.setdefault(target.attr, typed[inner.value.id])
    bases = tuple(b for b in (dotted(base.value if isinstance(base, ast.Subscript) else base)
                              for base in node.bases) if b and b not in ("Generic", "typing.Generic"))
    return ir.ClassInfo(name, tuple(sorted(session_attrs)), tuple(sorted(attr_types.items())), bases)


def _statements(body: Sequence[ast.stmt]) -> Iterable[ast.stmt]:
    """Every statement of a class or function body at any depth, nested functions' and
    classes' statements included, without walking expressions."""
    for stmt in body:
        yield stmt
        for field in ("body", "orelse", "finalbody"):
            inner = getattr(stmt, field, None)
            if isinstance(inner, list):
                yield from _statements(inner)
        for handler in getattr(stmt, "handlers", ()):
            yield from _statements(handler.body)
        for case in getattr(stmt, "cases", ()):
            yield from _statements(case.body)


class Bodies:
    """The bodies of one file's functions, each lowered the first time it is asked for.

    Only the function's own lines are parsed, placed where they are in the file (blank lines
    before them; an indented ``def`` inside ``if 1:``), so that positions are the file's own.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self._lowering: Optional[_Lowering] = None
        self._lines: Optional[List[str]] = None
        self._bodies: Dict[Tuple[str, int], ir.Block] = {}
        self._layout: Optional[Tuple[str, str]] = None

    @property
    def lines(self) -> List[str]:
        """The file's lines, without their breaks (Python's breaks: \\n, \\r\\n, \\r)."""
        return self._text().lines

    def layout(self) -> Tuple[str, str]:
        """The file's indentation unit and line break (:func:`codemods.analysis.fixes.file_layout`)."""
        if self._layout is None:
            from codemods.analysis.fixes import file_layout

            self._layout = file_layout(self.source)
        return self._layout

    def _text(self) -> _Text:
        if self._lowering is None:
            self._lowering = _Lowering(self.source)
        return self._lowering.text

    def add(self, function: ir.Function, body: ir.Block) -> None:
        """The body of ``function``, lowered with its module."""
        self._bodies[(function.qualname, function.line)] = body

    def of(self, function: ir.Function) -> ir.Block:
        found = self._bodies.get((function.qualname, function.line))
        if found is None:
            found = self._bodies[(function.qualname, function.line)] = self._lower(function)
        return found

    def _lower(self, function: ir.Function) -> ir.Block:
        from codemods import frontend

        if self._lines is None:
            self._lines = _LINE_WITH_BREAK.findall(self.source)
        own = "".join(self._lines[function.line - 1:function.end_line])
        if function.indent:
            text = "\n" * (function.line - 2) + "if 1:\n" + own
        else:
            text = "\n" * (function.line - 1) + own
        tree = frontend.parse(text)
        node = tree.body[0].body[0] if function.indent else tree.body[0]  # type: ignore[attr-defined]
        self._text()
        return self._lowering.block(node.body)  # type: ignore[union-attr]


def lower_module(tree: ast.Module, source: str, bodies: Optional["Bodies"] = None) -> ir.Module:
    """The IR of ``tree`` (parsed from ``source``): every function, however nested (only
    ``async def`` can hold a site; the others are there for what they read of their
    parameters), and the fields each class declares."""
    lowering = _Lowering(source)
    functions: List[ir.Function] = []
    imports: List[ir.Import] = []
    fields: List[Tuple[str, Tuple[str, ...]]] = []
    class_bases: List[Tuple[str, Tuple[str, ...]]] = []

    def visit(body: Sequence[ast.stmt], prefix: str, owner: ir.ClassInfo) -> None:
        for stmt in body:
            if isinstance(stmt, ast.ClassDef):
                name = f"{prefix}{stmt.name}"
                declared = tuple(s.target.id for s in stmt.body if isinstance(s, ast.AnnAssign)
                                 and isinstance(s.target, ast.Name))
                if declared:
                    fields.append((name, declared))
                info = _class_info(stmt, name)
                class_bases.append((name, info.bases))
                visit(stmt.body, f"{name}.", info)
            elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if _is_overload(stmt):
                    continue  # a typing stub: the implementation follows under the same name
                function = lowering.function(stmt, f"{prefix}{stmt.name}", owner)
                functions.append(function)
                if bodies is not None and function.has_site:
                    # Interpreted for sure: lowered now from this tree, not parsed again later.
                    bodies.add(function, lowering.block(stmt.body))
                visit(stmt.body, f"{prefix}{stmt.name}.", ir.ClassInfo())
            elif isinstance(stmt, ast.Import):
                imports.append(ir.Import(None, tuple((a.name, a.asname) for a in stmt.names), -1))
            elif isinstance(stmt, ast.ImportFrom):
                imports.append(ir.Import(stmt.module, tuple((a.name, a.asname) for a in stmt.names),
                                         stmt.level))
            else:
                for field in ("body", "orelse", "finalbody"):
                    inner = getattr(stmt, field, None)
                    if isinstance(inner, list):
                        visit(inner, prefix, owner)
                for handler in getattr(stmt, "handlers", ()):
                    visit(handler.body, prefix, owner)
                for case in getattr(stmt, "cases", ()):
                    visit(case.body, prefix, owner)

    visit(tree.body, "", ir.ClassInfo())
    return ir.Module(
        imports=tuple(imports),
        classes=tuple(s.name for s in tree.body if isinstance(s, ast.ClassDef)),
        functions=tuple(s.name for s in tree.body
                        if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))),
        router_prefixes=tuple(_router_prefixes(tree)),
        type_aliases=tuple(_type_aliases(tree)),
        defs=tuple(functions),
        class_fields=tuple(fields),
        instances=tuple(_instances(tree)),
        class_bases=tuple(class_bases),
    )


def _instances(tree: ast.Module) -> Iterable[Tuple[str, str]]:
    """``name = SomeClass(...)`` at the module's top: a singleton its importers call."""
    for stmt in tree.body:
        if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and isinstance(stmt.value, ast.Call):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            constructed = dotted(stmt.value.func)
            if constructed and constructed.rpartition(".")[2][:1].isupper():
                for target in targets:
                    if isinstance(target, ast.Name):
                        yield target.id, constructed


def _router_prefixes(tree: ast.Module) -> Iterable[Tuple[str, str]]:
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Call) \
                and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            for keyword in stmt.value.keywords:
                if keyword.arg == "prefix" and isinstance(keyword.value, ast.Constant) \
                        and isinstance(keyword.value.value, str):
                    yield stmt.targets[0].id, keyword.value.value


def _type_aliases(tree: ast.Module) -> Iterable[Tuple[str, str]]:
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Subscript) \
                and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            aliased = annotated_class(stmt.value)
            if aliased is not None and aliased != dotted(stmt.value.value):
                yield stmt.targets[0].id, aliased


def _tested_name(node: ast.expr) -> Optional[Tuple[str, bool]]:
    """``name`` → (name, True), ``not name`` → (name, False); anything else: None."""
    if isinstance(node, ast.Name):
        return node.id, True
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not) \
            and isinstance(node.operand, ast.Name):
        return node.operand.id, False
    return None
