"""A module's imports as qualified names: what ``User`` or ``m.User`` means in that module.

Shared by the model index (which base class is meant) and the codemod (which model a
constructor or a ``select()`` names), so both resolve names by the same rules.
"""

from __future__ import annotations

from typing import Dict, Optional, Union

import libcst as cst


def dotted(expr: Optional[cst.BaseExpression]) -> Optional[str]:
    """``a.b.c`` for a chain of names, else None."""
    if isinstance(expr, cst.Name):
        return expr.value
    if isinstance(expr, cst.Attribute):
        base = dotted(expr.value)
        return f"{base}.{expr.attr.value}" if base else None
    return None


def relative_base(module_name: str, is_package: bool, level: int) -> str:
    """The package that ``from .`` (level 1), ``from ..`` (level 2)... refers to."""
    parts = module_name.split(".") if module_name else []
    if not is_package and parts:
        parts = parts[:-1]
    if level > 1:
        parts = parts[: max(0, len(parts) - (level - 1))]
    return ".".join(parts)


def record_import(imports: Dict[str, str], node: Union[cst.Import, cst.ImportFrom],
                  module_name: str, is_package: bool) -> None:
    """Add the local names ``node`` binds to ``imports`` (local name -> qualified name)."""
    if isinstance(node, cst.Import):
        for alias in node.names:
            full = dotted(alias.name) or ""
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                imports[alias.asname.name.value] = full
            else:
                head = full.partition(".")[0]
                imports[head] = head
        return
    source = dotted(node.module) if node.module is not None else ""
    if node.relative:
        base = relative_base(module_name, is_package, len(node.relative))
        source = ".".join(p for p in (base, source) if p)
    if isinstance(node.names, cst.ImportStar):
        return
    for alias in node.names:
        imported = dotted(alias.name) or ""
        local = imported
        if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
            local = alias.asname.name.value
        imports[local] = f"{source}.{imported}" if source else imported
