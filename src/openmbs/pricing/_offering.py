"""The price of one class at an offering yield: what a deal's ``offering_price`` is set to.

A class's offering price (spec key ``offering_price``, percent of original face or, for
an IO strip, of original notional) is what the primary offering on chain charges per
unit of face. :func:`price_at_yield` gives it from the class's projected cash flows.
"""

from __future__ import annotations

from openmbs.errors import InputError
from openmbs.pricing._measures import price_from_yield
from openmbs.structuring import Collections, DealSpec, ExactDeal, run_waterfall

__all__ = ["price_at_yield"]


def price_at_yield(
    deal: DealSpec | ExactDeal,
    collections: Collections,
    tranche: str,
    yield_: float,
    *,
    delay_days: float = 0.0,
    scenario: int = 0,
) -> float:
    """Price of one class per 100 of original face (an IO strip: of original notional)
    at a bond-equivalent yield, from its projected cash flows.

    Parameters
    ----------
    deal : DealSpec or ExactDeal
        The deal.
    collections : Collections
        The pool's projected collections (currency units), for instance
        ``collections_from_projection(project_pool(...))`` at the pricing speed.
    tranche : str
        The class's name.
    yield_ : float
        Bond-equivalent yield, decimal (0.07 is 7%).
    delay_days : float, default 0
        Days after each accrual month's end at which cash is paid (the deal's
        ``payment_delay_days``).
    scenario : int, default 0
        Which scenario of ``collections``.

    Returns
    -------
    float
        ``100 / original face x sum CF_k (1 + y/2) ** (-2 t_k)``, the class's interest
        plus principal run through the deal's waterfall (:func:`run_waterfall`) and
        discounted by :func:`openmbs.pricing.price_from_yield`, settling at closing.
        Divide by 100 for the offering price as a fraction of face; the spec key
        ``offering_price`` takes the percent itself.

    Notes
    -----
    SIFMA Uniform Practices, Standard Formulas, section G (price from yield, 30/360
    timing with the payment delay). For an IO strip the face is its original notional,
    so the price is per 100 of notional, the market's quote for an IO.

    Examples
    --------
    >>> from openmbs.behaviour import Default, Prepayment
    >>> from openmbs.cashflow import project_pool
    >>> from openmbs.pricing import price_at_yield
    >>> from openmbs.structuring import collections_from_projection, example_deal
    >>> spec = example_deal("pac_io")
    >>> p = spec.pool
    >>> cf = project_pool(balance=p.balance, gross_coupon=p.wac, net_coupon=p.net_coupon,
    ...                   original_term=p.term, remaining_term=p.term, loan_age=0,
    ...                   prepayment=Prepayment.psa(150), default=Default.cdr(0.0),
    ...                   severity=0.0, lag=0)
    >>> round(price_at_yield(spec, collections_from_projection(cf), "IO", 0.07,
    ...                      delay_days=spec.payment_delay_days), 2)
    3.01
    """
    if not 0 <= scenario < collections.n_scenarios:
        raise InputError(f"scenario {scenario!r}: the collections have {collections.n_scenarios} scenario(s)")
    res = run_waterfall(deal, collections, keep=("interest_paid", "principal_paid"))
    i = res.tranche(tranche)
    cash = res.table("interest_paid")[scenario][:, i] + res.table("principal_paid")[scenario][:, i]
    return float(price_from_yield(cash, float(res.face[i]), yield_, delay_days=delay_days))
