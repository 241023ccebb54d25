"""Wujin 武进 2024."""

from services.kernel.plugin import DataPolicy


class Wujin(DataPolicy):
    code = "wujin"
    name = "常州市武进区"


plugin = Wujin(package=__name__)
