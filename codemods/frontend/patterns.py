"""The patterns of ``match`` statements (PEP 634), LibCST's to :mod:`ast`'s."""

from __future__ import annotations

import ast
from typing import Callable, Dict, List, Sequence, Union

import libcst as cst

from codemods.frontend.expressions import Expressions, Unconvertible, identifier

_SINGLETONS = {"True": True, "False": False, "None": None}

SequenceItem = Union[cst.MatchSequenceElement, cst.MatchStar]


class Patterns:
    """Converts patterns, with ``expressions`` for the values and classes in them."""

    def __init__(self, expressions: Expressions) -> None:
        self.expressions = expressions
        self.at = expressions.at
        self._converters: Dict[type, Callable[[cst.MatchPattern], ast.pattern]] = {
            cst.MatchValue: self._value, cst.MatchSingleton: self._singleton,
            cst.MatchList: self._sequence, cst.MatchTuple: self._sequence,
            cst.MatchMapping: self._mapping, cst.MatchClass: self._class,
            cst.MatchAs: self._as, cst.MatchOr: self._or,
        }

    def convert(self, node: cst.MatchPattern) -> ast.pattern:
        converter = self._converters.get(type(node))
        if converter is None:
            raise Unconvertible(f"no pattern is a {type(node).__name__}")
        return converter(node)

    def _value(self, node: cst.MatchValue) -> ast.pattern:
        # ``case (1):`` holds its parentheses in the value; the pattern is where the value is.
        value = self.expressions.convert(node.value)
        return self.at.place(ast.MatchValue(value=value), node.value)

    def _singleton(self, node: cst.MatchSingleton) -> ast.pattern:
        tree = ast.MatchSingleton(value=_SINGLETONS[node.value.value])
        return self.at.place(tree, node.value)

    def _sequence(self, node: Union[cst.MatchList, cst.MatchTuple]) -> ast.pattern:
        tree = ast.MatchSequence(patterns=self._items(node.patterns))
        if isinstance(node, cst.MatchTuple) and node.lpar:
            return self.at.place_between(tree, node.lpar[-1], node.rpar[0])
        return self.at.place(tree, node)

    def _items(self, items: Sequence[SequenceItem]) -> List[ast.pattern]:
        patterns: List[ast.pattern] = []
        for item in items:
            if isinstance(item, cst.MatchStar):
                name = None if item.name is None or item.name.value == "_" \
                    else identifier(item.name.value)
                if item.name is not None:
                    end = self.at.end(item.name)
                else:  # ``*_``
                    line, column = self.at.end(item.whitespace_before_name)
                    end = (line, column + 1)
                star = self.at.span(ast.MatchStar(name=name), self.at.start(item), end)
                patterns.append(star)
            else:
                patterns.append(self.convert(item.value))
        return patterns

    def _mapping(self, node: cst.MatchMapping) -> ast.pattern:
        tree = ast.MatchMapping(
            keys=[self.expressions.convert(element.key) for element in node.elements],
            patterns=[self.convert(element.pattern) for element in node.elements],
            rest=None if node.rest is None else identifier(node.rest.value))
        return self.at.place(tree, node)

    def _class(self, node: cst.MatchClass) -> ast.pattern:
        tree = ast.MatchClass(
            cls=self.expressions.convert(node.cls), patterns=self._items(node.patterns),
            kwd_attrs=[identifier(keyword.key.value) for keyword in node.kwds],
            kwd_patterns=[self.convert(keyword.pattern) for keyword in node.kwds])
        return self.at.place(tree, node)

    def _as(self, node: cst.MatchAs) -> ast.pattern:
        """``x`` (a capture), ``_`` (the wildcard) and ``p as x``."""
        pattern = None if node.pattern is None else self.convert(node.pattern)
        name = None if node.name is None or node.name.value == "_" \
            else identifier(node.name.value)
        return self.at.place(ast.MatchAs(pattern=pattern, name=name), node)

    def _or(self, node: cst.MatchOr) -> ast.pattern:
        tree = ast.MatchOr(patterns=[self.convert(element.pattern) for element in node.patterns])
        return self.at.place(tree, node)
