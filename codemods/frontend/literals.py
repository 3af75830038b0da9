"""The values of literals, computed from their text (never by handing the text to Python).

Numbers as Python reads them (underscores, bases, exponents, imaginary), and string bodies
with every escape Python knows, newlines read as Python's tokenizer reads them (``\\r\\n``
and ``\\r`` become ``\\n``), and f-string and t-string text with ``{{`` and ``}}`` undoubled.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Match, Tuple, Union


class InvalidLiteral(ValueError):
    """Text LibCST tokenized that no Python reads as a literal (``"\\x4"``, ``b"é"``)."""


Number = Union[int, float, complex]

_NEWLINES = re.compile(r"\r\n?")

_SIMPLE_ESCAPES = {
    "\n": "", "\\": "\\", "'": "'", '"': '"', "a": "\a", "b": "\b", "f": "\f", "n": "\n",
    "r": "\r", "t": "\t", "v": "\v",
}
#: One escape. An escape's letter alone (``\\x`` without its digits) is an error; a backslash
#: before anything else is kept.
_ESCAPE_PATTERN = (r"\\(?:([0-7]{1,3})|x([0-9A-Fa-f]{2})|u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8})"
                   r"|N\{([^}]*)\}|([xuUN])|(.)|\Z)")
_ESCAPE = re.compile(_ESCAPE_PATTERN + "()", re.DOTALL)
#: One escape or, in f-string and t-string text, a doubled brace.
_ESCAPE_OR_BRACE = re.compile(_ESCAPE_PATTERN + r"|(\{\{|\}\})", re.DOTALL)
_RAW_BRACES = re.compile(r"\{\{|\}\}")


def number_value(text: str) -> Number:
    """The value of an integer, float or imaginary literal, as Python reads it."""
    digits = text.replace("_", "")
    if digits[-1] in "jJ":
        return complex(0.0, float(digits[:-1]))
    if digits[:2].lower() in ("0x", "0o", "0b"):
        return int(digits, 0)
    if any(mark in digits for mark in ".eE"):
        return float(digits)
    try:
        return int(digits)
    except ValueError as exc:  # more digits than int() converts
        raise InvalidLiteral(str(exc)) from None


def split_string(token: str) -> Tuple[str, str, str]:
    """A string token's prefix (lower case), its quote, and the text between the quotes."""
    start = 0
    while token[start] not in "'\"":
        start += 1
    prefix = token[:start].lower()
    quote = token[start:start + 3] if token[start:start + 3] in ("'''", '"""') else token[start]
    return prefix, quote, token[start + len(quote):len(token) - len(quote)]


def string_value(token: str) -> Union[str, bytes]:
    """The value of a plain (not f- or t-) string token such as ``rb'\\d'`` or ``'''a\\n'''``."""
    prefix, _, body = split_string(token)
    return body_value(body, raw="r" in prefix, is_bytes="b" in prefix, braces=False)


def body_value(body: str, raw: bool, is_bytes: bool, braces: bool) -> Union[str, bytes]:
    """The value of ``body``, the text of a string between its quotes (or a piece of an
    f-string's or t-string's text, with ``braces``)."""
    if "\r" in body:
        body = _NEWLINES.sub("\n", body)
    if is_bytes and not body.isascii():
        raise InvalidLiteral("bytes can only contain ASCII literal characters")
    if raw:
        text = _RAW_BRACES.sub(_undouble, body) if braces and ("{" in body or "}" in body) \
            else body
    elif "\\" in body or (braces and ("{" in body or "}" in body)):
        pattern = _ESCAPE_OR_BRACE if braces else _ESCAPE
        text = pattern.sub(_bytes_escape if is_bytes else _str_escape, body)
    else:
        text = body
    return text.encode("latin-1") if is_bytes else text


def _undouble(match: Match[str]) -> str:
    return match.group()[0]


def _str_escape(match: Match[str]) -> str:
    octal, hex2, hex4, hex8, name, lone, other, brace = match.groups()
    if brace:
        return brace[0]
    if octal is not None:
        return chr(int(octal, 8))
    if hex2 is not None or hex4 is not None:
        return chr(int(hex2 or hex4, 16))
    if hex8 is not None:
        value = int(hex8, 16)
        if value > 0x10FFFF:
            raise InvalidLiteral("illegal Unicode character")
        return chr(value)
    if name is not None:
        try:
            return unicodedata.lookup(name)
        except KeyError:
            raise InvalidLiteral(f"unknown Unicode character name {name!r}") from None
    if lone is not None:
        raise InvalidLiteral(f"truncated \\{lone} escape")
    return _other_escape(other)


def _bytes_escape(match: Match[str]) -> str:
    octal, hex2, hex4, hex8, name, lone, other, brace = match.groups()
    if brace:
        return brace[0]
    if octal is not None:
        return chr(int(octal, 8) & 0xFF)
    if hex2 is not None:
        return chr(int(hex2, 16))
    if lone == "x":
        raise InvalidLiteral("truncated \\x escape")
    if hex4 is None and hex8 is None and name is None and lone is None:
        return _other_escape(other)
    # \u, \U and \N mean nothing in bytes: the backslash stays.
    return match.group()[0] + match.group()[1:2] + _ESCAPE.sub(_bytes_escape, match.group()[2:])


def _other_escape(other: Union[str, None]) -> str:
    if other is None:  # a backslash that ends the text
        return "\\"
    simple = _SIMPLE_ESCAPES.get(other)
    return "\\" + other if simple is None else simple
