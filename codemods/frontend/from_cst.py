"""Syntax newer than the running Python: LibCST's tree converted to the standard library's.

:func:`convert_source` reads the source with LibCST's parser (which knows Python 3.0 to 3.14
syntax whatever Python runs it) and builds the :class:`ast.Module` the running Python's own
parser would give: the same node types and fields, literals evaluated from their text (never
by ``ast.parse``, ``compile``, ``eval`` or ``ast.literal_eval``), and the same positions (lines
from 1, columns in UTF-8 bytes). The parts are :mod:`~codemods.frontend.positions`,
:mod:`~codemods.frontend.literals`, :mod:`~codemods.frontend.strings`,
:mod:`~codemods.frontend.expressions`, :mod:`~codemods.frontend.patterns` and
:mod:`~codemods.frontend.statements`.

Exact where the running Python parses the source
    ``ast.dump(convert_source(s), include_attributes=True)`` equals the dump of
    ``ast.parse(s)``, with these exceptions (each pinned by ``tests/test_frontend.py``):

    - On Python 3.12, a format specification that ends with a replacement field
      (``f"{x:{width}}"``) has an empty ``Constant('')`` after it in CPython's tree (CPython
      gh-110309, fixed in 3.13); the conversion gives the 3.13 tree, without it.
    - An interpolation's ``str`` (Python 3.14) keeps comments written inside a multi-line
      interpolation; CPython leaves them out.
    - Positions CPython 3.10 and 3.11 give inside f-strings are reproduced: every constant
      and formatted value is located where the whole (concatenated) string is; a format
      specification where its own string token is, and so is text at its end; an expression
      that is a bare tuple or generator (``f"{a, b}"``) from ``{`` to the character after it,
      because those Pythons parse it in parentheses put there.

Newer syntax, as the running Python's tree can best express it
    - Type parameters (PEP 695: ``def f[T]``, ``class C[T: int, *Ts, **P]``) are
      ``type_params`` of :class:`ast.TypeVar`, :class:`ast.TypeVarTuple` and
      :class:`ast.ParamSpec` from Python 3.12 on; before, they are dropped (their names in
      the signature read as names of the enclosing scope). Their defaults (PEP 696,
      ``[T = int]``) are ``default_value`` from 3.13 on, dropped before.
    - ``type X[T] = Y`` is an :class:`ast.TypeAlias` from 3.12 on; before, the assignment
      ``X = Y`` (an :class:`ast.Assign` of the name ``X``, so that aliases resolve).
    - ``except A, B:`` and ``except* A, B:`` (PEP 758) are handlers whose ``type`` is the
      :class:`ast.Tuple` ``A, B``, located from ``A`` to ``B``. ``except*`` is
      :class:`ast.TryStar` (on Python 3.10, which has none, :class:`ast.Try`).
    - t-strings (PEP 750) are :class:`ast.TemplateStr` of constants and
      :class:`ast.Interpolation` from 3.14 on; before, :class:`ast.JoinedStr` of constants
      and :class:`ast.FormattedValue`, like an f-string: their expressions are evaluated
      where the string is, with the positions an f-string's would have.
    - The f-strings of Python 3.12 (PEP 701: the same quotes nested, backslashes, comments
      and line breaks in replacement fields) are :class:`ast.JoinedStr`.
    - ``lazy import`` (PEP 810) is an :class:`ast.Import` or :class:`ast.ImportFrom`, marked
      ``is_lazy`` where the running Python's tree has the field; ``{**d for d in ds}``
      (PEP 798) is an :class:`ast.DictComp` without a ``key``.

Not read (:func:`convert_source` returns None, and the caller reports Python's own error)
    Source LibCST's parser rejects, which includes three things Python reads: an annotated
    assignment to a parenthesized name (``(x): int = 1``), a form feed in the indentation
    of an indented block, and implicitly concatenated t-strings (``t"a" t"b"``); source
    LibCST reads but no Python would (``f() = 1``, ``"\\x4"``, ``b"é"``); and nesting too deep
    for the conversion (:data:`RECURSION_LIMIT` frames). Python 3.12 also caps calls made
    through C at 1,500, whatever the recursion limit: there LibCST's position pass gives up
    at about 700 chained binary operators, implicitly concatenated strings or ``elif``
    branches (and about 500 chained method calls).
"""

from __future__ import annotations

import ast
import sys
from contextlib import contextmanager
from typing import Iterator, Optional

import libcst as cst

from codemods.frontend.expressions import Expressions, Unconvertible
from codemods.frontend.positions import Positions
from codemods.frontend.statements import Statements

#: Python frames allowed while converting: LibCST's position pass recurses once or twice per
#: level of nesting, and a chain of operators, implicitly concatenated strings or ``elif``
#: branches nests one level per link. Enough for ``files.MAX_BRACKET_DEPTH`` brackets and for
#: chains of about 5,000 links (LibCST's own parser crashes, in native code, at about 9,000).
RECURSION_LIMIT = 20_000


def convert_source(source: str) -> Optional[ast.Module]:
    """The :class:`ast.Module` that a parser of ``source``'s Python version would give, or None
    when LibCST cannot read it either (or reads what no Python would: ``f() = 1``)."""
    try:
        module = cst.parse_module(source)
    except (cst.ParserSyntaxError, cst.CSTValidationError, cst.CSTLogicError, RecursionError):
        return None
    with _frames(RECURSION_LIMIT):
        try:
            return Statements(Expressions(Positions(module, source))).module(module)
        except (Unconvertible, RecursionError):
            return None


@contextmanager
def _frames(limit: int) -> Iterator[None]:
    """At least ``limit`` Python frames for the duration."""
    previous = sys.getrecursionlimit()
    if previous < limit:
        sys.setrecursionlimit(limit)
    try:
        yield
    finally:
        if previous < limit:
            sys.setrecursionlimit(previous)
