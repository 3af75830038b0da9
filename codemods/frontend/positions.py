"""Where a LibCST node is, in the standard library's units.

LibCST counts columns in characters; :mod:`ast` counts ``col_offset`` and ``end_col_offset``
in UTF-8 bytes of the line. Lines are numbered from 1 in both, and both break lines at
``\\n``, ``\\r\\n`` and ``\\r`` only (not at the other characters :meth:`str.splitlines` knows).

The ranges are those of LibCST's ``PositionProvider``, found by LibCST's own code generation
driven by a state of ours that records them as plain tuples: six times faster than the
provider, which builds objects for every node and position. Where LibCST's code generation is
not where this module expects it (a LibCST that moved it), the provider itself is used.
"""

from __future__ import annotations

import ast
import re
from typing import Any, Dict, List, Optional, Tuple, TypeVar

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

try:
    from libcst._nodes.internal import CodegenState
except ImportError:  # pragma: no cover - only with a LibCST that moved its code generation
    CodegenState = None

_LINE_BREAK = re.compile(r"\r\n?|\n")

#: A line and a column in :mod:`ast`'s units.
Point = Tuple[int, int]
#: A node's start line and column and end line and column, in LibCST's units (characters).
Range = Tuple[int, int, int, int]

Tree = TypeVar("Tree", bound=ast.AST)

#: Whether the fast pass (LibCST's code generation with a state of ours) is available.
FAST_PASS = CodegenState is not None and hasattr(cst.Module, "_codegen")


class Positions:
    """The syntactic range of every node of one module (LibCST's ``PositionProvider``: from a
    node's first token to its last, its own parentheses and surrounding whitespace left out)."""

    def __init__(self, module: cst.Module, source: str) -> None:
        self._ranges: Dict[cst.CSTNode, Range] = ranges(module)
        if source.startswith("\ufeff"):  # LibCST reads past a byte order mark, as Python does
            source = source[1:]
        self._lines: List[str] = _LINE_BREAK.split(source)
        self._ascii: List[bool] = [line.isascii() for line in self._lines]
        #: Characters LibCST leaves out at the start of a line (form feeds before a statement),
        #: by line index; LibCST's columns on that line do not count them.
        self._dropped: Dict[int, int] = {}
        if "\f" in source:
            self._find_dropped(module)

    def _find_dropped(self, module: cst.Module) -> None:
        for index, (line, kept) in enumerate(zip(self._lines, _LINE_BREAK.split(module.code))):
            if line != kept and line.endswith(kept):
                self._dropped[index] = len(line) - len(kept)
                self._ascii[index] = False

    def _byte_column(self, line: int, column: int) -> int:
        if self._ascii[line - 1]:
            return column
        column += self._dropped.get(line - 1, 0)
        return len(self._lines[line - 1][:column].encode("utf-8", "surrogatepass"))

    def start(self, node: cst.CSTNode) -> Point:
        line, column, _, _ = self._ranges[node]
        return line, self._byte_column(line, column)

    def end(self, node: cst.CSTNode) -> Point:
        _, _, line, column = self._ranges[node]
        return line, self._byte_column(line, column)
    def blank_after_first(self, node: cst.CSTNode) -> bool:
        """Whether only spaces, tabs and form feeds follow ``node``'s first character on its
        line."""
        line, column, _, _ = self._ranges[node]
        rest = self._lines[line - 1][column + 1:]
        return rest.strip(" \t\f") == ""

    def place(self, tree: Tree, node: cst.CSTNode) -> Tree:
        """``tree`` located where ``node`` is."""
        return self.span(tree, self.start(node), self.end(node))

    def place_between(self, tree: Tree, first: cst.CSTNode, last: cst.CSTNode) -> Tree:
        """``tree`` located from the start of ``first`` to the end of ``last``."""
        return self.span(tree, self.start(first), self.end(last))

    @staticmethod
    def span(tree: Tree, start: Point, end: Point) -> Tree:
        tree.lineno, tree.col_offset = start
        tree.end_lineno, tree.end_col_offset = end
        return tree


def ranges(module: cst.Module, fast: Optional[bool] = None) -> Dict[cst.CSTNode, Range]:
    """The range of every node of ``module``, as LibCST's ``PositionProvider`` gives it (by
    the fast pass unless ``fast`` is False or it is unavailable); raises RecursionError when
    the pass over the tree runs out of frames."""
    if FAST_PASS and fast is not False:
        locator = _Locator(module)
        module._codegen(locator)
        return locator.ranges
    try:
        found = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    except KeyError as exc:  # LibCST's provider may turn a RecursionError into a KeyError
        cause: Optional[BaseException] = exc
        while cause is not None and not isinstance(cause, RecursionError):
            cause = cause.__context__
        if cause is None:
            raise
        raise RecursionError("nested too deeply for LibCST's position pass") from exc
    return {node: (r.start.line, r.start.column, r.end.line, r.end.column)
            for node, r in found.items()}


class _Locator(CodegenState if CodegenState is not None else object):
    """LibCST's code generation state, recording where each node is instead of the code:
    what LibCST's ``PositionProvidingCodegenState`` records, as tuples."""

    def __init__(self, module: cst.Module) -> None:
        super().__init__(default_indent=module.default_indent,
                         default_newline=module.default_newline)
        self.line, self.column = 1, 0
        self.ranges: Dict[cst.CSTNode, Range] = {}
        self._starts: List[Tuple[int, int]] = []

    def add_indent_tokens(self) -> None:
        for token in self.indent_tokens:
            self.add_token(token)

    def add_token(self, value: str) -> None:
        self.tokens.append(value)  # LibCST's module asks whether there are any
        if "\n" in value or "\r" in value:
            segments = _LINE_BREAK.split(value)
            self.line += len(segments) - 1
            self.column = len(segments[-1])
        else:
            self.column += len(value)

    def before_codegen(self, node: cst.CSTNode) -> None:
        self._starts.append((self.line, self.column))

    def after_codegen(self, node: cst.CSTNode) -> None:
        start = self._starts.pop()
        if node not in self.ranges:  # a syntactic range recorded inside it comes first
            self.ranges[node] = start + (self.line, self.column)

    def record_syntactic_position(self, node: cst.CSTNode, *, start_node: Any = None,
                                  end_node: Any = None) -> "_Syntactic":
        return _Syntactic(self, node, start_node, end_node)


class _Syntactic:
    """The context LibCST generates a node's own tokens in (without the whitespace around)."""

    __slots__ = ("locator", "node", "start_node", "end_node", "start")

    def __init__(self, locator: _Locator, node: cst.CSTNode, start_node: Any,
                 end_node: Any) -> None:
        self.locator, self.node = locator, node
        self.start_node, self.end_node = start_node, end_node

    def __enter__(self) -> None:
        self.start = (self.locator.line, self.locator.column)

    def __exit__(self, kind: Any, error: Any, traceback: Any) -> bool:
        if kind is None:
            ranges = self.locator.ranges
            start = self.start if self.start_node is None else ranges[self.start_node][:2]
            end = (self.locator.line, self.locator.column) if self.end_node is None \
                else ranges[self.end_node][2:]
            ranges[self.node] = start + end
        return False
