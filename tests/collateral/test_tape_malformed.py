"""A corpus of malformed tapes: each file gives its own error, naming file, row, field, value."""

from __future__ import annotations

from pathlib import Path

import pytest

from openmbs.collateral import read_tape
from openmbs.errors import TapeError, TapeValidationError

MALFORMED = Path(__file__).parent / "malformed"

VE, TE = TapeValidationError, TapeError

# fmt: off
# file -> (error class, row, field, value, words the reason must contain, problem count)
CASES: dict[str, tuple[type[TapeError], int | None, str | None, object, str, int]] = {
    "missing_required_value.csv": (VE, 2, "note_rate", "", "missing required", 1),
    "unparsable_number.csv": (VE, 2, "current_balance", "12o000", "not a number", 1),
    "unparsable_integer.csv": (VE, 2, "original_term", "360.5", "not a whole number", 1),
    "impossible_date.csv": (VE, 2, "first_payment_date", "2020-02-30", "not a date", 1),
    "date_wrong_layout.csv": (VE, 2, "first_payment_date", "03/01/2020", "not a date", 1),
    "note_rate_in_percent.csv": (VE, 2, "note_rate", "4.5", "note rate out of range", 1),
    "negative_note_rate.csv": (VE, 2, "note_rate", "-0.01", "note rate out of range", 1),
    "original_term_zero.csv": (VE, 2, "original_term", "0", "original term out of range", 1),
    "remaining_above_original.csv": (VE, 2, "remaining_term", "400", "above original term", 1),
    "duplicate_loan_id.csv": (VE, 2, "loan_id", "A1", "duplicate loan id (also in row 1)", 2),
    "balance_above_original_fixed.csv": (VE, 2, "current_balance", "130000", "above original balance", 1),
    "negative_balance.csv": (VE, 2, "current_balance", "-5", "negative balance", 1),
    "age_term_inconsistent.csv": (VE, 2, "loan_age", "100", "exceeds original term", 1),
    "unknown_amortization_type.csv": (VE, 2, "amortization_type", "balloon", "unknown code", 1),
    "negative_loan_age.csv": (VE, 2, "loan_age", "-1", "loan age out of range", 1),
    "negative_delinquency.csv": (VE, 2, "delinquency_status", "-1", "delinquency status out of range", 1),
    "unknown_occupancy.csv": (VE, 2, "occupancy", "owner", "unknown code", 1),
    "ltv_in_percent.csv": (VE, 2, "ltv", "80", "LTV out of range", 1),
    "dti_out_of_range.csv": (VE, 2, "dti", "1.2", "DTI out of range", 1),
    "credit_score_out_of_range.csv": (VE, 2, "credit_score", "900", "credit score out of range", 1),
    "bad_state.csv": (VE, 2, "state", "XX", "not a US state", 1),
    "bad_zip3.csv": (VE, 2, "zip3", "1A2", "three digits", 1),
    "units_out_of_range.csv": (VE, 2, "units", "7", "units out of range", 1),
    "bad_boolean.csv": (VE, 2, "first_time_buyer", "maybe", "unknown code", 1),
    "net_rate_above_note_rate.csv": (VE, 2, "net_rate", "0.05", "net rate above note rate", 1),
    "maturity_before_first_payment.csv": (VE, 2, "maturity_date", "2019-01-01", "before first payment", 1),
    "wrong_field_count.csv": (VE, 2, None, "A2,100000,120000,0.045,360,300,60,fixed,0,surplus", "has 10 fields, expected 9", 1),
    "unclosed_quote.csv": (VE, 2, None, '"A2,100000,120000,0.045,360,300,60,fixed,0', "cannot split the record", 1),
    "not_utf8.csv": (VE, 2, None, "A2,100000,120000,0.045,360,300,60,fixed,0,Caf\ufffd Bank", "not valid UTF-8", 1),
    "missing_required_column.csv": (TE, None, "note_rate", None, "required column missing", 0),
    "unknown_column.csv": (TE, None, "colour", "colour", "unknown column", 0),
    "duplicate_column.csv": (TE, None, "loan_id", "loan_id", "names this column twice", 0),
    "empty.csv": (TE, None, None, None, "the file is empty", 0),
    "header_only.csv": (TE, None, None, None, "no loan records", 0),
    "unknown_format.txt": (TE, None, None, "hello,world", "cannot tell the format", 0),
    "sflld_wrong_field_count.txt": (VE, 2, None, "681|202003|N|205002|45820|30|1|P|95|13|52000|95|5.75|R|N|FRM|KS|SF|66400|F20Q10000002", "has 20 fields, expected 31", 1),
    "sflld_unknown_occupancy.txt": (VE, 2, "occpy_sts", "X", "unknown code", 1),
    "sflld_bad_first_payment_date.txt": (VE, 2, "dt_first_pi", "202013", "not a date (YYYYMM)", 1),
    "sflld_credit_score_out_of_range.txt": (VE, 2, "fico", "200", "credit score out of range", 1),
    "sflld_bad_postal_code.txt": (VE, 2, "zipcode", "2180A", "postal code", 1),
    "sflld_unknown_channel.txt": (VE, 2, "channel", "Z", "unknown code", 1),
    "sflld_csv_missing_column.csv": (TE, None, "orig_int_rt", None, "required column missing", 0),
    "umbs_missing_column.txt": (TE, None, "Current Investor Loan UPB", None, "required column missing", 0),
    "umbs_unknown_purpose.txt": (VE, 2, "Loan Purpose", "Refinance - Maybe", "unknown code", 1),
    "umbs_bad_days_delinquent.txt": (VE, 2, "Days Delinquent", "Late", "delinquency bucket", 1),
    "umbs_unparsable_rate.txt": (VE, 2, "Current Interest Rate", "four", "not a number", 1),
    "umbs_remaining_above_original.txt": (VE, 2, "Remaining Months to Maturity", "361", "above original term", 1),
}
# fmt: on


def test_corpus_is_complete_and_tiny() -> None:
    files = {p.name for p in MALFORMED.iterdir() if p.is_file() and p.name != "README.md"}
    assert files == set(CASES), files ^ set(CASES)
    assert len(CASES) >= 30
    assert all((MALFORMED / f).stat().st_size < 2048 for f in files)


@pytest.mark.parametrize("name", sorted(CASES))
def test_malformed_tape_gives_its_own_error(name: str) -> None:
    cls, row, field, value, words, count = CASES[name]
    path = MALFORMED / name
    with pytest.raises(TapeError) as info:
        read_tape(path)
    exc = info.value
    assert type(exc) is cls
    message = str(exc)
    assert str(path) in message
    assert words in message
    if row is not None:
        assert f"row {row}" in message
    if field is not None:
        assert f"field {field!r}" in message
    if value is not None:
        assert repr(value) in message
    if isinstance(exc, TapeValidationError):
        assert len(exc.problems) == count
        match = [p for p in exc.problems if p.row == row and p.field == field]
        assert match, exc.problems
        assert match[0].value == value
        assert match[0].file == str(path)
    else:
        assert exc.field == field
        assert exc.row is None


@pytest.mark.parametrize("name", sorted(n for n, c in CASES.items() if c[0] is VE))
def test_keep_good_keeps_the_good_row_and_rejects_the_bad(name: str, tmp_path: Path) -> None:
    rejects = tmp_path / "rejects.txt"
    tape = read_tape(MALFORMED / name, keep_good=True, rejects=rejects)
    bad_rows = {p.row for p in tape.rejected}
    text = (MALFORMED / name).read_bytes()
    n_records = len([ln for ln in text.splitlines() if ln.strip()]) - (
        0 if "sflld_" in name and name.endswith(".txt") else 1
    )
    assert len(tape) == n_records - len(bad_rows)
    assert rejects.exists()
