"""Freddie Mac Single-Family Loan-Level Dataset: the monthly servicing (performance) file.

One pipe-delimited row per loan-month, no header, 32 fields in the order of Freddie
Mac's SFLLD General User Guide (monthly performance data file); docs/servicing.md lists
them. The optional origination file is read with :func:`openmbs.collateral.read_tape`
(either Freddie layout), for the note's original terms and the LTV and credit score.
"""

from __future__ import annotations

import os

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from openmbs.collateral import read_tape
from openmbs.errors import TapeError
from openmbs.servicing._history import LOANS_SCHEMA, LoanHistory, build_history
from openmbs.servicing._states import ZERO_BALANCE_STATES, LoanState
from openmbs.servicing._text import months_column, numbers, read_strings, strings

__all__ = ["FREDDIE_SERVICING_FIELDS", "read_freddie_servicing"]

#: The monthly servicing file's 32 fields, in file order.
FREDDIE_SERVICING_FIELDS: tuple[str, ...] = (
    "loan_sequence_number", "monthly_reporting_period", "current_actual_upb",
    "current_loan_delinquency_status", "loan_age", "remaining_months_to_legal_maturity",
    "defect_settlement_date", "modification_flag", "zero_balance_code",
    "zero_balance_effective_date", "current_interest_rate", "current_deferred_upb",
    "due_date_of_last_paid_installment", "mi_recoveries", "net_sale_proceeds",
    "non_mi_recoveries", "expenses", "legal_costs", "maintenance_and_preservation_costs",
    "taxes_and_insurance", "miscellaneous_expenses", "actual_loss_calculation",
    "modification_cost", "step_modification_flag", "payment_deferral",
    "estimated_ltv", "zero_balance_removal_upb", "delinquent_accrued_interest",
    "delinquency_due_to_disaster", "borrower_assistance_status_code",
    "current_month_modification_cost", "interest_bearing_upb",
)  # fmt: skip

# Months in which Freddie Mac reports the current UPB as 0 for a live loan (masked).
_MASKED_MONTHS = 6


def _origination(path: str | os.PathLike[str]) -> pa.Table:
    tape = read_tape(path).table
    return pa.table(
        {
            "loan_id": tape.column("loan_id").cast(pa.string()),
            "original_balance": tape.column("original_balance").cast(pa.float64()),
            "original_rate": tape.column("note_rate").cast(pa.float64()),
            "original_term": tape.column("original_term").cast(pa.int32()),
            "first_payment": tape.column("first_payment_date").cast(pa.date32()),
            "ltv": tape.column("ltv").cast(pa.float64()),
            "credit_score": tape.column("credit_score").cast(pa.int32()),
            "property_state": tape.column("state").cast(pa.string()),
        },
        schema=LOANS_SCHEMA,
    )


def read_freddie_servicing(
    origination: str | os.PathLike[str] | None, servicing: str | os.PathLike[str]
) -> LoanHistory:
    """Read a Freddie Mac SFLLD monthly servicing history.

    Parameters
    ----------
    origination : path or None
        The origination file (Freddie's pipe layout, or the CSV with short names);
        gives the original terms (to rebuild a masked UPB) and the LTV and credit
        score buckets. Optional.
    servicing : path
        The monthly servicing (performance) file, 32 fields a loan-month.

    Returns
    -------
    LoanHistory
        One row per loan-month (:data:`~openmbs.servicing.HISTORY_SCHEMA`).

    Raises
    ------
    TapeError
        A row with another number of fields, or a value that is not a number, a
        ``YYYYMM`` month or a known code; names the file, row, field and value.

    Notes
    -----
    * Delinquency ``0``, ``1``, ... is months past due; ``RA`` (REO acquisition) is
      the REO state; ``XX`` or blank is unknown.
    * A live loan's UPB reported as 0 in its first six months is masked: rebuilt from
      the note's amortization as for Fannie Mae (``upb_rebuilt``). On the zero-balance
      month the UPB is the zero-balance removal UPB (what left the pool).
    * Modification flag ``Y`` (this month) or ``P`` (an earlier month) is ``modified``;
      borrower assistance ``F`` (forbearance), ``R`` (repayment plan), ``T`` (trial
      period) goes to ``assistance``.
    * Net sale proceeds ``C`` (covered: the sale covered the debt) gives a realised
      loss of 0; ``U`` (unknown) leaves it null. The realised loss is Freddie Mac's
      actual loss: removal UPB + delinquent accrued interest (the file's) + expenses -
      net sale proceeds - MI recoveries - non-MI recoveries; expenses count by their
      magnitude, whatever their sign in the file. The file's own figure is kept in
      ``reported_loss``, as published.
    """
    file = str(servicing)
    loans = _origination(origination) if origination is not None else LOANS_SCHEMA.empty_table()
    raw = read_strings(servicing, FREDDIE_SERVICING_FIELDS)
    n = raw.num_rows
    ids = strings(raw, "loan_sequence_number")
    if (ids == "").any():
        i = int(np.flatnonzero(ids == "")[0])
        raise TapeError(
            "required value is blank", file=file, row=i + 1, field="loan_sequence_number", value=""
        )

    def num(name: str, **kw: float) -> np.ndarray:  # type: ignore[type-arg]
        return numbers(raw, name, file=file, field=name, **kw)  # type: ignore[arg-type]

    def month(name: str, required: bool = False) -> np.ndarray:  # type: ignore[type-arg]
        return months_column(raw, name, "YYYYMM", file=file, field=name, required=required)

    upb = num("current_actual_upb", low=0)
    age = num("loan_age", low=-1, high=720)
    rem = num("remaining_months_to_legal_maturity", low=-1, high=720)
    rate = num("current_interest_rate", low=0, high=25)

    dq_text = strings(raw, "current_loan_delinquency_status")
    digits = np.char.isdigit(dq_text)
    known = digits | np.isin(dq_text, ["RA", "XX", ""])
    if (~known).any():
        i = int(np.flatnonzero(~known)[0])
        raise TapeError(
            "not a delinquency status (months past due, RA or XX)",
            file=file, row=i + 1, field="current_loan_delinquency_status", value=str(dq_text[i]),
        )  # fmt: skip
    dq = np.full(n, -1, dtype=np.int64)
    dq[digits] = np.minimum(dq_text[digits].astype(np.int64), 999)

    mod = strings(raw, "modification_flag")
    bad = ~np.isin(mod, ["Y", "P", "N", ""])
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise TapeError(
            "modification flag must be Y, P or blank",
            file=file, row=i + 1, field="modification_flag", value=str(mod[i]),
        )  # fmt: skip
    assist = strings(raw, "borrower_assistance_status_code")
    bad = ~np.isin(assist, ["F", "R", "T", ""])
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise TapeError(
            "borrower assistance status must be F, R, T or blank",
            file=file, row=i + 1, field="borrower_assistance_status_code", value=str(assist[i]),
        )  # fmt: skip

    zb = strings(raw, "zero_balance_code")
    codes = ZERO_BALANCE_STATES["freddie"]
    bad = (zb != "") & ~np.isin(zb, list(codes))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise TapeError(
            f"unknown zero-balance code (expected one of {', '.join(sorted(codes))})",
            file=file, row=i + 1, field="zero_balance_code", value=str(zb[i]),
        )  # fmt: skip
    terminal = np.full(n, -1, dtype=np.int8)
    for code, st in codes.items():
        terminal[zb == code] = int(st)
    terminal[(zb == "") & (dq_text == "RA")] = int(LoanState.REO)

    removal = num("zero_balance_removal_upb", low=0)
    is_zb = zb != ""
    upb = np.where(is_zb, removal, upb)
    upb[(~is_zb) & (upb == 0) & (age < _MASKED_MONTHS)] = np.nan

    nsp_text = strings(raw, "net_sale_proceeds")
    covered = nsp_text == "C"
    unknown = nsp_text == "U"
    nsp_raw = raw.set_column(
        raw.schema.get_field_index("net_sale_proceeds"),
        "net_sale_proceeds",
        pa.array(np.where(covered | unknown, "", nsp_text).astype(object), type=pa.string()),
    )

    def expense(name: str) -> npt.NDArray[np.float64]:
        out: npt.NDArray[np.float64] = np.abs(num(name))
        return out

    nan = np.full(n, np.nan)
    cols = {
        "loan_id": ids,
        "month": month("monthly_reporting_period", required=True),
        "loan_age": age,
        "remaining_term": rem,
        "note_rate": rate / 100.0,
        "upb": upb,
        "delinquency": dq,
        "modified": np.isin(mod, ["Y", "P"]),
        "assistance": assist.astype(object),
        "zero_balance_code": zb,
        "zero_balance_month": month("zero_balance_effective_date"),
        "last_paid_installment": month("due_date_of_last_paid_installment"),
        "foreclosure_date": np.full(n, -1, dtype=np.int32),
        "disposition_date": np.full(n, -1, dtype=np.int32),
        "non_interest_bearing_upb": num("current_deferred_upb", low=0),
        "foreclosure_costs": expense("legal_costs"),
        "preservation_repair_costs": expense("maintenance_and_preservation_costs"),
        "asset_recovery_costs": nan,
        "holding_costs": expense("miscellaneous_expenses"),
        "taxes": expense("taxes_and_insurance"),
        "principal_forgiveness": nan,
        "net_sale_proceeds": numbers(
            nsp_raw, "net_sale_proceeds", file=file, field="net_sale_proceeds"
        ),
        "mi_proceeds": num("mi_recoveries"),
        "repurchase_proceeds": nan,
        "other_proceeds": num("non_mi_recoveries"),
        "expenses_total": expense("expenses"),
        "delinquent_accrued_interest": num("delinquent_accrued_interest"),
        "reported_loss": num("actual_loss_calculation"),
        "proceeds_covered": covered,
        "proceeds_unknown": unknown,
    }
    return build_history(
        agency="freddie",
        source=file,
        cols=cols,
        loans=loans,
        terminal=terminal,
        in_foreclosure=np.zeros(n, dtype=bool),
    )
