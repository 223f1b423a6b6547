"""Deploy and drive ``ExactWaterfall.vy``, the on-chain port of the exact waterfall.

The contract takes the flat integer parameters of
:func:`openmbs.structuring.compile_exact` (arrays padded to their fixed bounds) and
keeps the exact engine's state in its own storage; these helpers convert between the
Python dataclasses of :mod:`openmbs.structuring._exact` and the contract's structs.
"""

from __future__ import annotations

import dataclasses
from functools import cache
from typing import Any

from openmbs.chain._contracts import BOUNDS, abi_deployer, bound_for, deployer
from openmbs.errors import ChainError
from openmbs.structuring import (
    MAX_FEES,
    MAX_STEPS,
    MAX_TRANCHES,
    MAX_TRIGGERS,
    ExactDeal,
    ExactPeriodResult,
    ExactRemittance,
    ExactState,
    check_chain,
)

__all__ = [
    "MAX_PAC",
    "MAX_STEPS",
    "ZERO_ADDRESS",
    "apply_onchain",
    "deploy_exact_waterfall",
    "exact_params",
    "exact_waterfall_deployer",
    "params_fields",
    "read_params",
    "read_state",
    "report_struct",
    "tranche_words",
]

#: The waterfall's ``rules`` for a deal in the fixed order (no rule program).
ZERO_ADDRESS = "0x" + "00" * 20

#: ``_exact.CPN_FLOAT`` and ``_exact.CPN_INVERSE`` (the contract's own table is
#: pinned to ``_exact.py`` by tests/chain/test_exact_waterfall_tables.py, these two by
#: tests/chain/test_exact_waterfall_rules.py).
_CPN_FLOAT = 2
_CPN_INVERSE = 5
#: ``_exact.NOTIONAL_GROUP`` (the contract's own value; pinned by a test).
_NOTIONAL_GROUP = 256
#: ``ExactParams.penalty_to`` (``excess_to``) of a deal paying its prepayment penalties (excess interest) to the residual
#: holder (the contract's ``PENALTY_RESIDUAL``; ``ExactDeal.penalty_to`` -1).
PENALTY_RESIDUAL = 2**256 - 1

#: Longest PAC schedule the contract stores.
MAX_PAC = 360

#: ``ExactPeriodResult`` fields that are per-tranche tuples (padded to 8 on chain).
_TRANCHE_FIELDS = (
    "beginning_balance",
    "interest_due",
    "interest_paid",
    "accreted",
    "interest_shortfall",
    "principal_paid",
    "writedown",
    "writeup",
    "ending_balance",
    "interest_index",
    "principal_index",
    "loss_index",
    "writeup_index",
)


def _pad(values: tuple[int, ...], size: int, what: str) -> list[int]:
    if len(values) > size:
        raise ChainError(
            f"exact waterfall: {what} has {len(values)} entries, more than the bound {size}"
        )
    return list(values) + [0] * (size - len(values))


@cache
def exact_waterfall_deployer(bound: int = MAX_TRANCHES) -> Any:
    """A cached titanoboa deployer (``boa.load_partial``) of ``ExactWaterfall.vy`` in
    the ``bound``-class build (``openmbs.chain._contracts.BOUNDS``; default the
    largest, which takes any deal)."""
    return deployer("ExactWaterfall", bound)


#: Bit positions of ``ExactParams.tranche_word`` (the contract's ``TW_*``): 32 bits
#: each, the accretion mask in the top 64.
TW_FIELDS: tuple[tuple[str, int], ...] = (
    ("coupon_kind", 0),
    ("priority", 32),
    ("rank_start", 64),
    ("rank_end", 96),
    ("flags", 128),
    ("io_ref", 160),
    ("accretion_mask", 192),
)
_TW_FIELD_MAX = 2**32 - 1


def tranche_words(deal: ExactDeal) -> tuple[int, ...]:
    """Each tranche's packed small fields (``ExactParams.tranche_word``, see
    :data:`TW_FIELDS`): ``sum(field << shift)``."""
    words = []
    for i in range(deal.n_tranches):
        word = 0
        for name, shift in TW_FIELDS:
            value = getattr(deal, name)[i]
            limit = 2**64 - 1 if name == "accretion_mask" else _TW_FIELD_MAX
            if not 0 <= value <= limit:
                raise ChainError(f"exact waterfall: class {i} field {name!r} value {value}: does not fit its bits")
            word |= value << shift
        words.append(word)
    return tuple(words)


def chain_io_refs(deal: ExactDeal) -> tuple[int, ...]:
    """Each class's IO reference as the contract reads it: a class index, 255 for the
    pool, and for an IO strip on a group (``_exact.NOTIONAL_GROUP + g``)
    ``NOTIONAL_GROUP + the bit mask of the group's classes``."""
    out = []
    for ref in deal.io_ref:
        if ref >= _NOTIONAL_GROUP:
            g = ref - _NOTIONAL_GROUP
            mask = 0
            for q in range(deal.grp_start[g], deal.grp_end[g]):
                mask |= 1 << deal.grp_members[q]
            ref = _NOTIONAL_GROUP + mask
        out.append(ref)
    return tuple(out)


def coupon_rates(deal: ExactDeal) -> tuple[int, ...]:
    """``ExactParams.rate``: each class's fixed rate, or for a floater or inverse
    floater (which has no fixed rate) its index multiplier (WAD; 0 when the deal has
    none, which the contract reads as 1, as ``_exact._coupon_rate`` does)."""
    out = []
    for i, rate in enumerate(deal.rate):
        if deal.coupon_kind[i] in (_CPN_FLOAT, _CPN_INVERSE):
            rate = deal.multiplier[i] if deal.multiplier else 0
        out.append(rate)
    return tuple(out)


def exact_params(deal: ExactDeal, bound: int = MAX_TRANCHES) -> tuple[Any, ...]:
    """The contract's ``ExactParams`` struct (field order) from an :class:`ExactDeal`,
    its class rows padded to ``bound`` (the build's ``MAX_TRANCHES``; a deal of more
    classes is refused).

    Raises :class:`~openmbs.errors.SpecError` for a deal using constructs of the deal
    language the contract cannot run yet (groups, principal or accrual rules, ...: see
    :func:`openmbs.structuring.chain_unsupported`): the contract would otherwise run the
    fixed order and silently ignore the rules.
    """
    check_chain(deal)
    t = bound
    return (
        deal.n_tranches,
        _pad(deal.face, t, "face"),
        _pad(coupon_rates(deal), t, "rate"),
        _pad(deal.margin, t, "margin"),
        _pad(deal.cap, t, "cap"),
        _pad(deal.floor, t, "floor"),
        _pad(tranche_words(dataclasses.replace(deal, io_ref=chain_io_refs(deal))), t, "tranche_word"),
        _pad(deal.rule, t, "rule"),
        _pad(deal.group_start, t, "group_start"),
        _pad(deal.group_end, t, "group_end"),
        _pad(deal.lockout, t, "lockout"),
        deal.n_fees,
        _pad(deal.fee_rate, MAX_FEES, "fee_rate"),
        _pad(deal.fee_fixed, MAX_FEES, "fee_fixed"),
        _pad(deal.fee_cap, MAX_FEES, "fee_cap"),
        deal.reserve_initial,
        deal.reserve_floor,
        deal.reserve_pct,
        deal.reserve_flags,
        deal.n_triggers,
        _pad(deal.trig_test, MAX_TRIGGERS, "trig_test"),
        _pad(deal.trig_ref, MAX_TRIGGERS, "trig_ref"),
        _pad(deal.trig_threshold, MAX_TRIGGERS, "trig_threshold"),
        _pad(deal.trig_effect, MAX_TRIGGERS, "trig_effect"),
        _pad(deal.trig_curable, MAX_TRIGGERS, "trig_curable"),
        len(deal.steps),
        _pad(deal.steps, MAX_STEPS, "steps"),
        deal.interest_on_shortfall,
        deal.cleanup_wad,
        deal.pool_original,
        deal.penalty_to if deal.penalty_to >= 0 else PENALTY_RESIDUAL,
        deal.excess_to if deal.excess_to >= 0 else PENALTY_RESIDUAL,
    )


def params_fields(abi: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ``ExactParams`` fields (ABI components: ``name``, ``type``), from the
    waterfall's ABI (its constructor's first input). Empty for another contract."""
    for item in abi:
        if item.get("type") == "constructor" and item.get("inputs"):
            return list(item["inputs"][0].get("components", []))
    return []


def read_params(contract: Any) -> tuple[Any, ...]:
    """The ``ExactParams`` a deployed waterfall runs on, decoded from the code of its
    parameters contract (``params_data()``: a STOP byte, then ``abi_encode(ExactParams)``;
    the waterfall has no view decoding it, which would take 2.5 KB of its code).

    Raises :class:`~openmbs.errors.ChainError` when that code is not a STOP byte and
    exactly one encoding (the re-encoding of what it decodes to must be the code).
    """
    import boa
    from eth_abi.abi import decode, encode

    types = "(" + ",".join(str(c["type"]) for c in params_fields(contract.abi)) + ")"
    address = str(contract.params_data())
    code = bytes(boa.env.get_code(address))
    try:
        (params,) = decode([types], code[1:])
    except Exception as exc:  # eth_abi's decoding errors have no common base
        raise ChainError(f"exact waterfall {contract.address}: parameters contract {address}: "
                         f"{len(code)} bytes, not an ExactParams encoding ({exc})") from None
    if code[:1] != b"\x00" or b"\x00" + encode([types], [params]) != code:
        raise ChainError(f"exact waterfall {contract.address}: parameters contract {address}: "
                         f"{len(code)} bytes, not a STOP byte and exactly one ExactParams encoding")
    return tuple(params)


def _deal_bound(deal: ExactDeal, bound: int | None) -> int:
    """``bound``, or the smallest build holding ``deal``'s classes; refused when the
    build is too small for the deal."""
    if bound is None:
        return bound_for(deal.n_tranches)
    if bound not in BOUNDS or deal.n_tranches > bound:
        raise ChainError(
            f"exact waterfall: a deal of {deal.n_tranches} classes cannot run on the {bound}-class "
            f"build (builds: {list(BOUNDS)}; the smallest that holds it: {bound_for(deal.n_tranches)})"
        )
    return bound


def deploy_exact_waterfall(
    deal: ExactDeal,
    deal_address: str,
    *,
    sender: str | None = None,
    from_artifact: bool = False,
    bound: int | None = None,
) -> Any:
    """Deploy ``ExactWaterfall`` for ``deal``, load its PAC schedules and seal it.

    A deal with rules (``deal.program``) first gets its ``RuleProgram``
    (:func:`openmbs.chain._rule_program.deploy_rule_program`, sealed), whose address
    the waterfall keeps (``rules()``); the fixed order gets the zero address.

    Parameters
    ----------
    deal : ExactDeal
        The compiled deal (:func:`openmbs.structuring.compile_exact`).
    deal_address : str
        The only address allowed to call ``allocate`` / ``apply`` (the Deal contract).
    sender : str, optional
        Deployer (default ``boa.env.eoa``); it alone loads the PAC schedules and seals.
    from_artifact : bool
        Deploy from the cached compiled artefacts (``abi_deployer``) instead of
        titanoboa's compiler front end (the same code).
    bound : int, optional
        The build's class bound (``openmbs.chain._contracts.BOUNDS``); default the
        smallest that holds the deal's classes (``bound_for``), as ``deploy_deal``
        chooses for the deal's other contracts.

    Returns
    -------
    The titanoboa contract.
    """
    from openmbs.chain._rule_program import deploy_rule_program

    bound = _deal_bound(deal, bound)
    kw: dict[str, Any] = {} if sender is None else {"sender": sender}
    params = exact_params(deal, bound)
    rules = ZERO_ADDRESS
    if deal.program:
        rules = str(deploy_rule_program(deal, sender=sender, from_artifact=from_artifact, bound=bound).address)
    dep = abi_deployer("ExactWaterfall", bound) if from_artifact else exact_waterfall_deployer(bound)
    contract = dep.deploy(params, deal_address, rules, **kw)
    for i, schedule in enumerate(deal.pac_schedule):
        if schedule:
            if len(schedule) > MAX_PAC:
                raise ChainError(
                    f"exact waterfall: PAC schedule of class {i} has {len(schedule)} periods, "
                    f"more than {MAX_PAC}"
                )
            contract.set_pac_schedule(i, list(schedule), **kw)
    contract.seal(**kw)
    return contract


def report_struct(
    rem: ExactRemittance,
    *,
    delinquent_30: int = 0,
    delinquent_90_plus: int = 0,
    loan_count: int = 0,
    loan_tape_root: bytes = b"\x00" * 32,
) -> tuple[Any, ...]:
    """The deal's ``RemittanceReport`` struct (field order) for an exact remittance.

    ``rem.delinquent_60`` is the 60+ day balance the exact engine tests; the report
    splits it into 60-89 days (``rem.delinquent_60 - delinquent_90_plus``) and
    ``delinquent_90_plus``, which the contract adds back. ``cash`` is the collections.
    """
    d60 = rem.delinquent_60 - delinquent_90_plus
    if d60 < 0 or delinquent_30 < 0:
        raise ChainError(
            f"exact waterfall: period {rem.period}: 90+ day balance {delinquent_90_plus} is more "
            f"than the 60+ balance {rem.delinquent_60}, or 30-59 day balance {delinquent_30} < 0"
        )
    cash = (
        rem.interest
        + rem.scheduled_principal
        + rem.prepaid_principal
        + rem.recoveries
        + rem.subsequent_recoveries
        + rem.prepayment_penalties
    )
    return (
        rem.period,
        rem.scheduled_principal,
        rem.prepaid_principal,
        rem.interest,
        rem.recoveries,
        rem.realized_losses,
        rem.beginning_balance,
        rem.ending_balance,
        loan_count,
        delinquent_30,
        d60,
        delinquent_90_plus,
        rem.index_rate,
        cash,
        loan_tape_root,
        rem.subsequent_recoveries,
        0,
        0,
        0,
        rem.prepayment_penalties,
        0,
    )


def apply_onchain(
    contract: Any,
    deal: ExactDeal,
    rem: ExactRemittance,
    sender: str,
    *,
    delinquent_30: int = 0,
    delinquent_90_plus: int = 0,
) -> ExactPeriodResult:
    """Run ``contract.apply`` (as ``sender``, the bound deal) on the report of ``rem``
    (:func:`report_struct`, with the given delinquency buckets) and return the figures
    as an :class:`ExactPeriodResult` trimmed to the deal's sizes."""
    report = report_struct(rem, delinquent_30=delinquent_30, delinquent_90_plus=delinquent_90_plus)
    out = contract.apply(report, sender=sender)
    n, nf, nt = deal.n_tranches, deal.n_fees, deal.n_triggers

    def tr(name: str) -> tuple[int, ...]:
        return tuple(int(x) for x in getattr(out, name)[:n])

    fields: dict[str, Any] = {name: tr(name) for name in _TRANCHE_FIELDS}
    return ExactPeriodResult(
        period=int(out.period),
        fees_paid=tuple(int(x) for x in out.fees_paid[:nf]),
        reserve_draw=int(out.reserve_draw),
        reserve_deposit=int(out.reserve_deposit),
        reserve_release=int(out.reserve_release),
        reserve_balance=int(out.reserve_balance),
        trigger_failing=tuple(int(x) for x in out.trigger_failing[:nt]),
        effects=int(out.effects),
        residual_paid=int(out.residual_paid),
        dust=int(out.dust),
        dust_change=int(out.dust_change),
        cash_in=int(out.cash_in),
        cash_out=int(out.cash_out),
        cleanup_eligible=bool(out.cleanup_eligible),
        **fields,
    )


def read_state(contract: Any, deal: ExactDeal) -> ExactState:
    """The contract's stored state (one ``get_state`` call) as an :class:`ExactState`."""
    n, nf, nt = deal.n_tranches, deal.n_fees, deal.n_triggers
    out = contract.get_state()

    def row(values: Any, size: int) -> tuple[int, ...]:
        return tuple(int(x) for x in values[:size])

    return ExactState(
        period=int(out.period),
        balance=row(out.balance, n),
        shortfall=row(out.shortfall, n),
        writedown=row(out.writedown, n),
        fee_shortfall=row(out.fee_shortfall, nf),
        reserve=int(out.reserve),
        latch=row(out.latch, nt),
        cum_loss=int(out.cum_loss),
        dust=int(out.dust),
        interest_index=row(out.index[0], n),
        principal_index=row(out.index[1], n),
        loss_index=row(out.index[2], n),
        writeup_index=row(out.index[3], n),
        interest_carry=row(out.carry[0], n),
        principal_carry=row(out.carry[1], n),
        loss_carry=row(out.carry[2], n),
        writeup_carry=row(out.carry[3], n),
    )
