"""张家口 Zhangjiakou: the city union's workers' medical mutual aid (职工医疗互助活动).

Numbers: data/<year>.yaml (2024 = 第十七期, seed 004). Formulas: the generic kinds plus
``accident`` in benefits.py.
"""

from mutual_aid_zhangjiakou.benefits import accident
from services.kernel.plugin import DataPolicy


class Zhangjiakou(DataPolicy):
    code = "zhangjiakou"
    name = "张家口市"
    kinds = {"accident": accident}


plugin = Zhangjiakou(package=__name__)
