"""Quzhou 衢州 2025 (第十二期) and the Jiangshan 江山 2020 variant."""

from services.kernel.plugin import DataPolicy


class Quzhou(DataPolicy):
    code = "quzhou"
    name = "衢州市"


plugin = Quzhou(package=__name__)
