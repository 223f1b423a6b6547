"""Round trips, streaming in blocks, keep-good rejects, Parquet input checks."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from openmbs.collateral import (
    CANONICAL_SCHEMA,
    LoanTape,
    generate_tape,
    iter_tape_batches,
    read_tape,
    validate_table,
    write_tape,
)
from openmbs.errors import TapeError, TapeValidationError

HEADER = "loan_id,current_balance,original_balance,note_rate,original_term,remaining_term,loan_age,amortization_type,delinquency_status,seller"


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_round_trip_preserves_table(tmp_path: Path, suffix: str) -> None:
    tape = generate_tape(700, seed=11)
    path = tmp_path / f"t{suffix}"
    write_tape(tape, path)
    back = read_tape(path)
    assert back.table.equals(tape.table)
    assert back.format == ("parquet" if suffix == ".parquet" else "canonical-csv")


def test_csv_to_parquet_to_csv_is_identical(tmp_path: Path) -> None:
    tape = generate_tape(200, seed=5)
    write_tape(tape, tmp_path / "a.csv")
    write_tape(read_tape(tmp_path / "a.csv"), tmp_path / "b.parquet")
    write_tape(read_tape(tmp_path / "b.parquet"), tmp_path / "c.csv")
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "c.csv").read_bytes()


def test_streaming_in_small_blocks_matches_one_block(tmp_path: Path) -> None:
    tape = generate_tape(300, seed=2)
    # Sellers with quotes, commas and newlines: records span lines inside quotes.
    sellers = pa.array([f'Bank "{i % 7}",\nNA' for i in range(len(tape))])
    table = tape.table.set_column(tape.table.schema.get_field_index("seller"), "seller", sellers)
    path = tmp_path / "q.csv"
    write_tape(LoanTape(table), path)
    small = read_tape(path, block_bytes=16384)
    assert small.table.equals(table)
    batches = list(iter_tape_batches(path, block_bytes=16384))
    assert len(batches) >= 5
    rows = [int(r) for b in batches for r in b.rows]
    assert rows == list(range(1, 301))


def test_row_numbers_are_right_across_blocks(tmp_path: Path) -> None:
    good = "L{i},100000,120000,0.045,360,300,60,fixed,0,Bank"
    lines = [HEADER] + [good.format(i=i) for i in range(1, 3001)]
    lines[2345] = "L2345,100000,120000,0.045,360,300,60,fixed,0,Bank,extra"  # data row 2345
    lines[2900] = "L2900,1e5x,120000,0.045,360,300,60,fixed,0,Bank"  # data row 2900
    path = tmp_path / "rows.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(TapeValidationError) as info:
        read_tape(path, block_bytes=20000)
    got = [(p.row, p.field, p.value) for p in info.value.problems]
    assert got == [(2345, None, lines[2345]), (2900, "current_balance", "1e5x")]


def test_keep_good_writes_rejects_unchanged(tmp_path: Path) -> None:
    body = [
        "A1,100000,120000,0.045,360,300,60,fixed,0,Bank",
        'A2,100000,120000,4.5,360,300,60,fixed,0,"Bank, ""the"" one"',  # rate in percent
        "A3,90000,120000,0.045,360,300,60,fixed,0,Bank",
        "A3,90000,120000,0.045,360,300,60,fixed,0,Other",  # duplicate id
        "A5,100000,120000,0.045,360,300,60,fixed,0,Bank,extra",  # field count
        "A6,100000,120000,0.045,360,300,60,fixed,0,Bank",
    ]
    path = tmp_path / "tape.csv"
    path.write_text(HEADER + "\r\n" + "\r\n".join(body) + "\r\n")
    rejects = tmp_path / "out" / "rej.csv"
    tape = read_tape(path, keep_good=True, rejects=rejects)
    assert tape.table.column("loan_id").to_pylist() == ["A1", "A6"]
    lines = rejects.read_bytes().split(b"\n")
    assert lines[0] == (HEADER + ',"reject_reason"').encode()
    rejected = [ln for ln in lines[1:] if ln]
    assert len(rejected) == 4
    for original, line in zip([body[1], body[2], body[3], body[4]], rejected, strict=True):
        assert line.startswith(original.encode() + b',"')
        assert line.endswith(b'"')
    assert b"note rate out of range" in rejected[0]
    assert b"duplicate loan id" in rejected[1]
    assert b"has 11 fields" in rejected[3]
    assert {p.row for p in tape.rejected} == {2, 3, 4, 5}


def test_keep_good_pipe_rejects_are_original_lines(tmp_path: Path) -> None:
    src = Path(__file__).parent / "malformed" / "sflld_unknown_occupancy.txt"
    rej = tmp_path / "r.txt"
    tape = read_tape(src, keep_good=True, rejects=rej)
    assert len(tape) == 1
    original = src.read_text().splitlines()[1]
    (line,) = rej.read_text().splitlines()
    assert line.startswith(original + "|")
    assert "|" not in line[len(original) + 1 :]


def test_keep_good_default_rejects_path(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(
        HEADER + "\nA1,1,2,0.3,360,300,60,fixed,0,x\nA2,1,2,0.03,360,300,60,fixed,0,x\n"
    )
    read_tape(path, keep_good=True)
    assert (tmp_path / "t.rejects.csv").read_text().splitlines()[1].startswith("A1,1,2,0.3,")


def test_parquet_input_errors(tmp_path: Path) -> None:
    tape = generate_tape(20, seed=1)
    t = tape.table
    bad_type = t.set_column(
        t.schema.get_field_index("note_rate"), "note_rate", pa.array([True] * 20)
    )
    pq.write_table(bad_type, tmp_path / "a.parquet")
    with pytest.raises(TapeError, match=r"field 'note_rate'.*Arrow type bool"):
        read_tape(tmp_path / "a.parquet")
    as_text = t.set_column(
        t.schema.get_field_index("note_rate"),
        "note_rate",
        pa.array(["0.1"] * 5 + ["five"] + ["0.1"] * 14),
    )
    pq.write_table(as_text, tmp_path / "b.parquet")
    with pytest.raises(TapeValidationError) as info:
        read_tape(tmp_path / "b.parquet")
    assert [(p.row, p.field, p.value) for p in info.value.problems] == [(6, "note_rate", "five")]
    big = t.set_column(
        t.schema.get_field_index("original_term"),
        "original_term",
        pa.array([360] * 19 + [2**40], pa.int64()),
    )
    pq.write_table(big, tmp_path / "c.parquet")
    with pytest.raises(
        TapeValidationError, match="row 20, field 'original_term', value 1099511627776"
    ):
        read_tape(tmp_path / "c.parquet")
    rej = tmp_path / "rej.parquet"
    kept = read_tape(tmp_path / "c.parquet", keep_good=True, rejects=rej)
    assert len(kept) == 19
    r = pq.read_table(rej)
    assert r.num_rows == 1 and r.column("original_term").to_pylist() == [2**40]
    assert r.schema.field("original_term").type == pa.int64()


def test_parquet_missing_column_and_garbage(tmp_path: Path) -> None:
    t = generate_tape(5, seed=1).table.drop_columns(["loan_age"])
    pq.write_table(t, tmp_path / "m.parquet")
    with pytest.raises(TapeError, match=r"field 'loan_age'.*required column missing"):
        read_tape(tmp_path / "m.parquet")
    (tmp_path / "g.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(TapeError, match="not a readable Parquet file"):
        read_tape(tmp_path / "g.parquet")


def test_write_tape_refuses_unknown_suffix_and_keeps_old_file(tmp_path: Path) -> None:
    with pytest.raises(TapeError, match="suffix"):
        write_tape(generate_tape(3, seed=1), tmp_path / "t.xlsx")
    assert not (tmp_path / "t.xlsx").exists()


def test_loantape_checks_schema() -> None:
    with pytest.raises(TapeError, match="canonical columns"):
        LoanTape(pa.table({"loan_id": ["a"]}))
    assert len(LoanTape(CANONICAL_SCHEMA.empty_table())) == 0


def test_named_format_and_unknown_format(tmp_path: Path) -> None:
    path = tmp_path / "tape.dat"
    write_tape(generate_tape(4, seed=1), path, format="canonical-csv")
    assert len(read_tape(path, format="canonical-csv")) == 4
    with pytest.raises(TapeError, match="value 'xml': unknown tape format"):
        read_tape(path, format="xml")
    with pytest.raises(TapeError, match="cannot open"):
        read_tape(tmp_path / "nope.csv")


def test_byte_order_mark_is_not_data(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + (HEADER + "\nA1,1,2,0.03,360,300,60,fixed,0,x\n").encode())
    assert read_tape(path).table.column("loan_id").to_pylist() == ["A1"]


def test_validate_table_reports_canonical_values() -> None:
    t = generate_tape(10, seed=1).table
    i = t.schema.get_field_index("credit_score")
    scores = t.column("credit_score").to_pylist()
    scores[3] = 200
    bad = t.set_column(i, "credit_score", pa.array(scores, pa.int32()))
    (p,) = validate_table(bad, file="mem", rows=range(101, 111))
    assert (p.file, p.row, p.field, p.value) == ("mem", 104, "credit_score", 200)
    assert "credit score out of range" in p.reason


def test_records_longer_than_a_block(tmp_path: Path) -> None:
    tape = generate_tape(4, seed=1)
    path = tmp_path / "t.csv"
    write_tape(tape, path)
    assert read_tape(path, block_bytes=7).table.equals(tape.table)
    path.write_text(path.read_text().rstrip("\n"))  # no newline after the last record
    assert read_tape(path, block_bytes=50).table.equals(tape.table)
