"""Hostile and odd input (issue 7, item 2): one clear `path: error:` line, exit 2, the run goes
on for the other files, no traceback, and no other file is touched.

A file that cannot be decoded, or holds binary data, is reported whatever it holds (the check
costs a decode, no parse). A syntax error is reported in a file that mentions a site (`async`
and `.flush(`): a file that cannot hold a site is skipped by the byte prefilter without being
parsed.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from clikit import SERVICE, flushguard, make_project, snapshot

SITE = b"async def g(s):\n    await s.flush()\n"
REFRESH = b'await session.refresh(user, ["created_at"])'

BAD = {
    "syntax": (SITE + b"def broken(:\n", "cannot parse"),
    "undecodable": (SITE + b"x = '\xff\xfe'\n", "cannot decode as utf-8"),
    "wrong-cookie": (b"# -*- coding: klingon -*-\n" + SITE, "cannot detect the encoding"),
    "binary": (b"\x00\x01async\xff.flush(\x00" * 50, "not a Python source file (contains NUL"),
    "deep-indent": (b"async def f(s):\n    await s.flush()\n" + b"".join(
        b"    " * i + b"if x:\n" for i in range(1, 2001)) + b"    " * 2001 + b"pass\n",
        "too many levels of indentation"),
    # 2,000 nested brackets made LibCST's native parser crash the process (segmentation fault)
    "deep-brackets": (SITE + b"y = " + b"[" * 2000 + b"]" * 2000 + b"\n", "too deeply nested"),
    "deep-calls": (SITE + b"y = " + b"f(" * 2000 + b")" * 2000 + b"\n", "too deeply nested"),
    # No site marker: not parsed, but what cannot be decoded is said all the same.
    "undecodable-no-site": (b"x = '\xff\xfe'\n", "cannot decode as utf-8"),
    "binary-no-site": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01", "contains NUL bytes"),
    "latin-1-no-site": (b"name = 'caf\xe9'\n", "cannot decode as utf-8"),
    "nul-no-site": (b"x = 1\n\x00\x00\x00\n", "not a Python source file (contains NUL bytes)"),
    "wrong-cookie-no-site": (b"# -*- coding: klingon -*-\nx = 1\n", "cannot detect the encoding"),
}


@pytest.mark.parametrize("kind", sorted(BAD))
@pytest.mark.parametrize("command", ["check", "fix"])
def test_bad_file_is_one_error_line_and_the_run_goes_on(tmp_path: Path, kind: str,
                                                        command: str) -> None:
    data, reason = BAD[kind]
    project = make_project(tmp_path / "p", extra={"app/bad.py": data})
    before = snapshot(project)
    done = flushguard(command, cwd=project)
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if ": error:" in line]
    assert len(errors) == 1 and errors[0].startswith("app/bad.py: error: ") and reason in errors[0], \
        done.stderr
    assert "Traceback" not in done.stderr
    assert (project / "app" / "bad.py").read_bytes() == data
    if command == "check":
        assert "app/service.py:10:" in done.stdout
        assert snapshot(project) == before
    else:
        assert REFRESH in (project / "app" / "service.py").read_bytes()


def test_a_syntax_error_where_no_site_can_be_is_not_reported(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", extra={"app/broken.py": b"def broken(:\n"})
    done = flushguard("check", cwd=project)
    assert done.returncode == 1, done.stderr
    assert ": error:" not in done.stderr


def test_stdin_that_cannot_be_decoded_is_reported(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p")
    done = flushguard("check", "-", cwd=project, input=b"x = '\xff'\n")
    assert done.returncode == 2
    assert done.stderr.startswith(b"stdin.py: error: cannot decode as utf-8"), done.stderr


@pytest.mark.parametrize("name,service", [
    ("bom", b"\xef\xbb\xbf" + SERVICE.encode()),
    ("crlf", SERVICE.replace("\n", "\r\n").encode()),
    ("mixed", SERVICE.replace("\n", "\r\n", 3).encode()),
    ("tabs", SERVICE.replace("    ", "\t").encode()),
    ("no-final-newline", SERVICE.rstrip("\n").encode()),
])
def test_odd_but_valid_files_are_fixed_faithfully(tmp_path: Path, name: str, service: bytes) -> None:
    project = make_project(tmp_path / "p", extra={"app/service.py": service})
    done = flushguard("fix", cwd=project)
    assert done.returncode == 0, done.stderr
    data = (project / "app" / "service.py").read_bytes()
    assert REFRESH in data
    assert data.startswith(b"\xef\xbb\xbf") == (name == "bom")
    assert data.count(b"\r\n") >= service.count(b"\r\n")
    if name == "tabs":
        assert b"\n\t" + REFRESH in data
    if name == "crlf":
        assert b"\n" not in data.replace(b"\r\n", b"")
    assert data.replace(REFRESH, b"").replace(b"\t\r\n", b"").replace(b"    \r\n", b"") \
        .replace(b"\t\n", b"").replace(b"    \n", b"").replace(b"\n", b"").replace(b"\r", b"") \
        == service.replace(b"\n", b"").replace(b"\r", b"")


def test_empty_file_and_a_path_with_spaces_and_non_ascii(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p é x", extra={"app/empty.py": b"",
                                                      "app/dossier été/service.py": SERVICE})
    done = flushguard("fix", cwd=project)
    assert done.returncode == 0, done.stderr
    assert REFRESH in (project / "app" / "dossier été" / "service.py").read_bytes()
    assert (project / "app" / "empty.py").read_bytes() == b""


def test_ten_megabyte_generated_file_is_skipped_quickly(tmp_path: Path) -> None:
    big = b"".join(b"VALUE_%d = %d\n" % (i, i) for i in range(700_000))
    assert len(big) > 10_000_000
    project = make_project(tmp_path / "p", extra={"app/big.py": big})
    started = time.monotonic()
    done = flushguard("check", cwd=project)
    elapsed = time.monotonic() - started
    assert done.returncode == 1, done.stderr
    assert elapsed < 10, elapsed  # about 0.5 s here: the prefilter finds no flush


def test_symlink_loop_and_symlink_outside_the_tree(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "service.py").write_text(SERVICE)
    project = make_project(tmp_path / "p", repo=False)
    (project / "app" / "loop1").symlink_to("loop2")
    (project / "app" / "loop2").symlink_to("loop1")
    (project / "app" / "up").symlink_to("..")
    (project / "app" / "out").symlink_to(outside)
    (project / "app" / "out.py").symlink_to(outside / "service.py")
    done = flushguard("fix", cwd=project)
    assert "Traceback" not in done.stderr
    assert done.returncode == 2, done.stderr
    # it used to be fixed, outside; display_path shows the resolved target, not app/out.py
    assert ": error: a symlink to " in done.stderr and "outside the project" in done.stderr
    assert REFRESH in (project / "app" / "service.py").read_bytes()
    assert (outside / "service.py").read_text() == SERVICE


def test_read_only_file_when_fixing(tmp_path: Path) -> None:
    """Not root: the folder is made unwritable too and fix reports it. Root can write
    anything, so as root this only checks the file keeps its read-only mode."""
    project = make_project(tmp_path / "p")
    service = project / "app" / "service.py"
    os.chmod(service, 0o444)
    if os.geteuid() != 0:
        os.chmod(service.parent, 0o555)
    try:
        done = flushguard("fix", cwd=project)
    finally:
        os.chmod(service.parent, 0o755)
    assert "Traceback" not in done.stderr
    if os.geteuid() != 0:
        assert done.returncode == 2 and "app/service.py: error:" in done.stderr
        assert service.read_text() == SERVICE
    else:
        assert oct(service.stat().st_mode & 0o777) == oct(0o444)


def test_unreadable_file(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads any file whatever its mode (tests run as root here)")
    project = make_project(tmp_path / "p", extra={"app/secret.py": SITE})
    os.chmod(project / "app" / "secret.py", 0)
    done = flushguard("check", cwd=project)
    assert done.returncode == 2 and "app/secret.py: error: Permission denied" in done.stderr


def test_file_changed_between_analysis_and_write(tmp_path: Path) -> None:
    from codemods import files
    path = tmp_path / "service.py"
    path.write_text(SERVICE)
    original = path.read_bytes()
    path.write_text(SERVICE + "# edited meanwhile\n")
    with pytest.raises(files.ReadError, match="changed since it was analysed"):
        files.write_atomic(path, b"new", expected_original=original)
    assert path.read_text() == SERVICE + "# edited meanwhile\n"


def test_twenty_thousand_empty_files(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", repo=False)
    many = project / "many"
    many.mkdir()
    for i in range(20_000):
        (many / f"m{i}.py").touch()
    started = time.monotonic()
    done = flushguard("check", "many", cwd=project)
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 60
