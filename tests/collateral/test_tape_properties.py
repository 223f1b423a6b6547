"""Property tests: converters agree with Python's own parsing; round trips hold."""

from __future__ import annotations

import datetime as dt
import doctest
import importlib
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openmbs.collateral import generate_tape, read_tape, write_tape
from openmbs.collateral._parse import parse_date, parse_float, parse_int

NUMBER = r"\A[+-]?(?:[0-9]{1,12}\.?[0-9]{0,8}|\.[0-9]{1,8})(?:[eE][+-]?[0-9]{1,2})?\Z"


@settings(max_examples=10)
@given(st.lists(st.from_regex(NUMBER), min_size=1, max_size=20))
def test_parse_float_matches_python_on_numbers(texts: list[str]) -> None:
    got = parse_float(pa.array(texts))
    assert not got.bad.any()
    assert got.values.to_pylist() == [float(t) for t in texts]


@settings(max_examples=25)
@given(st.lists(st.text(max_size=8), min_size=1, max_size=20))
def test_parse_float_never_coerces(texts: list[str]) -> None:
    got = parse_float(pa.array(texts))
    for text, bad, value in zip(texts, got.bad, got.values.to_pylist(), strict=True):
        if text.strip() == "":
            assert value is None and not bad
        elif bad:
            assert value is None
        else:  # accepted: must be what Python reads, and a plain decimal (no inf/nan/_)
            assert value == float(text.strip())
            assert not any(c in text.lower() for c in "infa_")


@settings(max_examples=25)
@given(st.lists(st.integers(-(10**9) + 1, 10**9 - 1), min_size=1, max_size=20))
def test_parse_int_round_trip(values: list[int]) -> None:
    got = parse_int(pa.array([str(v) for v in values]))
    assert not got.bad.any() and got.values.to_pylist() == values


@settings(max_examples=25)
@given(st.lists(st.dates(dt.date(1900, 1, 1), dt.date(2199, 12, 31)), min_size=1, max_size=20))
def test_parse_date_layouts(dates: list[dt.date]) -> None:
    iso = parse_date(pa.array([d.isoformat() for d in dates]), layout="iso")
    assert not iso.bad.any() and iso.values.to_pylist() == dates
    firsts = [d.replace(day=1) for d in dates]
    ym = parse_date(pa.array([d.strftime("%Y%m") for d in dates]), layout="yyyymm")
    assert ym.values.to_pylist() == firsts
    my = parse_date(pa.array([d.strftime("%m%Y") for d in dates]), layout="mmyyyy")
    assert my.values.to_pylist() == firsts


@settings(max_examples=8)
@given(n=st.integers(1, 200), seed=st.integers(0, 2**32 - 1))
def test_round_trip_any_generated_tape(
    tmp_path_factory: pytest.TempPathFactory, n: int, seed: int
) -> None:
    d: Path = tmp_path_factory.mktemp("rt")
    tape = generate_tape(n, seed=seed)
    write_tape(tape, d / "t.csv")
    assert read_tape(d / "t.csv").table.equals(tape.table)


@pytest.mark.parametrize(
    "module",
    [
        "openmbs.collateral._generate",
        "openmbs.collateral._read",
        "openmbs.collateral._stats",
        "openmbs.collateral._tape",
        "openmbs.collateral._validate",
    ],
)
def test_docstring_examples_run(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module))
    assert result.failed == 0 and result.attempted > 0
