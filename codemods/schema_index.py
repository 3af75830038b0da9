"""Pydantic schemas → which attributes serializing an ORM object through them reads.

A FastAPI ``response_model``, a return annotation or ``Schema.model_validate(obj)``
reads every field of the schema from the object (``from_attributes``), by the
field's alias when it has one, and a nested schema reads the related object.
Read from source alone, like the model index: never imported.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import cached_property
from typing import Dict, Iterable, List, Optional, Tuple

from codemods.imports import dotted_name, record_ast_import

PYDANTIC_BASES = frozenset({"BaseModel", "SQLModel"})


@dataclass(frozen=True)
class FieldDecl:
    #: The attribute read from the object (the alias when one is given).
    attribute: str
    #: Class names the annotation mentions (``list[TaskOut]`` → ``("list", "TaskOut")``),
    #: resolved through the module's imports to dotted names.
    refs: Tuple[str, ...] = ()


@dataclass(frozen=True)
class SchemaDecl:
    qualname: str
    name: str
    bases: Tuple[str, ...]
    fields: Tuple[FieldDecl, ...]
    #: ``table=True``: an SQLModel table is a mapped class, not a schema.
    table: bool = False


@dataclass(frozen=True)
class SchemaFacts:
    """A schema with its inherited fields: (attribute read, nested schema qualname or None)."""

    qualname: str
    name: str
    fields: Tuple[Tuple[str, Optional[str]], ...]


@dataclass(frozen=True)
class SchemaIndex:
    schemas: Tuple[SchemaFacts, ...] = ()

    def by_qualname(self, qualname: str) -> Optional[SchemaFacts]:
        return self._by_qualname.get(qualname)

    def resolve(self, name: str, qualname_hint: Optional[str] = None) -> Optional[SchemaFacts]:
        if qualname_hint is not None:
            found = self.by_qualname(qualname_hint)
            if found is not None:
                return found
        candidates = self._by_name.get((qualname_hint or name).rsplit(".", 1)[-1], ())
        return candidates[0] if len(candidates) == 1 else None

    # Asked thousands of times a run: look up, don't scan.
    @cached_property
    def _by_qualname(self) -> Dict[str, SchemaFacts]:
        found: Dict[str, SchemaFacts] = {}
        for schema in self.schemas:
            found.setdefault(schema.qualname, schema)  # the first, as a scan would find
        return found

    @cached_property
    def _by_name(self) -> Dict[str, Tuple[SchemaFacts, ...]]:
        found: Dict[str, List[SchemaFacts]] = {}
        for schema in self.schemas:
            found.setdefault(schema.name, []).append(schema)
        return {name: tuple(group) for name, group in found.items()}


def may_define_schemas(data: bytes) -> bool:
    return b"BaseModel" in data or b"SQLModel" in data


def scan_schemas(source: str, path: str,
                 module_name: Optional[str] = None) -> Tuple[SchemaDecl, ...]:
    """Every class of the module that may be a pydantic schema (its bases decide later).

    ``module_name`` is the module's dotted name (default: its path from the project's top).
    Raises ``frontend.ParseError`` if the module does not parse.
    """
    from codemods import frontend
    from codemods.model_index import module_name_for

    module = frontend.parse(source)
    if module_name is None:
        module_name = module_name_for(path)
    imports: Dict[str, str] = {}
    local: Dict[str, str] = {}
    for stmt in module.body:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            record_ast_import(imports, stmt, module_name, path.endswith("__init__.py"))
        elif isinstance(stmt, ast.ClassDef):
            local[stmt.name] = f"{module_name}.{stmt.name}"

    def qualify(name: Optional[str]) -> Optional[str]:
        if not name:
            return None
        head, _, rest = name.partition(".")
        if head in imports:
            base = imports[head]
        elif head in local:
            base = local[head]
        else:
            return name
        return f"{base}.{rest}" if rest else base

    found: List[SchemaDecl] = []
    for stmt in module.body:
        if not isinstance(stmt, ast.ClassDef):
            continue
        bases = tuple(q for q in (qualify(dotted_name(base)) for base in stmt.bases) if q)
        fields: List[FieldDecl] = []
        for small in stmt.body:
            if not isinstance(small, ast.AnnAssign) or not isinstance(small.target, ast.Name):
                continue
            name = small.target.id
            if name.startswith("_") or name == "model_config":
                continue
            refs = tuple(sorted({q for q in (qualify(n) for n in _names(small.annotation)) if q}))
            if any(r.rsplit(".", 1)[-1] == "ClassVar" for r in refs):
                continue
            fields.append(FieldDecl(attribute=_alias(small.value) or name, refs=refs))
        # ``table=True`` is not read (``table`` stays False), as it never was: a table model
        # given as a response model is validated from the object's attributes like a schema.
        found.append(SchemaDecl(qualname=f"{module_name}.{stmt.name}", name=stmt.name,
                                bases=bases, fields=tuple(fields)))
    return tuple(found)


def _names(annotation: ast.expr) -> Iterable[str]:
    """The names an annotation mentions, and its strings (forward references), stripped.

    As when this was read from LibCST's tree: ``None``, ``True`` and ``False`` are names, so
    are keyword argument names (``Field(alias=...)``) and lambda parameters; a chain through
    a call (``f().x``) says nothing; the text of an f-string is not a string.
    """
    stack: List[ast.AST] = [annotation]
    while stack:
        current = stack.pop()
        if isinstance(current, (ast.Name, ast.Attribute)):
            name = dotted_name(current)
            if name:
                yield name
            continue
        if isinstance(current, ast.Constant):
            if current.value is None or isinstance(current.value, bool):
                yield str(current.value)
            elif isinstance(current.value, str):
                yield current.value.strip()
            continue
        if isinstance(current, ast.keyword) and current.arg is not None:
            yield current.arg
        elif isinstance(current, ast.arg):
            yield current.arg
        elif isinstance(current, ast.JoinedStr):
            stack.extend(value for value in current.values if isinstance(value, ast.FormattedValue))
            continue
        stack.extend(ast.iter_child_nodes(current))


def _alias(value: Optional[ast.expr]) -> Optional[str]:
    """``Field(alias="x")`` / ``Field(validation_alias="x")``: the attribute read is the alias."""
    if not isinstance(value, ast.Call):
        return None
    for keyword in value.keywords:
        alias = keyword.value.value if isinstance(keyword.value, ast.Constant) else None
        if keyword.arg in ("validation_alias", "alias") and isinstance(alias, str):
            return alias
    return None


def build_schema_index(declarations: Iterable[SchemaDecl]) -> SchemaIndex:
    """Keep the classes that derive from ``BaseModel`` (or a non-table SQLModel), fields inherited."""
    by_qualname = {d.qualname: d for d in declarations}
    by_name: Dict[str, List[SchemaDecl]] = {}
    for decl in by_qualname.values():
        by_name.setdefault(decl.name, []).append(decl)

    def lookup(ref: str) -> Optional[SchemaDecl]:
        if ref in by_qualname:
            return by_qualname[ref]
        same = by_name.get(ref.rsplit(".", 1)[-1], [])
        return same[0] if len(same) == 1 else None

    def is_schema(decl: SchemaDecl, seen: Tuple[str, ...] = ()) -> bool:
        if decl.table or decl.qualname in seen:
            return False
        for base in decl.bases:
            if base.rsplit(".", 1)[-1] in PYDANTIC_BASES and lookup(base) is None:
                return True
            parent = lookup(base)
            if parent is not None and is_schema(parent, seen + (decl.qualname,)):
                return True
        return False

    def fields_of(decl: SchemaDecl, seen: Tuple[str, ...] = ()) -> Dict[str, Optional[str]]:
        merged: Dict[str, Optional[str]] = {}
        for base in decl.bases:
            parent = lookup(base)
            if parent is not None and parent.qualname not in seen:
                merged.update(fields_of(parent, seen + (decl.qualname,)))
        for field in decl.fields:
            nested = None
            for ref in field.refs:
                target = lookup(ref)
                if target is not None and target.qualname != decl.qualname and is_schema(target):
                    nested = target.qualname
                    break
            merged[field.attribute] = nested
        return merged

    schemas = [
        SchemaFacts(qualname=d.qualname, name=d.name, fields=tuple(fields_of(d).items()))
        for d in sorted(by_qualname.values(), key=lambda d: d.qualname) if is_schema(d)
    ]
    return SchemaIndex(tuple(schemas))
