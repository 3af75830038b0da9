"""String literals, implicit concatenation, f-strings and t-strings, as :mod:`ast` has them.

Plain strings (adjacent ones joined) are one :class:`ast.Constant`. A concatenation with an
f-string in it is one :class:`ast.JoinedStr`, whose text pieces are joined into constants
between the :class:`ast.FormattedValue` parts. A t-string is an :class:`ast.TemplateStr` of
constants and :class:`ast.Interpolation` parts where the running Python has them (3.14), else
a :class:`ast.JoinedStr` like an f-string's: its expressions are evaluated where the string is,
and that is what a reader of the tree needs to know.

Where the parts are depends on the running Python. From 3.12 on, each part is where its text
is: a constant from its first character to its last (a whole plain string token, with its
prefix and quotes, when it is one), a formatted value from ``{`` to ``}``, a format
specification from ``:`` to the ``}``. Before 3.12 every constant and formatted value is
located where the whole (concatenated) string is, but a format specification, and text at its
end, where the string token it is written in is; and an expression that is a bare tuple or
generator (``f"{a, b}"``), which those Pythons read in parentheses put at the ``{`` and at the
character after the expression, is located there.
"""

from __future__ import annotations

import ast
import sys
from typing import Callable, List, Optional, Sequence, Tuple, Union

import libcst as cst

from codemods.frontend.literals import InvalidLiteral, body_value, split_string, string_value
from codemods.frontend.positions import Point, Positions

#: Python 3.12 (PEP 701) locates the parts of an f-string; older Pythons do not.
PARTS_LOCATED = sys.version_info >= (3, 12)
#: Python 3.14 (PEP 750) has t-strings in its tree.
HAS_TEMPLATES = hasattr(ast, "TemplateStr")

_CONVERSIONS = {None: -1, "r": ord("r"), "s": ord("s"), "a": ord("a")}

Token = Union[cst.SimpleString, cst.FormattedString, cst.TemplatedString]
Content = Union[cst.FormattedStringText, cst.FormattedStringExpression,
                cst.TemplatedStringText, cst.TemplatedStringExpression]


class _Text:
    """A run of literal text being joined: its value and where it starts and ends."""

    __slots__ = ("value", "start", "end", "kind")

    def __init__(self, value: str, start: Point, end: Point, kind: Optional[str]) -> None:
        self.value, self.start, self.end, self.kind = value, start, end, kind


class Strings:
    """Converts the string literals of one module; ``convert`` converts the expressions
    inside f-strings and t-strings."""

    def __init__(self, at: Positions, convert: Callable[[cst.BaseExpression], ast.expr]) -> None:
        self.at = at
        self._convert = convert
        #: The whole string being converted, and the token being read (for the positions of
        #: Pythons before 3.12).
        self._whole: Tuple[Point, Point] = ((0, 0), (0, 0))
        self._token_start: Point = (0, 0)
        self._token_end: Point = (0, 0)

    def convert(self, node: cst.BaseString) -> ast.expr:
        """The constant, :class:`ast.JoinedStr` or :class:`ast.TemplateStr` for a string
        literal (or several, implicitly concatenated); raises :class:`InvalidLiteral` for
        what Python would refuse."""
        tokens = _tokens(node)
        if all(isinstance(token, cst.SimpleString) for token in tokens):
            return self._constant(node, tokens)
        templates = [isinstance(token, cst.TemplatedString) for token in tokens]
        if any(templates) and not all(templates):
            raise InvalidLiteral("cannot mix t-string literals with other literals")
        outer = (self._whole, self._token_start, self._token_end)
        self._whole = (self.at.start(node), self.at.end(node))
        try:
            values = self._joined_values(tokens)
        finally:
            self._whole, self._token_start, self._token_end = outer
        if any(templates) and HAS_TEMPLATES:
            return self.at.place(ast.TemplateStr(values=values), node)
        return self.at.place(ast.JoinedStr(values=values), node)

    def _constant(self, node: cst.BaseString, tokens: Sequence[cst.SimpleString]) -> ast.expr:
        values = [string_value(token.value) for token in tokens]
        if len({type(value) for value in values}) > 1:
            raise InvalidLiteral("cannot mix bytes and nonbytes literals")
        value = values[0][:0].join(values)
        kind = "u" if tokens[0].value[0] == "u" else None  # Python marks ``u``, not ``U``
        return self.at.place(ast.Constant(value=value, kind=kind), node)

    def _joined_values(self, tokens: Sequence[Token]) -> List[ast.expr]:
        values: List[Union[ast.expr, _Text]] = []
        for token in tokens:
            self._token_start, self._token_end = self.at.start(token), self.at.end(token)
            if isinstance(token, cst.SimpleString):
                value = string_value(token.value)
                if isinstance(value, bytes):
                    raise InvalidLiteral("cannot mix bytes and nonbytes literals")
                kind = "u" if token.value[0] == "u" and PARTS_LOCATED else None
                values.append(_Text(value, self.at.start(token), self.at.end(token), kind))
            else:
                prefix = split_string(token.start + token.end)[0]
                values += self._parts(token.parts, raw="r" in prefix)
        return self._joined(values)

    def _parts(self, parts: Sequence[Content], raw: bool) -> List[Union[ast.expr, _Text]]:
        values: List[Union[ast.expr, _Text]] = []
        for part in parts:
            if isinstance(part, (cst.FormattedStringText, cst.TemplatedStringText)):
                text = body_value(part.value, raw=raw, is_bytes=False, braces=True)
                values.append(_Text(text, self.at.start(part), self.at.end(part), None))
                continue
            if part.equal is not None:  # ``{x=}`` writes ``x=`` before the value
                values.append(self._debug_text(part))
            values.append(self._interpolation(part, raw))
        return values

    def _debug_text(self, part: Union[cst.FormattedStringExpression,
                                      cst.TemplatedStringExpression]) -> _Text:
        assert part.equal is not None
        source = cst.Module([]).code_for_node
        text = (source(part.whitespace_before_expression) + source(part.expression)
                + source(part.whitespace_after_expression) + source(part.equal))
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        line, column = self.at.start(part)
        return _Text(text, (line, column + 1), self.at.end(part.equal.whitespace_after), None)

    def _interpolation(self, part: Union[cst.FormattedStringExpression,
                                         cst.TemplatedStringExpression], raw: bool) -> ast.expr:
        conversion = part.conversion
        if part.equal is not None and conversion is None and part.format_spec is None:
            conversion = "r"
        spec = None if part.format_spec is None else self._format_spec(part, raw)
        value = self._convert(part.expression)
        if not PARTS_LOCATED and isinstance(part.expression, (cst.Tuple, cst.GeneratorExp)) \
                and not part.expression.lpar:
            self.at.span(value, self._opening(part), self._closing(part))
        if isinstance(part, cst.TemplatedStringExpression) and HAS_TEMPLATES:
            tree: ast.expr = ast.Interpolation(
                value=value, str=self._expression_text(part),
                conversion=_CONVERSIONS[conversion], format_spec=spec)
        else:
            tree = ast.FormattedValue(value=value, conversion=_CONVERSIONS[conversion],
                                      format_spec=spec)
        if PARTS_LOCATED:
            return self.at.place(tree, part)
        return self.at.span(tree, *self._whole)

    def _opening(self, part: Union[cst.FormattedStringExpression,
                                   cst.TemplatedStringExpression]) -> Point:
        """Where Python before 3.12 puts the ``(`` it reads an expression in: at the ``{``,
        unless only blanks follow the ``{`` on its line; then at the start of the string token
        (of the line, past its first line)."""
        line, column = self.at.start(part)
        if not self.at.blank_after_first(part):
            return line, column
        return (line, self._token_start[1] if line == self._token_start[0] else 0)

    def _closing(self, part: Union[cst.FormattedStringExpression,
                                   cst.TemplatedStringExpression]) -> Point:
        """Past the ``)`` Python before 3.12 reads after the expression, where the ``=``,
        ``!``, ``:`` or ``}`` after it is."""
        line, column = self.at.end(part.whitespace_after_expression if part.equal is None
                                   else part.equal.whitespace_before)
        return line, column + 1

    def _format_spec(self, part: Union[cst.FormattedStringExpression,
                                       cst.TemplatedStringExpression], raw: bool) -> ast.expr:
        assert part.format_spec is not None
        parts = self._parts(part.format_spec, raw)
        if not PARTS_LOCATED:
            # Before 3.12 the specification is where its token is, and so is text after its
            # last expression; its other parts are where the whole string is.
            token = (self._token_start, self._token_end)
            spec = ast.JoinedStr(values=self._joined(parts, trailing=token))
            return self.at.span(spec, *token)
        spec = ast.JoinedStr(values=self._joined(parts))
        end_line, end_column = self.at.end(part)
        closing = (end_line, end_column - 1)
        if part.format_spec:
            line, column = self.at.start(part.format_spec[0])
            return self.at.span(spec, (line, column - 1), closing)
        return self.at.span(spec, (end_line, end_column - 2), closing)

    def _expression_text(self, part: cst.TemplatedStringExpression) -> str:
        """The interpolation's text as written, up to its ``=``, ``!``, ``:`` or ``}``."""
        source = cst.Module([]).code_for_node
        text = (source(part.whitespace_before_expression) + source(part.expression)
                + source(part.whitespace_after_expression))
        if part.equal is not None:
            text += source(part.equal.whitespace_before)
        return text.replace("\r\n", "\n").replace("\r", "\n")

    def _joined(self, values: Sequence[Union[ast.expr, _Text]],
                trailing: Optional[Tuple[Point, Point]] = None) -> List[ast.expr]:
        """Adjacent text joined into one constant; empty text left out. Before 3.12, text is
        where the whole string is, except text at the end of a format specification, which is
        at ``trailing``."""
        joined: List[ast.expr] = []
        run: Optional[_Text] = None
        for value in [*values, None]:
            if isinstance(value, _Text):
                if run is None:
                    run = _Text(value.value, value.start, value.end, value.kind)
                else:
                    run.value += value.value
                    run.end = value.end
                continue
            if run is not None and run.value:
                constant = ast.Constant(value=run.value, kind=run.kind)
                if PARTS_LOCATED:
                    where = (run.start, run.end)
                else:
                    where = trailing if value is None and trailing is not None else self._whole
                joined.append(self.at.span(constant, *where))
            run = None
            if value is not None:
                joined.append(value)
        return joined


def _tokens(node: cst.BaseString) -> List[Token]:
    """The string tokens of a literal, in order (``"a" f"b" "c"`` is three)."""
    tokens: List[Token] = []
    while isinstance(node, cst.ConcatenatedString):
        tokens.append(node.left)
        node = node.right
    tokens.append(node)
    return tokens
