"""Snapshot cases as values: what each `snapshots/<case>/` folder claims, and its project trees.

The folder format is described in `snapshots/README.md`. A case folder holds:

    case.toml         description, verdict, [scenario] module / seed / call
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
import shutil
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Mapping, Optional

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
_SCENARIO_KEYS = frozenset({"module", "seed", "call"})

#: Never copied into a materialized project: stale bytecode from another folder would
#: shadow the sources it was compiled from.
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".flushguard_cache")


class CaseError(ValueError):
    """A case folder that does not follow `snapshots/README.md`."""


@dataclass(frozen=True)
class Case:
    """One snapshot case. Every path is where the file *belongs*, whether or not it exists."""

    name: str
    path: Path
    description: str
    verdict: Verdict
    #: The module of `input/` that the semantic test imports (`app` by default).
    module: str
    #: Statements run in their own session before the call (then committed), or None.
    seed: Optional[str]
    #: The awaited expression, with `session` and the module's names in scope.
    call: str
    input_dir: Path
    output_dir: Path
    output_unsafe_dir: Path
    findings_file: Path

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
    call = _required_str(name, scenario, "call", "scenario.")
    module = scenario.get("module", "app")
    if not isinstance(module, str) or not module.replace(".", "_").isidentifier():
        raise CaseError(f"case {name!r}: scenario.module = {module!r} is not a module name")
    seed = scenario.get("seed")
    if seed is not None and not isinstance(seed, str):
        raise CaseError(f"case {name!r}: scenario.seed must be a string")

    _check_syntax(name, "scenario.call", call, "eval")
    if seed is not None:
        _check_syntax(name, "scenario.seed", seed_function_source(seed), "exec")

    input_dir = folder / "input"
    if not input_dir.is_dir():
        raise CaseError(f"case {name!r}: no input/ folder")

    return Case(
        name=name,
        path=folder,
        description=description,
        verdict=verdict,  # type: ignore[arg-type]  # checked against VERDICTS above
        module=module,
        seed=seed,
        call=call.strip(),
        input_dir=input_dir,
        output_dir=folder / "output",
        output_unsafe_dir=folder / "output-unsafe",
        findings_file=folder / "findings.txt",
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
