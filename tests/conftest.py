"""Fixtures shared by the kernel and CLI tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class CliRun:
    code: int
    stdout: str
    stderr: str

    def json(self) -> dict:
        assert self.code == 0, f"exit {self.code}: {self.stderr}"
        return json.loads(self.stdout)


@pytest.fixture(scope="session")
def root() -> Path:
    """The repository's root directory."""
    return ROOT


@pytest.fixture(scope="session")
def cli_path() -> Path:
    """The installed console script, beside the interpreter running the tests."""
    path = Path(sys.executable).with_name("mutual-aid")
    assert path.exists(), f"console script not installed: {path}"
    return path


@pytest.fixture(scope="session")
def mutual_aid(cli_path):
    """Run ``mutual-aid ARGS`` as a user would (a subprocess), with optional stdin text."""

    def run(*args: str, stdin: str | None = None) -> CliRun:
        done = subprocess.run(
            [str(cli_path), *args],
            input=stdin,
            capture_output=True,
            text=True,
            encoding="utf-8",
            env={**os.environ, "PYTHONIOENCODING": "utf-8"},
            timeout=120,
            check=False,
        )
        return CliRun(done.returncode, done.stdout, done.stderr)

    return run
