"""Bad performance files: the error names the file, the row, the field and the value."""

from __future__ import annotations

from pathlib import Path

import pytest

from openmbs.errors import TapeError
from openmbs.servicing import read_fannie_performance, read_freddie_servicing

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
