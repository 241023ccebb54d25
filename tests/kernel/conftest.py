"""Throwaway year-data directories, built from Zhangjiakou's complete 2024 file."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from mutual_aid_zhangjiakou.benefits import accident

from services.kernel.plugin import DataPolicy


class ThrowawayCity(DataPolicy):
    """A city with Zhangjiakou's formulas and whatever data a test writes."""

    code = "throwaway"
    name = "试验市"
    kinds = {"accident": accident}


class YearDir:
    """A data directory in tmp_path; ``write`` puts an (edited) copy of the template in it."""

    def __init__(self, path: Path, template: dict):
        self.path = path
        self.template = template

    def write(self, edit: Callable[[dict], None] | None = None, *, year: int = 2024) -> Path:
        data = copy.deepcopy(self.template)
        if year != 2024:
            data["year"] = year
        if edit is not None:
            edit(data)
        target = self.path / f"{year}.yaml"
        target.write_text(
            yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8"
        )
        return target

    def policy(self) -> ThrowawayCity:
        return ThrowawayCity(data_dir=self.path)


@pytest.fixture(scope="session")
def zhangjiakou_2024_file(root) -> Path:
    return root / "plugins/zhangjiakou/mutual_aid_zhangjiakou/data/2024.yaml"


@pytest.fixture(scope="session")
def zhangjiakou_2024(zhangjiakou_2024_file) -> dict:
    return yaml.safe_load(zhangjiakou_2024_file.read_text(encoding="utf-8"))


@pytest.fixture
def year_dir(tmp_path, zhangjiakou_2024) -> YearDir:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    return YearDir(data_dir, zhangjiakou_2024)
