"""Write the Freddie Mac test pool: an origination file and a monthly servicing file.

``freddie_pool_orig.txt`` (32 pipe-delimited fields a loan) and ``freddie_pool_svc.txt``
(32 fields a loan-month) follow the field order of Freddie Mac's Single-Family
Loan-Level Dataset (the origination and monthly performance files; the field names are
``openmbs.collateral`` ``SFLLD_FIELDS`` and ``openmbs.servicing.FREDDIE_SERVICING_FIELDS``).
The loans are invented, written month by month from a short story each (below), so that
one small pool holds every path a replay meets: amortisation, curtailments, prepayments,
a repurchase, cures, a month of unknown status, modifications that capitalise arrears,
forbearance repaid or deferred, REO acquisitions (status ``RA``) disposed of later with
their loss components, short sales, third-party sales (one covered, ``C``), and the UPB
Freddie Mac masks (reported 0) in a loan's first six months.

Money as the file states it: UPB and amounts with two decimals; expenses negative; the
actual loss calculation as the user guide defines it (proceeds and recoveries less
expenses, less the UPB removed and the delinquent accrued interest: negative for a loss).

Run from the repository root to rewrite both files (deterministic: no random numbers)::

    python tests/servicing/data/make_freddie_pool.py

``tests/servicing/test_freddie_replay.py`` checks that the committed files are this
script's output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).parent
ORIG = HERE / "freddie_pool_orig.txt"
SVC = HERE / "freddie_pool_svc.txt"

FIRST = 2019 * 12 + 2  # 2019-03: every loan's first payment month (loan age 0)
LAST = 2023 * 12 + 11  # 2023-12: the file's last reporting month
MASKED = 6  # months of age in which Freddie Mac reports the UPB as 0


def ym(m: int) -> str:
    return f"{m // 12:04d}{m % 12 + 1:02d}"


def money(x: float) -> str:
    return f"{x:.2f}"


def sched(b0: float, rate: float, n: int, k: int) -> float:
    """Balance after ``k`` level payments (annual ``rate`` in percent, term ``n``)."""
    r = rate / 1200.0
    if r == 0:
        return b0 * (1 - k / n)
    return b0 * ((1 + r) ** n - (1 + r) ** k) / ((1 + r) ** n - 1)


@dataclass
class Loan:
    """One loan's story. ``dq`` maps age -> months past due (default 0); events:
    ``prepay`` (zero balance 01 at that age), ``repurchase`` (96), ``mod`` (age of a
    modification: arrears capitalised, new rate, 480 months), ``forbear`` (ages in a
    forbearance plan), ``defer`` (the plan ends in a payment deferral), ``ra`` (age of
    the REO acquisition), ``zb`` (age and code of a credit event's zero balance),
    ``proceeds`` (net sale, MI, non-MI; ``"C"`` covered), ``curtail`` (extra principal
    a month), ``unknown`` (ages with status XX)."""

    n: int
    upb: float
    rate: float
    term: int = 360
    state: str = "CA"
    fico: int = 740
    ltv: int = 80
    dq: dict[int, int] = field(default_factory=dict)
    prepay: int | None = None
    repurchase: int | None = None
    mod: int | None = None
    mod_rate: float = 0.0
    forbear: tuple[int, ...] = ()
    defer: bool = False
    ra: int | None = None
    zb: tuple[int, str] | None = None
    proceeds: tuple[float | str, float, float] = (0.0, 0.0, 0.0)
    expenses: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # legal, upkeep, taxes, misc
    curtail: float = 0.0
    unknown: tuple[int, ...] = ()

    @property
    def loan_id(self) -> str:
        return f"F19Q1{self.n:07d}"


def _delinquent(start: int, months: int) -> dict[int, int]:
    """Months past due 1, 2, ... ``months`` from age ``start``."""
    return {start + i: i + 1 for i in range(months)}


LOANS: list[Loan] = [
    # performing to the end; some curtail, one has a month of unknown status
    *[Loan(i, 150_000 + 10_000 * i, 4.25 + 0.125 * (i % 4), state=("CA", "TX", "FL", "NY")[i % 4])
      for i in range(1, 9)],
    Loan(9, 310_000, 4.5, curtail=250.0),
    Loan(10, 420_000, 4.125, term=180, curtail=1_000.0, unknown=(20,)),
    # prepaid in full
    *[Loan(10 + i, 180_000 + 15_000 * i, 4.75, prepay=6 + 5 * i, state="WA") for i in range(1, 9)],
    Loan(19, 260_000, 4.625, repurchase=14, state="OR"),
    # late, then cured by paying everything due
    Loan(20, 210_000, 4.875, dq={**_delinquent(8, 2)}),
    Loan(21, 190_000, 5.0, dq={**_delinquent(12, 3)}),
    Loan(22, 230_000, 4.5, dq={**_delinquent(15, 1), **_delinquent(30, 2)}),
    Loan(23, 175_000, 4.99, dq={**_delinquent(9, 1)}),
    # REO acquisitions (RA), disposed of (zero balance 09) months later with a loss
    Loan(24, 340_000, 5.25, dq=_delinquent(10, 8), ra=18, zb=(23, "09"), fico=640, ltv=95,
         proceeds=(220_000.0, 40_000.0, 1_500.0), expenses=(6_500.0, 4_200.0, 5_100.0, 900.0)),
    Loan(25, 280_000, 5.125, dq=_delinquent(14, 10), ra=24, zb=(27, "09"), fico=655,
         proceeds=(150_000.0, 0.0, 0.0), expenses=(5_000.0, 8_000.0, 3_000.0, 1_200.0)),
    Loan(26, 125_000, 5.5, dq=_delinquent(20, 7), ra=27, zb=(33, "09"), fico=620, ltv=90,
         proceeds=(60_000.0, 15_000.0, 0.0), expenses=(4_000.0, 2_500.0, 2_000.0, 300.0)),
    # short sales (03) and third-party sales at the foreclosure sale (02)
    Loan(27, 295_000, 5.0, dq=_delinquent(11, 6), zb=(17, "03"), fico=660,
         proceeds=(240_000.0, 20_000.0, 0.0), expenses=(3_000.0, 0.0, 1_800.0, 0.0)),
    Loan(28, 205_000, 5.375, dq=_delinquent(16, 9), zb=(25, "03"),
         proceeds=(150_000.0, 0.0, 2_000.0), expenses=(2_500.0, 1_000.0, 1_500.0, 250.0)),
    Loan(29, 240_000, 4.875, dq=_delinquent(13, 7), zb=(20, "02"),
         proceeds=("C", 0.0, 0.0), expenses=(2_000.0, 0.0, 900.0, 0.0)),
    Loan(30, 330_000, 5.25, dq=_delinquent(18, 8), zb=(26, "02"), ltv=97,
         proceeds=(250_000.0, 30_000.0, 0.0), expenses=(7_000.0, 3_000.0, 4_000.0, 500.0)),
    # modified after three missed payments: arrears capitalised, lower rate, 480 months
    Loan(31, 265_000, 5.5, dq=_delinquent(10, 3), mod=13, mod_rate=3.5),
    Loan(32, 215_000, 5.25, dq=_delinquent(22, 4), mod=26, mod_rate=3.75),
    Loan(33, 185_000, 5.0, dq=_delinquent(7, 2), mod=9, mod_rate=4.0),
    # forbearance plans: repaid in one month, or ending in a payment deferral
    Loan(34, 300_000, 3.75, dq=_delinquent(13, 4), forbear=(13, 14, 15, 16)),
    Loan(35, 255_000, 3.875, dq=_delinquent(14, 5), forbear=(14, 15, 16, 17, 18), defer=True),
    Loan(36, 160_000, 4.0, dq=_delinquent(15, 3), forbear=(15, 16, 17)),
]  # fmt: skip


def _svc_row(loan: Loan, age: int, **f: str) -> str:
    from openmbs.servicing import FREDDIE_SERVICING_FIELDS

    row = dict.fromkeys(FREDDIE_SERVICING_FIELDS, "")
    row["loan_sequence_number"] = loan.loan_id
    row["monthly_reporting_period"] = ym(FIRST + age)
    row["loan_age"] = str(age)
    row.update(f)
    return "|".join(row[k] for k in FREDDIE_SERVICING_FIELDS)


def servicing_rows(loan: Loan) -> list[str]:
    """The loan's monthly rows, from age 0 to its zero balance or the file's end."""
    rows: list[str] = []
    b0, rate, term = loan.upb, loan.rate, loan.term
    start = 0  # age at which the current amortisation schedule started
    deferred = 0.0
    curtailed = 0.0
    modified = False
    last_paid = -1  # age of the last paid installment
    upb = b0
    for age in range(LAST - FIRST + 1):
        dq = loan.dq.get(age, 0)
        rem = term - (age - start)
        common = {
            "remaining_months_to_legal_maturity": str(max(rem, 0)),
            "current_interest_rate": f"{rate:.3f}",
        }
        if loan.mod is not None and age == loan.mod:
            # the arrears (interest of the missed installments) join the balance
            missed = loan.dq[age - 1]
            arrears = round(upb * loan.rate / 1200.0 * missed, 2)
            b0, rate, term, start = round(upb + arrears, 2), loan.mod_rate, 480, age
            upb, modified = b0, True
            rows.append(_svc_row(
                loan, age, current_actual_upb=money(upb), current_loan_delinquency_status="0",
                remaining_months_to_legal_maturity="480", current_interest_rate=f"{rate:.3f}",
                modification_flag="Y", current_deferred_upb="0.00",
                interest_bearing_upb=money(upb), estimated_ltv="85",
                current_month_modification_cost="0.00",
            ))  # fmt: skip
            last_paid = age
            continue
        exit_code = None
        if loan.prepay == age:
            exit_code = "01"
        elif loan.repurchase == age:
            exit_code = "96"
        if exit_code:
            rows.append(_svc_row(
                loan, age, current_actual_upb="0.00", current_loan_delinquency_status="0",
                zero_balance_code=exit_code, zero_balance_effective_date=ym(FIRST + age),
                zero_balance_removal_upb=money(upb), modification_flag="P" if modified else "",
                **common,
            ))  # fmt: skip
            return rows
        if loan.zb is not None and age == loan.zb[0]:
            rows.append(_credit_event(loan, age, upb, rate, last_paid, common))
            return rows
        if loan.ra is not None and age >= loan.ra:
            rows.append(_svc_row(
                loan, age, current_actual_upb=money(upb), current_loan_delinquency_status="RA",
                due_date_of_last_paid_installment=ym(FIRST + last_paid), **common,
            ))  # fmt: skip
            continue
        if dq == 0:
            # every installment due is paid (a cure pays the missed ones); the UPB of
            # age k is the balance after k installments (age 0: the original balance),
            # less any installments deferred at the end of a forbearance plan
            deferring = loan.defer and bool(loan.forbear) and age > max(loan.forbear)
            paid = age - start - (len(loan.forbear) if deferring else 0)
            if deferring and age == max(loan.forbear) + 1:
                missed = len(loan.forbear)
                deferred = round(
                    sched(b0, rate, term, paid) - sched(b0, rate, term, paid + missed), 2
                )
            curtailed += loan.curtail if age >= MASKED else 0.0
            upb = round(sched(b0, rate, term, paid) - curtailed, 2)
            last_paid = age
        status = "XX" if age in loan.unknown else str(dq)
        shown = "0.00" if age < MASKED else money(upb)
        rows.append(_svc_row(
            loan, age, current_actual_upb=shown, current_loan_delinquency_status=status,
            modification_flag="P" if modified else "",
            current_deferred_upb=money(deferred),
            due_date_of_last_paid_installment=ym(FIRST + last_paid) if last_paid >= 0 else "",
            payment_deferral="Y" if deferred and loan.forbear and age == max(loan.forbear) + 1 else "",
            borrower_assistance_status_code="F" if age in loan.forbear else "",
            interest_bearing_upb=money(upb - deferred) if age >= MASKED else "",
            **common,
        ))  # fmt: skip
    return rows


def _credit_event(
    loan: Loan, age: int, upb: float, rate: float, last_paid: int, common: dict[str, str]
) -> str:
    """The zero-balance row of a credit event, with its loss components."""
    months = age - last_paid
    dai = round(upb * (rate - 0.25) / 1200.0 * months, 2)
    legal, upkeep, taxes, misc = loan.expenses
    total = legal + upkeep + taxes + misc
    nsp, mi, other = loan.proceeds
    if nsp == "C":
        loss_text, nsp_text = "0.00", "C"
    else:
        loss = float(nsp) + mi + other - total - (upb + dai)
        loss_text, nsp_text = money(loss), money(float(nsp))
    return _svc_row(
        loan, age, current_actual_upb="0.00",
        current_loan_delinquency_status="RA" if loan.ra is not None else str(loan.dq.get(age, months)),
        zero_balance_code=loan.zb[1] if loan.zb else "", zero_balance_effective_date=ym(FIRST + age),
        due_date_of_last_paid_installment=ym(FIRST + last_paid), mi_recoveries=money(mi),
        net_sale_proceeds=nsp_text, non_mi_recoveries=money(other), expenses=money(-total),
        legal_costs=money(-legal), maintenance_and_preservation_costs=money(-upkeep),
        taxes_and_insurance=money(-taxes), miscellaneous_expenses=money(-misc),
        actual_loss_calculation=loss_text, zero_balance_removal_upb=money(upb),
        delinquent_accrued_interest=money(dai), **common,
    )  # fmt: skip


def origination_row(loan: Loan) -> str:
    """The loan's origination record (32 fields, SFLLD order)."""
    mat = FIRST + loan.term - 1
    fields = [
        str(loan.fico), ym(FIRST), "N", ym(mat), "", "0" if loan.ltv <= 80 else "25", "1", "P",
        str(loan.ltv), "36", f"{loan.upb:.0f}", str(loan.ltv), f"{loan.rate:.3f}", "R", "N",
        "FRM", loan.state, "SF", "94100", loan.loan_id, "P", str(loan.term), "2",
        "Other sellers", "Other servicers", "", "", "9", "", "2", "N", "",
    ]  # fmt: skip
    return "|".join(fields)


def main() -> None:
    ORIG.write_text("".join(origination_row(x) + "\n" for x in LOANS))
    SVC.write_text("".join(r + "\n" for x in LOANS for r in servicing_rows(x)))
    print(f"{ORIG}: {len(LOANS)} loans; {SVC}: {sum(1 for _ in SVC.open())} loan-months")


if __name__ == "__main__":
    main()
