"""`explain(exc)`: from a MissingGreenlet, however it surfaced, to an `Explanation`.

The exception is searched, with its causes, contexts, exception-group members and `.orig`, for
one of the forms MissingGreenlet takes (`sqlalchemy-truth.md` §1, and the semantic runner's
`is_missing_greenlet`):

- `MissingGreenlet` itself (asyncpg), or `StatementError` wrapping it (aiosqlite on 2.1, the
  MySQL drivers): its traceback still holds SQLAlchemy's attribute access, `__get__`/`__set__`
  of `sqlalchemy.orm.attributes` with the instrumented attribute (`self.key`) and the object
  (`instance`) as locals, and the user frame that made the access just outside it;
- pydantic's `ValidationError` (`Schema.model_validate(obj)`) and FastAPI's
  `ResponseValidationError` (a `response_model`): the MissingGreenlet itself is gone, but each
  `get_attribute_error` keeps the object (`input`) and the field (`loc`).

The object's records (see `recorder`) then say which statement unloaded the attribute, and
`reasons` why. Nothing here changes the exception or its traceback.
"""

from __future__ import annotations

import os
import typing
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Optional

from codemods.runtime import fixes, reasons, recorder
from codemods.runtime.frames import USER, FrameTuple, classify
from codemods.runtime.values import Explanation, Location, Site

#: MissingGreenlet's text in every version (1.4/2.0 say `await_only()`, 2.1 `await_()`).
MISSING_GREENLET_TEXT = "greenlet_spawn has not been called"


@dataclass
class _Target:
    """One unloaded read found in an exception."""

    instance: Any
    key: str
    read: Optional[Location]
    reader: Optional[str]
    #: Every frame of the exception's traceback, outermost first (alive while the exception is).
    frames: list


def explain(exc: BaseException) -> Optional[Explanation]:
    """The explanation of the MissingGreenlet in `exc` (raw or wrapped), or None.

    None when `exc` carries no MissingGreenlet, or when the object whose attribute failed
    cannot be found in it. The explanation's `site` is None when no recording saw the statement
    that unloaded the attribute (see `record`).
    """
    for carrier, surfaced_as in _carriers(exc):
        targets = list(_targets(carrier))
        if targets:
            return _explanation(targets, surfaced_as)
    return None


# ----------------------------------------------------------------------------------------------
# Finding it in the exception
# ----------------------------------------------------------------------------------------------


def _carriers(exc: BaseException) -> Iterator[tuple[BaseException, str]]:
    """The exceptions in `exc`'s chain that carry a MissingGreenlet, outermost first."""
    pending: list[Optional[BaseException]] = [exc]
    seen: set[int] = set()
    while pending:
        current = pending.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        surfaced_as = _surfaced_as(current)
        if surfaced_as is not None:
            yield current, surfaced_as
        members = getattr(current, "exceptions", None)
        if isinstance(members, (tuple, list)):
            pending.extend(m for m in members if isinstance(m, BaseException))
        orig = getattr(current, "orig", None)
        if not isinstance(orig, BaseException):
            orig = None
        pending.extend([current.__cause__, current.__context__, orig])


def _surfaced_as(exc: BaseException) -> Optional[str]:
    name = type(exc).__name__
    module = type(exc).__module__ or ""
    if module.startswith("sqlalchemy"):
        if name == "MissingGreenlet":
            return name
        if name == "DetachedInstanceError" and "cannot proceed" in str(exc):
            return name  # the same unloaded read, once the session closed (a session block)
        orig = getattr(exc, "orig", None)
        if type(orig).__name__ == "MissingGreenlet" or (
            name == "StatementError" and MISSING_GREENLET_TEXT in str(exc)
        ):
            return name
        return None
    if module.startswith(("pydantic", "fastapi")) and _attribute_errors(exc):
        return name
    return None


def _attribute_errors(exc: BaseException) -> list[Mapping]:
    """The `get_attribute_error` details of a pydantic/FastAPI error that MissingGreenlet caused."""
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return []
    try:
        details = list(errors())
    except Exception:
        return []
    return [
        detail
        for detail in details
        if isinstance(detail, Mapping) and MISSING_GREENLET_TEXT in str(detail.get("msg", ""))
    ]


def _tracebacks(exc: BaseException) -> list:
    frames = []
    tb = exc.__traceback__
    while tb is not None:
        frames.append((tb.tb_frame, tb.tb_lineno))
        tb = tb.tb_next
    return frames


def _targets(carrier: BaseException) -> Iterator[_Target]:
    steps = _tracebacks(carrier)
    live = [frame for frame, _ in steps]
    from_sqlalchemy = type(carrier).__module__.startswith("sqlalchemy")
    details = [] if from_sqlalchemy else _attribute_errors(carrier)
    if details:
        response = type(carrier).__name__ == "ResponseValidationError"
        read = None if response else _innermost_user(steps)
        for detail in details:
            loc = tuple(detail.get("loc") or ())
            instance = detail.get("input")
            key = next((part for part in reversed(loc) if isinstance(part, str)), None)
            if instance is None or key is None or not _is_mapped(instance):
                continue
            if response:
                reader = _response_reader(carrier, steps, loc)
            else:
                reader = _schema_reader(carrier, loc)
            yield _Target(instance, key, read, reader, live)
        return
    last_user: Optional[Location] = None
    for index, (frame, line) in enumerate(steps):
        code = frame.f_code
        if classify(code.co_filename) == USER:
            last_user = Location(code.co_filename, line, code.co_name)
            continue
        found = _attribute_access(frame)
        if found is not None:
            instance, key = found
            reader = _third_party_reader(steps[:index], last_user)
            yield _Target(instance, key, last_user, reader, live)
            return


def _attribute_access(frame: Any) -> Optional[tuple[Any, str]]:
    """(object, key) when `frame` is SQLAlchemy's instrumented attribute access."""
    code = frame.f_code
    filename = code.co_filename
    if os.path.basename(filename) != "attributes.py" or "sqlalchemy" not in filename:
        return None
    local_values = frame.f_locals
    holder = local_values.get("self")
    key = getattr(holder, "key", None)
    if not isinstance(key, str):
        return None
    if code.co_name in ("__get__", "__set__", "__delete__"):
        instance = local_values.get("instance")
        if instance is not None and _is_mapped(instance):
            return instance, key
    state = local_values.get("state")
    obj = getattr(state, "obj", None)
    if callable(obj):
        instance = obj()
        if instance is not None and _is_mapped(instance):
            return instance, key
    return None


def _innermost_user(steps: list) -> Optional[Location]:
    found = None
    for frame, line in steps:
        code = frame.f_code
        if classify(code.co_filename) == USER:
            found = Location(code.co_filename, line, code.co_name)
    return found


def _third_party_reader(steps: list, last_user: Optional[Location]) -> Optional[str]:
    """The library function that made the read on the application's behalf
    (`fastapi.encoders.jsonable_encoder`), when one sits between the user frame and SQLAlchemy."""
    from codemods.runtime.frames import THIRD_PARTY

    for frame, _ in reversed(steps):
        code = frame.f_code
        if classify(code.co_filename) == USER:
            return None
        if classify(code.co_filename) == THIRD_PARTY:
            outermost = frame
            for earlier, _ in reversed(steps):
                if classify(earlier.f_code.co_filename) == USER:
                    break
                if classify(earlier.f_code.co_filename) == THIRD_PARTY:
                    outermost = earlier
            module = outermost.f_globals.get("__name__", "")
            return f"{module}.{outermost.f_code.co_name}" if module else outermost.f_code.co_name
    return None


def _schema_reader(exc: BaseException, loc: tuple) -> str:
    title = getattr(exc, "title", None) or "schema"
    return f"{title}." + ".".join(str(part) for part in loc)


def _response_reader(exc: BaseException, steps: list, loc: tuple) -> str:
    """`PUT /grants/{grant_id} -> GrantOut.updated_at` for a FastAPI response model."""
    endpoint = getattr(exc, "endpoint_path", None)
    model = None
    for frame, _ in reversed(steps):
        local_values = frame.f_locals
        if model is None and "field" in local_values and "response_content" in local_values:
            model = _model_along(_annotation(local_values["field"]), loc[1:-1])
        if endpoint is None:
            request = local_values.get("request")
            if hasattr(request, "method") and hasattr(request, "url"):
                endpoint = f"{request.method} {request.url.path}"
    field = f"{model}.{loc[-1]}" if model else ".".join(str(p) for p in loc[1:])
    return f"{endpoint} -> {field}" if endpoint else f"response model {field}"


def _annotation(field: Any) -> Any:
    info = getattr(field, "field_info", None)
    annotation = getattr(info, "annotation", None)
    return annotation if annotation is not None else getattr(field, "type_", None)


def _model_along(annotation: Any, path: tuple) -> Optional[str]:
    """The name of the model that owns the last field of `path`, starting from `annotation`."""
    for part in path:
        annotation = _unwrap(annotation)
        if isinstance(part, int):
            arguments = typing.get_args(annotation)
            annotation = arguments[0] if arguments else None
        else:
            fields = getattr(annotation, "model_fields", None) or {}
            annotation = getattr(fields.get(part), "annotation", None)
    annotation = _unwrap(annotation)
    if isinstance(annotation, type):
        return annotation.__name__
    arguments = typing.get_args(annotation)  # list[Out] with the index not in loc
    if arguments and isinstance(_unwrap(arguments[0]), type):
        return _unwrap(arguments[0]).__name__
    return None


def _unwrap(annotation: Any) -> Any:
    """`Optional[X]`/`X | None` -> X; `Annotated[X, ...]` -> X."""
    for _ in range(3):
        arguments = [a for a in typing.get_args(annotation) if a is not type(None)]
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = arguments[0]
        elif origin is typing.Union or type(annotation).__name__ == "UnionType":
            if len(arguments) != 1:
                return annotation
            annotation = arguments[0]
        else:
            return annotation
    return annotation


def _is_mapped(instance: Any) -> bool:
    return hasattr(instance, "_sa_instance_state")


# ----------------------------------------------------------------------------------------------
# Building the explanation
# ----------------------------------------------------------------------------------------------


def _explanation(targets: list[_Target], surfaced_as: str) -> Explanation:
    from sqlalchemy.orm.attributes import instance_state

    first = targets[0]
    instance, key = first.instance, first.key
    state = instance_state(instance)
    model = type(instance).__name__
    keys = [key] + [t.key for t in targets[1:] if t.instance is instance and t.key != key]
    op, code, reason = _cause(state, key)

    site = fix = name = None
    if op is not None and op.frames:
        site_frame, inner = fixes.resolve_site(op.frames)
        site = Site(
            path=site_frame[0],
            line=site_frame[1],
            kind=op.kind,
            call=op.call,
            function=site_frame[2],
            statement=fixes.source_line(site_frame[0], site_frame[1]),
            inner=tuple(Location(f[0], f[1], f[2]) for f in inner),
        )
        live_site = [f for f in first.frames if _same_function(f, site_frame)]
        if not live_site:
            code = reasons.FG004  # the object left the function that flushed before the read
        name, fix = _name_and_fix(state, instance, model, keys, op, site_frame, inner, live_site)

    return Explanation(
        model=model,
        attribute=key,
        attributes=tuple(keys),
        object=name,
        identity=_identity(state),
        site=site,
        reason=reason,
        code=code,
        fix=fix,
        read=first.read,
        reader=first.reader,
        surfaced_as=surfaced_as,
    )


def _cause(state: Any, key: str) -> tuple[Any, str, str]:
    """(the statement behind the unloaded `key`, or None; rule code; reason)."""
    op, inserting, whole = recorder.unloading_of(state, key)
    if op is not None:
        if whole:
            return (op, *reasons.whole_object_reason(op.kind, op.call))
        return (op, *reasons.keyed_reason(state, key, op, inserting))
    # Never loaded (a relationship, a deferred column): no statement unloaded it. The site is
    # the session's last flush before the read, as the static finding names it.
    record = recorder.state_record(state)
    limit = record.crashed_at if record is not None else None
    inserted_by = record.inserted_by if record is not None else None
    if inserted_by is not None and limit is not None and inserted_by.seq > limit:
        inserted_by = None
    op = recorder.last_flush_before_crash(state)
    refreshed_at = record.refreshed_at if record is not None else None
    refreshed = (
        refreshed_at is not None
        and op is not None
        and op.seq < refreshed_at
        and (limit is None or refreshed_at < limit)
    )
    return (op, *reasons.never_loaded_reason(state, key, inserted_by is not None, refreshed))


def _name_and_fix(
    state: Any,
    instance: Any,
    model: str,
    keys: list[str],
    op: Any,
    site_frame: FrameTuple,
    inner: tuple[FrameTuple, ...],
    live_site: list,
) -> tuple[str, str]:
    """The object's name where the fix goes, and the fix (see `fixes`)."""
    named = fixes.name_in_frame(live_site[-1], instance) if live_site else None
    if named is None:
        named = fixes.name_in_source(site_frame, inner, model)
    if named is None:
        named = (fixes.snake_case(model), False)
    name, is_list = named
    session = fixes.session_expression(site_frame, inner) or "session"
    item = fixes.loop_name(site_frame, name) if is_list else None
    keyword = fixes.keyword_style(site_frame[0])
    return name, _fix_text(state, session, name, item, keys, op, keyword)


def _same_function(frame: Any, site_frame: FrameTuple) -> bool:
    code = frame.f_code
    return code.co_filename == site_frame[0] and code.co_firstlineno == site_frame[3]


def _fix_text(
    state: Any,
    session: str,
    name: str,
    item: Optional[str],
    keys: list[str],
    op: Any,
    keyword: bool,
) -> str:
    """The refresh that reloads what the statement left unloaded: the attributes read, and
    every other column the same statement left unloaded (so that the next read of the object
    is not the next crash); a relationship only when it is the one read (each costs a query).
    """
    mapper = state.mapper
    if mapper is None:  # the class was unmapped since (a test's clear_mappers)
        return fixes.refresh_text(session, name, item, keys, keyword)
    relationships = [k for k in keys if reasons.is_relationship(state, k)]
    if relationships and reasons.SQLALCHEMY_14:
        primary_key = mapper.get_property_by_column(mapper.primary_key[0]).key
        return fixes.reselect_text(
            session, name, item, type(state.obj()).__name__, primary_key, relationships[0]
        )
    if relationships:
        return fixes.refresh_text(session, name, item, relationships, keyword)
    expired = state.expired_attributes
    names = []
    for prop in mapper.column_attrs:
        attribute = prop.key
        if attribute in keys:
            names.append(attribute)
        elif (
            attribute in expired
            and not prop.deferred
            and recorder.unloading_of(state, attribute)[0] is op
        ):
            names.append(attribute)
    names += [k for k in keys if k not in names]
    return fixes.refresh_text(session, name, item, names, keyword)


def _identity(state: Any) -> Optional[str]:
    identity = state.identity
    if identity is None:
        return None
    mapper = state.mapper
    try:
        keys = [mapper.get_property_by_column(column).key for column in mapper.primary_key]
    except Exception:  # unmapped since, or a key column without a property
        keys = []
    if len(keys) != len(identity):
        return "identity=" + repr(tuple(identity))
    return ", ".join(f"{k}={v!r}" for k, v in zip(keys, identity))
