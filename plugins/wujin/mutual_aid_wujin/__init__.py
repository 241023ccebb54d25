"""武进 Wujin (Changzhou): the district union's in-service workers' medical mutual aid.

Numbers: data/<year>.yaml (2024 = seed 003, 常州市武进区总工会《关于开展 2024 年在职职工医疗
互助保障工作的通知》). Formulas: the generic kinds plus ``inpatient`` in benefits.py.
"""

from mutual_aid_wujin.benefits import inpatient
from services.kernel.plugin import DataPolicy


class Wujin(DataPolicy):
    code = "wujin"
    name = "常州市武进区"
    kinds = {"inpatient": inpatient}


plugin = Wujin(package=__name__)
