"""A module's imports as qualified names: what ``User`` or ``m.User`` means in that module.

Shared by the model index (which base class is meant) and the codemod (which model a
constructor or a ``select()`` names), so both resolve names by the same rules.

Each rule exists once (:func:`bind`, :func:`relative_base`): the model index and the schema
index feed it the standard library's tree (:func:`record_ast_import`), the analysis its IR.
"""

from __future__ import annotations

import ast
from typing import Dict, Iterable, Optional, Tuple, Union


def dotted_name(expr: Optional[ast.AST]) -> Optional[str]:
    """``a.b.c`` for a chain of names, else None."""
    parts = []
    while isinstance(expr, ast.Attribute):
        parts.append(expr.attr)
        expr = expr.value
    if not isinstance(expr, ast.Name):
        return None
    parts.append(expr.id)
    return ".".join(reversed(parts))


def relative_base(module_name: str, is_package: bool, level: int) -> str:
    """The package that ``from .`` (level 1), ``from ..`` (level 2)... refers to."""
    parts = module_name.split(".") if module_name else []
    if not is_package and parts:
        parts = parts[:-1]
    if level > 1:
        parts = parts[: max(0, len(parts) - (level - 1))]
    return ".".join(parts)


def record_ast_import(imports: Dict[str, str], node: Union[ast.Import, ast.ImportFrom],
                      module_name: str, is_package: bool) -> None:
    """Add the local names ``node`` binds to ``imports`` (local name -> qualified name)."""
    names = [(alias.name, alias.asname) for alias in node.names]
    if isinstance(node, ast.Import):
        bind(imports, names, None, -1, module_name, is_package)
    else:
        bind(imports, names, node.module, node.level, module_name, is_package)


def bind(imports: Dict[str, str], names: Iterable[Tuple[str, Optional[str]]], module: Optional[str],
         level: int, module_name: str, is_package: bool) -> None:
    """Add the local names an import binds: ``import a.b [as c]`` (``level`` -1) or
    ``from <dots><module> import a [as c]`` (``level`` dots), in a module named ``module_name``."""
    names = list(names)
    if level < 0:
        for imported, local in names:
            if local is not None:
                imports[local] = imported
            else:
                head = imported.partition(".")[0]
                imports[head] = head
        return
    if any(name == "*" for name, _ in names):
        return
    source = module or ""
    if level:
        base = relative_base(module_name, is_package, level)
        source = ".".join(p for p in (base, source) if p)
    for imported, local in names:
        imports[local or imported] = f"{source}.{imported}" if source else imported
