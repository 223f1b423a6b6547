"""Speed of the pricing measures on a 360-month pass-through.

Prints a table: each openmbs.pricing call against a baseline measured in the same run,
a plain-Python loop (price by summing discounted flows, yield by bisection to 1e-12).

Run: .venv/bin/python benchmarks/bench_pricing.py
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np

from openmbs.pricing import (
    analyze,
    bootstrap_par_curve,
    price_from_yield,
    yield_from_price,
    z_spread,
)


def _best(fn: Callable[[], object], repeat: int = 5, number: int = 20) -> float:
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t0) / number)
    return best


def _loop_price(cf: list[float], y: float, delay: int) -> float:
    v = 1.0 + y / 2.0
    return sum(c * v ** (-2.0 * (k + 1 + delay / 30.0) / 12.0) for k, c in enumerate(cf))


def _loop_yield(cf: list[float], target: float, delay: int) -> float:
    lo, hi = -0.5, 1.0
    while hi - lo > 1e-12:
        mid = 0.5 * (lo + hi)
        if _loop_price(cf, mid, delay) > target:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def main() -> None:
    n, bal, wac, net = 360, 1e6, 0.065, 0.06
    g = wac / 12
    b, cf, prin = bal, np.zeros(n), np.zeros(n)
    for k in range(n):
        pay = b * g / (1 - (1 + g) ** -(n - k))
        sched = pay - b * g
        pre = 0.01 * (b - sched)
        prin[k] = sched + pre
        cf[k] = b * net / 12 + prin[k]
        b -= prin[k]
    cf_list = cf.tolist()
    curve = bootstrap_par_curve([1, 2, 5, 10, 30], [0.045, 0.044, 0.042, 0.043, 0.045])
    p = price_from_yield(cf, bal, 0.06, delay_days=24)
    target = p * bal / 100

    rows = [
        (
            "price_from_yield",
            lambda: price_from_yield(cf, bal, 0.06, delay_days=24),
            lambda: _loop_price(cf_list, 0.06, 24),
        ),
        (
            "yield_from_price",
            lambda: yield_from_price(cf, bal, p, delay_days=24),
            lambda: _loop_yield(cf_list, target, 24),
        ),
        (
            "analyze (from price)",
            lambda: analyze(cf, prin, bal, price=p, delay_days=24),
            lambda: _loop_yield(cf_list, target, 24),
        ),
        ("z_spread", lambda: z_spread(cf, bal, curve, p, delay_days=24), None),
        (
            "bootstrap_par_curve (5 tenors)",
            lambda: bootstrap_par_curve([1, 2, 5, 10, 30], [0.045, 0.044, 0.042, 0.043, 0.045]),
            None,
        ),
    ]
    print(
        f"{'operation (360 months)':34s} {'openmbs us':>12s} {'py-loop us':>12s} {'speed-up':>9s}"
    )
    for name, ours, base in rows:
        t_ours = _best(ours)
        if base is None:
            print(f"{name:34s} {t_ours * 1e6:12.1f} {'-':>12s} {'-':>9s}")
            continue
        t_base = _best(base, repeat=3, number=3)
        print(f"{name:34s} {t_ours * 1e6:12.1f} {t_base * 1e6:12.1f} {t_base / t_ours:8.1f}x")


if __name__ == "__main__":
    main()
