"""A city copied into a temporary folder: its package importable from there, so a test may
change its data or cases and run the check on the copy."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from services.kernel.registry import load_registry
from services.onboarding.scaffold import new_city


@pytest.fixture
def copied(tmp_path, monkeypatch):
    """``copied(origin, code)`` → (the new city's policy, its package folder)."""

    def make(origin: str, code: str):
        policy = load_registry().get(origin)
        made = new_city(code, f"{code}市", tmp_path, policy)
        monkeypatch.syspath_prepend(str(made.project))
        module = importlib.import_module(made.package)
        return module.plugin, made.project / made.package

    yield make
    for name in [m for m in sys.modules if m.startswith("mutual_aid_copy")]:
        del sys.modules[name]


@pytest.fixture
def plugins_root(root) -> Path:
    return root / "plugins"
