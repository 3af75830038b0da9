"""LibCST statements to :mod:`ast` statements.

A simple statement is located from its first token to its last (a ``;`` after it left out);
a compound statement from its keyword (``async`` included, decorators left out) to the end
of the last statement in it, as Python's parser locates them.
"""

from __future__ import annotations

import ast
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import libcst as cst

from codemods.frontend.expressions import (AUGMENTED, DEL, LOAD, STORE, Expressions,
                                           Unconvertible, identifier)
from codemods.frontend.patterns import Patterns

#: Python 3.12 (PEP 695) has type parameters and ``type`` statements in its tree.
HAS_TYPE_PARAMS = hasattr(ast, "TypeAlias")
#: Python 3.13 (PEP 696) has defaults for type parameters.
HAS_TYPE_DEFAULTS = HAS_TYPE_PARAMS and "default_value" in ast.TypeVar._fields
#: Python 3.11 (PEP 654) has ``except*``; before it, ``try`` is the closest statement.
TRY_STAR = getattr(ast, "TryStar", ast.Try)
#: Python 3.15 (PEP 810) marks lazy imports.
HAS_LAZY_IMPORTS = "is_lazy" in ast.Import._fields

Block = Union[cst.BaseSuite, Sequence[cst.BaseStatement]]


class Statements:
    """Converts the statements of one module, with ``expressions`` for what is in them."""

    def __init__(self, expressions: Expressions) -> None:
        self.expressions = expressions
        self.convert = expressions.convert
        self.at = expressions.at
        self.patterns = Patterns(expressions)
        #: The end of the ``;`` that ends the line of a statement (by the statement's id).
        self._semicolons: Dict[int, Tuple[int, int]] = {}
        self._compound: Dict[type, Callable[[cst.CSTNode], ast.stmt]] = {
            cst.FunctionDef: self._function, cst.ClassDef: self._class, cst.If: self._if,
            cst.For: self._for, cst.While: self._while, cst.With: self._with,
            cst.Try: self._try, cst.TryStar: self._try, cst.Match: self._match,
        }
        self._small: Dict[type, Callable[[cst.CSTNode], ast.stmt]] = {
            cst.Expr: self._expression, cst.Assign: self._assign, cst.AnnAssign: self._annotated,
            cst.AugAssign: self._augmented, cst.Pass: self._keyword, cst.Break: self._keyword,
            cst.Continue: self._keyword, cst.Return: self._return, cst.Raise: self._raise,
            cst.Assert: self._assert, cst.Del: self._delete, cst.Import: self._import,
            cst.ImportFrom: self._import_from, cst.LazyImport: self._import,
            cst.LazyImportFrom: self._import_from, cst.Global: self._global,
            cst.Nonlocal: self._global, cst.TypeAlias: self._type_alias,
        }

    def module(self, module: cst.Module) -> ast.Module:
        return ast.Module(body=self.block(module.body), type_ignores=[])

    def block(self, block: Block) -> List[ast.stmt]:
        """The statements of a module, an indented block or the rest of a line (``if x: y``)."""
        if isinstance(block, cst.SimpleStatementSuite):
            block = [block]
        statements = block.body if isinstance(block, cst.BaseSuite) else block
        converted: List[ast.stmt] = []
        for statement in statements:
            if isinstance(statement, (cst.SimpleStatementLine, cst.SimpleStatementSuite)):
                converted += [self._small[type(s)](s) for s in statement.body]
                semicolon = statement.body[-1].semicolon
                if isinstance(semicolon, cst.Semicolon):
                    self._semicolons[id(converted[-1])] = self.at.end(semicolon)
            else:
                converted.append(self._compound[type(statement)](statement))
        return converted

    def _ending(self, tree: ast.stmt, node: cst.CSTNode, last: ast.AST) -> ast.stmt:
        """``tree`` located from where ``node`` starts to where ``last`` (its last part) ends,
        or the ``;`` after it: Python ends a block at its last token."""
        end = self._semicolons.get(id(last), (last.end_lineno, last.end_col_offset))
        return self.at.span(tree, self.at.start(node), end)

    # -- compound statements ---------------------------------------------------------------

    def _function(self, node: cst.FunctionDef) -> ast.stmt:
        kind = ast.AsyncFunctionDef if node.asynchronous else ast.FunctionDef
        body = self.block(node.body)
        tree = kind(name=identifier(node.name.value), args=self.expressions.parameters(node.params),
                    body=body, decorator_list=self._decorators(node.decorators),
                    returns=self.expressions.annotation(node.returns), type_comment=None,
                    **self._type_params(node.type_parameters))
        return self._ending(tree, node, body[-1])

    def _class(self, node: cst.ClassDef) -> ast.stmt:
        bases, keywords = self.expressions.arguments_of_call([*node.bases, *node.keywords])
        body = self.block(node.body)
        tree = ast.ClassDef(name=identifier(node.name.value), bases=bases, keywords=keywords,
                            body=body, decorator_list=self._decorators(node.decorators),
                            **self._type_params(node.type_parameters))
        return self._ending(tree, node, body[-1])

    def _decorators(self, decorators: Sequence[cst.Decorator]) -> List[ast.expr]:
        return [self.convert(decorator.decorator) for decorator in decorators]

    def _type_params(self, params: Optional[cst.TypeParameters]) -> Dict[str, list]:
        """``type_params=[...]`` where the running Python has them (3.12), else nothing: the
        parameters are dropped, and their names read as names of the enclosing scope."""
        if not HAS_TYPE_PARAMS:
            return {}
        return {"type_params": [] if params is None else [self._type_param(p)
                                                         for p in params.params]}

    def _type_param(self, param: cst.TypeParam) -> ast.AST:
        inner = param.param
        name = identifier(inner.name.value)
        fields = {}
        last: cst.CSTNode = inner
        if param.default is not None and HAS_TYPE_DEFAULTS:
            default = self.convert(param.default)
            if param.star:
                line, column = self.at.start(param.whitespace_after_star)
                default = self.at.span(ast.Starred(value=default, ctx=LOAD), (line, column - 1),
                                       self.at.end(param.default))
            fields["default_value"] = default
            last = param.default
        if isinstance(inner, cst.TypeVar):
            tree = ast.TypeVar(name=name, bound=self.expressions.optional(inner.bound), **fields)
        elif isinstance(inner, cst.TypeVarTuple):
            tree = ast.TypeVarTuple(name=name, **fields)
        else:
            tree = ast.ParamSpec(name=name, **fields)
        return self.at.place_between(tree, inner, last)

    def _if(self, node: cst.If) -> ast.stmt:
        chain = [node]  # ``elif`` nests: walk the chain without recursion
        while isinstance(chain[-1].orelse, cst.If):
            chain.append(chain[-1].orelse)
        last_else = chain[-1].orelse
        orelse = [] if last_else is None else self.block(last_else.body)
        for branch in reversed(chain):
            body = self.block(branch.body)
            tree = ast.If(test=self.convert(branch.test), body=body, orelse=orelse)
            self._ending(tree, branch, (orelse or body)[-1])
            orelse = [tree]
        return tree

    def _for(self, node: cst.For) -> ast.stmt:
        kind = ast.AsyncFor if node.asynchronous else ast.For
        body = self.block(node.body)
        orelse = [] if node.orelse is None else self.block(node.orelse.body)
        tree = kind(target=self.convert(node.target, STORE), iter=self.convert(node.iter),
                    body=body, orelse=orelse, type_comment=None)
        return self._ending(tree, node, (orelse or body)[-1])

    def _while(self, node: cst.While) -> ast.stmt:
        body = self.block(node.body)
        orelse = [] if node.orelse is None else self.block(node.orelse.body)
        tree = ast.While(test=self.convert(node.test), body=body, orelse=orelse)
        return self._ending(tree, node, (orelse or body)[-1])

    def _with(self, node: cst.With) -> ast.stmt:
        kind = ast.AsyncWith if node.asynchronous else ast.With
        items = [ast.withitem(context_expr=self.convert(item.item),
                              optional_vars=None if item.asname is None
                              else self.convert(item.asname.name, STORE))
                 for item in node.items]
        body = self.block(node.body)
        return self._ending(kind(items=items, body=body, type_comment=None), node, body[-1])

    def _try(self, node: Union[cst.Try, cst.TryStar]) -> ast.stmt:
        kind = TRY_STAR if isinstance(node, cst.TryStar) else ast.Try
        body = self.block(node.body)
        handlers = [self._handler(handler) for handler in node.handlers]
        orelse = [] if node.orelse is None else self.block(node.orelse.body)
        final = [] if node.finalbody is None else self.block(node.finalbody.body)
        tree = kind(body=body, handlers=handlers, orelse=orelse, finalbody=final)
        return self._ending(tree, node, (final or orelse or handlers or body)[-1])

    def _handler(self, node: Union[cst.ExceptHandler, cst.ExceptStarHandler]) -> ast.AST:
        """An ``except`` clause; ``except A, B:`` (Python 3.14) has the tuple ``A, B``."""
        body = self.block(node.body)
        name = None if node.name is None else node.name.name
        if name is not None and not isinstance(name, cst.Name):
            raise Unconvertible("an exception is bound to a name")
        tree = ast.ExceptHandler(type=self.expressions.optional(node.type),
                                 name=None if name is None else identifier(name.value),
                                 body=body)
        return self._ending(tree, node, body[-1])

    def _match(self, node: cst.Match) -> ast.stmt:
        cases = []
        for case in node.cases:
            cases.append(ast.match_case(pattern=self.patterns.convert(case.pattern),
                                        guard=self.expressions.optional(case.guard),
                                        body=self.block(case.body)))
        tree = ast.Match(subject=self.convert(node.subject), cases=cases)
        return self._ending(tree, node, cases[-1].body[-1])

    # -- simple statements -----------------------------------------------------------------

    def _expression(self, node: cst.Expr) -> ast.stmt:
        return self.at.place(ast.Expr(value=self.convert(node.value)), node)

    def _assign(self, node: cst.Assign) -> ast.stmt:
        targets = [self.convert(target.target, STORE) for target in node.targets]
        tree = ast.Assign(targets=targets, value=self.convert(node.value), type_comment=None)
        return self.at.place(tree, node)

    def _annotated(self, node: cst.AnnAssign) -> ast.stmt:
        target = node.target
        simple = int(isinstance(target, cst.Name) and not target.lpar)
        tree = ast.AnnAssign(target=self._single_target(target),
                             annotation=self.convert(node.annotation.annotation),
                             value=self.expressions.optional(node.value), simple=simple)
        return self.at.place(tree, node)

    def _augmented(self, node: cst.AugAssign) -> ast.stmt:
        tree = ast.AugAssign(target=self._single_target(node.target),
                             op=AUGMENTED[type(node.operator)], value=self.convert(node.value))
        return self.at.place(tree, node)

    def _single_target(self, target: cst.BaseExpression) -> ast.expr:
        if not isinstance(target, (cst.Name, cst.Attribute, cst.Subscript)):
            raise Unconvertible("illegal target for annotation or augmented assignment")
        return self.convert(target, STORE)

    def _keyword(self, node: Union[cst.Pass, cst.Break, cst.Continue]) -> ast.stmt:
        kind = {cst.Pass: ast.Pass, cst.Break: ast.Break, cst.Continue: ast.Continue}
        return self.at.place(kind[type(node)](), node)

    def _return(self, node: cst.Return) -> ast.stmt:
        return self.at.place(ast.Return(value=self.expressions.optional(node.value)), node)

    def _raise(self, node: cst.Raise) -> ast.stmt:
        cause = None if node.cause is None else self.convert(node.cause.item)
        tree = ast.Raise(exc=self.expressions.optional(node.exc), cause=cause)
        return self.at.place(tree, node)

    def _assert(self, node: cst.Assert) -> ast.stmt:
        tree = ast.Assert(test=self.convert(node.test), msg=self.expressions.optional(node.msg))
        return self.at.place(tree, node)

    def _delete(self, node: cst.Del) -> ast.stmt:
        """``del a, b`` deletes two targets; ``del (a, b)`` deletes one tuple."""
        target = node.target
        if isinstance(target, cst.Tuple) and not target.lpar:
            targets = [self.convert(element.value, DEL) for element in target.elements
                       if isinstance(element, cst.Element)]
            if len(targets) != len(target.elements):
                raise Unconvertible("cannot delete starred")
        else:
            targets = [self.convert(target, DEL)]
        return self.at.place(ast.Delete(targets=targets), node)

    def _import(self, node: Union[cst.Import, cst.LazyImport]) -> ast.stmt:
        tree = ast.Import(names=[self._alias(alias) for alias in node.names],
                          **self._lazy(node))
        return self.at.place(tree, node)

    def _import_from(self, node: Union[cst.ImportFrom, cst.LazyImportFrom]) -> ast.stmt:
        if isinstance(node.names, cst.ImportStar):
            names = [self.at.place(ast.alias(name="*", asname=None), node.names)]
        else:
            names = [self._alias(alias) for alias in node.names]
        module = None if node.module is None else _dotted(node.module)
        tree = ast.ImportFrom(module=module, names=names, level=len(node.relative),
                              **self._lazy(node))
        return self.at.place(tree, node)

    @staticmethod
    def _lazy(node: cst.CSTNode) -> Dict[str, int]:
        """``lazy import`` (Python 3.15) is an import, marked where the running Python can."""
        if not HAS_LAZY_IMPORTS:
            return {}
        return {"is_lazy": int(isinstance(node, (cst.LazyImport, cst.LazyImportFrom)))}

    def _alias(self, node: cst.ImportAlias) -> ast.alias:
        asname = None if node.asname is None else node.asname.name
        if asname is not None and not isinstance(asname, cst.Name):
            raise Unconvertible("an import is bound to a name")
        tree = ast.alias(name=_dotted(node.name),
                         asname=None if asname is None else identifier(asname.value))
        return self.at.place(tree, node)

    def _global(self, node: Union[cst.Global, cst.Nonlocal]) -> ast.stmt:
        kind = ast.Global if isinstance(node, cst.Global) else ast.Nonlocal
        tree = kind(names=[identifier(item.name.value) for item in node.names])
        return self.at.place(tree, node)

    def _type_alias(self, node: cst.TypeAlias) -> ast.stmt:
        """``type X = Y``: an :class:`ast.TypeAlias` from Python 3.12 on, else the assignment
        ``X = Y`` (so that readers resolve the alias like any other)."""
        name = self.convert(node.name, STORE)
        value = self.convert(node.value)
        if HAS_TYPE_PARAMS:
            tree: ast.stmt = ast.TypeAlias(name=name, value=value,
                                           **self._type_params(node.type_parameters))
        else:
            tree = ast.Assign(targets=[name], value=value, type_comment=None)
        return self.at.place(tree, node)


def _dotted(node: Union[cst.Name, cst.Attribute]) -> str:
    parts: List[str] = []
    while isinstance(node, cst.Attribute):
        parts.append(identifier(node.attr.value))
        node = node.value
    parts.append(identifier(node.value))
    return ".".join(reversed(parts))

