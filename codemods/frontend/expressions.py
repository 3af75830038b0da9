"""LibCST expressions to :mod:`ast` expressions, located where Python's own parser puts them."""

from __future__ import annotations

import ast
import unicodedata
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import libcst as cst

from codemods.frontend.literals import InvalidLiteral, number_value
from codemods.frontend.positions import Positions
from codemods.frontend.strings import Strings

LOAD, STORE, DEL = ast.Load(), ast.Store(), ast.Del()


class Unconvertible(Exception):
    """LibCST read the source, but no Python would (``f() = 1``, ``"\\x4"``): the converter gives
    up and the caller reports Python's own error."""


def identifier(name: str) -> str:
    """``name`` as Python reads it: identifiers are NFKC-normalized (PEP 3131)."""
    return name if name.isascii() else unicodedata.normalize("NFKC", name)


_BINARY = {
    cst.Add: ast.Add(), cst.Subtract: ast.Sub(), cst.Multiply: ast.Mult(),
    cst.Divide: ast.Div(), cst.FloorDivide: ast.FloorDiv(), cst.Modulo: ast.Mod(),
    cst.Power: ast.Pow(), cst.LeftShift: ast.LShift(), cst.RightShift: ast.RShift(),
    cst.BitOr: ast.BitOr(), cst.BitXor: ast.BitXor(), cst.BitAnd: ast.BitAnd(),
    cst.MatrixMultiply: ast.MatMult(),
}
#: Augmented assignments (``+=``) to the operator they apply.
AUGMENTED = {
    cst.AddAssign: ast.Add(), cst.SubtractAssign: ast.Sub(), cst.MultiplyAssign: ast.Mult(),
    cst.DivideAssign: ast.Div(), cst.FloorDivideAssign: ast.FloorDiv(),
    cst.ModuloAssign: ast.Mod(), cst.PowerAssign: ast.Pow(), cst.LeftShiftAssign: ast.LShift(),
    cst.RightShiftAssign: ast.RShift(), cst.BitOrAssign: ast.BitOr(),
    cst.BitXorAssign: ast.BitXor(), cst.BitAndAssign: ast.BitAnd(),
    cst.MatrixMultiplyAssign: ast.MatMult(),
}
_UNARY = {cst.Not: ast.Not(), cst.Minus: ast.USub(), cst.Plus: ast.UAdd(),
          cst.BitInvert: ast.Invert()}
_BOOLEAN = {cst.And: ast.And(), cst.Or: ast.Or()}
_COMPARE = {
    cst.Equal: ast.Eq(), cst.NotEqual: ast.NotEq(), cst.LessThan: ast.Lt(),
    cst.LessThanEqual: ast.LtE(), cst.GreaterThan: ast.Gt(), cst.GreaterThanEqual: ast.GtE(),
    cst.Is: ast.Is(), cst.IsNot: ast.IsNot(), cst.In: ast.In(), cst.NotIn: ast.NotIn(),
}
_SINGLETONS = {"True": True, "False": False, "None": None}

Context = Union[ast.Load, ast.Store, ast.Del]
Converter = Callable[[cst.CSTNode, Context], ast.expr]


class Expressions:
    """Converts the expressions of one module (whose node positions ``at`` knows)."""

    def __init__(self, at: Positions) -> None:
        self.at = at
        self.strings = Strings(at, self.convert)
        self._converters: Dict[type, Converter] = {
            cst.Name: self._name, cst.Attribute: self._attribute,
            cst.Subscript: self._subscript, cst.Call: self._call,
            cst.BinaryOperation: self._binary, cst.BooleanOperation: self._boolean,
            cst.UnaryOperation: self._unary, cst.Comparison: self._comparison,
            cst.IfExp: self._if_expression, cst.Lambda: self._lambda, cst.Await: self._await,
            cst.Yield: self._yield, cst.NamedExpr: self._named,
            cst.Tuple: self._tuple, cst.List: self._list, cst.Set: self._set,
            cst.Dict: self._dict, cst.ListComp: self._list_comprehension,
            cst.SetComp: self._set_comprehension, cst.DictComp: self._dict_comprehension,
            cst.GeneratorExp: self._generator, cst.StarredDictComp: self._starred_dict_comp,
            cst.StarredElement: self._starred,
            cst.Ellipsis: self._ellipsis, cst.Integer: self._number, cst.Float: self._number,
            cst.Imaginary: self._number, cst.SimpleString: self._string,
            cst.ConcatenatedString: self._string, cst.FormattedString: self._string,
            cst.TemplatedString: self._string,
        }

    def convert(self, node: cst.CSTNode, ctx: Context = LOAD) -> ast.expr:
        """The :mod:`ast` expression for ``node``, read (``LOAD``), assigned to (``STORE``) or
        deleted (``DEL``); raises :class:`Unconvertible` for what Python would refuse (an
        assignment to a call, a malformed literal)."""
        converter = self._converters.get(type(node))
        if converter is None:
            raise Unconvertible(f"no expression is a {type(node).__name__}")
        return converter(node, ctx)

    def optional(self, node: Optional[cst.CSTNode]) -> Optional[ast.expr]:
        return None if node is None else self.convert(node)

    # -- names, attributes, subscripts, calls ----------------------------------------------

    def _name(self, node: cst.Name, ctx: Context) -> ast.expr:
        if node.value in _SINGLETONS:
            _load_only(ctx, node.value)
            return self.at.place(ast.Constant(value=_SINGLETONS[node.value], kind=None), node)
        return self.at.place(ast.Name(id=identifier(node.value), ctx=ctx), node)

    def _attribute(self, node: cst.Attribute, ctx: Context) -> ast.expr:
        tree = ast.Attribute(value=self.convert(node.value), attr=identifier(node.attr.value),
                             ctx=ctx)
        return self.at.place(tree, node)

    def _subscript(self, node: cst.Subscript, ctx: Context) -> ast.expr:
        tree = ast.Subscript(value=self.convert(node.value), slice=self._slices(node.slice),
                             ctx=ctx)
        return self.at.place(tree, node)

    def _slices(self, elements: Sequence[cst.SubscriptElement]) -> ast.expr:
        """One index or slice, or a tuple of them when there is a comma or a ``*``."""
        parts = [self._slice(element.slice) for element in elements]
        only = elements[0]
        if len(elements) == 1 and not isinstance(only.comma, cst.Comma) \
                and not (isinstance(only.slice, cst.Index) and only.slice.star):
            return parts[0]
        tuple_ = ast.Tuple(elts=parts, ctx=LOAD)
        last = elements[-1].comma if isinstance(elements[-1].comma, cst.Comma) else elements[-1]
        return self.at.place_between(tuple_, elements[0], last)

    def _slice(self, node: cst.BaseSlice) -> ast.expr:
        if isinstance(node, cst.Index):
            value = self.convert(node.value)
            if node.star:
                return self.at.place(ast.Starred(value=value, ctx=LOAD), node)
            return value
        assert isinstance(node, cst.Slice)
        tree = ast.Slice(lower=self.optional(node.lower), upper=self.optional(node.upper),
                         step=self.optional(node.step))
        return self.at.place(tree, node)

    def _call(self, node: cst.Call, ctx: Context) -> ast.expr:
        _load_only(ctx, "function call")
        args, keywords = self.arguments_of_call(node.args)
        only = node.args[0] if len(node.args) == 1 else None
        if only is not None and isinstance(only.value, cst.GeneratorExp) \
                and not only.value.lpar and not only.star:
            # ``f(x for x in y)``: the generator's parentheses are the call's.
            self.at.span(args[0], self.at.end(node.whitespace_after_func), self.at.end(node))
        tree = ast.Call(func=self.convert(node.func), args=args, keywords=keywords)
        return self.at.place(tree, node)

    def arguments_of_call(self, args: Sequence[cst.Arg]) -> Tuple[List[ast.expr],
                                                                  List[ast.keyword]]:
        """The positional arguments (``*x`` as :class:`ast.Starred`) and the keywords
        (``**x`` as a keyword without a name) of a call or a class statement."""
        positional: List[ast.expr] = []
        keywords: List[ast.keyword] = []
        for arg in args:
            value = self.convert(arg.value)
            if arg.keyword is not None:
                keyword = ast.keyword(arg=identifier(arg.keyword.value), value=value)
                keywords.append(self.at.place(keyword, arg))
            elif arg.star == "**":
                keywords.append(self.at.place(ast.keyword(arg=None, value=value), arg))
            elif arg.star == "*":
                positional.append(self.at.place(ast.Starred(value=value, ctx=LOAD), arg))
            else:
                positional.append(value)
        return positional, keywords

    # -- operators ---------------------------------------------------------------------------

    def _binary(self, node: cst.BinaryOperation, ctx: Context) -> ast.expr:
        _load_only(ctx, "expression")
        spine = [node]  # ``a + b + c`` nests on the left: walk it without recursion
        while isinstance(spine[-1].left, cst.BinaryOperation):
            spine.append(spine[-1].left)
        tree = self.convert(spine[-1].left)
        for operation in reversed(spine):
            tree = ast.BinOp(left=tree, op=_BINARY[type(operation.operator)],
                             right=self.convert(operation.right))
            self.at.place(tree, operation)
        return tree

    def _boolean(self, node: cst.BooleanOperation, ctx: Context) -> ast.expr:
        """``a or b or c`` is one :class:`ast.BoolOp` of three values; ``(a or b) or c`` is
        two, as Python's grammar has it."""
        _load_only(ctx, "expression")
        operator = type(node.operator)
        operands: List[cst.BaseExpression] = []
        pending: List[cst.BaseExpression] = [node]
        while pending:
            current = pending.pop()
            if isinstance(current, cst.BooleanOperation) and type(current.operator) is operator \
                    and (current is node or not current.lpar):
                pending += [current.right, current.left]
            else:
                operands.append(current)
        tree = ast.BoolOp(op=_BOOLEAN[operator], values=[self.convert(o) for o in operands])
        return self.at.place(tree, node)

    def _unary(self, node: cst.UnaryOperation, ctx: Context) -> ast.expr:
        _load_only(ctx, "expression")
        tree = ast.UnaryOp(op=_UNARY[type(node.operator)], operand=self.convert(node.expression))
        return self.at.place(tree, node)

    def _comparison(self, node: cst.Comparison, ctx: Context) -> ast.expr:
        _load_only(ctx, "comparison")
        tree = ast.Compare(left=self.convert(node.left),
                           ops=[_COMPARE[type(c.operator)] for c in node.comparisons],
                           comparators=[self.convert(c.comparator) for c in node.comparisons])
        return self.at.place(tree, node)

    def _if_expression(self, node: cst.IfExp, ctx: Context) -> ast.expr:
        _load_only(ctx, "conditional expression")
        tree = ast.IfExp(test=self.convert(node.test), body=self.convert(node.body),
                         orelse=self.convert(node.orelse))
        return self.at.place(tree, node)

    def _lambda(self, node: cst.Lambda, ctx: Context) -> ast.expr:
        _load_only(ctx, "lambda")
        tree = ast.Lambda(args=self.parameters(node.params), body=self.convert(node.body))
        return self.at.place(tree, node)

    def _await(self, node: cst.Await, ctx: Context) -> ast.expr:
        _load_only(ctx, "await expression")
        return self.at.place(ast.Await(value=self.convert(node.expression)), node)

    def _yield(self, node: cst.Yield, ctx: Context) -> ast.expr:
        _load_only(ctx, "yield expression")
        if isinstance(node.value, cst.From):
            return self.at.place(ast.YieldFrom(value=self.convert(node.value.item)), node)
        return self.at.place(ast.Yield(value=self.optional(node.value)), node)

    def _named(self, node: cst.NamedExpr, ctx: Context) -> ast.expr:
        _load_only(ctx, "named expression")
        tree = ast.NamedExpr(target=self.convert(node.target, STORE),
                             value=self.convert(node.value))
        return self.at.place(tree, node)

    # -- displays and comprehensions -------------------------------------------------------

    def _tuple(self, node: cst.Tuple, ctx: Context) -> ast.expr:
        tree = ast.Tuple(elts=self._elements(node.elements, ctx), ctx=ctx)
        if node.lpar:  # a tuple's own (innermost) parentheses are part of it
            return self.at.place_between(tree, node.lpar[-1], node.rpar[0])
        return self.at.place(tree, node)

    def _list(self, node: cst.List, ctx: Context) -> ast.expr:
        return self.at.place(ast.List(elts=self._elements(node.elements, ctx), ctx=ctx), node)

    def _set(self, node: cst.Set, ctx: Context) -> ast.expr:
        _load_only(ctx, "set display")
        return self.at.place(ast.Set(elts=self._elements(node.elements, LOAD)), node)

    def _elements(self, elements: Sequence[cst.BaseElement], ctx: Context) -> List[ast.expr]:
        return [self.convert(e.value if isinstance(e, cst.Element) else e, ctx)
                for e in elements]

    def _starred(self, node: cst.StarredElement, ctx: Context) -> ast.expr:
        if ctx is DEL:
            raise Unconvertible("cannot delete starred")
        return self.at.place(ast.Starred(value=self.convert(node.value, ctx), ctx=ctx), node)

    def _dict(self, node: cst.Dict, ctx: Context) -> ast.expr:
        _load_only(ctx, "dict display")
        keys: List[Optional[ast.expr]] = []
        values: List[ast.expr] = []
        for element in node.elements:
            if isinstance(element, cst.StarredDictElement):
                keys.append(None)
            else:
                keys.append(self.convert(element.key))
            values.append(self.convert(element.value))
        return self.at.place(ast.Dict(keys=keys, values=values), node)

    def _list_comprehension(self, node: cst.ListComp, ctx: Context) -> ast.expr:
        _load_only(ctx, "list comprehension")
        tree = ast.ListComp(elt=self.convert(node.elt), generators=self._for_in(node.for_in))
        return self.at.place(tree, node)

    def _set_comprehension(self, node: cst.SetComp, ctx: Context) -> ast.expr:
        _load_only(ctx, "set comprehension")
        tree = ast.SetComp(elt=self.convert(node.elt), generators=self._for_in(node.for_in))
        return self.at.place(tree, node)

    def _dict_comprehension(self, node: cst.DictComp, ctx: Context) -> ast.expr:
        _load_only(ctx, "dict comprehension")
        tree = ast.DictComp(key=self.convert(node.key), value=self.convert(node.value),
                            generators=self._for_in(node.for_in))
        return self.at.place(tree, node)

    def _starred_dict_comp(self, node: cst.StarredDictComp, ctx: Context) -> ast.expr:
        """``{**d for d in ds}`` (PEP 798): a dict comprehension without a key, as a dict
        display holds ``**d``."""
        _load_only(ctx, "dict comprehension")
        tree = ast.DictComp(key=None, value=self.convert(node.value),
                            generators=self._for_in(node.for_in))
        return self.at.place(tree, node)

    def _generator(self, node: cst.GeneratorExp, ctx: Context) -> ast.expr:
        _load_only(ctx, "generator expression")
        tree = ast.GeneratorExp(elt=self.convert(node.elt), generators=self._for_in(node.for_in))
        if node.lpar:
            return self.at.place_between(tree, node.lpar[-1], node.rpar[0])
        return self.at.place(tree, node)  # the caller knows its parentheses

    def _for_in(self, clause: Optional[cst.CompFor]) -> List[ast.comprehension]:
        generators = []
        while clause is not None:
            generators.append(ast.comprehension(
                target=self.convert(clause.target, STORE), iter=self.convert(clause.iter),
                ifs=[self.convert(condition.test) for condition in clause.ifs],
                is_async=int(clause.asynchronous is not None)))
            clause = clause.inner_for_in
        return generators

    # -- literals --------------------------------------------------------------------------

    def _ellipsis(self, node: cst.Ellipsis, ctx: Context) -> ast.expr:
        _load_only(ctx, "ellipsis")
        return self.at.place(ast.Constant(value=..., kind=None), node)

    def _number(self, node: cst.BaseNumber, ctx: Context) -> ast.expr:
        _load_only(ctx, "literal")
        try:
            value = number_value(node.value)
        except InvalidLiteral as exc:
            raise Unconvertible(str(exc)) from None
        return self.at.place(ast.Constant(value=value, kind=None), node)

    def _string(self, node: cst.BaseString, ctx: Context) -> ast.expr:
        _load_only(ctx, "literal")
        try:
            return self.strings.convert(node)
        except InvalidLiteral as exc:
            raise Unconvertible(str(exc)) from None

    # -- parameters ------------------------------------------------------------------------

    def parameters(self, params: cst.Parameters) -> ast.arguments:
        """The parameters of a function or a lambda; defaults of the positional parameters
        are listed once, for the last of them, as :mod:`ast` has it."""
        star = params.star_arg
        positional = [*params.posonly_params, *params.params]
        return ast.arguments(
            posonlyargs=[self._parameter(p) for p in params.posonly_params],
            args=[self._parameter(p) for p in params.params],
            vararg=self._parameter(star) if isinstance(star, cst.Param) else None,
            kwonlyargs=[self._parameter(p) for p in params.kwonly_params],
            kw_defaults=[self.optional(p.default) for p in params.kwonly_params],
            kwarg=None if params.star_kwarg is None else self._parameter(params.star_kwarg),
            defaults=[self.convert(p.default) for p in positional if p.default is not None],
        )

    def _parameter(self, param: cst.Param) -> ast.arg:
        annotation = self.annotation(param.annotation)
        tree = ast.arg(arg=identifier(param.name.value), annotation=annotation, type_comment=None)
        last = param.name if param.annotation is None else param.annotation.annotation
        return self.at.place_between(tree, param.name, last)

    def annotation(self, annotation: Optional[cst.Annotation]) -> Optional[ast.expr]:
        return None if annotation is None else self.convert(annotation.annotation)


def _load_only(ctx: Context, what: str) -> None:
    if ctx is not LOAD:
        verb = "delete" if ctx is DEL else "assign to"
        raise Unconvertible(f"cannot {verb} {what}")
