"""Keqiao 柯桥 2019."""

from services.kernel.plugin import DataPolicy


class Keqiao(DataPolicy):
    code = "keqiao"
    name = "绍兴市柯桥区"


plugin = Keqiao(package=__name__)
