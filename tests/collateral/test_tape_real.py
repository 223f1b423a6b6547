"""The real Freddie Mac files load, validate and give statistics."""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow.compute as pc
import pytest

from openmbs.collateral import pool_stats, read_tape, validate_table


def test_umbs_pool_count_and_balance(shared_data: Path) -> None:
    tape = read_tape(shared_data / "freddie_umbs_U90133_loans.txt")
    assert tape.format == "umbs-disclosure"
    assert len(tape) == 268
    stats = pool_stats(tape)
    assert stats.loan_count == 268
    # Published pool balance (README of the data folder).
    assert stats.current_balance == pytest.approx(37_849_356.11, abs=0.005)
    assert validate_table(tape.table) == []
    # Every loan in the pool has a 4.000% pass-through rate (pool coupon).
    assert stats.net_wac == pytest.approx(0.04, abs=1e-12)
    # Note rates in the file are 4.250, 4.375 and 4.500 only.
    assert 0.0425 <= stats.wac <= 0.045


def test_umbs_fields_of_first_record(shared_data: Path) -> None:
    # First data line: U90133000006|No|U9|U90133|3132H3EE9|127000.00|126000.00|98530.54|Fixed|4.500
    # |...|4.000|4.000|082012|072042|360|229|128|144|144|26|800|...
    row = read_tape(shared_data / "freddie_umbs_U90133_loans.txt").table.slice(0, 1).to_pylist()[0]
    assert row["loan_id"] == "U90133000006"
    assert row["current_balance"] == 98530.54
    assert row["original_balance"] == 127000.0
    assert row["note_rate"] == 0.045
    assert row["net_rate"] == 0.04
    assert row["servicing_fee"] == 0.005
    assert (row["original_term"], row["remaining_term"], row["loan_age"]) == (360, 229, 128)
    assert str(row["first_payment_date"]) == "2012-08-01"
    assert str(row["maturity_date"]) == "2042-07-01"
    assert row["ltv"] == 1.44 and row["dti"] == 0.26 and row["credit_score"] == 800
    assert row["purpose"] == "no_cash_out_refi" and row["occupancy"] == "primary"
    assert row["mi_pct"] == 0.0 and row["delinquency_status"] == 0


def test_umbs_dti_sentinel_becomes_null(shared_data: Path) -> None:
    path = shared_data / "freddie_umbs_U90133_loans.txt"
    lines = path.read_text().splitlines()
    col = lines[0].split("|").index("Debt-To-Income (DTI)")
    n999 = sum(1 for ln in lines[1:] if ln.split("|")[col] == "999")
    assert n999 > 0
    tape = read_tape(path)
    assert tape.table.column("dti").null_count == n999
    assert pool_stats(tape).excluded["wa_dti"] == n999


def test_sflld_csv_sample(shared_data: Path) -> None:
    tape = read_tape(shared_data / "freddie_sflld_2020q1_orig_sample.csv")
    assert tape.format == "freddie-sflld-csv"
    assert len(tape) == 9572
    t = tape.table
    # Origination records: current balance = original, age 0, remaining = original term.
    assert pc.all(pc.equal(t["current_balance"], t["original_balance"])).as_py()
    assert pc.all(pc.equal(t["remaining_term"], t["original_term"])).as_py()
    assert pc.max(t["loan_age"]).as_py() == 0
    stats = pool_stats(tape)
    assert stats.loan_count == 9572 and stats.wala == 0.0
    # Independent sum of orig_upb with the csv module.
    with open(shared_data / "freddie_sflld_2020q1_orig_sample.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert stats.current_balance == pytest.approx(sum(float(r["orig_upb"]) for r in rows))
    n_fico_na = sum(1 for r in rows if r["fico"] == "9999")
    assert t["credit_score"].null_count == n_fico_na
    first = t.slice(0, 1).to_pylist()[0]
    # 661,202006,N,203505,41540,000,1,P,36,19,66000,36,2.875,R,N,FRM,MD,SF,21800,F20Q10000001,N,180,02,...
    assert first["loan_id"] == "F20Q10000001" and first["credit_score"] == 661
    assert first["note_rate"] == 0.02875 and first["ltv"] == 0.36 and first["zip3"] == "218"
    assert first["purpose"] == "no_cash_out_refi" and first["num_borrowers"] == 2
    assert str(first["first_payment_date"]) == "2020-06-01"


def test_sflld_pipe_file_reads_like_the_csv_extract(shared_data: Path, tmp_path: Path) -> None:
    src = shared_data / "freddie_sflld_2020q1_orig_sample.csv"
    with open(src, newline="") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:41]
    # The published origination layout: no header, pipe-delimited, same field order.
    pipe = tmp_path / "historical_data_2020Q1.txt"
    pipe.write_text("".join("|".join(r) + "\n" for r in body))
    extract = tmp_path / "extract.csv"
    with open(extract, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(body)
    a = read_tape(pipe)
    b = read_tape(extract)
    assert a.format == "freddie-sflld" and b.format == "freddie-sflld-csv"
    assert len(a) == 40
    assert a.table.equals(b.table)


def test_sflld_pipe_with_mi_cancellation_field(shared_data: Path, tmp_path: Path) -> None:
    with open(shared_data / "freddie_sflld_2020q1_orig_sample.csv", newline="") as fh:
        body = list(csv.reader(fh))[1:6]
    p31 = tmp_path / "a.txt"
    p32 = tmp_path / "b.txt"
    p31.write_text("".join("|".join(r) + "\n" for r in body))
    p32.write_text("".join("|".join([*r, "7"]) + "\n" for r in body))
    assert read_tape(p31).table.equals(read_tape(p32).table)


def test_umbs_weighted_averages_match_a_plain_python_computation(shared_data: Path) -> None:
    path = shared_data / "freddie_umbs_U90133_loans.txt"
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh, delimiter="|"))
    head, body = rows[0], rows[1:]

    def colf(name: str) -> list[float]:
        return [float(r[head.index(name)]) for r in body]

    bal = colf("Current Investor Loan UPB")
    total = sum(bal)

    def wavg(values: list[float]) -> float:
        return sum(b * v for b, v in zip(bal, values, strict=True)) / total

    stats = pool_stats(read_tape(path))
    assert stats.wac == pytest.approx(wavg(colf("Current Interest Rate")) / 100, rel=1e-12)
    assert stats.wam == pytest.approx(wavg(colf("Remaining Months to Maturity")), rel=1e-12)
    assert stats.wala == pytest.approx(wavg(colf("Loan Age")), rel=1e-12)
    assert stats.wa_credit_score == pytest.approx(wavg(colf("Borrower Credit Score")), rel=1e-12)
    by_state: dict[str, float] = {}
    for b, r in zip(bal, body, strict=True):
        by_state[r[head.index("Property State")]] = (
            by_state.get(r[head.index("Property State")], 0.0) + b
        )
    top = max(by_state, key=lambda s: by_state[s])
    assert stats.top_states[0].label == top
    assert stats.top_states[0].balance == pytest.approx(by_state[top])
