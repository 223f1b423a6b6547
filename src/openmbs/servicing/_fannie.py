"""Fannie Mae Single-Family Loan Performance data, original layout.

Two pipe-delimited files without a header: the acquisition file (25 fields, one row a
loan) and the performance file (31 fields, one row a loan-month). Field order follows
Fannie Mae's published file layout for the original (pre-2020) release; docs/servicing.md
lists every field and what the reader does with it.
"""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa

from openmbs.errors import TapeError
from openmbs.servicing._history import LOANS_SCHEMA, LoanHistory, build_history, month_dates
from openmbs.servicing._states import ZERO_BALANCE_STATES
from openmbs.servicing._text import months_column, numbers, read_strings, strings

__all__ = ["FANNIE_ACQUISITION_FIELDS", "FANNIE_PERFORMANCE_FIELDS", "read_fannie_performance"]

#: The acquisition file's 25 fields, in file order.
FANNIE_ACQUISITION_FIELDS: tuple[str, ...] = (
    "loan_id", "channel", "seller", "original_rate", "original_upb", "original_term",
    "origination_date", "first_payment_date", "ltv", "cltv", "borrowers", "dti",
    "credit_score", "first_time_buyer", "purpose", "property_type", "units", "occupancy",
    "state", "zip3", "mi_pct", "product_type", "co_borrower_credit_score", "mi_type",
    "relocation",
)  # fmt: skip

#: The performance file's 31 fields, in file order.
FANNIE_PERFORMANCE_FIELDS: tuple[str, ...] = (
    "loan_id", "reporting_period", "servicer", "current_rate", "current_upb", "loan_age",
    "remaining_months", "adjusted_remaining_months", "maturity_date", "msa",
    "delinquency_status", "modification_flag", "zero_balance_code", "zero_balance_date",
    "last_paid_installment_date", "foreclosure_date", "disposition_date",
    "foreclosure_costs", "preservation_repair_costs", "asset_recovery_costs",
    "holding_costs", "holding_taxes", "net_sale_proceeds", "credit_enhancement_proceeds",
    "repurchase_make_whole_proceeds", "other_foreclosure_proceeds",
    "non_interest_bearing_upb", "principal_forgiveness", "repurchase_make_whole_flag",
    "foreclosure_principal_write_off", "servicing_activity_indicator",
)  # fmt: skip

# performance field -> history column (money fields copied as they are)
_MONEY = {
    "foreclosure_costs": "foreclosure_costs",
    "preservation_repair_costs": "preservation_repair_costs",
    "asset_recovery_costs": "asset_recovery_costs",
    "holding_costs": "holding_costs",
    "holding_taxes": "taxes",
    "net_sale_proceeds": "net_sale_proceeds",
    "credit_enhancement_proceeds": "mi_proceeds",
    "repurchase_make_whole_proceeds": "repurchase_proceeds",
    "other_foreclosure_proceeds": "other_proceeds",
    "principal_forgiveness": "principal_forgiveness",
}


def read_fannie_acquisition(path: str | os.PathLike[str]) -> pa.Table:
    """The acquisition file as a :data:`~openmbs.servicing.LOANS_SCHEMA` table.

    Rates and LTV become decimals; a blank credit score is null.
    """
    file = str(path)
    raw = read_strings(path, FANNIE_ACQUISITION_FIELDS)
    ids = strings(raw, "loan_id")
    if (ids == "").any():
        i = int(np.flatnonzero(ids == "")[0])
        raise TapeError("required value is blank", file=file, row=i + 1, field="loan_id", value="")
    uniq, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        dup = uniq[counts > 1][0]
        rows = np.flatnonzero(ids == dup)
        raise TapeError(
            f"loan appears twice (rows {rows[0] + 1} and {rows[1] + 1})",
            file=file, row=int(rows[1]) + 1, field="loan_id", value=str(dup),
        )  # fmt: skip
    rate = numbers(
        raw, "original_rate", file=file, field="original_rate", low=0, high=25, required=True
    )
    bal = numbers(raw, "original_upb", file=file, field="original_upb", low=0.01, required=True)
    term = numbers(
        raw, "original_term", file=file, field="original_term", low=1, high=600, required=True
    )
    ltv = numbers(raw, "ltv", file=file, field="ltv", low=0, high=200)
    fico = numbers(raw, "credit_score", file=file, field="credit_score", low=300, high=850)
    fpd = months_column(raw, "first_payment_date", "MM/YYYY", file=file, field="first_payment_date")
    return pa.table(
        {
            "loan_id": pa.array(ids.astype(object), type=pa.string()),
            "original_balance": pa.array(bal),
            "original_rate": pa.array(rate / 100.0),
            "original_term": pa.array(term.astype(np.int32)),
            "first_payment": month_dates(fpd),
            "ltv": pa.array(ltv / 100.0, from_pandas=True),
            "credit_score": pa.array(fico, from_pandas=True).cast(pa.int32()),
            "property_state": pa.array(strings(raw, "state").astype(object), type=pa.string()),
        },
        schema=LOANS_SCHEMA,
    )


def read_fannie_performance(
    acquisition: str | os.PathLike[str] | None, performance: str | os.PathLike[str]
) -> LoanHistory:
    """Read a Fannie Mae Single-Family Loan Performance history (original layout).

    Parameters
    ----------
    acquisition : path or None
        The acquisition file (25 fields a loan). It gives the note's original terms
        (to rebuild the UPB Fannie masks) and the LTV and credit score (for the
        transition buckets). Without it, masked UPBs stay null.
    performance : path
        The performance file (31 fields a loan-month).

    Returns
    -------
    LoanHistory
        One row per loan-month (:data:`~openmbs.servicing.HISTORY_SCHEMA`).

    Raises
    ------
    TapeError
        A row with another number of fields, a value that is not a number, a month or
        a known code, a duplicate loan-month, or a loan missing from the acquisition
        file; the message names the file, the row, the field and the value.

    Notes
    -----
    * **UPB.** Fannie Mae leaves the current actual UPB blank in a loan's first months.
      The reader rebuilds it as the note's scheduled balance after ``loan age - months
      past due`` installments (original UPB, rate and term of the acquisition file) and
      sets ``upb_rebuilt``.
    * **Delinquency** is months past due; ``X`` or blank is unknown (-1). A negative
      value (as in the shared copy, where the zero-balance month carries -1 or -2) is
      read as "not reported" on that month.
    * **Realised loss** (credit events with a disposition date): Fannie Mae's net loss,
      ``UPB + delinquent accrued interest + expenses + principal forgiveness -
      proceeds``, delinquent interest accruing from the last paid installment to the
      disposition at the note rate less 0.35%; see docs/servicing.md.

    Examples
    --------
    >>> from pathlib import Path
    >>> d = Path("../shared/data")
    >>> if (d / "fannie_sflp_2007q3_performance.txt").exists():
    ...     h = read_fannie_performance(d / "fannie_sflp_2007q3_acquisition.txt",
    ...                                 d / "fannie_sflp_2007q3_performance.txt")
    ...     assert h.months.num_rows == 10_000
    """
    file = str(performance)
    loans = (
        read_fannie_acquisition(acquisition)
        if acquisition is not None
        else LOANS_SCHEMA.empty_table()
    )
    raw = read_strings(performance, FANNIE_PERFORMANCE_FIELDS)
    ids = strings(raw, "loan_id")
    if (ids == "").any():
        i = int(np.flatnonzero(ids == "")[0])
        raise TapeError("required value is blank", file=file, row=i + 1, field="loan_id", value="")
    month = months_column(
        raw, "reporting_period", "MM/DD/YYYY", file=file, field="reporting_period", required=True
    )
    rate = numbers(raw, "current_rate", file=file, field="current_rate", low=0, high=25)
    upb = numbers(raw, "current_upb", file=file, field="current_upb", low=0)
    age = numbers(raw, "loan_age", file=file, field="loan_age", low=-1, high=720)
    rem = numbers(raw, "remaining_months", file=file, field="remaining_months", low=-1, high=720)

    dq_text = strings(raw, "delinquency_status")
    unknown = (dq_text == "") | (dq_text == "X")
    dq_num = np.full(len(dq_text), -1, dtype=np.int64)
    known = ~unknown
    ok = np.char.isdigit(np.char.lstrip(dq_text, "-")) & known
    if (known & ~ok).any():
        i = int(np.flatnonzero(known & ~ok)[0])
        raise TapeError(
            "not a delinquency status (months past due, or X)",
            file=file, row=i + 1, field="delinquency_status", value=str(dq_text[i]),
        )  # fmt: skip
    dq_num[ok] = dq_text[ok].astype(np.int64)
    dq_num[dq_num < 0] = -1
    dq_num = np.minimum(dq_num, 999)

    mod_text = strings(raw, "modification_flag")
    bad_mod = ~np.isin(mod_text, ["Y", "N", ""])
    if bad_mod.any():
        i = int(np.flatnonzero(bad_mod)[0])
        raise TapeError(
            "modification flag must be Y or N", file=file, row=i + 1,
            field="modification_flag", value=str(mod_text[i]),
        )  # fmt: skip

    zb = strings(raw, "zero_balance_code")
    table_states = ZERO_BALANCE_STATES["fannie"]
    bad_zb = (zb != "") & ~np.isin(zb, list(table_states))
    if bad_zb.any():
        i = int(np.flatnonzero(bad_zb)[0])
        raise TapeError(
            f"unknown zero-balance code (expected one of {', '.join(sorted(table_states))})",
            file=file, row=i + 1, field="zero_balance_code", value=str(zb[i]),
        )  # fmt: skip
    terminal = np.full(len(zb), -1, dtype=np.int8)
    for code, st in table_states.items():
        terminal[zb == code] = int(st)

    cols = {
        "loan_id": ids,
        "month": month,
        "loan_age": age,
        "remaining_term": rem,
        "note_rate": rate / 100.0,
        "upb": upb,
        "delinquency": dq_num,
        "modified": mod_text == "Y",
        "assistance": np.full(len(ids), "", dtype=object),
        "zero_balance_code": zb,
        "zero_balance_month": months_column(
            raw, "zero_balance_date", "MM/YYYY", file=file, field="zero_balance_date"
        ),
        "last_paid_installment": months_column(
            raw,
            "last_paid_installment_date",
            "MM/DD/YYYY",
            file=file,
            field="last_paid_installment_date",
        ),
        "foreclosure_date": months_column(
            raw, "foreclosure_date", "MM/DD/YYYY", file=file, field="foreclosure_date"
        ),
        "disposition_date": months_column(
            raw, "disposition_date", "MM/DD/YYYY", file=file, field="disposition_date"
        ),
        "non_interest_bearing_upb": numbers(
            raw, "non_interest_bearing_upb", file=file, field="non_interest_bearing_upb", low=0
        ),
    }
    for src, dst in _MONEY.items():
        cols[dst] = numbers(raw, src, file=file, field=src)
    return build_history(
        agency="fannie",
        source=file,
        cols=cols,
        loans=loans,
        terminal=terminal,
        in_foreclosure=np.zeros(len(ids), dtype=bool),
    )
