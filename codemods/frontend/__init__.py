"""The front end: source text to the standard library's syntax tree, whatever the syntax.

Every reader of Python source in flushguard (the analysis, the model index, the schema
index, project detection) asks :func:`parse` for an :class:`ast.Module`. The running
Python's own parser reads whatever it can; source written for a newer Python (type
parameters, ``type`` aliases, t-strings, ``except A, B:``) is read by LibCST's parser
instead and converted to the same tree (:mod:`codemods.frontend.from_cst`), so that no
reader needs to know which parser ran.
"""

from __future__ import annotations

import ast

from codemods import files


class ParseError(Exception):
    """The source is not Python that either parser reads: one line for the user."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(message, line, column)
        self.message, self.line, self.column = message, line, column

    def __str__(self) -> str:
        if self.message.startswith("too deeply nested"):
            return self.message
        return f"{self.message} (line {self.line}, column {self.column})"


def parse(source: str) -> ast.Module:
    """The module's syntax tree; raises :class:`ParseError` when no parser reads it.

    Positions are the standard library's: lines from 1, ``col_offset`` in UTF-8 bytes.
    """
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError) as exc:
        first = exc
    except (RecursionError, MemoryError):
        raise ParseError("too deeply nested to analyse", 1, 1) from None
    nested = files.too_deeply_nested(source)
    if nested:  # LibCST's native parser would crash the process on it
        raise ParseError(nested, 1, 1)
    newer = _parse_newer(source)
    if newer is not None:
        return newer
    if isinstance(first, SyntaxError):
        raise ParseError(first.msg or "invalid syntax", first.lineno or 1, first.offset or 1) from None
    raise ParseError(str(first), 1, 1) from None


def _parse_newer(source: str) -> ast.Module | None:
    """The tree of ``source`` read by LibCST, for syntax newer than the running Python."""
    from codemods.frontend.from_cst import convert_source

    return convert_source(source)
