"""Deploy a whole deal (settlement asset, timelock, deal, tokens, oracle, issuance)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

from openmbs.chain._clients import DealClient
from openmbs.chain._contracts import BOUNDS, abi_deployer, bound_for, deployer
from openmbs.errors import ChainError, InputError, SpecError
from openmbs.structuring import MAX_TRANCHES

__all__ = [
    "DealConfig",
    "ServicingConfig",
    "TrancheConfig",
    "attach_deal",
    "config_from_exact",
    "config_from_spec",
    "deploy_deal",
    "rate_bound",
]

WAD = 10**18
#: The highest offering price the issuance escrow accepts (ten times face).
MAX_PRICE_WAD = 10 * WAD

#: Stated tolerance added to the pool's highest net loan rate to bound a report's
#: interest (:func:`rate_bound`): 0.25% a year covers the rounding of each loan's
#: interest to a base unit and a little interest caught up by reinstating loans.
RATE_TOLERANCE = 0.0025


def rate_bound(net_rate: float, *, tolerance: float = RATE_TOLERANCE) -> float:
    """The oracle's bound on the annual rate implied by a report's interest: the pool's
    highest net (pass-through) loan rate plus ``tolerance`` (decimals).

    A month's interest (net of servicing) is at most ``sum(balance_i x net_rate_i) / 12
    <= beginning balance x max(net_rate_i) / 12``; the tolerance covers rounding and a
    little catch-up interest from reinstating loans. Anything above it is principal
    (or cash from elsewhere) reported as interest.
    """
    if not 0 <= net_rate < 1 or not 0 <= tolerance < 1:
        raise InputError(f"net rate {net_rate!r} / tolerance {tolerance!r}: need decimals in [0, 1)")
    return net_rate + tolerance


@dataclass(frozen=True)
class TrancheConfig:
    """One tranche: token name (<= 50 chars), symbol (<= 16), original face in base units,
    an annual coupon as a decimal (used only by the SequentialTestWaterfall test
    double; the real waterfall takes every rule from ``DealConfig.exact``), and the
    offering price per unit of face (an IO strip's: of notional), scaled 1e18 (1e18 is
    par; at most 10e18): a subscription of ``f`` units costs ``ceil(f x price / 1e18)``
    of the settlement asset."""

    name: str
    symbol: str
    face: int
    coupon: float = 0.0
    offering_price_wad: int = WAD

    def __post_init__(self) -> None:
        if not 0 < len(self.name) <= 50:
            raise InputError(f"tranche field 'name' value {self.name!r}: need 1..50 characters")
        if not 0 < len(self.symbol) <= 16:
            raise InputError(f"tranche {self.name!r} field 'symbol' value {self.symbol!r}: need 1..16 characters")
        if not isinstance(self.face, int) or not 0 < self.face < 2**96:
            raise InputError(f"tranche {self.name!r} field 'face' value {self.face!r}: need 0 < face < 2**96 base units")
        price = self.offering_price_wad
        if not isinstance(price, int) or not 0 < price <= MAX_PRICE_WAD:
            raise InputError(
                f"tranche {self.name!r} field 'offering_price_wad' value {price!r}: need 0 < price <= {MAX_PRICE_WAD} (1e18 = par)"
            )

    def cost(self, amount: int) -> int:
        """The cash a subscription of ``amount`` units of face costs (rounded up, as
        ``Issuance.cost_of``)."""
        return -(-amount * self.offering_price_wad // WAD)


@dataclass(frozen=True)
class ServicingConfig:
    """Loan sales and the servicer's bond of a deal (``LoanSale``, ``ServicerBond``;
    docs/chain.md, "Loan sales" and "Servicer bond"). Fractions are decimals.

    ``sale_seconds`` is an auction's length (start price to floor);
    ``sale_start`` and ``sale_floor`` the start and floor price as fractions of the
    loan's ending balance in the tape proven; ``keeper_reward`` the keeper's share
    of the price. ``bond`` is the bond the servicer is to post, a fraction of the
    pool's original balance (:meth:`bond_amount`); ``late_penalty`` and
    ``fraud_slash`` are fractions of that bond taken per late period and per fraud
    proof; ``bounty`` the prover's share of a slash. A period's report is due by the
    end of ``report_day`` (UTC) of its month; period 1's month is ``first_due``
    (``"YYYY-MM"``), by default the month after deployment. After ``max_strikes``
    late or disproved reports governance may appoint a backup servicer.
    """

    sale_seconds: int = 3 * 24 * 3600
    sale_start: float = 1.0
    sale_floor: float = 0.3
    keeper_reward: float = 0.01
    bond: float = 0.005
    late_penalty: float = 0.05
    fraud_slash: float = 0.25
    bounty: float = 0.10
    report_day: int = 20
    first_due: str | None = None
    max_strikes: int = 3

    def __post_init__(self) -> None:
        def bad(fld: str, need: str) -> InputError:
            return InputError(f"servicing field {fld!r} value {getattr(self, fld)!r}: need {need}")

        if not isinstance(self.sale_seconds, int) or not 0 < self.sale_seconds < 2**40:
            raise bad("sale_seconds", "a positive number of seconds")
        if not 0 < self.sale_start <= 10:
            raise bad("sale_start", "a fraction of the loan's balance in (0, 10]")
        if not 0 < self.sale_floor <= self.sale_start:
            raise bad("sale_floor", f"a fraction in (0, sale_start = {self.sale_start}]")
        for fld in ("keeper_reward",):
            if not 0 <= getattr(self, fld) < 1:
                raise bad(fld, "a decimal in [0, 1)")
        for fld in ("bond", "late_penalty", "fraud_slash", "bounty"):
            if not 0 <= getattr(self, fld) <= 1:
                raise bad(fld, "a decimal in [0, 1]")
        if not isinstance(self.report_day, int) or not 1 <= self.report_day <= 28:
            raise bad("report_day", "a day of the month in 1..28")
        if not isinstance(self.max_strikes, int) or self.max_strikes < 1:
            raise bad("max_strikes", "a positive count")
        if self.first_due is not None:
            _due_month(self.first_due)

    def bond_amount(self, pool_balance: int) -> int:
        """The bond the servicer is to post (base units): ``bond`` x the pool balance."""
        return int(pool_balance * _wad(self.bond) // WAD)

    def contract_args(self, pool_balance: int, now: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The ``LoanSale`` and ``ServicerBond`` constructor arguments after their
        addresses: ``(start_wad, floor_wad, duration, reward_wad)`` and
        ``(first_year, first_month, report_day, late_penalty, fraud_slash,
        bounty_wad, max_strikes)``; ``now`` (unix seconds) dates the default first due month."""
        import datetime

        if self.first_due is None:
            today = datetime.datetime.fromtimestamp(now, tz=datetime.UTC)
            year, month = (today.year + 1, 1) if today.month == 12 else (today.year, today.month + 1)
        else:
            year, month = _due_month(self.first_due)
        bond = self.bond_amount(pool_balance)
        sale = (_wad(self.sale_start), _wad(self.sale_floor), self.sale_seconds, _wad(self.keeper_reward))
        penalty = bond * _wad(self.late_penalty) // WAD
        slash = bond * _wad(self.fraud_slash) // WAD
        return sale, (year, month, self.report_day, penalty, slash, _wad(self.bounty), self.max_strikes)


def _wad(x: float) -> int:
    """A decimal as a 1e18-scaled integer (its shortest repr, so 0.3 is exactly 3e17)."""
    from decimal import Decimal

    return int(Decimal(repr(float(x))) * WAD)


def _due_month(text: str) -> tuple[int, int]:
    try:
        year, month = (int(x) for x in str(text).split("-"))
    except ValueError:
        raise InputError(f"servicing field 'first_due' value {text!r}: need 'YYYY-MM'") from None
    if not 1970 <= year < 10000 or not 1 <= month <= 12:
        raise InputError(f"servicing field 'first_due' value {text!r}: need 'YYYY-MM'")
    return year, month


@dataclass(frozen=True)
class DealConfig:
    """Everything needed to deploy a deal.

    Amounts are integers in base units of the settlement asset; rates are decimals.
    ``max_annual_rate`` bounds a report's interest (interest <= beginning balance x
    rate / 12): deployments from a pool set it with :func:`rate_bound` (the pool's
    highest net loan rate plus :data:`RATE_TOLERANCE`; :func:`config_from_spec` does
    given ``max_net_rate``); the 0.25 default is for hand-built test configs and
    deployments that do not know their tape. ``initial_delinquent`` is the pool's balance 30-59,
    60-89 and 90+ days delinquent at cut-off (bounds period 1's delinquency roll and
    liquidations); ``initial_index_rate`` the index at cut-off and
    ``max_index_change`` the largest move of the reported index in one period.
    ``timelock_delay`` is in seconds; the offering window opens at deployment and
    lasts ``offering_seconds``; the offering must close within
    ``close_grace_seconds`` after the window, or anyone may fail it and every
    depositor withdraws (``Issuance.close_deadline``).

    ``exact`` is the compiled deal (:func:`openmbs.structuring.compile_exact`) whose
    rules the on-chain ``ExactWaterfall`` runs; :func:`config_from_spec` fills it (a
    plain ``dict`` of its fields, as ``dataclasses.asdict`` writes it, is accepted and
    converted back). ``reserve_initial`` is the reserve account's initial deposit,
    funded at closing out of the offering proceeds (the exact deal's
    ``reserve_initial``). ``servicing`` holds the loan sales' and the servicer
    bond's parameters (:class:`ServicingConfig`; a plain ``dict`` is accepted).
    """

    name: str
    tranches: tuple[TrancheConfig, ...]
    initial_pool_balance: int
    initial_loan_count: int
    quorum: int = 3
    n_attestors: int = 5
    max_annual_rate: float = 0.25
    initial_index_rate: float = 0.0
    max_index_change: float = 0.01
    initial_delinquent: tuple[int, int, int] = (0, 0, 0)
    timelock_delay: int = 2 * 24 * 3600
    offering_seconds: int = 7 * 24 * 3600
    close_grace_seconds: int = 7 * 24 * 3600
    minimum_subscription: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    reserve_initial: int = 0
    exact: Any = None
    servicing: ServicingConfig = field(default_factory=ServicingConfig)

    def __post_init__(self) -> None:
        if isinstance(self.servicing, dict):
            known = {f.name for f in fields(ServicingConfig)}
            unknown = sorted(set(self.servicing) - known)
            if unknown:
                raise InputError(
                    f"deal {self.name!r} field 'servicing.{unknown[0]}' value {self.servicing[unknown[0]]!r}: "
                    f"not a servicing parameter ({', '.join(sorted(known))})"
                )
            object.__setattr__(self, "servicing", ServicingConfig(**self.servicing))
        if not isinstance(self.servicing, ServicingConfig):
            raise InputError(f"deal {self.name!r} field 'servicing' value {self.servicing!r}: need a ServicingConfig")
        if isinstance(self.exact, dict):
            object.__setattr__(self, "exact", _exact_from_dict(self.exact, self.name))
        if self.exact is not None and self.exact.reserve_initial != self.reserve_initial:
            raise InputError(
                f"deal {self.name!r} field 'reserve_initial' value {self.reserve_initial}: "
                f"the exact deal's reserve_initial is {self.exact.reserve_initial}"
            )
        if not isinstance(self.reserve_initial, int) or not 0 <= self.reserve_initial < 2**128:
            raise InputError(f"deal {self.name!r} field 'reserve_initial' value {self.reserve_initial!r}: need 0 <= reserve < 2**128")
        proceeds = sum(t.cost(t.face) for t in self.tranches)
        if self.reserve_initial > proceeds:
            raise InputError(
                f"deal {self.name!r} field 'reserve_initial' value {self.reserve_initial}: above the "
                f"least offering proceeds {proceeds}"
            )
        for key in ("offering_seconds", "close_grace_seconds"):
            if not isinstance(getattr(self, key), int) or getattr(self, key) <= 0:
                raise InputError(f"deal {self.name!r} field {key!r} value {getattr(self, key)!r}: need a positive number of seconds")
        if not 1 <= len(self.tranches) <= MAX_TRANCHES:
            raise InputError(f"deal {self.name!r}: {len(self.tranches)} tranches, need 1..{MAX_TRANCHES}")
        dq = tuple(self.initial_delinquent)
        if len(dq) != 3 or any(not isinstance(x, int) or not 0 <= x < 2**128 for x in dq):
            raise InputError(
                f"deal {self.name!r} field 'initial_delinquent' value {self.initial_delinquent!r}: "
                "need three balances (30-59, 60-89, 90+ days) in base units"
            )
        if sum(dq) > self.initial_pool_balance:
            raise InputError(
                f"deal {self.name!r} field 'initial_delinquent' value {self.initial_delinquent!r}: "
                f"above the pool balance {self.initial_pool_balance}"
            )
        object.__setattr__(self, "initial_delinquent", dq)
        for name in ("max_annual_rate", "initial_index_rate", "max_index_change"):
            v = getattr(self, name)
            if not 0 <= v <= 1:
                raise InputError(f"deal {self.name!r} field {name!r} value {v!r}: need a decimal in [0, 1]")
        if not 1 <= self.quorum <= self.n_attestors <= 32:
            raise InputError(
                f"deal {self.name!r} field 'quorum' value {self.quorum}: need 1 <= quorum <= attestors ({self.n_attestors}) <= 32"
            )


def deploy_deal(
    config: DealConfig,
    *,
    attestors: Sequence[str],
    admin: str,
    servicer: str | None = None,
    guardian: str | None = None,
    compliance: str | None = None,
    seller: str | None = None,
    settlement: str | None = None,
    test_waterfall: bool = False,
    from_artifacts: bool = False,
    bound: int | None = None,
) -> DealClient:
    """Deploy every contract of a deal on the current ``boa.env`` and wire them.

    Parameters
    ----------
    config
        The deal.
    attestors
        Attestor addresses (N); ``config.quorum`` of them must sign each report.
    admin
        Deployer, timelock proposer/executor; default for every other role.
    guardian
        Holder of the deal's GUARDIAN_ROLE (pause) and of the timelock's
        CANCELLER_ROLE (cancel a queued change; it cannot schedule or execute).
    settlement
        Address of the settlement asset (an ERC-20 whose ``decimals()`` must be the
        deal's ``asset.decimals``); ``None`` deploys a mock of the deal's decimals
        (6: ``MockSettlementToken``, else ``MockStablecoin``; the admin is its minter).
    test_waterfall
        Wire the SequentialTestWaterfall TEST DOUBLE instead of ``ExactWaterfall``
        (tests use it to show that the audit catches a waterfall that is not the
        deal's). Without it the config must carry ``exact`` (see
        :func:`config_from_spec`).
    from_artifacts
        Deploy from the cached compiled artefacts (``openmbs.chain._contracts.artifact``:
        ABI and bytecode, keyed on the sources) and return titanoboa ABI contracts,
        without parsing the Vyper sources (seconds instead of tens of seconds in a
        fresh process). The contracts then carry no source-level tracing (``# dev:``
        revert reasons); by default the deployers of :func:`deployer` are used.
    bound
        The class bound of the build every contract comes from
        (``openmbs.chain._contracts.BOUNDS``: 8 or 16); default the smallest that
        holds the deal's classes (gas: the waterfall's rows are the bound's). A bound
        below the class count is refused; the client and its record keep it.

    Notes
    -----
    Order: settlement asset (mock unless given), timelock, deal, issuance (window,
    close deadline, offering prices), tranche tokens, oracle, waterfall
    (``ExactWaterfall`` from ``config.exact``, bound to the deal, PAC schedules
    loaded, sealed), then ``Deal.configure`` and ``Issuance.check_wiring``, then
    ``LoanSale`` and ``ServicerBond`` (``config.servicing``; the bond's admin is
    the timelock) and ``RemittanceOracle.wire_servicing``. The reserve account is
    funded by ``Issuance.close``; the servicer posts its bond itself
    (:meth:`DealClient.post_bond`).
    """
    import boa

    if not test_waterfall and config.exact is None:
        raise InputError(
            f"deal {config.name!r}: no exact deal to run on chain (build the config with "
            "config_from_spec, or pass test_waterfall=True for the test double)"
        )
    if len(attestors) != config.n_attestors:
        raise InputError(f"deal {config.name!r}: {len(attestors)} attestor(s) given, config says {config.n_attestors}")
    bound = deal_bound(config, bound)
    servicer = servicer or admin
    guardian = guardian or admin
    compliance = compliance or admin
    seller = seller or admin

    def dep(name: str) -> Any:
        return abi_deployer(name, bound) if from_artifacts else deployer(name, bound)

    decimals = config.exact.decimals if config.exact is not None else 6
    if settlement is None:
        if decimals == 6:
            token = dep("MockSettlementToken").deploy("openmbs mock USD", "mUSD", sender=admin)
        else:
            token = dep("MockStablecoin").deploy("openmbs mock USD", "mUSD", decimals, sender=admin)
    else:
        token = dep("MockSettlementToken").at(settlement)
        _check_settlement_decimals(config, token, decimals)
    # the admin proposes and executes; the guardian may only cancel (a second key
    # between a proposer and the deal during the delay)
    timelock = dep("Timelock").deploy(
        config.timelock_delay, [admin], [admin], [guardian], "0x" + "00" * 20, sender=admin
    )
    faces = [t.face for t in config.tranches]
    deal = dep("Deal").deploy(
        token.address,
        faces,
        config.initial_pool_balance,
        config.reserve_initial,
        timelock.address,
        guardian,
        compliance,
        seller,
        seller,
        sender=admin,
    )
    now = boa.env.evm.patch.timestamp
    closes_at = now + config.offering_seconds
    issuance = dep("Issuance").deploy(
        deal.address,
        seller,
        now,
        closes_at,
        closes_at + config.close_grace_seconds,
        config.minimum_subscription,
        [t.offering_price_wad for t in config.tranches],
        sender=admin,
    )
    tokens = [
        dep("TrancheToken").deploy(
            t.name, t.symbol, deal.address, issuance.address, i, t.face, sender=admin
        )
        for i, t in enumerate(config.tranches)
    ]
    oracle = dep("RemittanceOracle").deploy(
        deal.address,
        servicer,
        list(attestors),
        config.quorum,
        config.initial_loan_count,
        round(config.max_annual_rate * WAD),
        round(config.initial_index_rate * WAD),
        round(config.max_index_change * WAD),
        list(config.initial_delinquent),
        sender=admin,
    )
    if test_waterfall:
        coupons = [round(t.coupon * WAD) for t in config.tranches]
        waterfall = dep("SequentialTestWaterfall").deploy(coupons, faces, deal.address, sender=admin)
    else:
        from openmbs.chain._exact_waterfall import deploy_exact_waterfall

        exact = config.exact
        if list(exact.face) != faces or exact.pool_original != config.initial_pool_balance:
            raise InputError(
                f"deal {config.name!r}: tranche faces {faces} / pool {config.initial_pool_balance} "
                f"differ from the exact deal's {list(exact.face)} / {exact.pool_original}"
            )
        if from_artifacts:
            waterfall = _deploy_exact_from_artifact(exact, str(deal.address), sender=admin, bound=bound)
        else:
            waterfall = deploy_exact_waterfall(exact, str(deal.address), sender=admin, bound=bound)
    deal.configure(
        [t.address for t in tokens], issuance.address, oracle.address, waterfall.address, sender=admin
    )
    if not deal.configured():
        raise ChainError(f"deal {config.name!r}: configure did not take effect")
    issuance.check_wiring(sender=admin)  # the escrow checks it can mint every class
    sale_args, bond_args = config.servicing.contract_args(config.initial_pool_balance, now)
    # the tapes count money in record units, 10**-min(decimals, 9) of the asset
    unit_scale = 10 ** (decimals - min(decimals, 9))
    loan_sale = dep("LoanSale").deploy(oracle.address, deal.address, *sale_args, unit_scale, sender=admin)
    bond = dep("ServicerBond").deploy(oracle.address, deal.address, loan_sale.address, *bond_args, sender=admin)
    # once, by the deployer: the oracle takes sold loans from this LoanSale only, and
    # SERVICER_ROLE moves only through the bond's appoint_backup (docs/chain.md)
    oracle.wire_servicing(loan_sale.address, bond.address, sender=admin)
    return DealClient(
        config=config,
        settlement=token,
        timelock=timelock,
        deal=deal,
        issuance=issuance,
        tokens=tuple(tokens),
        oracle=oracle,
        waterfall=waterfall,
        admin=admin,
        servicer=servicer,
        test_waterfall=test_waterfall,
        loan_sale=loan_sale,
        bond=bond,
        bound=bound,
    )


def deal_bound(config: DealConfig, bound: int | None = None) -> int:
    """The class bound of the build ``config``'s deal runs on: ``bound`` when given
    (refused with the reason when it is not a build's or is below the class count),
    else the smallest build that holds its classes."""
    n = len(config.tranches)
    if bound is None:
        return bound_for(n)
    if bound not in BOUNDS:
        raise InputError(f"deal {config.name!r}: class bound {bound!r}: the contracts are built for {list(BOUNDS)}")
    if n > bound:
        raise InputError(
            f"deal {config.name!r}: {n} classes cannot run on the {bound}-class build (its contracts' "
            f"arrays hold {bound} rows); the smallest build that holds them is {bound_for(n)}"
        )
    return bound


def _check_settlement_decimals(config: DealConfig, token: Any, decimals: int) -> None:
    """Refuse a settlement asset whose ``decimals()`` is not the deal's: tranche tokens
    take the asset's decimals and every amount of the deal is in its base units."""
    import boa

    try:
        got = int(token.decimals())
    except (boa.BoaError, ValueError) as exc:
        raise InputError(
            f"deal {config.name!r} settlement {token.address}: no decimals() ({exc.__class__.__name__}); "
            "need an ERC-20 settlement asset"
        ) from None
    if got != decimals:
        raise InputError(
            f"deal {config.name!r} key 'asset.decimals' value {decimals}: the settlement asset "
            f"{token.address} has {got} decimals"
        )


def _deploy_exact_from_artifact(exact: Any, deal_address: str, *, sender: str, bound: int) -> Any:
    """``deploy_exact_waterfall`` from the cached artefacts (same steps: the rule
    program of a deal with rules, then the waterfall with ``exact_params``, its PAC
    schedules, the seal)."""
    from openmbs.chain._exact_waterfall import deploy_exact_waterfall

    return deploy_exact_waterfall(exact, deal_address, sender=sender, from_artifact=True, bound=bound)


def _token_name_and_symbol(deal: str, tranche: str) -> tuple[str, str]:
    """A tranche token's name and symbol: ``"openmbs <DEAL> <class>"`` (the deal's
    name in capitals, ``_`` and spaces as ``-``; at most 50 characters, the EIP-712
    domain name's limit) and ``"<initials>-<class>"`` (the first letter of each
    word of the deal's name; at most 16 characters).

    >>> _token_name_and_symbol("four_tranche", "A")
    ('openmbs FOUR-TRANCHE A', 'FT-A')
    """
    words = [w for w in deal.replace("-", "_").replace(" ", "_").split("_") if w]
    name = f"openmbs {'-'.join(words).upper()} {tranche}"[:50]
    symbol = f"{''.join(w[0] for w in words).upper()}-{tranche}"[:16]
    return name, symbol


def config_from_spec(
    spec: Any,
    *,
    loan_count: int,
    quorum: int = 3,
    n_attestors: int = 5,
    max_net_rate: float | None = None,
    initial_delinquent: tuple[int, int, int] = (0, 0, 0),
) -> DealConfig:
    """A :class:`DealConfig` from a deal spec (``openmbs.structuring.load_deal``).

    Faces, coupons and the pool balance come from ``compile_exact(spec)`` (integer
    base units); token names and symbols are :func:`_token_name_and_symbol`'s
    (``"openmbs FOUR-TRANCHE A"``, ``"FT-A"``). ``loan_count`` is the number of
    loans at cut-off (the oracle rejects a report with more). The config carries the compiled deal
    (``exact``), which :func:`deploy_deal` puts on chain as ``ExactWaterfall``, and its
    initial reserve (funded at closing from the proceeds).

    The oracle's interest bound is :func:`rate_bound` of ``max_net_rate``, the highest
    net loan rate on the tape (not the pool's average coupon, which drifts as loans
    prepay); without it the :class:`DealConfig` default applies. ``initial_delinquent``
    are the tape's delinquent balances at cut-off (30-59, 60-89, 90+ days).
    """
    from openmbs.structuring import compile_exact

    exact = compile_exact(spec)
    by_name = {t.name: t for t in spec.tranches}
    prices = tuple(
        _price_wad(by_name[n].offering_price, spec, n, io=by_name[n].notional is not None) for n in exact.names
    )
    return config_from_exact(
        exact,
        name=str(spec.name),
        loan_count=loan_count,
        quorum=quorum,
        n_attestors=n_attestors,
        max_net_rate=max_net_rate,
        initial_delinquent=initial_delinquent,
        offering_price_wad=prices,
    )


def _price_wad(percent: float | None, spec: Any, name: str, *, io: bool) -> int:
    """A spec's ``offering_price`` (percent of face) as WAD per unit of face; par when
    not given, except for an IO strip, whose notional is not what it is worth (the
    analytics do not need the price; the offering does)."""
    from decimal import Decimal

    if percent is None:
        if io:
            raise SpecError(
                "an IO strip needs an offering_price (percent of its notional) to be offered: "
                "it is not sold at par",
                file=spec.source,
                key=f"tranches[{name}].offering_price",
                value=None,
            )
        return WAD
    wad = int(Decimal(repr(float(percent))) * 10**16)
    if not 0 < wad <= MAX_PRICE_WAD:
        raise InputError(
            f"file {spec.source!r} tranche {name!r} key 'offering_price' value {percent!r}: need 0 < price <= 1000"
        )
    return wad


def config_from_exact(
    exact: Any,
    *,
    name: str,
    loan_count: int,
    quorum: int = 3,
    n_attestors: int = 5,
    max_net_rate: float | None = None,
    initial_delinquent: tuple[int, int, int] = (0, 0, 0),
    offering_price_wad: Sequence[int] | None = None,
) -> DealConfig:
    """A :class:`DealConfig` from a compiled deal (:class:`ExactDeal`), see
    :func:`config_from_spec`. Class names default to ``T1``, ``T2``, ...; without
    ``max_net_rate`` the interest bound is the :class:`DealConfig` default.

    ``offering_price_wad`` gives each class's offering price per unit of face or
    notional, scaled 1e18, in the exact deal's (priority) order; without it every
    class is sold at par, which an IO strip (flag ``F_IO``) refuses: its notional is
    not what it is worth.
    """
    from openmbs.structuring import F_IO

    if offering_price_wad is None:
        io = [i for i in range(exact.n_tranches) if exact.flags[i] & F_IO]
        if io:
            label = exact.names[io[0]] if exact.names else f"T{io[0] + 1}"
            raise InputError(
                f"deal {name!r} tranche {label!r} field 'offering_price_wad' value None: an IO strip "
                "needs an offering price (it is not sold at par on its notional)"
            )
        offering_price_wad = (WAD,) * exact.n_tranches
    if len(offering_price_wad) != exact.n_tranches:
        raise InputError(
            f"deal {name!r} field 'offering_price_wad' value {list(offering_price_wad)!r}: "
            f"need one price per tranche ({exact.n_tranches})"
        )
    names = exact.names or tuple(f"T{i + 1}" for i in range(exact.n_tranches))
    labels = [_token_name_and_symbol(name, n) for n in names]
    tranches = tuple(
        TrancheConfig(
            name=labels[i][0],
            symbol=labels[i][1],
            face=exact.face[i],
            coupon=exact.rate[i] / WAD,
            offering_price_wad=int(offering_price_wad[i]),
        )
        for i in range(exact.n_tranches)
    )
    config = DealConfig(
        name=name,
        tranches=tranches,
        initial_pool_balance=exact.pool_original,
        initial_loan_count=loan_count,
        quorum=quorum,
        n_attestors=n_attestors,
        reserve_initial=exact.reserve_initial,
        exact=exact,
        initial_delinquent=initial_delinquent,
    )
    if max_net_rate is None:
        return config
    return replace(config, max_annual_rate=rate_bound(max_net_rate))


def _exact_from_dict(raw: dict[str, Any], name: str) -> Any:
    """An :class:`ExactDeal` from its ``dataclasses.asdict`` form (lists for tuples)."""
    from openmbs.structuring import ExactDeal

    def tup(v: Any) -> Any:
        return tuple(tup(x) for x in v) if isinstance(v, (list, tuple)) else v

    try:
        return ExactDeal(**{f.name: tup(raw[f.name]) for f in fields(ExactDeal) if f.name in raw})
    except TypeError as exc:
        raise InputError(f"deal {name!r} field 'exact': {exc}") from None


def attach_deal(
    config: DealConfig,
    addresses: dict[str, Any],
    *,
    admin: str,
    servicer: str | None = None,
    test_waterfall: bool = False,
    bound: int | None = None,
) -> DealClient:
    """A :class:`DealClient` on contracts already deployed at ``addresses``
    (the ``contracts`` of a deployment record); ``test_waterfall`` when the deal is
    wired to the SequentialTestWaterfall test double. ``loan_sale`` and
    ``servicer_bond`` are optional (records written before they were deployed).
    ``bound`` is the build the deal was deployed on (the record's ``class_bound``;
    default what :func:`deploy_deal` chooses for the config's classes)."""
    bound = deal_bound(config, bound)

    def dep(name: str) -> Any:
        return deployer(name, bound)

    try:
        return DealClient(
            config=config,
            settlement=dep("MockSettlementToken").at(addresses["settlement"]),
            timelock=dep("Timelock").at(addresses["timelock"]),
            deal=dep("Deal").at(addresses["deal"]),
            issuance=dep("Issuance").at(addresses["issuance"]),
            tokens=tuple(dep("TrancheToken").at(a) for a in addresses["tokens"]),
            oracle=dep("RemittanceOracle").at(addresses["oracle"]),
            waterfall=dep("SequentialTestWaterfall" if test_waterfall else "ExactWaterfall").at(addresses["waterfall"]),
            admin=admin,
            servicer=servicer or admin,
            test_waterfall=test_waterfall,
            loan_sale=dep("LoanSale").at(addresses["loan_sale"]) if addresses.get("loan_sale") else None,
            bond=dep("ServicerBond").at(addresses["servicer_bond"]) if addresses.get("servicer_bond") else None,
            bound=bound,
        )
    except KeyError as exc:
        raise InputError(f"deployment record: missing contract address {exc.args[0]!r}") from None
