"""Bad performance files: the error names the file, the row, the field and the value."""

from __future__ import annotations

from pathlib import Path

import pytest

from openmbs.errors import TapeError
from openmbs.servicing import (
    FREDDIE_SERVICING_FIELDS,
    read_fannie_performance,
    read_freddie_servicing,
)

GOOD = (
    "100006457919|02/01/2008||6.375|127279.19|6.0|354.0|354.0|08/2037|0.0|0|N|||||||||||||||||||N"
)


def _fannie(tmp_path: Path, lines: list[str]) -> Path:
    p = tmp_path / "perf.txt"
    p.write_text("\n".join(lines) + "\n")
    return p


def _swap(line: str, index: int, value: str) -> str:
    f = line.split("|")
    f[index] = value
    return "|".join(f)


@pytest.mark.parametrize(
    ("index", "value", "field", "reason"),
    [
        (4, "12x.5", "current_upb", "not a number"),
        (3, "-1", "current_rate", "out of range"),
        (1, "2008-02-01", "reporting_period", "not a month"),
        (10, "Q", "delinquency_status", "not a delinquency status"),
        (12, "77", "zero_balance_code", "unknown zero-balance code"),
        (11, "maybe", "modification_flag", "must be Y or N"),
    ],
)
def test_fannie_bad_value(tmp_path: Path, index: int, value: str, field: str, reason: str) -> None:
    path = _fannie(tmp_path, [GOOD.replace("02/01/2008", "01/01/2008"), _swap(GOOD, index, value)])
    with pytest.raises(TapeError) as info:
        read_fannie_performance(None, path)
    err = info.value
    assert (err.file, err.row, err.field, err.value) == (str(path), 2, field, value)
    assert reason in str(err) and "row 2" in str(err) and str(path) in str(err)


def test_fannie_wrong_field_count(tmp_path: Path) -> None:
    path = _fannie(tmp_path, [GOOD, GOOD.replace("02/01/2008", "03/01/2008") + "|extra"])
    with pytest.raises(TapeError) as info:
        read_fannie_performance(None, path)
    assert (
        info.value.row == 2
        and "expected 31 fields" in str(info.value)
        and "found 32" in str(info.value)
    )


def test_fannie_duplicate_month_and_unknown_loan(tmp_path: Path) -> None:
    path = _fannie(tmp_path, [GOOD, GOOD])
    with pytest.raises(TapeError, match="two rows for the same month") as info:
        read_fannie_performance(None, path)
    assert info.value.row == 2
    acq = tmp_path / "acq.txt"
    acq.write_text(
        "999|R|X|6.0|100000|360|06/2007|08/2007|80|80|1|30|700|N|P|SF|1|P|CA|900||FRM|||N\n"
    )
    with pytest.raises(TapeError, match="not in the acquisition") as info:
        read_fannie_performance(acq, _fannie(tmp_path, [GOOD]))
    assert info.value.value == "100006457919" and info.value.row == 1


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TapeError, match="no such file"):
        read_fannie_performance(None, tmp_path / "nope.txt")


def test_freddie_bad_status_and_month(tmp_path: Path, freddie_sample: Path) -> None:
    lines = freddie_sample.read_text().splitlines()
    bad = lines[:]
    bad[3] = _swap(bad[3], 3, "R")
    p = tmp_path / "svc.txt"
    p.write_text("\n".join(bad) + "\n")
    with pytest.raises(TapeError) as info:
        read_freddie_servicing(None, p)
    assert (info.value.row, info.value.field, info.value.value) == (
        4,
        "current_loan_delinquency_status",
        "R",
    )
    bad = lines[:]
    bad[5] = _swap(bad[5], 1, "202013")
    p.write_text("\n".join(bad) + "\n")
    with pytest.raises(TapeError) as info:
        read_freddie_servicing(None, p)
    assert (info.value.row, info.value.field, info.value.value) == (
        6,
        "monthly_reporting_period",
        "202013",
    )


# -- Freddie Mac: every bad-input path of the servicing reader --------------------------

POOL = Path(__file__).parent / "data"


def _freddie_lines() -> list[str]:
    """The first loan's first eight months and a credit event's row, from the test pool."""
    lines = (POOL / "freddie_pool_svc.txt").read_text().splitlines()
    event = next(x for x in lines if x.split("|")[8] == "09")
    return [*lines[:8], event]


def _freddie(tmp_path: Path, lines: list[str]) -> Path:
    p = tmp_path / "svc.txt"
    p.write_text("\n".join(lines) + "\n")
    return p


def _field(name: str) -> int:
    return FREDDIE_SERVICING_FIELDS.index(name)


@pytest.mark.parametrize(
    ("row", "field", "value", "reason"),
    [
        (3, "loan_sequence_number", "", "required value is blank"),
        (3, "monthly_reporting_period", "2019-05", "not a month in the form YYYYMM"),
        (3, "monthly_reporting_period", "201913", "not a month in the form YYYYMM"),
        (3, "monthly_reporting_period", "", "required value is blank"),
        (7, "current_actual_upb", "12x.50", "not a number"),
        (7, "current_actual_upb", "-5.00", "out of range"),
        (3, "loan_age", "721", "out of range"),
        (3, "remaining_months_to_legal_maturity", "-2", "out of range"),
        (3, "current_interest_rate", "26", "out of range"),
        (3, "current_interest_rate", "4.2.5", "not a number"),
        (3, "current_loan_delinquency_status", "R", "not a delinquency status"),
        (3, "current_loan_delinquency_status", "-1", "not a delinquency status"),
        (3, "modification_flag", "X", "modification flag must be Y, P or blank"),
        (3, "borrower_assistance_status_code", "Q", "borrower assistance status must be F, R, T or blank"),
        (9, "zero_balance_code", "77", "unknown zero-balance code"),
        (9, "zero_balance_effective_date", "02/2021", "not a month in the form YYYYMM"),
        (9, "due_date_of_last_paid_installment", "2019", "not a month in the form YYYYMM"),
        (9, "zero_balance_removal_upb", "-1.00", "out of range"),
        (9, "net_sale_proceeds", "X", "not a number"),
        (9, "mi_recoveries", "forty", "not a number"),
        (9, "non_mi_recoveries", "1,500.00", "not a number"),
        (9, "expenses", "abc", "not a number"),
        (9, "legal_costs", "n/a", "not a number"),
        (9, "maintenance_and_preservation_costs", "?", "not a number"),
        (9, "taxes_and_insurance", "1O0", "not a number"),
        (9, "miscellaneous_expenses", "--1", "not a number"),
        (9, "delinquent_accrued_interest", "1.2.3", "not a number"),
        (9, "actual_loss_calculation", "loss", "not a number"),
        (3, "current_deferred_upb", "-10.00", "out of range"),
    ],
)
def test_freddie_bad_value(tmp_path: Path, row: int, field: str, value: str, reason: str) -> None:
    lines = _freddie_lines()
    lines[row - 1] = _swap(lines[row - 1], _field(field), value)
    path = _freddie(tmp_path, lines)
    with pytest.raises(TapeError) as info:
        read_freddie_servicing(None, path)
    err = info.value
    assert (err.file, err.row, err.field, err.value) == (str(path), row, field, value)
    text = str(err)
    assert reason in text and f"row {row}" in text and str(path) in text and field in text


def test_freddie_wrong_field_count(tmp_path: Path) -> None:
    lines = _freddie_lines()
    lines[4] = lines[4] + "|extra"
    path = _freddie(tmp_path, lines)
    with pytest.raises(TapeError) as info:
        read_freddie_servicing(None, path)
    err = info.value
    assert (err.file, err.row, err.value) == (str(path), 5, lines[4])
    assert "expected 32 fields" in str(err) and "found 33" in str(err)


def test_freddie_duplicate_month(tmp_path: Path) -> None:
    lines = _freddie_lines()
    lines[3] = _swap(lines[3], 1, lines[2].split("|")[1])  # row 4 repeats row 3's month
    path = _freddie(tmp_path, lines)
    with pytest.raises(TapeError, match="two rows for the same month") as info:
        read_freddie_servicing(None, path)
    err = info.value
    assert (err.file, err.row, err.field, err.value) == (str(path), 4, "monthly reporting period", "05/2019")
    assert "the other is row 3" in str(err)


def test_freddie_loan_not_in_origination(tmp_path: Path) -> None:
    lines = _freddie_lines()
    lines[5] = _swap(lines[5], 0, "F19Q19999999")
    path = _freddie(tmp_path, lines)
    with pytest.raises(TapeError, match="not in the acquisition") as info:
        read_freddie_servicing(POOL / "freddie_pool_orig.txt", path)
    err = info.value
    assert (err.file, err.row, err.field, err.value) == (str(path), 6, "loan_id", "F19Q19999999")


def test_freddie_bad_origination_file(tmp_path: Path) -> None:
    lines = (POOL / "freddie_pool_orig.txt").read_text().splitlines()
    lines[1] = _swap(lines[1], 12, "four")  # orig_int_rt
    orig = tmp_path / "orig.txt"
    orig.write_text("\n".join(lines) + "\n")
    with pytest.raises(TapeError) as info:
        read_freddie_servicing(orig, POOL / "freddie_pool_svc.txt")
    err = info.value
    assert (err.file, err.row, err.field, err.value) == (str(orig), 2, "orig_int_rt", "four")


def test_freddie_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(TapeError, match="no such file") as info:
        read_freddie_servicing(None, tmp_path / "nope.txt")
    assert info.value.file == str(tmp_path / "nope.txt")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(TapeError, match="no data rows") as info:
        read_freddie_servicing(None, empty)
    assert info.value.file == str(empty)
