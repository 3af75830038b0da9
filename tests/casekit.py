"""Snapshot cases as values: what each `snapshots/<case>/` folder claims, and its project trees.

The folder format is described in `snapshots/README.md`. A case folder holds:

    case.toml         description, verdict, [scenario]: module / seed / call, or app / request /
                      json / seed (an HTTP request to the project's own ASGI app)
    input/            the project as a user has it
    output/           the files `flushguard fix` changes, as they must be afterwards
    output-unsafe/    the same for `flushguard fix --unsafe-fixes` (verdict "possible")
    findings.txt      `flushguard check` output

`load_cases()` validates every case.toml strictly: a typo in a key would otherwise silently
turn a case into a different one (a misspelt `call` running nothing, say), so anything
unexpected is an error that names the case.
"""

from __future__ import annotations

import ast
import json as jsonlib
import shutil
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Mapping, Optional

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

REPO = Path(__file__).resolve().parent.parent
SNAPSHOTS = REPO / "snapshots"

Verdict = Literal["bug", "safe", "possible"]
VERDICTS: tuple[str, ...] = ("bug", "safe", "possible")

Variant = Literal["original", "fixed", "unsafe-fixed"]
VARIANTS: tuple[str, ...] = ("original", "fixed", "unsafe-fixed")

_TOP_LEVEL_KEYS = frozenset({"description", "verdict", "scenario"})
_SCENARIO_KEYS = frozenset({"module", "seed", "call", "app", "request", "json", "pythonpath"})

#: The methods an HTTP scenario may use (`request = "PUT /grants/1"`).
HTTP_METHODS: tuple[str, ...] = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")

#: Never copied into a materialized project: stale bytecode from another folder would
#: shadow the sources it was compiled from.
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".flushguard_cache")


class CaseError(ValueError):
    """A case folder that does not follow `snapshots/README.md`."""


@dataclass(frozen=True)
class HttpRequest:
    """The request an HTTP scenario sends to the project's app (`request` and `json`)."""

    method: str
    #: Starts with "/"; may carry a query string.
    path: str
    #: The JSON body (a TOML table or array), or None for no body.
    json: Any = None

    def describe(self) -> str:
        body = "" if self.json is None else " " + jsonlib.dumps(self.json, sort_keys=True)
        return f"{self.method} {self.path}{body}"


@dataclass(frozen=True)
class Case:
    """One snapshot case. Every path is where the file *belongs*, whether or not it exists."""

    name: str
    path: Path
    description: str
    verdict: Verdict
    #: The module of `input/` that the semantic test imports (`app` by default; for an HTTP
    #: scenario the module part of `app`).
    module: str
    #: Statements run in their own session before the call or request (then committed), or None.
    seed: Optional[str]
    #: The awaited expression, with `session` and the module's names in scope; None for an HTTP
    #: scenario.
    call: Optional[str]
    input_dir: Path
    output_dir: Path
    output_unsafe_dir: Path
    findings_file: Path
    #: HTTP scenario: "module:attribute" of the ASGI app (FastAPI) in input/, as written.
    app: Optional[str] = None
    #: HTTP scenario: the request sent to `app`.
    request: Optional[HttpRequest] = None
    #: The folder of input/ that is put on `sys.path` (`"src"` in a src layout); "" for input/.
    pythonpath: str = ""

    @property
    def is_http(self) -> bool:
        """True for an HTTP scenario (`app` + `request`), False for a `call` scenario."""
        return self.app is not None

    @property
    def app_attribute(self) -> Optional[str]:
        """The attribute part of `app` (`"app"` in `"app.main:app"`), possibly dotted."""
        return None if self.app is None else self.app.partition(":")[2]

    @property
    def scenario_text(self) -> str:
        """What the scenario does, in one line, for assert messages."""
        if self.request is not None:
            return f"request: {self.request.describe()} to {self.app}"
        return f"call: {self.call}"

    @property
    def has_output(self) -> bool:
        return self.output_dir.is_dir()

    @property
    def has_unsafe_output(self) -> bool:
        return self.output_unsafe_dir.is_dir()


def load_cases(root: Path = SNAPSHOTS) -> list[Case]:
    """Every case under `root`, sorted by name.

    Raises `CaseError` naming the case when a folder has no case.toml or a malformed one.
    Hidden folders and `__pycache__`-style folders are not cases.
    """
    cases = []
    for folder in sorted(root.iterdir()):
        if not folder.is_dir() or folder.name.startswith((".", "__")):
            continue
        cases.append(load_case(folder))
    return cases


def load_case(folder: Path) -> Case:
    """The case in `folder`, validated (see `load_cases`)."""
    name = folder.name
    toml_path = folder / "case.toml"
    if not toml_path.is_file():
        raise CaseError(f"case {name!r}: no case.toml in {folder}")
    try:
        data = tomllib.loads(toml_path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CaseError(f"case {name!r}: case.toml is not valid TOML: {exc}") from exc

    _reject_unknown_keys(name, data, _TOP_LEVEL_KEYS, "")
    description = _required_str(name, data, "description", "")
    verdict = _required_str(name, data, "verdict", "")
    if verdict not in VERDICTS:
        raise CaseError(
            f"case {name!r}: verdict = {verdict!r} is not one of {', '.join(VERDICTS)}"
        )

    scenario = data.get("scenario")
    if not isinstance(scenario, Mapping):
        raise CaseError(f"case {name!r}: case.toml has no [scenario] table")
    _reject_unknown_keys(name, scenario, _SCENARIO_KEYS, "scenario.")
    seed = scenario.get("seed")
    if seed is not None and not isinstance(seed, str):
        raise CaseError(f"case {name!r}: scenario.seed must be a string")
    if seed is not None:
        _check_syntax(name, "scenario.seed", seed_function_source(seed), "exec")

    call: Optional[str] = None
    app: Optional[str] = None
    request: Optional[HttpRequest] = None
    if "call" in scenario:
        for key in ("app", "request", "json"):
            if key in scenario:
                raise CaseError(
                    f"case {name!r}: scenario.{key} is for an HTTP scenario, but scenario.call"
                    " makes this a call scenario: give either call, or app + request"
                )
        call = _required_str(name, scenario, "call", "scenario.").strip()
        _check_syntax(name, "scenario.call", call, "eval")
        module = scenario.get("module", "app")
        if not isinstance(module, str) or not _is_dotted_name(module):
            raise CaseError(f"case {name!r}: scenario.module = {module!r} is not a module name")
    elif "app" in scenario or "request" in scenario:
        if "module" in scenario:
            raise CaseError(
                f"case {name!r}: scenario.module is for a call scenario; an HTTP scenario names"
                " its module in scenario.app (\"package.module:attribute\")"
            )
        app = _required_str(name, scenario, "app", "scenario.").strip()
        module, _, attribute = app.partition(":")
        if not (_is_dotted_name(module) and _is_dotted_name(attribute)):
            raise CaseError(
                f"case {name!r}: scenario.app = {app!r} is not \"package.module:attribute\""
            )
        request = _http_request(name, _required_str(name, scenario, "request", "scenario."),
                                scenario.get("json"), "json" in scenario)
    else:
        raise CaseError(
            f"case {name!r}: case.toml is missing scenario.call"
            " (or scenario.app + scenario.request for an HTTP scenario)"
        )

    input_dir = folder / "input"
    if not input_dir.is_dir():
        raise CaseError(f"case {name!r}: no input/ folder")
    pythonpath = scenario.get("pythonpath", "")
    if not isinstance(pythonpath, str) or Path(pythonpath).is_absolute() or ".." in \
            Path(pythonpath).parts or not (input_dir / pythonpath).is_dir():
        raise CaseError(f"case {name!r}: scenario.pythonpath = {pythonpath!r} is not a folder "
                        "of input/")

    return Case(
        name=name,
        path=folder,
        description=description,
        verdict=verdict,  # type: ignore[arg-type]  # checked against VERDICTS above
        module=module,
        seed=seed,
        call=call,
        input_dir=input_dir,
        output_dir=folder / "output",
        output_unsafe_dir=folder / "output-unsafe",
        findings_file=folder / "findings.txt",
        app=app,
        request=request,
        pythonpath=pythonpath,
    )


def materialize(case: Case, variant: Variant, dest: Path) -> Path:
    """Write the project tree of `variant` to `dest` and return `dest`.

    "original" is input/ as it is; "fixed" is input/ with output/ laid over it (output/ holds
    only the files the fix changes); "unsafe-fixed" likewise with output-unsafe/.
    Raises FileNotFoundError when the overlay the variant needs does not exist.
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; expected one of {', '.join(VARIANTS)}")
    overlay = {"original": None, "fixed": case.output_dir, "unsafe-fixed": case.output_unsafe_dir}[
        variant
    ]
    if overlay is not None and not overlay.is_dir():
        raise FileNotFoundError(
            f"case {case.name!r} has no {overlay.name}/ for variant {variant!r}"
        )
    shutil.copytree(case.input_dir, dest, ignore=_IGNORED, dirs_exist_ok=True)
    if overlay is not None:
        shutil.copytree(overlay, dest, ignore=_IGNORED, dirs_exist_ok=True)
    return dest


def seed_function_source(seed: str, name: str = "__flushguard_seed__") -> str:
    """The seed statements as the body of `async def <name>(session)`.

    Shared by the validation here and the runner in `semantic.py`, so a seed that loads
    is a seed that runs.
    """
    body = "\n".join("    " + line for line in _dedent(seed).splitlines()) or "    pass"
    return f"async def {name}(session):\n{body}\n    pass\n"


def _http_request(name: str, text: str, body: Any, has_body: bool) -> HttpRequest:
    """`request = "PUT /grants/1"` (and `json`) as an HttpRequest, or a CaseError."""
    parts = text.split()
    if len(parts) != 2 or parts[0] not in HTTP_METHODS or not parts[1].startswith("/"):
        raise CaseError(
            f"case {name!r}: scenario.request = {text!r} is not \"METHOD /path\""
            f" (METHOD one of {', '.join(HTTP_METHODS)})"
        )
    if has_body and not isinstance(body, (Mapping, list)):
        raise CaseError(
            f"case {name!r}: scenario.json must be a table (json = {{ ... }}) or an array"
        )
    return HttpRequest(method=parts[0], path=parts[1], json=_plain(body) if has_body else None)


def _plain(value: Any) -> Any:
    """A TOML value as plain JSON-able Python (tomllib gives dicts and lists already; dates
    become ISO strings, since JSON has no date type)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _is_dotted_name(text: str) -> bool:
    return bool(text) and all(part.isidentifier() for part in text.split("."))


def _dedent(text: str) -> str:
    return textwrap.dedent(text).strip("\n")


def _required_str(name: str, table: Mapping, key: str, prefix: str) -> str:
    value = table.get(key)
    if value is None:
        raise CaseError(f"case {name!r}: case.toml is missing {prefix}{key}")
    if not isinstance(value, str) or not value.strip():
        raise CaseError(f"case {name!r}: {prefix}{key} must be a non-empty string")
    return value


def _reject_unknown_keys(name: str, table: Mapping, known: frozenset, prefix: str) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        raise CaseError(
            f"case {name!r}: unknown key(s) {', '.join(prefix + k for k in unknown)} in case.toml"
            f" (known: {', '.join(prefix + k for k in sorted(known))})"
        )


def _check_syntax(name: str, what: str, source: str, mode: str) -> None:
    try:
        compile(source, f"<{name} {what}>", mode, flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    except SyntaxError as exc:
        raise CaseError(f"case {name!r}: {what} is not valid Python: {exc}") from exc
