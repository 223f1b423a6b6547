"""Source formats: how each layout's columns and codes map to the canonical loan record.

Formats (names used by ``read_tape(format=...)`` and ``--format``):

``canonical-csv``
    Comma-separated with a header of canonical field names (any order; optional fields
    may be left out). Rates and ratios are decimals, dates ``YYYY-MM-DD``, flags
    ``true``/``false``, blank = null.
``parquet``
    A Parquet file with canonical column names (read by :mod:`openmbs.collateral._read`).
``freddie-sflld``
    Freddie Mac Single-Family Loan-Level Dataset origination file: pipe-delimited, no
    header, 31 fields (32 with the MI cancellation indicator added in later releases).
``freddie-sflld-csv``
    The same fields comma-separated with a header of short names (``fico``,
    ``dt_first_pi``, ... ``flag_int_only``).
``umbs-disclosure``
    Freddie Mac / UMBS loan-level pool disclosure: pipe-delimited with a header of
    descriptive names (``Loan Identifier``, ``Current Investor Loan UPB``, ...).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from openmbs.collateral._parse import (
    Parsed,
    clean,
    parse_bool,
    parse_code,
    parse_date,
    parse_float,
    parse_int,
    parse_mapped,
)
from openmbs.collateral._rawio import TextLayout, read_header
from openmbs.collateral._schema import CANONICAL_FIELDS, CANONICAL_SCHEMA, REQUIRED_FIELDS
from openmbs.errors import TapeError

__all__ = [
    "FORMATS",
    "SFLLD_FIELDS",
    "CellProblem",
    "Converted",
    "SourceFormat",
    "detect_format",
]

#: Short names of the Freddie Mac SF Loan-Level Dataset origination fields, in file order.
SFLLD_FIELDS: tuple[str, ...] = (
    "fico", "dt_first_pi", "flag_fthb", "dt_matr", "cd_msa", "mi_pct", "cnt_units",
    "occpy_sts", "cltv", "dti", "orig_upb", "ltv", "orig_int_rt", "channel", "ppmt_pnlty",
    "amrtzn_type", "st", "prop_type", "zipcode", "id_loan", "loan_purpose",
    "orig_loan_term", "cnt_borr", "seller_name", "servicer_name", "flag_sc",
    "id_loan_preharp", "ind_afdl", "ind_harp", "cd_ppty_val_type", "flag_int_only",
    "flag_mi_cncl",
)  # fmt: skip


@dataclass(frozen=True)
class CellProblem:
    """A bad cell found while converting: chunk index, canonical and source field."""

    index: int
    canonical: str | None
    source: str | None
    value: object
    reason: str


@dataclass
class Converted:
    """One chunk converted to the canonical schema."""

    table: pa.Table
    problems: list[CellProblem]
    field_map: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SourceFormat:
    """A text source format: its layout and its converter to canonical columns."""

    name: str
    layout: TextLayout
    convert: Callable[[pa.Table], Converted]
    names: Callable[[list[str], str], list[str]]


# ---------------------------------------------------------------------------------------
# helpers


class _Builder:
    """Collects canonical columns and cell problems for one chunk."""

    def __init__(self, strings: pa.Table | pa.RecordBatch) -> None:
        self.strings = strings
        self.n = strings.num_rows
        self.cols: dict[str, pa.Array] = {}
        self.problems: list[CellProblem] = []
        self.field_map: dict[str, str] = {}

    def src(self, name: str) -> pa.Array:
        col = self.strings.column(name)
        if isinstance(col, pa.ChunkedArray):
            # one chunk (the usual case) is used as is; only several are concatenated
            return col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()
        return col

    def put(self, canonical: str, source: str | None, parsed: Parsed) -> None:
        self.cols[canonical] = parsed.values
        if source is not None:
            self.field_map[canonical] = source
            if parsed.bad.any():
                raw = self.src(source)
                for i in np.flatnonzero(parsed.bad):
                    self.problems.append(
                        CellProblem(int(i), canonical, source, raw[int(i)].as_py(), parsed.reason)
                    )

    def check(self, source: str, parsed: Parsed) -> None:
        """Report the bad cells of a source column that feeds no canonical column."""
        raw = self.src(source)
        for i in np.flatnonzero(parsed.bad):
            self.problems.append(
                CellProblem(int(i), None, source, raw[int(i)].as_py(), parsed.reason)
            )

    def text(self, canonical: str, source: str) -> None:
        self.put(canonical, source, Parsed(clean(self.src(source)), np.zeros(self.n, bool), ""))

    def finish(self) -> Converted:
        arrays = []
        for spec in CANONICAL_FIELDS:
            arr = self.cols.get(spec.name)
            if arr is None:
                arr = pa.nulls(self.n, spec.type)
            elif arr.type != spec.type:
                arr = pc.cast(arr, spec.type)
            arrays.append(arr)
        table = pa.Table.from_arrays(arrays, schema=CANONICAL_SCHEMA.remove_metadata())
        return Converted(table, self.problems, self.field_map)


def _pct(col: pa.Array, *, sentinels: tuple[float, ...] = ()) -> Parsed:
    return parse_float(col, divisor=100.0, sentinels=sentinels)


# ---------------------------------------------------------------------------------------
# canonical CSV


def _canonical_names(header: list[str], file: str) -> list[str]:
    known = {f.name for f in CANONICAL_FIELDS}
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise TapeError("the header names this column twice", file=file, field=name, value=name)
        seen.add(name)
        if name not in known:
            raise TapeError(
                "unknown column in a canonical tape (see docs/collateral.md for the field list)",
                file=file,
                field=name,
                value=name,
            )
    for name in REQUIRED_FIELDS:
        if name not in seen:
            raise TapeError("required column missing from the header", file=file, field=name)
    return header


def _convert_canonical(strings: pa.Table) -> Converted:
    b = _Builder(strings)
    present = set(strings.column_names)
    for spec in CANONICAL_FIELDS:
        if spec.name not in present:
            continue
        col = b.src(spec.name)
        if spec.type == pa.string():
            b.text(spec.name, spec.name)
        elif spec.type == pa.float64():
            b.put(spec.name, spec.name, parse_float(col))
        elif spec.type == pa.int32():
            b.put(spec.name, spec.name, parse_int(col))
        elif spec.type == pa.date32():
            b.put(spec.name, spec.name, parse_date(col, layout="iso"))
        elif spec.type == pa.bool_():
            b.put(spec.name, spec.name, parse_bool(col))
        else:  # pragma: no cover - the schema has no other types
            raise TypeError(spec.type)
    return b.finish()


# ---------------------------------------------------------------------------------------
# Freddie Mac SF Loan-Level Dataset (origination file)

_SFLLD_OCCUPANCY = {"P": "primary", "S": "second_home", "I": "investor", "9": None}
_SFLLD_PURPOSE = {
    "P": "purchase",
    "C": "cash_out_refi",
    "N": "no_cash_out_refi",
    "R": "refi_unspecified",
    "9": None,
}
_SFLLD_PROPERTY = {
    "SF": "single_family",
    "CO": "condo",
    "PU": "pud",
    "MH": "manufactured",
    "CP": "coop",
    "99": None,
}
_SFLLD_CHANNEL = {"R": "retail", "B": "broker", "C": "correspondent", "T": "tpo", "9": None}
_SFLLD_AMORT = {"FRM": "fixed", "ARM": "arm"}
_YN = {"Y": True, "N": False}


def _sflld_names(header: list[str], file: str) -> list[str]:
    if len(header) not in (31, 32):
        raise TapeError(
            f"a Freddie Mac SF loan-level origination record has 31 or 32 fields, "
            f"the first record has {len(header)}",
            file=file,
            row=1,
        )
    return list(SFLLD_FIELDS[: len(header)])


def _sflld_csv_names(header: list[str], file: str) -> list[str]:
    missing = [n for n in SFLLD_FIELDS[:31] if n not in header]
    if missing:
        raise TapeError("required column missing from the header", file=file, field=missing[0])
    return header


def _convert_sflld(strings: pa.Table) -> Converted:
    b = _Builder(strings)
    b.text("loan_id", "id_loan")
    b.put("original_balance", "orig_upb", parse_float(b.src("orig_upb")))
    b.put("note_rate", "orig_int_rt", _pct(b.src("orig_int_rt")))
    b.put("original_term", "orig_loan_term", parse_int(b.src("orig_loan_term")))
    b.put("first_payment_date", "dt_first_pi", parse_date(b.src("dt_first_pi"), layout="yyyymm"))
    b.put("maturity_date", "dt_matr", parse_date(b.src("dt_matr"), layout="yyyymm"))
    b.put("credit_score", "fico", parse_int(b.src("fico"), sentinels=(9999,)))
    b.put("ltv", "ltv", _pct(b.src("ltv"), sentinels=(999,)))
    b.put("cltv", "cltv", _pct(b.src("cltv"), sentinels=(999,)))
    b.put("dti", "dti", _pct(b.src("dti"), sentinels=(999,)))
    b.put("mi_pct", "mi_pct", _pct(b.src("mi_pct"), sentinels=(999,)))
    b.put("units", "cnt_units", parse_int(b.src("cnt_units"), sentinels=(99,)))
    b.put("num_borrowers", "cnt_borr", parse_int(b.src("cnt_borr"), sentinels=(99,)))
    b.put("occupancy", "occpy_sts", parse_code(b.src("occpy_sts"), _SFLLD_OCCUPANCY))
    b.put("purpose", "loan_purpose", parse_code(b.src("loan_purpose"), _SFLLD_PURPOSE))
    b.put("property_type", "prop_type", parse_code(b.src("prop_type"), _SFLLD_PROPERTY))
    b.put("channel", "channel", parse_code(b.src("channel"), _SFLLD_CHANNEL))
    b.put(
        "first_time_buyer",
        "flag_fthb",
        parse_code(b.src("flag_fthb"), {**_YN, "9": None}, pa.bool_()),
    )
    b.text("state", "st")
    b.text("seller", "seller_name")
    b.text("servicer", "servicer_name")
    b.text("msa", "cd_msa")
    zip_raw = clean(b.src("zipcode"))
    zip_ok = pc.match_substring_regex(zip_raw, r"^\d{3}00$")
    b.put(
        "zip3",
        "zipcode",
        Parsed(
            pc.utf8_slice_codeunits(
                pc.if_else(zip_ok, zip_raw, pa.scalar(None, pa.string())), 0, 3
            ),
            np.asarray(pc.fill_null(pc.invert(zip_ok), False).to_numpy(zero_copy_only=False), bool),
            "not a Freddie postal code (three digits then 00)",
        ),
    )
    amort = parse_code(b.src("amrtzn_type"), _SFLLD_AMORT)
    io_flag = parse_code(b.src("flag_int_only"), _YN, pa.bool_())
    b.check("flag_int_only", io_flag)
    b.put(
        "amortization_type",
        "amrtzn_type",
        Parsed(
            pc.if_else(pc.fill_null(io_flag.values, False), "interest_only", amort.values),
            amort.bad,
            amort.reason,
        ),
    )
    # An origination record describes the loan at origination: nothing paid yet.
    orig_bal = b.cols["original_balance"]
    b.cols["current_balance"] = orig_bal
    b.cols["remaining_term"] = b.cols["original_term"]
    b.cols["loan_age"] = pa.array(np.zeros(b.n, np.int32))
    b.cols["delinquency_status"] = pa.array(np.zeros(b.n, np.int32))
    b.field_map.update(current_balance="orig_upb", remaining_term="orig_loan_term")
    return b.finish()


# ---------------------------------------------------------------------------------------
# Freddie Mac / UMBS loan-level pool disclosure

_UMBS_REQUIRED = (
    "Loan Identifier",
    "Mortgage Loan Amount",
    "Current Investor Loan UPB",
    "Amortization Type",
    "Current Interest Rate",
    "Current Net Interest Rate",
    "First Payment Date",
    "Maturity Date",
    "Loan Term",
    "Remaining Months to Maturity",
    "Loan Age",
    "Loan-To-Value (LTV)",
    "Combined Loan-To-Value (CLTV)",
    "Debt-To-Income (DTI)",
    "Borrower Credit Score",
    "Number of Borrowers",
    "First Time Home Buyer Indicator",
    "Loan Purpose",
    "Occupancy Status",
    "Number of Units",
    "Property Type",
    "Channel",
    "Property State",
    "Seller Name",
    "Servicer Name",
    "Mortgage Insurance Percent",
    "Interest Only Loan Indicator",
    "Days Delinquent",
)
_UMBS_AMORT = {"Fixed": "fixed", "ARM": "arm", "Adjustable": "arm"}
_UMBS_PURPOSE = {
    "Purchase": "purchase",
    "Refinance - Cash Out": "cash_out_refi",
    "Refinance - No Cash Out": "no_cash_out_refi",
    "Refinance - Not Specified": "refi_unspecified",
    "Not Available": None,
}
_UMBS_OCCUPANCY = {
    "Primary Home": "primary",
    "Secondary Home": "second_home",
    "Second Home": "second_home",
    "Investment Property": "investor",
    "Not Available": None,
}
_UMBS_PROPERTY = {
    "Single Family": "single_family",
    "Condominium": "condo",
    "Condo": "condo",
    "Planned Unit": "pud",
    "PUD": "pud",
    "Manufactured Housing": "manufactured",
    "Manufactured Home": "manufactured",
    "Co-op": "coop",
    "Co-Op": "coop",
    "Cooperative": "coop",
    "Not Available": None,
}
_UMBS_CHANNEL = {
    "Retail": "retail",
    "Broker": "broker",
    "Correspondent": "correspondent",
    "TPO Not Specified": "tpo",
    "Not Available": None,
}
_UMBS_YN = {"Yes": True, "No": False, "Not Available": None}
_DAYS_RANGE = re.compile(r"^(\d+)\s*-\s*(\d+)$")
_DAYS_PLUS = re.compile(r"^(\d+)\s*(\+|or more|and over|\+ days)$", re.IGNORECASE)


def _days_delinquent(text: str) -> int:
    """``Current`` -> 0; ``30-59`` -> 1; ``60-89`` -> 2; ``180+`` -> 6 (floor(days / 30))."""
    if text.lower() == "current":
        return 0
    m = _DAYS_RANGE.match(text)
    if m and int(m.group(1)) % 30 == 0 and int(m.group(2)) == int(m.group(1)) + 29:
        return int(m.group(1)) // 30
    m = _DAYS_PLUS.match(text)
    if m and int(m.group(1)) % 30 == 0:
        return int(m.group(1)) // 30
    raise ValueError(text)


def _mi_percent(text: str) -> float | None:
    if text in ("No MI", "0"):
        return 0.0
    if text == "Not Available":
        return None
    if re.fullmatch(r"\d{1,3}(\.\d+)?", text) is None:
        raise ValueError(text)
    value = float(text)
    return None if value == 999 else value / 100.0


def _umbs_names(header: list[str], file: str) -> list[str]:
    missing = [n for n in _UMBS_REQUIRED if n not in header]
    if missing:
        raise TapeError("required column missing from the header", file=file, field=missing[0])
    # Filler columns repeat; give every column a unique name for Arrow.
    out: list[str] = []
    seen: dict[str, int] = {}
    for name in header:
        k = seen.get(name, 0)
        seen[name] = k + 1
        out.append(name if k == 0 else f"{name} #{k + 1}")
    return out


def _convert_umbs(strings: pa.Table) -> Converted:
    b = _Builder(strings)
    b.text("loan_id", "Loan Identifier")
    b.put("original_balance", "Mortgage Loan Amount", parse_float(b.src("Mortgage Loan Amount")))
    b.put(
        "current_balance",
        "Current Investor Loan UPB",
        parse_float(b.src("Current Investor Loan UPB")),
    )
    b.put("note_rate", "Current Interest Rate", _pct(b.src("Current Interest Rate")))
    b.put("net_rate", "Current Net Interest Rate", _pct(b.src("Current Net Interest Rate")))
    b.put("original_term", "Loan Term", parse_int(b.src("Loan Term")))
    b.put(
        "remaining_term",
        "Remaining Months to Maturity",
        parse_int(b.src("Remaining Months to Maturity")),
    )
    b.put("loan_age", "Loan Age", parse_int(b.src("Loan Age")))
    b.put(
        "first_payment_date",
        "First Payment Date",
        parse_date(b.src("First Payment Date"), layout="mmyyyy"),
    )
    b.put("maturity_date", "Maturity Date", parse_date(b.src("Maturity Date"), layout="mmyyyy"))
    b.put(
        "credit_score",
        "Borrower Credit Score",
        parse_int(b.src("Borrower Credit Score"), sentinels=(9999,)),
    )
    b.put("ltv", "Loan-To-Value (LTV)", _pct(b.src("Loan-To-Value (LTV)"), sentinels=(999,)))
    b.put(
        "cltv",
        "Combined Loan-To-Value (CLTV)",
        _pct(b.src("Combined Loan-To-Value (CLTV)"), sentinels=(999,)),
    )
    b.put("dti", "Debt-To-Income (DTI)", _pct(b.src("Debt-To-Income (DTI)"), sentinels=(999,)))
    b.put(
        "num_borrowers",
        "Number of Borrowers",
        parse_int(b.src("Number of Borrowers"), sentinels=(99,)),
    )
    b.put("units", "Number of Units", parse_int(b.src("Number of Units"), sentinels=(99,)))
    b.put(
        "first_time_buyer",
        "First Time Home Buyer Indicator",
        parse_code(b.src("First Time Home Buyer Indicator"), _UMBS_YN, pa.bool_()),
    )
    b.put("purpose", "Loan Purpose", parse_code(b.src("Loan Purpose"), _UMBS_PURPOSE))
    b.put("occupancy", "Occupancy Status", parse_code(b.src("Occupancy Status"), _UMBS_OCCUPANCY))
    b.put("property_type", "Property Type", parse_code(b.src("Property Type"), _UMBS_PROPERTY))
    b.put("channel", "Channel", parse_code(b.src("Channel"), _UMBS_CHANNEL))
    b.text("state", "Property State")
    b.text("seller", "Seller Name")
    b.text("servicer", "Servicer Name")
    b.put(
        "mi_pct",
        "Mortgage Insurance Percent",
        parse_mapped(
            b.src("Mortgage Insurance Percent"),
            _mi_percent,
            pa.float64(),
            "not an MI percent ('No MI' or a number)",
        ),
    )
    b.put(
        "delinquency_status",
        "Days Delinquent",
        parse_mapped(
            b.src("Days Delinquent"),
            _days_delinquent,
            pa.int32(),
            "not a delinquency bucket ('Current', '30-59', ..., '180+')",
        ),
    )
    amort = parse_code(b.src("Amortization Type"), _UMBS_AMORT)
    io_flag = parse_code(b.src("Interest Only Loan Indicator"), _UMBS_YN, pa.bool_())
    b.check("Interest Only Loan Indicator", io_flag)
    b.put(
        "amortization_type",
        "Amortization Type",
        Parsed(
            pc.if_else(pc.fill_null(io_flag.values, False), "interest_only", amort.values),
            amort.bad,
            amort.reason,
        ),
    )
    # The strip between the note rate and the pass-through rate.
    # Rounded to 1e-9 so that 4.500% - 4.000% is 0.005, not 0.0049999999999999975.
    b.cols["servicing_fee"] = pc.round(pc.subtract(b.cols["note_rate"], b.cols["net_rate"]), 9)
    b.field_map["servicing_fee"] = "Current Net Interest Rate"
    return b.finish()


FORMATS: Mapping[str, SourceFormat] = {
    "canonical-csv": SourceFormat(
        "canonical-csv", TextLayout(",", True, True), _convert_canonical, _canonical_names
    ),
    "freddie-sflld": SourceFormat(
        "freddie-sflld", TextLayout("|", False, False), _convert_sflld, _sflld_names
    ),
    "freddie-sflld-csv": SourceFormat(
        "freddie-sflld-csv", TextLayout(",", True, True), _convert_sflld, _sflld_csv_names
    ),
    "umbs-disclosure": SourceFormat(
        "umbs-disclosure", TextLayout("|", False, True), _convert_umbs, _umbs_names
    ),
}
"""The text formats; ``parquet`` is handled apart."""

FORMAT_NAMES: tuple[str, ...] = (
    "canonical-csv",
    "freddie-sflld",
    "freddie-sflld-csv",
    "parquet",
    "umbs-disclosure",
)


def detect_format(path: Path) -> str:
    """Name the format of ``path`` from its extension, first bytes, delimiter and header."""
    file = str(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError as exc:
        raise TapeError(f"cannot open the file: {exc.strerror}", file=file) from exc
    if head == b"PAR1" or path.suffix.lower() in (".parquet", ".pq"):
        return "parquet"
    if not head:
        raise TapeError("the file is empty (no header and no records)", file=file)
    pipe_fields, _ = read_header(path, TextLayout("|", False, True))
    if len(pipe_fields) > 1:
        if "Loan Identifier" in pipe_fields:
            return "umbs-disclosure"
        if len(pipe_fields) in (31, 32) and re.fullmatch(r"\d+", pipe_fields[0].strip() or "0"):
            return "freddie-sflld"
        raise TapeError(
            "cannot tell the format of this pipe-delimited file: neither a UMBS disclosure "
            "header ('Loan Identifier', ...) nor a 31/32-field SF loan-level record; "
            "name it with format=",
            file=file,
            row=None,
            field=None,
            value="|".join(pipe_fields[:4]),
        )
    csv_fields, _ = read_header(path, TextLayout(",", True, True))
    if "id_loan" in csv_fields and "orig_upb" in csv_fields:
        return "freddie-sflld-csv"
    if "loan_id" in csv_fields:
        return "canonical-csv"
    raise TapeError(
        "cannot tell the format of this file: the header has neither 'loan_id' (canonical) "
        "nor 'id_loan'/'orig_upb' (Freddie SF loan-level CSV); name it with format=",
        file=file,
        value=",".join(csv_fields[:4]),
    )
