"""The blocked pool-total kernel (``_fast``) against the chunked reference kernel.

``project_loans`` runs the blocked kernel; ``_project_loans(..., engine="chunked")``
runs the chunked kernel of ``_kernels``, an independent loop (loans in chunks of 256,
every total summed per lane, per-lane gathers, no derived rows) that is itself checked
against the plain-Python transcription of the SIFMA text in ``test_cf_properties.py``.
Every column of ``PoolCashflows`` must agree to 1e-9 relative.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openmbs.behaviour import Default, Prepayment
from openmbs.cashflow import ADVANCE_MODES, PoolCashflows, project_loans
from openmbs.cashflow._fast import (
    LANES_DEFAULT,
    LANES_PREPAY,
    _level_payment,
    _zeros64,
    sort_order,
)
from openmbs.cashflow._project import _project_loans

prepayments = st.one_of(
    st.floats(0.0, 0.6).map(Prepayment.cpr),
    st.floats(0.0, 800.0).map(Prepayment.psa),
    st.floats(0.0, 0.03).map(Prepayment.abs),
    st.lists(st.floats(0.0, 0.5), min_size=1, max_size=20).map(Prepayment.cpr),
)
defaults = st.one_of(
    st.floats(0.001, 0.3).map(Default.cdr),
    st.floats(1.0, 2000.0).map(Default.sda),
    st.floats(0.0001, 0.05).map(Default.mdr),
    st.lists(st.floats(0.0, 0.2), min_size=1, max_size=20).map(Default.cdr),
)


def _pool(seed: int, n: int, n_ages: int) -> tuple[np.ndarray, ...]:
    """A heterogeneous pool; ``n_ages`` small gives long runs of loans of one age
    (blocks with one rate column), large gives mixed blocks."""
    rng = np.random.default_rng(seed)
    bal = rng.uniform(1e3, 1e6, n)
    gross = rng.integers(0, 100, n) / 800.0  # 0% .. 12.375%, zero coupons included
    net = np.maximum(gross - rng.choice([0.0, 0.0025, 0.005], n), 0.0)
    age = rng.integers(0, n_ages, n) * 7
    orig = rng.choice([12, 120, 180, 360], n)
    rem = np.maximum(orig - age, 1)
    return bal, gross, net, rem, age


def _compare(fast: PoolCashflows, ref: PoolCashflows) -> None:
    assert fast.n_periods == ref.n_periods
    assert fast.original_balance == pytest.approx(ref.original_balance, rel=1e-15)
    atol = 1e-12 * ref.original_balance  # for columns that are zero or tend to zero
    for name, arr in ref.to_dict().items():
        np.testing.assert_allclose(getattr(fast, name), arr, rtol=1e-9, atol=atol,
                                   err_msg=name)


def _both(pool: tuple[np.ndarray, ...], **kw: Any) -> tuple[PoolCashflows, PoolCashflows]:
    kw.setdefault("n_periods", None)
    fast = _project_loans(*pool, engine="fast", **kw)
    ref = _project_loans(*pool, engine="chunked", **kw)
    return fast, ref


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 700), st.sampled_from([1, 3, 60]), prepayments,
       st.one_of(st.none(), defaults), st.floats(0.0, 1.0), st.integers(0, 12),
       st.sampled_from(ADVANCE_MODES))
def test_fast_kernel_equals_chunked_kernel(seed, n, n_ages, prepay, default, severity, lag,  # type: ignore[no-untyped-def]
                                           advance) -> None:
    pool = _pool(seed, n, n_ages)
    fast, ref = _both(pool, prepayment=prepay, default=default, severity=severity, lag=lag,
                      advance=advance)
    _compare(fast, ref)


@pytest.mark.parametrize("lag", range(13))
@pytest.mark.parametrize("advance", ADVANCE_MODES)
def test_every_lag_with_and_without_advancing(lag: int, advance: str) -> None:
    # more loans than a block, one age (the broadcast loop) plus a mixed tail (the
    # gather loop), SDA (age-dependent) and PSA
    pool = _pool(lag, 3 * LANES_DEFAULT + 5, 1)
    mixed = _pool(100 + lag, 2 * LANES_DEFAULT, 40)
    both = tuple(np.concatenate([a, b]) for a, b in zip(pool, mixed, strict=True))
    fast, ref = _both(both, prepayment=Prepayment.psa(175), default=Default.sda(250),
                      severity=0.45, lag=lag, advance=advance)
    _compare(fast, ref)
    assert fast.loss.sum() > 0.0  # defaults were exercised


@pytest.mark.parametrize("n_periods", [1, 7, 100, 400])
@pytest.mark.parametrize("default", [None, Default.cdr(0.03)])
def test_horizon_shorter_or_longer_than_terms(n_periods: int, default: Default | None) -> None:
    pool = _pool(7, LANES_PREPAY + 3, 2)
    fast, ref = _both(pool, prepayment=Prepayment.cpr(0.1), default=default, severity=0.3,
                      lag=4, n_periods=n_periods)
    _compare(fast, ref)


def test_prepayment_only_large_uniform_pool() -> None:
    # many full blocks of one age and one term: the broadcast, no-select loop
    n = 4 * LANES_PREPAY
    rng = np.random.default_rng(3)
    bal = rng.uniform(5e4, 8e5, n)
    gross = rng.integers(20, 64, n) / 800.0
    net = gross - 0.005
    pool = (bal, gross, net, np.full(n, 300), np.full(n, 60))
    fast, ref = _both(pool, prepayment=Prepayment.psa(150))
    _compare(fast, ref)
    # and the public entry point is the fast kernel
    pub = project_loans(*pool, prepayment=Prepayment.psa(150))
    np.testing.assert_array_equal(pub.cash_flow, fast.cash_flow)


def test_sort_order_groups_columns_then_terms() -> None:
    rng = np.random.default_rng(0)
    n = 5000
    rem = rng.integers(0, 400, n).astype(np.int64)
    srow = rng.integers(0, 30, n).astype(np.int64)
    drow = rng.integers(0, 3, n).astype(np.int64)
    order = sort_order(rem, srow, drow)
    assert np.array_equal(np.sort(order), np.arange(n))  # a permutation
    expected = np.lexsort((rem, drow, srow))  # numpy's stable lexicographic sort
    np.testing.assert_array_equal(order, expected)


@pytest.mark.parametrize("lanes", [LANES_PREPAY, LANES_DEFAULT])
@pytest.mark.parametrize("default", [None, Default.sda(300)])
@pytest.mark.parametrize("advance", ADVANCE_MODES)
def test_padded_block_of_one_column(lanes: int, default: Default | None, advance: str) -> None:
    # one age, so one rate column: full blocks plus one padded block (a remainder of at
    # least a quarter of a block), whose empty lanes must not end the shared loop or
    # change any total; zero coupons and one-month terms included
    n = lanes + lanes // 2 + 1
    rng = np.random.default_rng(lanes)
    bal = rng.uniform(1e3, 1e6, n)
    gross = rng.integers(0, 100, n) / 800.0
    gross[:5] = 0.0
    net = np.maximum(gross - 0.0025, 0.0)
    rem = rng.integers(1, 361, n)
    rem[-3:] = 1
    pool = (bal, gross, net, rem, np.full(n, 24))
    fast, ref = _both(pool, prepayment=Prepayment.psa(200), default=default, severity=0.4,
                      lag=5, advance=advance)
    _compare(fast, ref)


@pytest.mark.parametrize("rate", [1e-12, 1e-6, 0.0001, 0.0025, 0.004, 0.005, 0.01, 0.05])
def test_level_payment_on_both_sides_of_the_expm1_switch(rate: float) -> None:
    # the payment uses exp where (1 + c)^-n is far from 1 and expm1 near it (switch at
    # n log(1 + c) = 0.5); both must give B c / (1 - (1 + c)^-n), computed here exactly
    # in rationals from the same float inputs
    balance = 250_000.0
    r = Fraction(rate)
    for term in (1, 2, 12, 60, 100, 124, 126, 180, 360, 480):
        exact = Fraction(balance) * r / (1 - (1 + r) ** -term)
        assert _level_payment(balance, rate, term) == pytest.approx(float(exact), rel=1e-13)
    assert _level_payment(balance, 0.0, 360) == pytest.approx(balance / 360, rel=1e-15)


def test_block_state_is_cache_line_aligned() -> None:
    for n in (1, 7, 128, 9 * LANES_DEFAULT, 12 * LANES_DEFAULT):
        a = _zeros64(n)
        assert a.size == n
        assert a.ctypes.data % 64 == 0
        assert not a.any()
