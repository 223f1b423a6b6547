"""The vectorised read path: whole-batch checks, hashed duplicate ids, the Parquet
reader's prefetch thread and its memory pool. Expected rows and values come from where
each test plants its bad cells, and the rule checks are compared with a plain per-row
Python reading of the rules in docs/collateral.md."""

from __future__ import annotations

import math
import threading
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from openmbs.collateral import (
    CANONICAL_SCHEMA,
    _read,
    generate_tape,
    iter_tape_batches,
    read_tape,
    write_tape,
)
from openmbs.collateral._schema import CATEGORY_VALUES, REQUIRED_FIELDS, US_STATE_CODES
from openmbs.collateral._validate import (
    MAX_LISTED_DUPLICATES,
    RANGES,
    duplicate_problems,
    row_problems,
)
from openmbs.errors import TapeError, TapeValidationError

BATCH = 1000


def _set(table: pa.Table, name: str, index: int, value: Any) -> pa.Table:
    values = table.column(name).to_pylist()
    values[index] = value
    i = table.schema.get_field_index(name)
    typ = table.schema.field(i).type
    return table.set_column(i, pa.field(name, typ), pa.array(values, typ))  # nullable


# ---------------------------------------------------------------------------------------
# bad rows deep inside a file bigger than one batch


@pytest.fixture()
def big_table(monkeypatch: pytest.MonkeyPatch) -> pa.Table:
    # read_tape's batches are PARQUET_BATCH_ROWS (131,072) rows; made small here so a
    # file of a few thousand rows spans many batches and row groups, as a big one does
    monkeypatch.setattr(_read, "PARQUET_BATCH_ROWS", BATCH)
    return generate_tape(6 * BATCH + 321, seed=21).table


def test_bad_rows_deep_in_a_big_parquet_file_are_located(
    tmp_path: Path, big_table: pa.Table
) -> None:
    n = big_table.num_rows
    far = n - 3  # 0-based index of a row in the last batch
    mid = BATCH + 5  # first rows of the second batch
    t = big_table
    t = _set(t, "note_rate", mid, 4.5)  # percent instead of decimal
    t = _set(t, "current_balance", far, float("nan"))
    t = _set(t, "loan_age", 2 * BATCH, None)  # required, missing
    t = _set(t, "occupancy", 3 * BATCH - 1, "owner")
    t = _set(t, "zip3", 4 * BATCH, "1A2")
    t = _set(t, "zip3", 4 * BATCH + 1, "\u0661\u0662\u0663")  # Arabic-Indic digits: not ASCII
    t = _set(t, "amortization_type", 4 * BATCH + 2, "   ")  # blank required text
    t = _set(t, "loan_id", n - 1, t.column("loan_id")[6].as_py())  # duplicate of row 7
    path = tmp_path / "big.parquet"
    pq.write_table(t, path, row_group_size=1700)
    with pytest.raises(TapeValidationError) as info:
        read_tape(path)
    got = [(p.row, p.field, p.value) for p in info.value.problems]
    dup = t.column("loan_id")[6].as_py()
    assert got == [
        (7, "loan_id", dup),
        (mid + 1, "note_rate", 4.5),
        (2 * BATCH + 1, "loan_age", None),
        (3 * BATCH, "occupancy", "owner"),
        (4 * BATCH + 1, "zip3", "1A2"),
        (4 * BATCH + 2, "zip3", "\u0661\u0662\u0663"),
        (4 * BATCH + 3, "amortization_type", "   "),  # blank: missing ...
        (4 * BATCH + 3, "amortization_type", "   "),  # ... and not a known code
        (far + 1, "current_balance", got[8][2]),
        (n, "loan_id", dup),
    ]
    assert math.isnan(got[8][2])
    reasons = [p.reason for p in info.value.problems]
    assert reasons[0] == f"duplicate loan id (also in row {n})"
    assert reasons[-1] == "duplicate loan id (also in row 7)"
    assert "note rate out of range" in reasons[1]
    assert reasons[2] == "missing required field"
    assert "unknown code" in reasons[7]
    assert "negative balance" in reasons[8]  # NaN fails the balance range rule
    assert all(p.file == str(path) for p in info.value.problems)
    # keep_good drops exactly those rows and keeps the others, in order
    kept = read_tape(path, keep_good=True, rejects=tmp_path / "rej.parquet")
    bad = {r for r, _, _ in got}
    keep = np.array([i + 1 not in bad for i in range(n)])
    assert kept.table.equals(t.filter(pa.array(keep)).cast(CANONICAL_SCHEMA))
    assert pq.read_table(tmp_path / "rej.parquet").num_rows == len(bad)


def test_big_clean_parquet_reads_back_identically(tmp_path: Path, big_table: pa.Table) -> None:
    path = tmp_path / "clean.parquet"
    pq.write_table(big_table, path, row_group_size=1700)
    back = read_tape(path)
    assert back.table.equals(big_table)
    assert back.table.column("loan_id").num_chunks >= 6  # streamed, not one big copy


# ---------------------------------------------------------------------------------------
# whole-column rules == the rules read row by row


def _reference_problems(rows: list[dict[str, Any]]) -> Counter[tuple[int, str]]:
    """The rules of docs/collateral.md applied to one row at a time in plain Python."""
    out: Counter[tuple[int, str]] = Counter()
    for i, r in enumerate(rows):
        for name in REQUIRED_FIELDS:
            v = r.get(name)
            if v is None or (isinstance(v, str) and v.strip() == ""):
                out.update([(i, name)])
        for name, rng in RANGES.items():
            v = r.get(name)
            if v is None:
                continue
            if isinstance(v, float) and math.isnan(v):
                out.update([(i, name)])
                continue
            low = rng.lo is not None and (v <= rng.lo if rng.lo_open else v < rng.lo)
            if low or (rng.hi is not None and v > rng.hi):
                out.update([(i, name)])
        for name, allowed in CATEGORY_VALUES.items():
            if r.get(name) is not None and r[name] not in allowed:
                out.update([(i, name)])
        if r.get("state") is not None and r["state"] not in US_STATE_CODES:
            out.update([(i, "state")])
        for name, width in (("zip3", 3), ("msa", 5)):
            v = r.get(name)
            if v is not None and not (len(v) == width and all(c in "0123456789" for c in v)):
                out.update([(i, name)])
        rem, orig, age = r["remaining_term"], r["original_term"], r["loan_age"]
        if rem is not None and orig is not None:
            if rem > orig:
                out.update([(i, "remaining_term")])
            elif age is not None and age + rem > orig + 3:
                out.update([(i, "loan_age")])
        cur, ob, am = r["current_balance"], r["original_balance"], r["amortization_type"]
        if None not in (cur, ob, am) and am != "arm" and cur - ob > 0.005:
            out.update([(i, "current_balance")])
        net, note = r["net_rate"], r["note_rate"]
        if net is not None and note is not None and net > note:
            out.update([(i, "net_rate")])
        mat, first, od = r["maturity_date"], r["first_payment_date"], r["origination_date"]
        if mat is not None and first is not None and mat < first:
            out.update([(i, "maturity_date")])
        if od is not None and first is not None and od > first:
            out.update([(i, "origination_date")])
    return out


_MUTATIONS: dict[str, list[Any]] = {
    "note_rate": [-0.01, 0.25, float("nan"), None, 0.2, 0.0],
    "net_rate": [0.5, None, 0.19],
    "current_balance": [-1.0, 1e12, None, float("nan"), 0.0],
    "original_term": [0, 601, None, 1],
    "remaining_term": [700, 0, None],
    "loan_age": [-1, 599, None],
    "amortization_type": ["", " ", "arm", "balloon", None],
    "occupancy": ["owner", "primary", None, ""],
    "state": ["XX", "ca", "PR", None],
    "zip3": ["12", "1234", "12a", "007", None, ""],
    "msa": ["1234", "12345", None],
    "credit_score": [299, 851, 300, None],
    "ltv": [0.0, 5.01, 5.0, None],
    "units": [0, 5, 4],
    "loan_id": ["", "  ", None],
}


def test_vectorised_rules_agree_with_a_row_by_row_reading() -> None:
    rng = np.random.default_rng(5)
    table = generate_tape(400, seed=13).table
    cols = {name: table.column(name).to_pylist() for name in table.column_names}
    for name, values in _MUTATIONS.items():
        for i in rng.choice(400, size=25, replace=False):
            cols[name][int(i)] = values[int(rng.integers(len(values)))]
    bad = pa.table({n: pa.array(v, table.schema.field(n).type) for n, v in cols.items()})
    rows = bad.to_pylist()
    # in several chunks, as read_tape builds them
    chunked = pa.Table.from_batches(bad.to_batches(max_chunksize=97))
    got = Counter((p.index, str(p.field)) for p in row_problems(chunked))
    assert got == _reference_problems(rows)
    assert len(got) > 100


def test_parquet_reading_agrees_with_a_row_by_row_reading(tmp_path: Path) -> None:
    # the same rules through read_tape: text columns are read as dictionaries there
    rng = np.random.default_rng(8)
    table = generate_tape(3000, seed=17).table
    cols = {name: table.column(name).to_pylist() for name in table.column_names}
    for name, values in _MUTATIONS.items():
        for i in rng.choice(3000, size=40, replace=False):
            cols[name][int(i)] = values[int(rng.integers(len(values)))]
    bad = pa.table({n: pa.array(v, table.schema.field(n).type) for n, v in cols.items()})
    path = tmp_path / "bad.parquet"
    pq.write_table(bad, path, row_group_size=700)
    read_as = _read._open_parquet(path).schema_arrow
    assert pa.types.is_dictionary(read_as.field("occupancy").type)
    assert read_as.field("loan_id").type == pa.string()
    with pytest.raises(TapeValidationError) as info:
        read_tape(path)
    got = Counter(
        (int(p.row or 0) - 1, str(p.field))
        for p in info.value.problems
        if not p.reason.startswith("duplicate loan id")
    )
    assert got == _reference_problems(bad.to_pylist())


def test_dictionary_form_gives_the_same_problems() -> None:
    # unused bad dictionary values must not be reported; null indices are null rows
    values = pa.array(["primary", "owner", "investor", "", "  "])
    idx = pa.array([0, 2, None, 0, 3, 2, 4, None, 2], pa.int32())
    occ = pa.DictionaryArray.from_arrays(idx, values)
    amort_values = pa.array(["fixed", "arm", "balloon", " "])
    amort_idx = pa.array([0, 1, 0, 3, 0, 0, 1, 0, 0], pa.int32())
    amort = pa.DictionaryArray.from_arrays(amort_idx, amort_values)
    base = generate_tape(9, seed=1).table
    plain = base.set_column(
        base.schema.get_field_index("occupancy"), "occupancy", occ.dictionary_decode()
    ).set_column(
        base.schema.get_field_index("amortization_type"),
        pa.field("amortization_type", pa.string()),
        amort.dictionary_decode(),
    )
    want = row_problems(plain)
    got = row_problems(plain, encoded={"occupancy": occ, "amortization_type": amort})
    assert got == want
    assert [(p.index, p.field) for p in got] == [
        (3, "amortization_type"),  # " ": blank ...
        (3, "amortization_type"),  # ... and not a known code
        (4, "occupancy"),  # ""
        (6, "occupancy"),  # "  "
    ]


# ---------------------------------------------------------------------------------------
# duplicate ids by hashing


def _reference_duplicates(ids: list[str | None]) -> dict[int, list[int]]:
    where: dict[str, list[int]] = defaultdict(list)
    for i, v in enumerate(ids):
        if v is not None:
            where[v].append(i)
    return {i: [j for j in g if j != i] for g in where.values() if len(g) > 1 for i in g}


@pytest.mark.parametrize(
    "ids",
    [
        ["L000000001", "L000000002", "L000000001"],  # one length, read in place
        ["a", "bb", "a", "", "", None, None, "bb", "ccc"],  # mixed lengths, blanks, nulls
        ["\u00e9t\u00e9", "ete", "\u00e9t\u00e9", "\u00e9t\u00e9x"],  # multi-byte UTF-8
        ["x" * 300, "x" * 300, "y"],  # too long to hash: exact fallback
        [f"{'k' * n}" for n in range(1, 80)] + ["k" * 5],  # many lengths: fallback
        ["abcdefghijklmnop", "abcdefghijklmnoq", "abcdefghijklmnop"],  # 16 bytes: 2 words
        ["abcdefghijklmnopq", "abcdefghijklmnopr", "Abcdefghijklmnopq"],  # overlapping word
    ],
)
def test_duplicate_ids_match_a_dictionary_count(ids: list[str | None]) -> None:
    for arr in (
        pa.array(ids),
        pa.array(ids, pa.large_string()),
        pa.chunked_array([pa.array(ids[:2]), pa.array(ids[2:])]),
        pa.array(["pad", *ids]).slice(1),  # a slice: offsets do not start at 0
    ):
        got = {i: others for i, others, _ in duplicate_problems(arr)}
        assert got == _reference_duplicates(ids)


def test_same_id_in_a_one_length_chunk_and_a_mixed_chunk_is_found() -> None:
    # the in-place path (first chunk) and the gather path (second) hash alike
    arr = pa.chunked_array([pa.array(["ID00000001", "ID00000002"]), pa.array(["x", "ID00000001"])])
    assert [(i, o) for i, o, _ in duplicate_problems(arr)] == [(0, [3]), (3, [0])]


def test_many_copies_of_one_id_list_a_few_rows_and_count_the_rest(tmp_path: Path) -> None:
    table = generate_tape(40, seed=2).table
    table = table.set_column(0, "loan_id", pa.array(["SAME"] * 40))
    path = tmp_path / "same.parquet"
    pq.write_table(table, path)
    with pytest.raises(TapeValidationError) as info:
        read_tape(path)
    problems = info.value.problems
    assert len(problems) == 40
    listed = ", ".join(str(r) for r in range(2, 2 + MAX_LISTED_DUPLICATES))
    assert problems[0].reason == (
        f"duplicate loan id (also in row {listed} and {39 - MAX_LISTED_DUPLICATES} more)"
    )


# ---------------------------------------------------------------------------------------
# Parquet reader: dictionary columns, prefetch thread, memory pool


def test_dictionary_encoded_text_columns_are_read_and_checked(tmp_path: Path) -> None:
    tape = generate_tape(300, seed=4)
    t = tape.table
    i = t.schema.get_field_index("state")
    enc = t.set_column(i, "state", t.column("state").dictionary_encode())
    path = tmp_path / "dict.parquet"
    pq.write_table(enc, path)  # the Arrow schema in the file restores the dictionary
    assert pa.types.is_dictionary(pq.read_schema(path).field("state").type)
    assert read_tape(path).table.equals(t)
    bad = _set(t, "state", 123, "ZZ")
    bad = bad.set_column(i, "state", bad.column("state").dictionary_encode())
    pq.write_table(bad, path)
    with pytest.raises(TapeValidationError) as info:
        read_tape(path)
    assert [(p.row, p.field, p.value) for p in info.value.problems] == [(124, "state", "ZZ")]


def _prefetch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "openmbs-parquet-prefetch"]


def test_stopping_early_ends_the_prefetch_thread(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    write_tape(generate_tape(5000, seed=3), path)
    batches = iter_tape_batches(path, batch_rows=500)
    first = next(batches)
    assert first.rows.tolist() == list(range(1, 501))
    batches.close()  # type: ignore[attr-defined]
    assert _prefetch_threads() == []
    rows = [int(r) for b in iter_tape_batches(path, batch_rows=700) for r in b.rows]
    assert rows == list(range(1, 5001))
    assert _prefetch_threads() == []


def test_a_corrupt_page_is_a_tape_error(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pq.write_table(generate_tape(3000, seed=3).table, path, compression="snappy")
    raw = bytearray(path.read_bytes())
    meta = pq.ParquetFile(path).metadata.row_group(0).column(1)  # current_balance
    start = meta.data_page_offset
    raw[start + 20 : start + 400] = b"\xff" * 380  # inside the page: header and data
    path.write_bytes(bytes(raw))
    with pytest.raises(TapeError, match="not a readable Parquet file"):
        read_tape(path)
    assert _prefetch_threads() == []


def test_read_tape_restores_the_memory_pool(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    write_tape(generate_tape(200, seed=3), path)
    before = pa.default_memory_pool().backend_name
    tape = read_tape(path)
    assert pa.default_memory_pool().backend_name == before
    # the tape's buffers outlive the switch and are still readable
    total = sum(tape.table.column("current_balance").to_pylist())
    assert total == pytest.approx(float(np.sum(tape.table.column("current_balance"))))


def test_an_error_in_a_batch_releases_the_reader_thread(tmp_path: Path) -> None:
    t = generate_tape(3000, seed=3).table
    i = t.schema.get_field_index("note_rate")
    bad_type = t.set_column(i, "note_rate", pa.array([True] * 3000))
    path = tmp_path / "b.parquet"
    pq.write_table(bad_type, path, row_group_size=500)
    with pytest.raises(TapeError, match="Arrow type bool") as info:
        read_tape(path)
    assert _prefetch_threads() == []  # not left waiting for the traceback to go
    del info
