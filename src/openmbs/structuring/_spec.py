"""The deal spec: a TOML file validated with pydantic.

A deal is described by one TOML document (see ``docs/structuring.md`` and the files in
``openmbs/examples/deals``). :func:`load_deal` reads and validates it; every error names
the file, the key path (``tranches[1].rate``) and the offending value, raised as
:class:`openmbs.errors.SpecError`.

Units: money in currency units of the settlement asset (``500_000_000`` is $500M of a
USD stablecoin), rates and ratios as decimals (``0.045`` is 4.5%), PSA speeds in percent
of PSA (``100``), periods in months.
"""

from __future__ import annotations

import datetime as dt
import difflib
import tomllib
import typing
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from openmbs.errors import SpecError

__all__ = [
    "DEFAULT_ORDER",
    "EXAMPLE_DEALS",
    "LANGUAGE_EXAMPLES",
    "MAX_CLASSES",
    "AccrualRulesSpec",
    "AssetSpec",
    "DealSpec",
    "FeeSpec",
    "GroupSpec",
    "PoolSpec",
    "PricingOverrideSpec",
    "RepLineSpec",
    "ReserveSpec",
    "RuleSpec",
    "TrancheSpec",
    "TriggerSpec",
    "example_deal",
    "example_deal_path",
    "load_deal",
    "parse_deal",
    "resolve_deal",
]

#: The example deals shipped in ``openmbs/examples/deals`` (the file stem is the name).
EXAMPLE_DEALS: tuple[str, ...] = ("four_tranche", "pac_io", "senior_sub")
#: Example deals in the deal language (``openmbs/examples/deals/language``): the
#: Python engines run them; the on-chain waterfall does not yet (they are kept apart
#: from :data:`EXAMPLE_DEALS`, every one of which runs on chain).
LANGUAGE_EXAMPLES: tuple[str, ...] = ("agency_remic",)

StepName = Literal[
    "fees",
    "interest",
    "writeup",
    "principal",
    "excess_covers_losses",
    "reserve_covers_losses",
    "writedown",
    "trigger_excess",
    "reserve_topup",
    "residual",
]

#: The order of payments used when the spec does not give one.
DEFAULT_ORDER: tuple[StepName, ...] = (
    "fees",
    "interest",
    "writeup",
    "principal",
    "reserve_covers_losses",
    "writedown",
    "trigger_excess",
    "reserve_topup",
    "residual",
)


#: Most classes a deal may have (the Python engines; the chain takes fewer, see
#: ``chain_unsupported`` in ``_compile.py``).
MAX_CLASSES = 64


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AssetSpec(_Model):
    """The settlement asset: every exact-mode amount is in its base units."""

    symbol: str = Field("USDC", min_length=1, max_length=16)
    decimals: int = Field(6, ge=0, le=18)


class RepLineSpec(_Model):
    """One representative line of the collateral (a prospectus's "assumed mortgage loan").

    ``balance`` (currency units), ``wac`` and ``net_coupon`` (decimals), ``term``
    (original term, months), ``remaining_term`` (months; default ``term - age``) and
    ``age`` (months). Each rep line is projected on its own and the flows are summed.
    """

    balance: float = Field(..., gt=0)
    wac: float = Field(..., ge=0, lt=1)
    net_coupon: float = Field(..., ge=0, lt=1)
    term: int = Field(..., ge=1, le=600)
    remaining_term: int | None = Field(None, ge=1, le=600)
    age: int = Field(0, ge=0, le=600)


class PricingOverrideSpec(_Model):
    """Rep lines used instead of the pool's at one PSA speed (prospectuses price 0% PSA
    on a worst-case coupon and term)."""

    psa: float = Field(..., ge=0)
    replines: list[RepLineSpec] = Field(..., min_length=1, max_length=64)


class PoolSpec(_Model):
    """The reference collateral: sizes tranches given in percent and PAC schedules.

    ``balance`` is the pool balance at closing (currency units). ``wac``/``net_coupon``
    (decimals), ``term`` (original term, months) and ``age`` (months) describe the
    collateral used to compute PAC band schedules. With ``servicing_in_net_rate`` the
    interest collected is already net of the servicing strip; otherwise a ``servicing``
    fee is paid in the waterfall from gross interest.
    """

    balance: float | None = Field(None, gt=0)
    wac: float | None = Field(None, ge=0, lt=1)
    net_coupon: float | None = Field(None, ge=0, lt=1)
    term: int | None = Field(None, ge=1, le=600)
    age: int = Field(0, ge=0, le=600)
    servicing_in_net_rate: bool = True
    replines: list[RepLineSpec] = Field(default_factory=list, max_length=64)
    pricing: list[PricingOverrideSpec] = Field(default_factory=list, max_length=16)


class TrancheSpec(_Model):
    """One class of notes.

    Sizing: exactly one of ``balance`` (currency units), ``percent`` (fraction of the
    pool balance) or ``remainder = true`` (pool balance less every other sized class);
    a PAC with a ``pac_band`` and no size takes the full band capacity; an IO strip has
    no face of its own (its notional follows ``notional``).

    Principal: ``sequential`` by priority; ``pro_rata`` shares by balance with the
    other ``pro_rata`` classes of the same ``group`` (adjacent in priority; they still
    rank by priority for interest and losses); ``pac`` down to its schedule first,
    ``support`` absorbs the rest; ``none`` for IO strips. ``lockout`` periods without
    principal.

    Coupon: ``fixed`` (``rate``), ``floating`` (index + ``margin`` within ``floor`` and
    ``cap``), ``net_wac`` (pool net WAC + ``margin``), ``fixed_capped`` (``rate`` capped
    at the pool net WAC), or ``none`` (PO, residual-like classes).

    Offering: ``offering_price`` is what the primary offering charges, in percent of
    the class's original face (an IO strip's: of its original notional); 100 (par)
    by default for a class with face, REQUIRED for an IO strip (its notional is not
    what it is worth).
    """

    name: str = Field(..., min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.\-]+$")
    balance: float | None = Field(None, ge=0)
    percent: float | None = Field(None, ge=0, le=1)
    remainder: bool = False
    coupon: Literal[
        "fixed", "floating", "inverse_floating", "net_wac", "fixed_capped", "none"
    ] = "fixed"
    rate: float = Field(0.0, ge=0, lt=1)
    margin: float = Field(0.0, gt=-1, lt=1)
    multiplier: float = Field(1.0, gt=0, le=100)
    cap: float | None = Field(None, ge=0, lt=1)
    floor: float = Field(0.0, ge=0, lt=1)
    priority: int = Field(..., ge=1, le=99)
    group: str | None = Field(None, min_length=1, max_length=32)
    principal: Literal["sequential", "pro_rata", "pac", "support", "none"] = "sequential"
    lockout: int = Field(0, ge=0, le=600)
    pac_band: tuple[float, float] | None = None
    pac_schedule: list[float] | None = None
    notional: str | None = None
    accrual: bool = False
    accretion_targets: list[str] = Field(default_factory=list)
    offering_price: float | None = Field(None, gt=0, le=1000)


class GroupSpec(_Model):
    """Classes paid together against one planned-balance (PAC or TAC) schedule.

    ``classes`` in payment order; ``pay`` how cash paid to the group is shared among
    them (``sequential``: in the listed order, each to zero; ``pro_rata``: by balance;
    ``rules``: by the group's own ``rules``, a rule list naming only its classes --
    ``sequential``, ``pro_rata``, ``concurrent``, with ``when``/``unless`` -- and what
    they leave to its classes in the listed order).
    The schedule: ``kind = "pac"`` with a PSA ``band = [lower, upper]``, ``kind =
    "tac"`` with a single ``speed`` (a one-speed band), or an explicit
    ``planned_balance`` (the group's scheduled ending balance for periods 1, 2, ...,
    0 after the last); ``kind = "none"`` for a group with no schedule (paid only by
    "to zero" rules). ``lockout`` periods with no scheduled principal (the planned
    balance stays at the group's face). ``deferral`` periods in which the schedule is
    not paid (the planned rule pays nothing); from the next period the group is paid
    down to its planned balance, so what the schedule called for meanwhile is caught
    up as the cash allows (any shortfall against a schedule is caught up later: the
    planned balance is cumulative). A lockout moves the schedule (structured with no
    principal in those periods); a deferral keeps the schedule and delays its payment.
    ``shares`` (with a ``band`` or ``speed``): the classes take no size of their own;
    the group's face is its structuring capacity (the sum of the principal scheduled
    at its band), split among ``classes`` by these fractions (in class order, summing
    to 1; floored to base units, the last class takes the rest), and the ``remainder``
    class gives up what the group takes.
    """

    name: str = Field(..., min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.\-]+$")
    classes: list[str] = Field(..., min_length=1, max_length=MAX_CLASSES)
    pay: Literal["sequential", "pro_rata", "rules"] = "sequential"
    rules: list[RuleSpec] = Field(default_factory=list, max_length=32)
    kind: Literal["pac", "tac", "none"] = "pac"
    band: tuple[float, float] | None = None
    speed: float | None = Field(None, gt=0)
    planned_balance: list[float] | None = None
    lockout: int = Field(0, ge=0, le=600)
    deferral: int = Field(0, ge=0, le=600)
    shares: list[float] | None = Field(None, min_length=1, max_length=MAX_CLASSES)


class RuleSpec(_Model):
    """One step of a priority of payments (principal or a Z class's accrual amount).

    ``pay``: ``planned`` pays ``target`` (a group with a schedule) down to its planned
    balance; ``sequential`` pays ``classes`` (class or group names) in order, each to
    zero; ``pro_rata`` pays ``classes`` by balance to zero; ``concurrent`` splits the
    amount by the ``percent`` of each sub-rule in ``split`` (percents sum to 1; what a
    sub-rule cannot use goes on to the next rule). ``when`` / ``unless`` name a
    trigger: the rule applies only while it is latched (``when``) or not (``unless``).
    """

    pay: Literal["planned", "sequential", "pro_rata", "concurrent"]
    target: str | None = None
    classes: list[str] = Field(default_factory=list, max_length=MAX_CLASSES)
    split: list[RuleSpec] = Field(default_factory=list, max_length=16)
    percent: float | None = Field(None, gt=0, le=1)
    when: str | None = None
    unless: str | None = None


class AccrualRulesSpec(_Model):
    """Where a Z class's Accrual Amount goes: ``rules`` in order (as principal rules).

    The Z class accretes (its interest is added to its face and the same cash is paid
    by ``rules``) while any class the rules name, other than the Z class itself, is
    outstanding; then it is paid its interest in cash.
    """

    z: str
    rules: list[RuleSpec] = Field(..., min_length=1, max_length=32)


class FeeSpec(_Model):
    """A senior fee: ``rate`` per year on the beginning pool balance (30/360, one twelfth
    a period) plus ``fixed`` per period, limited to ``cap`` per period."""

    name: str = Field(..., min_length=1, max_length=32)
    kind: Literal["servicing", "trustee", "administrator", "protocol"]
    rate: float = Field(0.0, ge=0, lt=1)
    fixed: float = Field(0.0, ge=0)
    cap: float | None = Field(None, gt=0)


class ReserveSpec(_Model):
    """The reserve account: target ``max(floor, target_percent x pool balance)``."""

    initial: float = Field(0.0, ge=0)
    floor: float = Field(0.0, ge=0)
    target_percent: float = Field(0.0, ge=0, le=1)
    covers_interest: bool = True
    covers_losses: bool = True


class TriggerSpec(_Model):
    """A performance test and what happens while it fails.

    Each test compares figures of one date. ``overcollateralization``: fails when the
    pool's beginning balance / (beginning balance of ``tranche`` and every class
    senior to it) < ``threshold`` (the ratio right after the previous distribution).
    ``interest_coverage``: fails when (interest collected - fees) / (interest due to
    ``tranche`` and seniors) < ``threshold``. ``cumulative_loss``: fails when net
    cumulative losses (realized losses less subsequent recoveries, at least 0) /
    original pool balance > ``threshold``. ``delinquency_60``: fails when the 60+ day
    delinquent balance (60-89 and 90+ days) / ending pool balance > ``threshold``.
    While any trigger is latched the reserve does not step down.
    """

    name: str = Field(..., min_length=1, max_length=32)
    test: Literal["overcollateralization", "interest_coverage", "cumulative_loss", "delinquency_60"]
    tranche: str | None = None
    threshold: float = Field(..., gt=0, lt=100)
    effects: list[Literal["sequential", "trap", "turbo"]] = Field(..., min_length=1)
    curable: bool = True


class DealSpec(_Model):
    """A whole deal, as read from its TOML file (see ``docs/structuring.md``)."""

    name: str = Field(..., min_length=1, max_length=64)
    description: str = ""
    closing_date: dt.date
    first_payment_date: dt.date
    payment_delay_days: int = Field(0, ge=0, le=60)
    asset: AssetSpec = Field(default_factory=lambda: AssetSpec())
    pool: PoolSpec = Field(default_factory=lambda: PoolSpec())
    tranches: list[TrancheSpec] = Field(..., min_length=1, max_length=MAX_CLASSES)
    groups: list[GroupSpec] = Field(default_factory=list, max_length=MAX_CLASSES)
    principal_rules: list[RuleSpec] = Field(default_factory=list, max_length=64)
    accrual_rules: list[AccrualRulesSpec] = Field(default_factory=list, max_length=16)
    fees: list[FeeSpec] = Field(default_factory=list, max_length=4)
    reserve: ReserveSpec | None = None
    triggers: list[TriggerSpec] = Field(default_factory=list, max_length=4)
    order: list[StepName] = Field(default_factory=lambda: list(DEFAULT_ORDER), min_length=1)
    interest_on_shortfall: bool = False
    cleanup_call: float = Field(0.0, ge=0, lt=1)
    residual: str = Field("residual", min_length=1, max_length=32)
    excess_interest_to: str | None = None
    prepayment_penalties: str | None = Field(None, min_length=1, max_length=32)
    source: str | None = Field(None, exclude=True)

    def tranche_index(self, name: str) -> int:
        """Position of the tranche called ``name`` (raises ``KeyError``)."""
        for i, t in enumerate(self.tranches):
            if t.name == name:
                return i
        raise KeyError(name)

    def as_data(self) -> dict[str, Any]:
        """The deal as JSON-ready data that :func:`parse_deal` reads back to the same deal.

        Only the keys its author (or :meth:`with_pool`) set are written: a default such as
        a fixed-rate class's ``multiplier`` or a rules deal's legacy ``principal`` would
        otherwise come back as a key the validator refuses for that class.
        """
        return self.model_dump(mode="json", exclude_unset=True)

    def with_pool(self, **pool: Any) -> DealSpec:
        """A copy of the deal with pool fields replaced (``balance=``, ``wac=``, ...).

        Percent-sized tranches then size against the new balance: the same deal fits
        any tape.
        """
        data = self.pool.model_dump()
        data.update({k: v for k, v in pool.items() if v is not None})
        return self.model_copy(update={"pool": PoolSpec(**data)})


def _key(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _lookup(data: Any, loc: tuple[int | str, ...]) -> Any:
    cur = data
    for part in loc:
        try:
            cur = cur[part]
        except (KeyError, IndexError, TypeError):
            return None
    return cur


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The spec table (pydantic model) that holds the key at ``loc``, if any."""
    model: type[BaseModel] = DealSpec
    for part in loc[:-1]:
        if isinstance(part, int):
            continue  # an item of a list of tables: the list's model was found already
        field = model.model_fields.get(part)
        if field is None:
            return None
        inner = _inner_model(field.annotation)
        if inner is None:
            return None
        model = inner
    return model


def _inner_model(tp: Any) -> type[BaseModel] | None:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp
    for arg in typing.get_args(tp):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _did_you_mean(loc: tuple[int | str, ...]) -> str:
    """`` (did you mean 'X'?)`` for an unknown key close to one allowed in its table."""
    model = _model_at(loc)
    if model is None or not loc or not isinstance(loc[-1], str):
        return ""
    allowed = [n for n, f in model.model_fields.items() if not f.exclude]
    close = difflib.get_close_matches(loc[-1], allowed, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _fail(reason: str, file: str | None, key: str, value: Any) -> SpecError:
    return SpecError(reason, file=file, key=key, value=value)


def _check_references(spec: DealSpec, file: str | None) -> None:
    """Cross-field rules pydantic cannot see field by field."""
    names = [t.name for t in spec.tranches]
    capacity_sized = {c for g in spec.groups if g.shares is not None for c in g.classes}
    for i, t in enumerate(spec.tranches):
        key = f"tranches[{i}]"
        if t.name in names[:i]:
            raise _fail("tranche names must be unique", file, f"{key}.name", t.name)
        if t.name == spec.residual:
            raise _fail("a tranche cannot be named like the residual", file, f"{key}.name", t.name)
        is_io = t.notional is not None
        sizes = [t.balance is not None, t.percent is not None, t.remainder]
        band_sized = t.principal == "pac" and t.pac_band is not None
        if is_io:
            if any(sizes):
                raise _fail("an IO strip has no face: remove balance/percent", file, f"{key}.notional", t.notional)
            if t.notional != "pool" and t.notional not in names and t.notional not in [g.name for g in spec.groups]:
                raise _fail("notional must be 'pool', a tranche name or a group name", file, f"{key}.notional", t.notional)
            if t.notional == t.name:
                raise _fail("an IO strip cannot reference itself", file, f"{key}.notional", t.notional)
            if t.principal != "none":
                raise _fail("an IO strip takes no principal: principal = 'none'", file, f"{key}.principal", t.principal)
            if t.coupon != "fixed":
                raise _fail("an IO strip pays a fixed strip rate", file, f"{key}.coupon", t.coupon)
        elif t.name in capacity_sized:
            if any(sizes):
                field = ("balance", "percent", "remainder")[sizes.index(True)]
                raise _fail(
                    "a class of a group sized from its capacity (shares) takes no size of its own",
                    file,
                    f"{key}.{field}",
                    getattr(t, field),
                )
        elif sum(sizes) != 1 and not (band_sized and sum(sizes) == 0):
            raise _fail(
                "give exactly one of balance, percent or remainder = true", file, f"{key}.balance", t.balance
            )
        if t.principal == "none" and not is_io:
            raise _fail("only IO strips take no principal", file, f"{key}.principal", t.principal)
        if t.principal == "pac":
            if (t.pac_band is None) == (t.pac_schedule is None):
                raise _fail("a PAC needs exactly one of pac_band or pac_schedule", file, f"{key}.pac_band", t.pac_band)
            if t.pac_band is not None and not 0 < t.pac_band[0] <= t.pac_band[1]:
                raise _fail("pac_band must be [lower, upper] PSA with 0 < lower <= upper", file, f"{key}.pac_band", list(t.pac_band))
        elif t.pac_band is not None or t.pac_schedule is not None:
            raise _fail("pac_band/pac_schedule only apply to principal = 'pac'", file, f"{key}.principal", t.principal)
        if t.coupon == "floating" and t.cap is not None and t.cap < t.floor:
            raise _fail("cap below floor", file, f"{key}.cap", t.cap)
        if t.coupon in ("fixed", "fixed_capped") and t.rate == 0 and not is_io:
            pass  # a zero fixed coupon is allowed (equivalent to a PO)
        if t.accrual and not spec.principal_rules:
            if not t.accretion_targets:
                raise _fail("an accrual (Z) class needs accretion_targets", file, f"{key}.accretion_targets", [])
            if t.coupon == "none":
                raise _fail("an accrual (Z) class needs a coupon", file, f"{key}.coupon", t.coupon)
        for j, target in enumerate(t.accretion_targets):
            if target not in names or target == t.name:
                raise _fail("unknown accretion target", file, f"{key}.accretion_targets[{j}]", target)
            if spec.tranches[names.index(target)].priority >= t.priority:
                raise _fail("accretion targets must be senior to the Z class", file, f"{key}.accretion_targets[{j}]", target)
        if t.accretion_targets and not t.accrual:
            raise _fail("accretion_targets need accrual = true", file, f"{key}.accrual", t.accrual)
        if t.accrual and t.coupon == "none":
            raise _fail("an accrual (Z) class needs a coupon", file, f"{key}.coupon", t.coupon)
        if t.group is not None and t.principal != "pro_rata":
            raise _fail(
                "'group' only applies to principal = 'pro_rata' classes (a planned-balance "
                "group is a [[groups]] entry)",
                file,
                f"{key}.group",
                t.group,
            )
        if t.coupon != "inverse_floating" and t.coupon != "floating" and "multiplier" in t.model_fields_set:
            raise _fail("multiplier only applies to floating and inverse_floating coupons", file, f"{key}.multiplier", t.multiplier)
        if t.coupon == "inverse_floating" and t.cap is None:
            raise _fail("an inverse floater needs a cap (its rate at a zero index)", file, f"{key}.cap", None)
    ordered = sorted(spec.tranches, key=lambda t: t.priority)
    for t in ordered:
        if t.principal != "pro_rata":
            continue
        members = [j for j, u in enumerate(ordered) if u.principal == "pro_rata" and u.group == t.group]
        if members != list(range(members[0], members[-1] + 1)):
            raise _fail(
                "pro-rata classes of a group must be adjacent in priority",
                file,
                f"tranches[{spec.tranches.index(t)}].group",
                t.group,
            )
    if sum(1 for t in spec.tranches if t.remainder) > 1:
        raise _fail("at most one tranche may be sized as remainder", file, "tranches", names)
    needs_balance = any(t.percent is not None or t.remainder for t in spec.tranches)
    if needs_balance and spec.pool.balance is None:
        raise _fail("percent or remainder sizing needs pool.balance", file, "pool.balance", None)
    if any(t.pac_band is not None for t in spec.tranches):
        for field in ("balance", "wac", "net_coupon", "term"):
            if getattr(spec.pool, field) is None:
                raise _fail("a PAC band needs the pool collateral", file, f"pool.{field}", None)
    for k, trig in enumerate(spec.triggers):
        key = f"triggers[{k}]"
        if trig.test in ("overcollateralization", "interest_coverage") and (
            trig.tranche is None or trig.tranche not in names
        ):
            raise _fail("this test needs the tranche it protects", file, f"{key}.tranche", trig.tranche)
        if ("trap" in trig.effects) and spec.reserve is None:
            raise _fail("a 'trap' effect needs a [reserve] account", file, f"{key}.effects", trig.effects)
    fee_names = [f.name for f in spec.fees]
    for k, fee in enumerate(spec.fees):
        if fee_names.count(fee.name) > 1:
            raise _fail("fee names must be unique", file, f"fees[{k}].name", fee.name)
        if fee.kind == "servicing" and spec.pool.servicing_in_net_rate:
            raise _fail(
                "a servicing fee in the waterfall needs pool.servicing_in_net_rate = false",
                file,
                f"fees[{k}].kind",
                fee.kind,
            )
    for k, step in enumerate(spec.order):
        if spec.order.count(step) > 1:
            raise _fail("a step appears twice in the order of payments", file, f"order[{k}]", step)
    for required in ("interest", "principal", "writedown", "residual"):
        if required not in spec.order:
            raise _fail(f"the order of payments needs the '{required}' step", file, "order", spec.order)
    _check_program(spec, file)
    if spec.excess_interest_to is not None and spec.excess_interest_to not in names:
        raise _fail("excess_interest_to must name a class", file, "excess_interest_to", spec.excess_interest_to)
    pen = spec.prepayment_penalties
    if pen is not None and pen not in names and pen not in ("residual", spec.residual):
        raise _fail(
            f"prepayment_penalties must name a class ({', '.join(names)}) or 'residual'",
            file, "prepayment_penalties", pen,
        )  # fmt: skip
    if spec.first_payment_date <= spec.closing_date:
        raise _fail("first payment must follow closing", file, "first_payment_date", str(spec.first_payment_date))


#: tranche keys of the fixed order; a deal with [[principal_rules]] says the same in rules
_LEGACY_KEYS = ("principal", "lockout", "pac_band", "pac_schedule", "accretion_targets", "group")


def _rule_names(rule: RuleSpec) -> list[str]:
    """Every class or group name a rule (and its sub-rules) pays."""
    out = list(rule.classes)
    if rule.target is not None:
        out.append(rule.target)
    for sub in rule.split:
        out += _rule_names(sub)
    return out


def _check_rules(
    spec: DealSpec, rules: list[RuleSpec], key: str, file: str | None, *, nested: bool = False
) -> None:
    classes = {t.name: t for t in spec.tranches}
    groups = {g.name: g for g in spec.groups}
    triggers = [t.name for t in spec.triggers]
    for k, rule in enumerate(rules):
        rk = f"{key}[{k}]"
        if rule.percent is not None and not nested:
            raise _fail("percent only applies to a sub-rule of a 'concurrent' split", file, f"{rk}.percent", rule.percent)
        if nested and rule.percent is None:
            raise _fail("each sub-rule of a 'concurrent' split needs a percent", file, f"{rk}.percent", None)
        if rule.when is not None and rule.unless is not None:
            raise _fail("give 'when' or 'unless', not both", file, f"{rk}.unless", rule.unless)
        for cond in ("when", "unless"):
            trig = getattr(rule, cond)
            if trig is not None and trig not in triggers:
                raise _fail(f"unknown trigger (the deal has: {', '.join(triggers) or 'none'})", file, f"{rk}.{cond}", trig)
        given = rule.model_fields_set
        if rule.pay == "planned":
            for field in ("classes", "split"):
                if field in given:
                    raise _fail(
                        "a 'planned' rule takes a target, not classes or split", file, f"{rk}.{field}",
                        getattr(rule, field) if field == "classes" else len(rule.split),
                    )
            if rule.target is None:
                raise _fail("a 'planned' rule needs the target group", file, f"{rk}.target", None)
            g = groups.get(rule.target)
            if g is None:
                raise _fail(
                    f"unknown group (the deal's groups: {', '.join(groups) or 'none'})", file, f"{rk}.target", rule.target
                )
            if g.kind == "none":
                raise _fail("this group has no planned balance (kind = 'none')", file, f"{rk}.target", rule.target)
        elif rule.pay in ("sequential", "pro_rata"):
            for field in ("target", "split"):
                if field in given:
                    raise _fail(
                        f"a '{rule.pay}' rule takes classes, not target or split", file, f"{rk}.{field}",
                        rule.target if field == "target" else len(rule.split),
                    )
            if not rule.classes:
                raise _fail(f"a '{rule.pay}' rule needs classes", file, f"{rk}.classes", [])
            for j, name in enumerate(rule.classes):
                if name in groups:
                    continue
                t = classes.get(name)
                if t is None:
                    raise _fail("unknown class or group", file, f"{rk}.classes[{j}]", name)
                if t.notional is not None:
                    raise _fail("an IO strip has no principal to pay", file, f"{rk}.classes[{j}]", name)
                if rule.classes.count(name) > 1:
                    raise _fail("a class appears twice in one rule", file, f"{rk}.classes[{j}]", name)
        else:
            for field in ("target", "classes"):
                if field in given:
                    raise _fail(
                        "a 'concurrent' rule takes a split, not target or classes", file, f"{rk}.{field}",
                        getattr(rule, field),
                    )
            if len(rule.split) < 2:
                raise _fail("a 'concurrent' rule needs at least two sub-rules in split", file, f"{rk}.split", len(rule.split))
            _check_rules(spec, rule.split, f"{rk}.split", file, nested=True)
            total = sum(sub.percent or 0.0 for sub in rule.split)
            if abs(total - 1.0) > 1e-12:
                raise _fail(
                    "the percents of a concurrent split must sum to 100%",
                    file,
                    f"{rk}.split",
                    [sub.percent for sub in rule.split],
                )


def _check_program(spec: DealSpec, file: str | None) -> None:
    """Groups, principal rules and accrual rules (the deal language)."""
    if not spec.principal_rules:
        for field in ("groups", "accrual_rules"):
            if getattr(spec, field):
                raise _fail(f"{field} need a [[principal_rules]] priority of payments", file, field, len(getattr(spec, field)))
        return
    names = [t.name for t in spec.tranches]
    for i, t in enumerate(spec.tranches):
        for field in _LEGACY_KEYS:
            if field in t.model_fields_set and not (field == "principal" and t.principal == "none"):
                raise _fail(
                    f"with [[principal_rules]] the rules say how principal is paid: remove "
                    f"'{field}' (planned balances and lockouts belong to [[groups]], Z "
                    f"accrual to [[accrual_rules]])",
                    file,
                    f"tranches[{i}].{field}",
                    getattr(t, field),
                )
    gnames = [g.name for g in spec.groups]
    member_of: dict[str, str] = {}
    for k, g in enumerate(spec.groups):
        gk = f"groups[{k}]"
        if g.name in gnames[:k]:
            raise _fail("group names must be unique", file, f"{gk}.name", g.name)
        if g.name in names or g.name == spec.residual:
            raise _fail("a group cannot be named like a class", file, f"{gk}.name", g.name)
        for j, c in enumerate(g.classes):
            if c not in names:
                raise _fail("unknown class", file, f"{gk}.classes[{j}]", c)
            if spec.tranches[names.index(c)].notional is not None:
                raise _fail("an IO strip cannot be in a group (it has no principal)", file, f"{gk}.classes[{j}]", c)
            if c in member_of:
                raise _fail(f"class already in group '{member_of[c]}'", file, f"{gk}.classes[{j}]", c)
            member_of[c] = g.name
        given = [g.band is not None, g.speed is not None, g.planned_balance is not None]
        if g.kind == "none":
            if any(given):
                raise _fail("a group of kind 'none' has no schedule", file, f"{gk}.kind", g.kind)
        elif g.kind == "pac":
            if g.speed is not None:
                raise _fail("a PAC group takes a band, not a speed", file, f"{gk}.speed", g.speed)
            if (g.band is None) == (g.planned_balance is None):
                raise _fail("a PAC group needs exactly one of band or planned_balance", file, f"{gk}.band", g.band)
        elif (g.speed is None) == (g.planned_balance is None) or g.band is not None:
            raise _fail("a TAC group needs exactly one of speed or planned_balance", file, f"{gk}.speed", g.speed)
        if g.pay == "rules" and not g.rules:
            raise _fail("a group paid by 'rules' needs its rules", file, f"{gk}.rules", [])
        if g.rules and g.pay != "rules":
            raise _fail("a group's rules only apply with pay = 'rules'", file, f"{gk}.pay", g.pay)
        if g.rules:
            _check_rules(spec, g.rules, f"{gk}.rules", file)
            rstack: list[tuple[str, RuleSpec]] = [(f"{gk}.rules[{j}]", r) for j, r in enumerate(g.rules)]
            while rstack:
                rk, r = rstack.pop()
                if r.pay == "planned":
                    raise _fail(
                        "a group's own rules pay its classes to zero: no 'planned' rule", file, f"{rk}.pay", r.pay
                    )
                for m, c in enumerate(r.classes):
                    if c not in g.classes:
                        raise _fail("a group's rules name only its own classes", file, f"{rk}.classes[{m}]", c)
                rstack.extend((f"{rk}.split[{j}]", sub) for j, sub in enumerate(r.split))
        if g.shares is not None:
            if g.band is None and g.speed is None:
                raise _fail(
                    "shares size a group from its band capacity: the group needs a band (or a TAC speed)",
                    file,
                    f"{gk}.shares",
                    g.shares,
                )
            if len(g.shares) != len(g.classes):
                raise _fail(
                    f"one share for each of the {len(g.classes)} classes",
                    file,
                    f"{gk}.shares",
                    g.shares,
                )
            if any(not x > 0 for x in g.shares) or abs(sum(g.shares) - 1.0) > 1e-9:
                raise _fail("the shares must be above 0 and sum to 100%", file, f"{gk}.shares", g.shares)
        if g.deferral and g.kind == "none":
            raise _fail("a group of kind 'none' has no schedule to defer", file, f"{gk}.deferral", g.deferral)
        if "lockout" in g.model_fields_set and g.kind == "none":
            raise _fail("a group of kind 'none' has no schedule to lock out", file, f"{gk}.lockout", g.lockout)
        if g.lockout:
            longest = _collateral_months(spec)
            if longest is not None and g.lockout >= longest:
                raise _fail(
                    f"the lockout must end before the collateral does ({longest} months left)",
                    file,
                    f"{gk}.lockout",
                    g.lockout,
                )
        if g.deferral:
            longest = _collateral_months(spec)
            if longest is not None and g.deferral >= longest:
                raise _fail(
                    f"the deferral must end before the collateral does ({longest} months left)",
                    file,
                    f"{gk}.deferral",
                    g.deferral,
                )
        if g.band is not None and not 0 < g.band[0] <= g.band[1]:
            raise _fail("band must be [lower, upper] PSA with 0 < lower <= upper", file, f"{gk}.band", list(g.band))
        if (g.band is not None or g.speed is not None) and not spec.pool.replines:
            for field in ("balance", "wac", "net_coupon", "term"):
                if getattr(spec.pool, field) is None:
                    raise _fail("a band schedule needs the pool collateral", file, f"pool.{field}", None)
        if g.planned_balance is not None:
            longest = _collateral_months(spec)
            if longest is not None and len(g.planned_balance) > longest:
                raise _fail(
                    f"the schedule is longer than the collateral ({longest} months left)",
                    file,
                    f"{gk}.planned_balance",
                    f"{len(g.planned_balance)} periods",
                )
            for j, x in enumerate(g.planned_balance):
                if x < 0:
                    raise _fail("a planned balance cannot be negative", file, f"{gk}.planned_balance[{j}]", x)
            members = [spec.tranches[names.index(c)] for c in g.classes]
            if not any(t.accrual for t in members):
                # only a group holding an accrual (Z) class can grow: the others are paid down
                for j in range(1, len(g.planned_balance)):
                    if g.planned_balance[j] > g.planned_balance[j - 1]:
                        raise _fail(
                            f"the planned balance rises (from {g.planned_balance[j - 1]:,.2f}), but no "
                            f"class of the group accretes",
                            file,
                            f"{gk}.planned_balance[{j}]",
                            g.planned_balance[j],
                        )
                face = sum(t.balance for t in members if t.balance is not None)
                if all(t.balance is not None for t in members) and g.planned_balance and (
                    g.planned_balance[0] > face * (1 + 1e-12)
                ):
                    raise _fail(
                        f"the planned balance starts above the group's original balance ({face:,.2f})",
                        file,
                        f"{gk}.planned_balance[0]",
                        g.planned_balance[0],
                    )
    _check_rules(spec, spec.principal_rules, "principal_rules", file)
    planned: set[str] = set()
    pending = list(spec.principal_rules) + [r for acc in spec.accrual_rules for r in acc.rules]
    while pending:
        rule = pending.pop()
        if rule.pay == "planned" and rule.target is not None:
            planned.add(rule.target)
        pending.extend(rule.split)
    for k, g in enumerate(spec.groups):
        if g.kind != "none" and g.name not in planned:
            raise _fail(
                "a group with a schedule that no 'planned' rule pays (set kind = 'none', or "
                "add a rule pay = 'planned' with this target)",
                file,
                f"groups[{k}].name",
                g.name,
            )
    reached: set[str] = set()
    for rule in spec.principal_rules:
        for name in _rule_names(rule):
            reached.add(name)
    for g in spec.groups:
        if g.name in reached:
            reached.update(g.classes)
    for i, t in enumerate(spec.tranches):
        if t.notional is None and t.name not in reached:
            raise _fail("a class paid by no principal rule", file, f"tranches[{i}].name", t.name)
    zs = [t.name for t in spec.tranches if t.accrual]
    seen: list[str] = []
    for k, acc in enumerate(spec.accrual_rules):
        ak = f"accrual_rules[{k}]"
        if acc.z not in zs:
            raise _fail("not an accrual (Z) class: set accrual = true on it", file, f"{ak}.z", acc.z)
        if acc.z in seen:
            raise _fail("this Z class already has accrual rules", file, f"{ak}.z", acc.z)
        seen.append(acc.z)
        _check_rules(spec, acc.rules, f"{ak}.rules", file)
    for z in zs:
        if z not in seen:
            raise _fail(
                "an accrual (Z) class needs [[accrual_rules]] saying where its accrual goes",
                file,
                f"tranches[{names.index(z)}].accrual",
                True,
            )
    # accrual direction must not loop: Z1's accrual paying Z2 whose accrual pays Z1
    groups = {g.name: g.classes for g in spec.groups}
    edges: dict[str, set[str]] = {}
    for acc in spec.accrual_rules:
        out: set[str] = set()
        for rule in acc.rules:
            for name in _rule_names(rule):
                out.update(groups.get(name, [name]))
        edges[acc.z] = {c for c in out if c in zs and c != acc.z}
    for start in zs:
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in sorted(edges.get(node, ())):
                if nxt == start:
                    k = seen.index(start)
                    raise _fail(
                        "the accrual direction has a cycle", file, f"accrual_rules[{k}].rules", " -> ".join([*path, start])
                    )
                if nxt not in path:
                    stack.append((nxt, [*path, nxt]))


def _collateral_months(spec: DealSpec) -> int | None:
    """Months the collateral still runs (the longest rep line's), if known."""
    if spec.pool.replines:
        return max((r.remaining_term or r.term - r.age) for r in spec.pool.replines)
    if spec.pool.term is not None:
        return spec.pool.term - spec.pool.age
    return None


def _check_collateral(spec: DealSpec, file: str | None) -> None:
    """Rep lines and pricing overrides: net rate at most the gross rate, terms that fit,
    one override a speed, each summing to the pool balance."""
    pool = spec.pool
    if pool.wac is not None and pool.net_coupon is not None and pool.net_coupon > pool.wac:
        raise SpecError(f"net_coupon above wac ({pool.wac}): the fees taken cannot be negative", file=file,
                        key="pool.net_coupon", value=pool.net_coupon)
    lines = [(f"pool.replines[{k}]", r) for k, r in enumerate(pool.replines)]
    for j, over in enumerate(pool.pricing):
        ok = f"pool.pricing[{j}]"
        earlier = [o.psa for o in pool.pricing[:j]]
        if over.psa in earlier:
            raise SpecError(f"a second pricing override at this speed (pool.pricing[{earlier.index(over.psa)}] "
                            f"has it)", file=file, key=f"{ok}.psa", value=over.psa)
        total = sum(r.balance for r in over.replines)
        if pool.balance is not None and abs(pool.balance - total) > 1e-6 * total:
            raise SpecError(f"the pricing rep lines sum to {total:,.2f}, not the pool balance "
                            f"({pool.balance:,.2f})", file=file, key=f"{ok}.replines", value=len(over.replines))
        for k, r in enumerate(over.replines):
            if r.age >= r.term or (r.remaining_term is not None and r.remaining_term > r.term):
                raise SpecError("age must be below term and remaining_term at most term", file=file,
                                key=f"{ok}.replines[{k}].age", value=r.age)
        lines += [(f"{ok}.replines[{k}]", r) for k, r in enumerate(over.replines)]
    for key, r in lines:
        if r.net_coupon > r.wac:
            raise SpecError(f"net_coupon above wac ({r.wac}): the fees taken cannot be negative", file=file,
                            key=f"{key}.net_coupon", value=r.net_coupon)


def parse_deal(data: Mapping[str, Any], *, file: str | None = None) -> DealSpec:
    """Validate a deal given as a mapping (the parsed TOML document).

    Raises
    ------
    SpecError
        Naming ``file``, the key path (``tranches[0].rate``) and the value.
    """
    try:
        spec = DealSpec.model_validate(dict(data))
    except ValidationError as exc:
        errors = exc.errors()
        # A mistyped key shows up twice (the unknown key, and the key it was meant to be
        # as missing): report the unknown key, with the suggestion.
        err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
        loc = tuple(err["loc"])
        value = _lookup(data, loc)
        reason = err["msg"]
        if err["type"] == "extra_forbidden":
            reason = "unknown key" + _did_you_mean(loc)
        if len(exc.errors()) > 1:
            reason += f" (and {len(exc.errors()) - 1} more problem(s))"
        raise SpecError(reason, file=file, key=_key(loc) or "<root>", value=value) from None
    pool = spec.pool
    if pool.replines:
        total = sum(r.balance for r in pool.replines)
        if pool.balance is None:
            spec = spec.model_copy(update={"pool": pool.model_copy(update={"balance": total})})
        elif abs(pool.balance - total) > 1e-6 * total:
            raise SpecError(
                f"the rep lines sum to {total:,.2f}, not the pool balance", file=file, key="pool.balance", value=pool.balance
            )
        for k, r in enumerate(pool.replines):
            if r.age >= r.term or (r.remaining_term is not None and r.remaining_term > r.term):
                raise SpecError("age must be below term and remaining_term at most term", file=file,
                                key=f"pool.replines[{k}].age", value=r.age)
    _check_collateral(spec, file)
    _check_references(spec, file)
    return spec.model_copy(update={"source": file})


def load_deal(path: str | Path) -> DealSpec:
    """Read and validate a deal spec from a TOML file.

    Parameters
    ----------
    path : str or Path
        The TOML file.

    Returns
    -------
    DealSpec
        The validated deal (frozen).

    Raises
    ------
    SpecError
        When the file is missing, is not TOML, or breaks a rule; the message names the
        file, the key path and the value.

    Examples
    --------
    >>> from openmbs.structuring import example_deal_path, load_deal
    >>> load_deal(example_deal_path("four_tranche")).tranches[0].name
    'A'
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise SpecError(
            f"cannot read deal spec: {exc.strerror}; nor is it an example deal name "
            f"({', '.join(EXAMPLE_DEALS)}){_close_example(str(path))}",
            file=str(p),
        ) from None
    except OSError as exc:
        raise SpecError(f"cannot read deal spec: {exc.strerror}", file=str(p)) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"not valid TOML: {exc}", file=str(p)) from None
    return parse_deal(data, file=str(p))


def _close_example(name: str) -> str:
    close = difflib.get_close_matches(name, EXAMPLE_DEALS, n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def example_deal_path(name: str) -> Path:
    """Path of a shipped example deal (``'four_tranche'``, ``'senior_sub'``, ``'pac_io'``)."""
    if name in LANGUAGE_EXAMPLES:
        ref = resources.files("openmbs") / "examples" / "deals" / "language" / f"{name}.toml"
        return Path(str(ref))
    if name not in EXAMPLE_DEALS:
        raise SpecError(
            f"unknown example deal; choose one of {', '.join(EXAMPLE_DEALS + LANGUAGE_EXAMPLES)}"
            f"{_close_example(name)}",
            key="name",
            value=name,
        )
    ref = resources.files("openmbs") / "examples" / "deals" / f"{name}.toml"
    return Path(str(ref))


def example_deal(name: str) -> DealSpec:
    """Load a shipped example deal by name (see :data:`EXAMPLE_DEALS`)."""
    return load_deal(example_deal_path(name))


def resolve_deal(deal: str | Path) -> DealSpec:
    """The deal a user named: a TOML file, or the name of a shipped example deal.

    The one place where that choice is made (every command and the lifecycle call it).
    **An existing file wins**: a file ``four_tranche`` in the working directory is read,
    not the shipped example of that name; a name that is not a file is looked up in
    :data:`EXAMPLE_DEALS`.

    Raises
    ------
    SpecError
        When ``deal`` is neither a file nor an example deal, or the file is invalid.

    Examples
    --------
    >>> resolve_deal("senior_sub").tranches[0].name
    'SEN'
    """
    if Path(deal).exists():
        return load_deal(deal)
    if str(deal) in EXAMPLE_DEALS or str(deal) in LANGUAGE_EXAMPLES:
        return example_deal(str(deal))
    raise SpecError(
        f"neither an example deal ({', '.join(EXAMPLE_DEALS)}) nor a file{_close_example(str(deal))}",
        file=str(deal),
    )
