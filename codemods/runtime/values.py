"""The explanation of one MissingGreenlet, as a value, and its text for reports and logs.

Nothing here imports SQLAlchemy: a caller that only formats or compares explanations stays light.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional


def display_path(path: str) -> str:
    """`path` relative to the current folder when it lies inside it, with `/` separators."""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return path.replace(os.sep, "/")
    if relative.startswith(".." + os.sep) or relative == "..":
        return path.replace(os.sep, "/")
    return relative.replace(os.sep, "/")


@dataclass(frozen=True)
class Location:
    """A line of code: the file (absolute), the line, the function it is in."""

    path: str
    line: int
    function: str

    def __str__(self) -> str:
        return f"{display_path(self.path)}:{self.line}"


@dataclass(frozen=True)
class Site:
    """The statement that left the attribute unloaded, in the application's code.

    `kind` is "flush", "commit", "rollback" or "expire" (the static findings' `site.kind`);
    `call` what ran (`flush()`, `autoflush`, `commit()`, `expire_all()`, ...); `statement` the
    source line (stripped, "" when the file cannot be read). When the statement is a call to a
    helper that flushed or committed (`await self._save(org)`), `inner` holds where the helper
    did it, innermost first.
    """

    path: str
    line: int
    kind: str
    call: str
    function: str
    statement: str = ""
    inner: tuple[Location, ...] = ()

    @property
    def location(self) -> Location:
        return Location(self.path, self.line, self.function)

    def __str__(self) -> str:
        return f"{display_path(self.path)}:{self.line}"


@dataclass(frozen=True)
class Explanation:
    """Why one read raised MissingGreenlet.

    - `model`, `attribute`: what was read (`Order.created_at`); `attributes`: every attribute
      of the same object the exception reports unloaded (a response model reads them all);
    - `object`: the variable that holds the object where the fix goes (`order`), when known;
      `identity`: its primary key as SQLAlchemy knows it (`id=1`), None while pending;
    - `site`: the statement that unloaded it (None when no recording saw it: recording was off,
      or the attribute was never loaded and no flush is known);
    - `reason`: why, by the measured rules; `code`: FG001-FG004 as `flushguard check` reports it;
    - `fix`: the statement to add after the site (`await session.refresh(order, ["created_at"])`);
    - `read`: the line that read it, when the read ran in the application's code; `reader`:
      the response model or schema field that read it (`PUT /grants/{grant_id} ->
      GrantOut.updated_at`);
    - `surfaced_as`: the exception the application saw (`MissingGreenlet`, `StatementError`,
      `ValidationError`, `ResponseValidationError`).
    """

    model: str
    attribute: str
    attributes: tuple[str, ...]
    object: Optional[str]
    identity: Optional[str]
    site: Optional[Site]
    reason: str
    code: str
    fix: Optional[str]
    read: Optional[Location]
    reader: Optional[str]
    surfaced_as: str

    @property
    def target(self) -> str:
        """`Order.created_at`."""
        return f"{self.model}.{self.attribute}"

    def summary(self) -> str:
        """One line for logs: `GREENLET ERROR: Order.created_at, unloaded by the flush at
        app/services.py:18`."""
        if self.site is None:
            return (
                f"GREENLET ERROR: {self.target}, unloaded by a statement flushguard did not record"
            )
        return f"GREENLET ERROR: {self.target}, unloaded by the {self.site.kind} at {self.site}"

    def report(self) -> str:
        """The lines a failing test's report shows (see the README's "Runtime companion")."""
        of = f" of `{self.object}`" if self.object else ""
        identity = "" if self.identity is None else f" ({self.identity})"
        lines = [
            f"MissingGreenlet: {self.target}{of}{identity} was not loaded ({self.surfaced_as})"
        ]
        if self.site is None:
            lines.append(
                "  unloaded by: not recorded (recording was off when it happened, or nothing"
                " ever loaded it)"
            )
        else:
            statement = f" `{self.site.statement}`" if self.site.statement else ""
            lines.append(
                f"  unloaded by: the {self.site.kind} at {self.site}{statement}"
                f" in {self.site.function}()"
            )
            for inner in self.site.inner:
                lines.append(
                    f"               ({self.site.call} ran at {inner} in {inner.function}())"
                )
        lines.append(f"  why:         {self.code} {self.reason}")
        if self.read is not None:
            lines.append(f"  read at:     {self.read} in {self.read.function}()")
        if self.reader is not None:
            lines.append(f"  read by:     {self.reader}")
        if len(self.attributes) > 1:
            lines.append(f"  also unloaded there: {', '.join(self.attributes[1:])}")
        if self.fix is not None and self.site is not None:
            fix = self.fix.replace("\n", "\n               ")
            lines.append(f"  fix:         after {self.site} add: {fix}")
        return "\n".join(lines)

