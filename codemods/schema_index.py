"""Pydantic schemas → which attributes serializing an ORM object through them reads.

A FastAPI ``response_model``, a return annotation or ``Schema.model_validate(obj)``
reads every field of the schema from the object (``from_attributes``), by the
field's alias when it has one, and a nested schema reads the related object.
Read from source alone, like the model index: never imported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Tuple

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
        for schema in self.schemas:
            if schema.qualname == qualname:
                return schema
        return None

    def resolve(self, name: str, qualname_hint: Optional[str] = None) -> Optional[SchemaFacts]:
        if qualname_hint is not None:
            found = self.by_qualname(qualname_hint)
            if found is not None:
                return found
        simple = (qualname_hint or name).rsplit(".", 1)[-1]
        candidates = [s for s in self.schemas if s.name == simple]
        return candidates[0] if len(candidates) == 1 else None


def may_define_schemas(data: bytes) -> bool:
    return b"BaseModel" in data or b"SQLModel" in data


def scan_schemas(source: str, path: str) -> Tuple[SchemaDecl, ...]:
    """Every class of the module that may be a pydantic schema (its bases decide later)."""
    import libcst as cst

    from codemods.imports import dotted, record_import
    from codemods.model_index import module_name_for

    from codemods.outline import parse

    # Fields are class statements: methods (validators, properties) are parsed as stubs.
    module, _ = parse(source, lambda block, text: block.kind == "class", classes="fields")
    module_name = module_name_for(path)
    imports: Dict[str, str] = {}
    local: Dict[str, str] = {}
    for stmt in module.body:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, (cst.Import, cst.ImportFrom)):
                    record_import(imports, small, module_name, path.endswith("__init__.py"))
        elif isinstance(stmt, cst.ClassDef):
            local[stmt.name.value] = f"{module_name}.{stmt.name.value}"

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
        if not isinstance(stmt, cst.ClassDef):
            continue
        bases = tuple(q for q in (qualify(dotted(arg.value)) for arg in stmt.bases
                                  if arg.keyword is None) if q)
        table = any(arg.keyword is not None and arg.keyword.value == "table"
                    and isinstance(arg.value, cst.Name) and arg.value.value == "True" for arg in stmt.bases)
        fields: List[FieldDecl] = []
        body = stmt.body.body if isinstance(stmt.body, cst.IndentedBlock) else ()
        for line in body:
            if not isinstance(line, cst.SimpleStatementLine):
                continue
            for small in line.body:
                if not isinstance(small, cst.AnnAssign) or not isinstance(small.target, cst.Name):
                    continue
                name = small.target.value
                if name.startswith("_") or name == "model_config":
                    continue
                refs = tuple(sorted({q for q in (qualify(n) for n in _names(small.annotation.annotation)) if q}))
                if any(r.rsplit(".", 1)[-1] == "ClassVar" for r in refs):
                    continue
                fields.append(FieldDecl(attribute=_alias(small.value) or name, refs=refs))
        found.append(SchemaDecl(qualname=f"{module_name}.{stmt.name.value}", name=stmt.name.value,
                                bases=bases, fields=tuple(fields), table=table))
    return tuple(found)


def _names(node) -> Iterable[str]:
    import libcst as cst

    from codemods.imports import dotted

    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, (cst.Name, cst.Attribute)):
            name = dotted(current)
            if name:
                yield name
            continue
        if isinstance(current, cst.SimpleString) and isinstance(current.evaluated_value, str):
            yield current.evaluated_value.strip()
            continue
        stack.extend(current.children)


def _alias(value) -> Optional[str]:
    """``Field(alias="x")`` / ``Field(validation_alias="x")``: the attribute read is the alias."""
    import libcst as cst

    if not isinstance(value, cst.Call):
        return None
    for arg in value.args:
        if arg.keyword is not None and arg.keyword.value in ("validation_alias", "alias") \
                and isinstance(arg.value, cst.SimpleString) and isinstance(arg.value.evaluated_value, str):
            return arg.value.evaluated_value
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
