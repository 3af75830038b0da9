"""branch interrupted (issue 7, item 4): Ctrl-C or kill -9 at any moment leaves no ref, no
lock and no object that ``git fsck --strict`` complains about.

The branch is made by one ``update-ref`` at the end; an interrupt before it leaves only
unreachable objects (which ``git gc`` prunes), and from it on the branch is made whole and
reported. So an interrupted run ends either with exit status 130, one line and no new ref,
or as a run that was not interrupted. The work tree, the index and HEAD never change.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Tuple

import pytest

from clikit import TWO_FIXES, environment, flushguard, git, make_project
from faultkit import start

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="reads /proc to find the processes of a run")

NAME = "flushguard/refresh-after-flush"
SERVICES = 14


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A repository whose committed services each need a fix (17 Python files: the worker
    pool is used)."""
    extra = {f"app/service_{i:02d}.py": TWO_FIXES for i in range(SERVICES)}
    return make_project(tmp_path_factory.mktemp("template") / "repo", extra=extra)


@pytest.fixture(scope="module")
def reference(template: Path, tmp_path_factory) -> Tuple[float, str]:
    """How long an uninterrupted run takes, and the tree of the branch it makes."""
    repo = copy(template, tmp_path_factory.mktemp("reference") / "repo")
    started = time.monotonic()
    done = flushguard("branch", cwd=repo)
    span = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    return span, git("rev-parse", f"{NAME}^{{tree}}", cwd=repo).strip()


def copy(template: Path, repo: Path) -> Path:
    subprocess.run(["cp", "-a", str(template), str(repo)], check=True)
    return repo


def refs(repo: Path) -> Dict[str, str]:
    listing = git("--no-optional-locks", "for-each-ref", "--format=%(refname) %(objectname)",
                  cwd=repo)
    return dict(line.split(" ", 1) for line in listing.splitlines())


def check_repository(repo: Path, before_refs: Dict[str, str], index: bytes, head: bytes,
                     expected_tree: str) -> bool:
    """No lock, fsck clean, HEAD and index as they were, the refs as they were plus, maybe,
    the whole new branch. Whether the branch was made."""
    locks = [p for p in (repo / ".git").rglob("*.lock")]
    assert locks == [], locks
    fsck = subprocess.run(["git", "fsck", "--strict", "--no-progress"], cwd=repo,
                          capture_output=True, text=True, env=environment())
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    complaints = [line for line in (fsck.stdout + fsck.stderr).splitlines()
                  if not line.startswith(("dangling ", "unreachable "))]
    assert complaints == [], complaints
    assert (repo / ".git" / "index").read_bytes() == index
    assert (repo / ".git" / "HEAD").read_bytes() == head
    assert git("status", "--porcelain", cwd=repo) == ""
    now = refs(repo)
    made = now.pop(f"refs/heads/{NAME}", None)
    assert now == before_refs
    if made is not None:
        assert git("rev-parse", f"{made}^{{tree}}", cwd=repo).strip() == expected_tree
    return made is not None


@pytest.mark.parametrize("how", ["SIGINT", "SIGKILL"])
def test_branch_interrupted_at_any_moment_leaves_no_ref_lock_or_bad_object(
        tmp_path: Path, template: Path, reference: Tuple[float, str], how: str) -> None:
    span, expected_tree = reference
    rng = random.Random(13 if how == "SIGINT" else 17)
    outcomes = {"interrupted": 0, "made": 0}
    for attempt in range(6):
        repo = copy(template, tmp_path / f"repo{attempt}")
        before_refs = refs(repo)
        index = (repo / ".git" / "index").read_bytes()
        head = (repo / ".git" / "HEAD").read_bytes()
        run = start(["branch"], repo, tmp_path / f"logs{attempt}")
        # Within the first two thirds of a run's time: most signals land before its end, on a
        # machine busier or quieter than when the span was measured alike.
        time.sleep(rng.uniform(0.001, span * 2 / 3))
        if how == "SIGINT":
            os.killpg(run.pid, signal.SIGINT)  # a terminal's Ctrl-C: git gets it too
        else:
            run.process.kill()  # kill -9 of flushguard alone; git finishes what it started
        done = run.finish()
        made = check_repository(repo, before_refs, index, head, expected_tree)
        if how == "SIGKILL":
            outcomes["made" if made else "interrupted"] += 1
            continue
        assert "Traceback" not in done.stderr
        if done.returncode == 130:
            assert done.stderr.splitlines() == ["flushguard: interrupted"], done.stderr
            assert not made
            outcomes["interrupted"] += 1
        else:  # over before the signal, or past the point of no return: a normal run
            assert done.returncode == 0, done.stderr
            assert made and done.stdout.startswith(f"branch: {NAME}\n")
            outcomes["made"] += 1
    assert outcomes["interrupted"] >= 2, outcomes


#: Stands in for git on PATH: pauses a chosen git command (``$FLUSHGUARD_TEST_STEP``) after
#: saying so in a file, so that the interrupt lands while that command runs.
_GIT = """#!/bin/sh
for arg in "$@"; do
    if [ "$arg" = "$FLUSHGUARD_TEST_STEP" ]; then
        : > "$FLUSHGUARD_TEST_MARK"
        sleep 2
        break
    fi
done
exec "$FLUSHGUARD_TEST_GIT" "$@"
"""


@pytest.mark.parametrize("step", ["cat-file", "read-tree", "hash-object", "update-index",
                                  "write-tree", "commit-tree", "update-ref"])
def test_ctrl_c_at_each_git_step(tmp_path: Path, template: Path, reference: Tuple[float, str],
                                 step: str) -> None:
    """Before ``update-ref`` an interrupt leaves no ref; at it, the branch is made whole."""
    expected_tree = reference[1]
    wrapper = tmp_path / "bin" / "git"
    wrapper.parent.mkdir()
    wrapper.write_text(_GIT)
    wrapper.chmod(0o755)
    mark = tmp_path / "mark"
    repo = copy(template, tmp_path / "repo")
    before_refs = refs(repo)
    index = (repo / ".git" / "index").read_bytes()
    head = (repo / ".git" / "HEAD").read_bytes()
    env = {"PATH": f"{wrapper.parent}{os.pathsep}{os.environ['PATH']}",
           "FLUSHGUARD_TEST_STEP": step, "FLUSHGUARD_TEST_MARK": str(mark),
           "FLUSHGUARD_TEST_GIT": shutil.which("git") or "git"}
    run = start(["branch"], repo, tmp_path / "logs", env=env)
    deadline = time.monotonic() + 60
    while not mark.exists():
        assert run.process.poll() is None and time.monotonic() < deadline, \
            f"git {step} never ran"
        time.sleep(0.01)
    os.killpg(run.pid, signal.SIGINT)
    done = run.finish()
    made = check_repository(repo, before_refs, index, head, expected_tree)
    assert "Traceback" not in done.stderr
    if step == "update-ref":
        assert done.returncode == 0 and made, done.stderr
        assert done.stdout.startswith(f"branch: {NAME}\n")
    else:
        assert (done.returncode, done.stderr, made) == (130, "flushguard: interrupted\n", False)
