"""Speed of the loan-level simulator: vectorised numpy step vs a plain-Python loop.

Runs 2,000 and 20,000 loans x 360 months through ``openmbs.sim.LoanSimulator``
(150% PSA-like constant SMM, 1% CDR, curing delinquencies, curtailments) and, as the
baseline measured in the same run, a plain-Python per-loan loop implementing the same
monthly rules on a subset of loans, fed the same random draws. The baseline's totals
are compared with the simulator's on that subset (they must be identical).

A second table times the loan-state machine (``openmbs.sim._states``) at 20,000 loans
x 360 months against the old model in the same run: the assumption model as before (the
baseline), the same with loss mitigation on (modifications, forbearance plans, short
and third-party sales: two more draws a loan-month), and the transition-matrix driver
on the matrix estimated from the shared 2007 Q3 Fannie Mae file (by loan age; the row
is left out when ``$OPENMBS_SHARED_DATA`` / ``../shared/data`` is absent).

Usage: .venv/bin/python benchmarks/bench_loansim.py
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from openmbs.sim import DelinquencyAssumptions, LoanSimulator

MONTHS = 360
SMM = 1 - (1 - 0.09) ** (1 / 12)
MDR = 1 - (1 - 0.01) ** (1 / 12)
SEVERITY = 0.35
LAG = 6
DQ = DelinquencyAssumptions()


def make_tape(n: int, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table(
        {
            "loan_id": [f"L{i:07d}" for i in range(n)],
            "current_balance": rng.uniform(50_000, 700_000, n).round(2),
            "note_rate": rng.uniform(0.03, 0.08, n).round(5),
            "servicing_fee": np.full(n, 0.0025),
            "remaining_term": rng.integers(240, 361, n).astype(np.int32),
            "loan_age": rng.integers(0, 60, n).astype(np.int32),
            "amortization_type": ["fixed"] * n,
            "delinquency_status": np.zeros(n, dtype=np.int32),
        }
    )


def simulate(tape: pa.Table, seed: int) -> tuple[float, dict[str, int]]:
    t0 = time.perf_counter()
    sim = LoanSimulator(
        tape, prepayment=SMM, default=MDR, severity=SEVERITY, lag=LAG, seed=seed, delinquency=DQ
    )
    res = sim.run(MONTHS)
    dt = time.perf_counter() - t0
    totals = {
        c: int(sum(res.pool.column(c).to_pylist()))
        for c in ("scheduled_principal", "prepaid_principal", "interest", "loss", "recovery")
    }
    return dt, totals


def python_loop(tape: pa.Table, seed: int) -> tuple[float, dict[str, int]]:
    """The same monthly rules, one loan at a time, in plain Python."""
    t0 = time.perf_counter()
    n = tape.num_rows
    bal = [round(b * 1e6) for b in tape.column("current_balance").to_pylist()]
    rg = [r / 12 for r in tape.column("note_rate").to_pylist()]
    rem = tape.column("remaining_term").to_pylist()
    pay = []
    for b, r, m in zip(bal, rg, rem, strict=True):
        pay.append(round(b * r / (1 - (1 + r) ** (-m))) if r > 0 else round(b / m))
    state = [0] * n  # 0 current, 1 delinquent (curing), 2 defaulted, 3 closed
    dpd = [0] * n
    dperiod = [-1] * n
    dbal = [0] * n
    rng = np.random.default_rng(seed)
    tot = dict.fromkeys(("scheduled_principal", "prepaid_principal", "interest", "loss", "recovery"), 0)
    s = DQ.curtailment_share
    p_full = (1 - s) * SMM
    not_full = 1 - p_full
    q = s * SMM / not_full
    p_curt = max(DQ.curtailment_rate, q)
    frac = q / p_curt

    def installment(i: int) -> tuple[int, int]:
        b = bal[i]
        interest = round(b * rg[i])
        principal = b if rem[i] <= 1 else min(max(pay[i] - interest, 0), b)
        return principal, interest

    for k in range(1, MONTHS + 1):
        u = rng.random((3, n))
        for i in range(n):
            st = state[i]
            if st == 3:
                continue
            u1, u2, u3 = u[0, i], u[1, i], u[2, i]
            if st == 0:
                if u1 < MDR:
                    state[i], dperiod[i], dbal[i], dpd[i] = 2, k, bal[i], 1
                    st = 2
                elif u1 < MDR + DQ.rate:
                    state[i], dpd[i] = 1, 1
                    continue
                else:
                    p, it = installment(i)
                    bal[i] -= p
                    rem[i] -= 1
                    tot["scheduled_principal"] += p
                    tot["interest"] += it
                    after = bal[i]
                    if after > 0:
                        if u2 < p_full:
                            prepaid = after
                        elif u2 < p_full + not_full * p_curt:
                            prepaid = min(math.floor(frac * after), after)
                        else:
                            prepaid = 0
                        bal[i] -= prepaid
                        tot["prepaid_principal"] += prepaid
                    if bal[i] == 0:
                        state[i] = 3
                    continue
            if st == 1:
                if u3 < DQ.cure[min(dpd[i], 3) - 1]:
                    for _ in range(dpd[i] + 1):
                        if rem[i] < 1 or bal[i] <= 0:
                            break
                        p, it = installment(i)
                        bal[i] -= p
                        rem[i] -= 1
                        tot["scheduled_principal"] += p
                        tot["interest"] += it
                    state[i], dpd[i] = (3 if bal[i] == 0 else 0), 0
                else:
                    dpd[i] += 1
                continue
            # defaulted
            if dperiod[i] + LAG == k:
                loss = min(round(SEVERITY * dbal[i]), bal[i])
                tot["loss"] += loss
                tot["recovery"] += bal[i] - loss
                bal[i] = 0
                state[i] = 3
            elif dperiod[i] != k:
                dpd[i] += 1
    return time.perf_counter() - t0, tot


def main() -> None:
    rows = []
    for n in (2_000, 20_000):
        dt, _ = simulate(make_tape(n), seed=1)
        rows.append((f"numpy LoanSimulator, {n:,} loans", dt, n * MONTHS / dt))
    subset = 300
    tape = make_tape(subset, seed=2)
    dt_py, tot_py = python_loop(tape, seed=3)
    dt_np, tot_np = simulate(tape, seed=3)
    rows.append((f"plain-Python loop (baseline), {subset} loans", dt_py, subset * MONTHS / dt_py))
    rows.append((f"numpy LoanSimulator, same {subset} loans", dt_np, subset * MONTHS / dt_np))
    print(f"loan-level simulation, {MONTHS} months (wall time, includes set-up)")
    print(f"{'run':<48} {'seconds':>9} {'loan-months/s':>15}")
    for name, dt, rate in rows:
        print(f"{name:<48} {dt:>9.2f} {rate:>15,.0f}")
    base = subset * MONTHS / dt_py
    print(f"speed-up of the 20,000-loan run over the baseline: {rows[1][2] / base:,.0f}x")
    same = tot_py == tot_np
    print(f"baseline totals identical to the simulator's on the subset: {'yes' if same else 'NO'}")
    if not same:
        for key in tot_py:
            print(f"  {key}: python {tot_py[key]} numpy {tot_np[key]}")
        raise SystemExit(1)
    states()


def states(n: int = 20_000) -> None:
    """The loan-state machine against the old model, same tape, same run."""
    from openmbs.sim._states import LossMitigation

    tape = make_tape(n, seed=4)
    mit = LossMitigation(modification=0.05, forbearance=0.002, short_sale=0.2, third_party_sale=0.2)
    runs: list[tuple[str, dict[str, object]]] = [
        ("assumption model (old model, baseline)", {"default": MDR, "lag": LAG}),
        ("assumption model + loss mitigation", {"default": MDR, "lag": LAG, "mitigation": mit}),
    ]
    data = Path(os.environ.get("OPENMBS_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    perf = data / "fannie_sflp_2007q3_performance.txt"
    if perf.exists():
        from openmbs.servicing import estimate_transitions, read_fannie_performance

        h = read_fannie_performance(data / "fannie_sflp_2007q3_acquisition.txt", perf)
        runs.append(("transition matrix (Fannie 2007 Q3, by age)",
                     {"default": None, "transitions": estimate_transitions(h, by=("age",))}))  # fmt: skip
    print(f"\nloan states, {n:,} loans x {MONTHS} months (wall time, includes set-up)")
    print(f"{'run':<48} {'seconds':>9} {'loan-months/s':>15} {'vs baseline':>12}")
    base = 0.0
    for name, kw in runs:
        t0 = time.perf_counter()
        sim = LoanSimulator(tape, prepayment=SMM, severity=SEVERITY, seed=5, delinquency=DQ, **kw)  # type: ignore[arg-type]
        sim.run(MONTHS)
        dt = time.perf_counter() - t0
        base = base or dt
        print(f"{name:<48} {dt:>9.2f} {n * MONTHS / dt:>15,.0f} {dt / base:>11.2f}x")


if __name__ == "__main__":
    main()
