"""Quzhou 衢州 (2025) and Jiangshan 江山 (2020): what the case tables cannot express.

The preferential rule needs recorded statistics, the enrolment window needs a date, and the
year files' shape (blocks, lists, roster) is checked here against the notices (seeds 000, 001).
"""

from __future__ import annotations

import json
import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from mutual_aid_quzhou import Quzhou, UnitYearStats, plugin

from services.kernel.errors import FactError, PolicyDataError, UnknownDistrict, UnknownYear
from services.kernel.registry import load_registry

ACCOUNT_PREFIX = "3380006000181703244800"  # 三、every block's account at 交通银行衢州分行


def stats(
    unit="某单位工会",
    members=100,
    premiums="5000",
    claims="2499.99",
    year=2023,
    district="市本级",
    code=None,
):
    return UnitYearStats(
        year=year,
        unit=unit,
        district=district,
        members=members,
        premiums=Decimal(premiums),
        claims=Decimal(claims),
        code=code,
    )


@pytest.fixture
def data_copy(tmp_path):
    """A copy of the plugin's data directory, to edit one number and load it afresh."""

    def make(year: int, old: str, new: str) -> Quzhou:
        target = tmp_path / f"data{len(list(tmp_path.iterdir()))}"
        shutil.copytree(plugin.data_dir, target)
        path = target / f"{year}.yaml"
        text = path.read_text(encoding="utf-8")
        assert old in text, old
        path.write_text(text.replace(old, new, 1), encoding="utf-8")
        return Quzhou(data_dir=target)

    return make


# ---- preferential_candidates: 三 (2025) / 六、(一) (2020) ---------------------------------


def test_preferential_lists_rest_on_the_year_two_before():
    assert plugin.preferential_basis_year(2025) == 2023  # 三、对2023年度…2025年度续保时
    assert plugin.preferential_basis_year(2020) == 2018  # 六、(一) 对2018年度内…2020年度续保时


def test_100_members_is_enough_and_99_is_not():
    # 100人以上 includes 100
    chosen = plugin.preferential_candidates(
        2025, [stats("一百人单位", members=100), stats("九十九人单位", members=99)]
    )
    assert [s.unit for s in chosen] == ["一百人单位"]


def test_rate_must_be_strictly_below_half():
    # 报销率低于50%: 2500 of 5000 premiums is 50% and does not qualify; one fen less does
    chosen = plugin.preferential_candidates(
        2025,
        [
            stats("恰好一半", claims="2500.00"),
            stats("差一分", claims="2499.99"),
            stats("超过一半", claims="2500.01"),
            stats("零赔付", claims="0"),
        ],
    )
    assert [s.unit for s in chosen] == ["差一分", "零赔付"]


def test_both_conditions_are_needed():
    chosen = plugin.preferential_candidates(
        2025,
        [
            stats("人多赔多", members=800, premiums="40000", claims="30000"),
            stats("人少赔少", members=60, premiums="3000", claims="100"),
            stats("人多赔少", members=800, premiums="40000", claims="19999.99"),
        ],
    )
    assert [s.unit for s in chosen] == ["人多赔少"]


def test_a_unit_without_premiums_has_no_rate_and_does_not_qualify():
    assert plugin.preferential_candidates(2025, [stats(premiums="0", claims="0")]) == []


def test_candidates_come_back_under_their_block_code():
    chosen = plugin.preferential_candidates(
        2025,
        [
            stats("农行龙游县支行工会", district="龙游县"),
            stats("巨化某厂工会", district="巨化"),
            stats("江山某厂工会", district="江山市"),
        ],
    )
    assert [(s.unit, s.district) for s in chosen] == [
        ("农行龙游县支行工会", "龙游"),
        ("巨化某厂工会", "市本级"),
        ("江山某厂工会", "江山"),
    ]
    # and the figures are passed through untouched
    assert chosen[0].members == 100 and chosen[0].claims == Decimal("2499.99")


def test_jiangshan_2020_uses_2018_records_and_its_one_block():
    chosen = plugin.preferential_candidates(
        2020,
        [
            stats(
                "江山市人民法院工会",
                year=2018,
                district="江山",
                members=120,
                premiums="6000",
                claims="1000",
            ),
            stats(
                "江山某厂工会",
                year=2018,
                district="江山市",
                members=99,
                premiums="4950",
                claims="0",
            ),
        ],
    )
    assert [(s.unit, s.district) for s in chosen] == [("江山市人民法院工会", "江山")]
    with pytest.raises(UnknownDistrict):
        plugin.preferential_candidates(2020, [stats(year=2018, district="柯城区")])


@pytest.mark.parametrize("wrong_year", [2022, 2024, 2025])
def test_records_of_another_year_are_refused(wrong_year):
    with pytest.raises(FactError, match="2023 年度"):
        plugin.preferential_candidates(2025, [stats(year=wrong_year)])


def test_an_unknown_block_is_refused():
    with pytest.raises(UnknownDistrict, match="杭州"):
        plugin.preferential_candidates(2025, [stats(district="杭州")])


def test_one_code_is_one_unit():
    # 以一个医保编码为一个单位: the same code twice means the figures were not aggregated
    with pytest.raises(FactError, match="Y001"):
        plugin.preferential_candidates(
            2025, [stats("甲工会", code="Y001"), stats("甲工会（二）", code="Y001")]
        )
    # the same name under two codes is two units (the 2020 list repeats a name three times)
    chosen = plugin.preferential_candidates(
        2025, [stats("江山易登针织有限公司工会委员会", code=c) for c in ("S1", "S2")]
    )
    assert [s.code for s in chosen] == ["S1", "S2"]


def test_a_year_without_a_year_file_is_refused_by_name():
    with pytest.raises(UnknownYear, match="2026"):
        plugin.preferential_candidates(2026, [stats(year=2024)])


def test_the_thresholds_are_read_from_the_year_file(data_copy):
    stricter = data_copy(2025, "min_members: 100", "min_members: 150")
    assert stricter.preferential_candidates(2025, [stats(members=120)]) == []
    assert len(plugin.preferential_candidates(2025, [stats(members=120)])) == 1
    looser = data_copy(2025, 'max_reimbursement_rate: "0.5"', 'max_reimbursement_rate: "0.6"')
    assert len(looser.preferential_candidates(2025, [stats(claims="2999.99")])) == 1
    assert plugin.preferential_candidates(2025, [stats(claims="2999.99")]) == []
    later = data_copy(2025, "lookback_years: 2", "lookback_years: 1")
    assert later.preferential_basis_year(2025) == 2024


def test_a_discount_that_does_not_give_the_preferential_price_is_a_data_error(data_copy):
    broken = data_copy(2025, 'discount: "0.2"', 'discount: "0.25"')
    with pytest.raises(PolicyDataError, match=r"2025\.yaml: fee\.preferential_rule\.discount"):
        broken.validate()


def test_a_misspelt_rule_key_is_a_data_error(data_copy):
    broken = data_copy(2020, "min_members: 100", "min_member: 100")
    with pytest.raises(PolicyDataError, match=r"2020\.yaml: fee\.preferential_rule\.min_member"):
        broken.preferential_candidates(2020, [])


@pytest.mark.parametrize(
    "bad",
    [
        {"members": -1},
        {"members": 100.0},
        {"premiums": 5000.0},
        {"claims": Decimal("-1")},
    ],
)
def test_malformed_statistics_are_refused(bad):
    fields = {
        "year": 2023,
        "unit": "某单位",
        "district": "市本级",
        "members": 100,
        "premiums": Decimal("5000"),
        "claims": Decimal("0"),
        **bad,
    }
    with pytest.raises(FactError):
        UnitYearStats(**fields)


# ---- the year files against the notices ------------------------------------------------


def test_the_plugin_is_installed_and_loads():
    registry = load_registry()
    assert "quzhou" in registry.cities, [
        b.reason for b in registry.broken if b.entry_point == "quzhou"
    ]
    assert plugin.years() == [2020, 2025]


@pytest.mark.parametrize(
    ("year", "last_day"),
    [(2025, date(2024, 11, 30)), (2020, date(2019, 11, 30))],
)
def test_enrolment_window_runs_from_issue_until_30_november(year, last_day):
    # 2025 五 / 2020 三: 自文件下发之日起至…11月30日止，逾期不再受理
    period = plugin.period(year)
    assert period.window_start is None
    assert period.window_open(last_day)
    assert not period.window_open(date(last_day.year, 12, 1))
    assert period.window_open(date(last_day.year, 1, 2))


def test_cover_is_the_calendar_year():
    assert plugin.period(2025).to_dict() == {
        "year": 2025,
        "number": 12,
        "cover": ["2025-01-01", "2025-12-31"],
        "window": [None, "2024-11-30"],
    }
    assert plugin.period(2020).to_dict()["cover"] == ["2020-01-01", "2020-12-31"]


def test_eight_blocks_each_with_its_account():
    blocks = {d.code: d for d in plugin.districts(2025)}
    expected = {
        "市本级": "70",
        "柯城区": "10",
        "衢江区": "20",
        "龙游": "30",
        "常山": "40",
        "开化": "50",
        "江山": "60",
        "智造新城": "80",
    }
    assert set(blocks) == set(expected)
    for code, tail in expected.items():
        account = plugin.account(2025, code)
        assert account.payee == f"衢州市职工互助保障会{code}"
        assert account.bank == "交通银行衢州分行"
        assert account.number == ACCOUNT_PREFIX + tail


def test_the_2025_list_has_84_units_by_block():
    lists = plugin.year_data(2025).preferential_units
    counts = {code: len(names) for code, names in lists.items()}
    assert counts == {
        "市本级": 12,
        "柯城区": 3,
        "衢江区": 8,
        "龙游": 24,
        "常山": 6,
        "开化": 9,
        "江山": 22,
        "智造新城": 0,
    }
    assert sum(counts.values()) == 84
    assert lists["市本级"][6] == "衢州控股集团有限公司工会"  # 附件3 序号7
    assert lists["开化"][-1] == "浙江卡游科技有限公司工会委员会"  # 序号84


def test_the_2020_list_is_stored_as_given():
    lists = plugin.year_data(2020).preferential_units
    assert list(lists) == ["江山"]
    names = lists["江山"]
    assert len(names) == 37
    assert names.count("江山易登针织有限公司工会委员会") == 3  # 附件3 序号22-24
    assert names[0] == "江山温氏畜牧有限公司工会" and names[-1] == "江山金陵大酒店有限公司"


def test_the_non_public_subsidy_is_jiangshan_2020_only():
    assert plugin.year_data(2025).non_public_subsidy["江山"] == ()
    bands = plugin.year_data(2020).non_public_subsidy["江山"]
    assert [(b["min"], b["max"], b["per_person"]) for b in bands] == [
        (1, 99, Decimal("7")),
        (100, 299, Decimal("12")),
        (300, 499, Decimal("13")),
        (500, None, Decimal("15")),
    ]


@pytest.mark.parametrize(("year", "unit_key"), [(2025, "医保编码"), (2020, "社保编码")])
def test_roster_is_sheet2_with_the_notice_columns(year, unit_key):
    roster = plugin.roster_format(year)
    assert (roster.sheet, roster.application_sheet, roster.unit_key) == (
        "Sheet2",
        "Sheet1",
        unit_key,
    )
    assert [c.titles[0] for c in roster.columns] == [
        "序号",
        "姓名",
        "性别",
        "身份证号码",
        "手机号码",
        "备注",
    ]
    assert [c.field for c in roster.columns] == [
        "seq",
        "name",
        "sex",
        "id_number",
        "phone",
        "remark",
    ]
    assert {c.field for c in roster.columns if c.required} == {"name", "id_number"}


@pytest.mark.parametrize("year", [2025, 2020])
def test_one_benefit_direct_settlement_and_no_exclusions(year):
    benefits = plugin.benefits(year)
    assert [(b.code, b.needs, b.counts_by) for b in benefits] == [
        ("direct_settlement", ("settled_amount",), "admission_date")
    ]
    assert plugin.year_data(year).rules["direct_settlement"].kind == "settled"
    assert plugin.exclusions(year) == []
    assert plugin.claim_deadline(year) is None


def test_cli_quote_for_the_example(mutual_aid, root: Path):
    example = (root / "examples" / "quote-quzhou-2025.json").read_text(encoding="utf-8")
    answer = mutual_aid("quote", "--city", "quzhou", "--year", "2025", "-", stdin=example).json()
    assert answer["unit_price"] == "40.00"
    assert answer["total_due"] == "6800.00"
    assert answer["account"]["number"] == "338000600018170324480070"
    assert json.loads(example)["unit"]["participants"] == answer["participants"] == 170
