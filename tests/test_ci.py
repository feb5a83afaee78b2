"""CI runs every test: under CI=true each way a test can skip fails with its reason; elsewhere it still skips.
Also the CI script itself (the README's test command verbatim, no build without Chromium) and the per-test limit."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess

import pytest

from tests.conftest import ROOT

SKIPPING = """
import pytest

def test_runs():
    pass

def test_skips_in_its_body():
    pytest.skip("no Chromium on this machine")

@pytest.mark.skipif(True, reason="the bundled MiniLM package is not installed")
def test_skipif():
    pass

def test_importorskip():
    pytest.importorskip("no_such_module_for_tuneboard")

@pytest.mark.xfail(reason="a known failure, not a skip")
def test_expected_failure():
    assert False
"""
SKIPPED_MODULE = """
import pytest

pytest.importorskip("no_such_module_for_tuneboard")

def test_never_collected():
    pass
"""


def run_examples(pytester: pytest.Pytester, **files: str) -> pytest.RunResult:
    pytester.makepyfile(**files)
    return pytester.runpytest("-p", "tests.skips_in_ci", "-p", "no:cacheprovider", "-rA")


def test_under_ci_every_kind_of_skip_fails_and_says_why(pytester, monkeypatch):
    monkeypatch.setenv("CI", "true")
    result = run_examples(pytester, test_example=SKIPPING)
    # skipif is decided in setup, so it reports as an error; the skips in test bodies as failures.
    result.assert_outcomes(passed=1, failed=2, errors=1, xfailed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    output = result.stdout.str()
    for reason in ("no Chromium on this machine", "the bundled MiniLM package is not installed",
                   "No module named 'no_such_module_for_tuneboard'"):
        said = rf"CI=true, where every test must run, and this one skipped: .*{re.escape(reason)}"
        assert re.search(said, output), reason


def test_under_ci_a_module_that_skips_at_collection_fails(pytester, monkeypatch):
    monkeypatch.setenv("CI", "true")
    result = run_examples(pytester, test_example=SKIPPED_MODULE)
    result.assert_outcomes(errors=1)
    assert result.ret != pytest.ExitCode.OK
    assert "this one skipped: " in result.stdout.str()


@pytest.mark.parametrize("ci", ["", "false"])
def test_outside_ci_skips_stay_skips(pytester, monkeypatch, ci):
    monkeypatch.setenv("CI", ci)
    result = run_examples(pytester, test_example=SKIPPING, test_module=SKIPPED_MODULE)
    result.assert_outcomes(passed=1, skipped=4, xfailed=1)
    assert result.ret == pytest.ExitCode.OK


def readme_test_command() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    [command] = [line.strip() for line in readme.splitlines()
                 if line.strip().startswith("python3 -m venv") and "-m pytest" in line]
    return command


def test_ci_runs_the_readmes_test_command_verbatim_as_its_last_step():
    lines = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line.strip()]
    assert lines[-1] == readme_test_command()


@pytest.mark.slow  # runs .ci/run (bash, with stand-in commands)
def test_ci_fails_before_testing_when_chromium_cannot_be_installed(tmp_path):
    """A machine without chromium whose apt-get fails: the script stops with a sentence, before any venv or test."""
    bin_dir, marker = tmp_path / "bin", tmp_path / "python3-ran"
    bin_dir.mkdir()
    fakes = {"apt-get": "echo 'E: Unable to locate package chromium' >&2; exit 100",
             "python3": f": > {marker}"}  # a redirection: no other command is on PATH
    for name, body in fakes.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(stat.S_IRWXU)
    os.symlink("/usr/bin/dirname", bin_dir / "dirname")
    done = subprocess.run(["/bin/bash", str(ROOT / ".ci" / "run")], env={"PATH": str(bin_dir), "CI": "true"},
                          capture_output=True, text=True, timeout=30)
    assert done.returncode != 0
    assert "CI could not install Debian's chromium package, which the browser test needs." in done.stderr
    assert not marker.exists()


@pytest.mark.slow  # runs .ci/run and .ci/postgres (bash, with stand-in commands)
def test_ci_fails_before_testing_when_postgresql_cannot_start(tmp_path):
    """Chromium is there, but initdb fails (here: runuser cannot switch to the postgres user): the script stops with
    a sentence, before any venv or test, and leaves no server folder behind."""
    bin_dir, marker, scratch = tmp_path / "bin", tmp_path / "python3-ran", tmp_path / "tmp"
    bin_dir.mkdir()
    scratch.mkdir()
    fakes = {"chromium": "exit 0",
             "runuser": "echo 'runuser: user postgres does not exist' >&2; exit 1",
             # .ci/postgres asks python3 for a free port; anything else is the venv step, which must not run
             "python3": f'if [ "$1" = -c ]; then echo 5432; else : > {marker}; fi'}
    for name, body in fakes.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(stat.S_IRWXU)
    for tool in ("bash", "dirname", "mktemp", "mkdir", "chown", "ls", "sort", "tail", "cat", "rm"):
        os.symlink(shutil.which(tool), bin_dir / tool)
    done = subprocess.run(["/bin/bash", str(ROOT / ".ci" / "run")], capture_output=True, text=True, timeout=30,
                          env={"PATH": str(bin_dir), "CI": "true", "TMPDIR": str(scratch)})
    assert done.returncode != 0
    assert "CI could not start a PostgreSQL server, which the tests marked both_databases need." in done.stderr
    assert "runuser: user postgres does not exist" in done.stderr  # the cause is shown, not only the sentence
    assert not marker.exists()
    assert list(scratch.iterdir()) == []  # the EXIT trap removed the server's folder


def test_every_test_runs_under_a_time_limit(request):
    """pytest-timeout (requirements-dev.txt) is active, with pytest.ini's limit for tests that set none."""
    assert request.config.pluginmanager.hasplugin("timeout")
    assert float(request.config.getini("timeout")) == 600
    assert request.config.getini("timeout_method") == "signal"  # the test fails, the suite goes on
