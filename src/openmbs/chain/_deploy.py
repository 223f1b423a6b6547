"""Deploy a whole deal (settlement asset, timelock, deal, tokens, oracle, issuance)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from openmbs.chain._clients import DealClient
from openmbs.chain._contracts import deployer
from openmbs.errors import ChainError, InputError

__all__ = ["DealConfig", "TrancheConfig", "deploy_deal"]

WAD = 10**18


@dataclass(frozen=True)
class TrancheConfig:
    """One tranche: token name (<= 25 chars), symbol (<= 5), original face in base units,
    and an annual coupon as a decimal (used only by the test waterfall)."""

    name: str
    symbol: str
    face: int
    coupon: float = 0.0

    def __post_init__(self) -> None:
        if not 0 < len(self.name) <= 25:
            raise InputError(f"tranche field 'name' value {self.name!r}: need 1..25 characters")
        if not 0 < len(self.symbol) <= 5:
            raise InputError(f"tranche {self.name!r} field 'symbol' value {self.symbol!r}: need 1..5 characters")
        if not isinstance(self.face, int) or not 0 < self.face < 2**96:
            raise InputError(f"tranche {self.name!r} field 'face' value {self.face!r}: need 0 < face < 2**96 base units")


@dataclass(frozen=True)
class DealConfig:
    """Everything needed to deploy a deal.

    Amounts are integers in base units of the settlement asset; rates are decimals.
    ``max_annual_rate`` bounds a report's interest (interest <= beginning balance x
    rate / 12); ``timelock_delay`` is in seconds; the offering window opens at
    deployment and lasts ``offering_seconds``.
    """

    name: str
    tranches: tuple[TrancheConfig, ...]
    initial_pool_balance: int
    initial_loan_count: int
    quorum: int = 3
    n_attestors: int = 5
    max_annual_rate: float = 0.25
    max_index_rate: float = 0.25
    timelock_delay: int = 2 * 24 * 3600
    offering_seconds: int = 7 * 24 * 3600
    minimum_subscription: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 1 <= len(self.tranches) <= 8:
            raise InputError(f"deal {self.name!r}: {len(self.tranches)} tranches, need 1..8")
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
    settlement
        Address of the settlement asset; ``None`` deploys a 6-decimal mock (the
        admin is its minter).
    test_waterfall
        Wire the SequentialTestWaterfall TEST DOUBLE instead of ``Waterfall.vy``
        (whose rules are not ported yet and accepts no remittance).
    """
    import boa

    if len(attestors) != config.n_attestors:
        raise InputError(f"deal {config.name!r}: {len(attestors)} attestor(s) given, config says {config.n_attestors}")
    servicer = servicer or admin
    guardian = guardian or admin
    compliance = compliance or admin
    seller = seller or admin
    with boa.env.prank(admin):
        if settlement is None:
            token = deployer("MockSettlementToken").deploy("openmbs mock USD", "mUSD")
        else:
            token = deployer("MockSettlementToken").at(settlement)
        timelock = deployer("Timelock").deploy(config.timelock_delay, [admin], [admin], "0x" + "00" * 20)
        faces = [t.face for t in config.tranches]
        deal = deployer("Deal").deploy(
            token.address,
            faces,
            config.initial_pool_balance,
            timelock.address,
            guardian,
            compliance,
            seller,
            seller,
        )
        now = boa.env.evm.patch.timestamp
        issuance = deployer("Issuance").deploy(
            deal.address, seller, now, now + config.offering_seconds, config.minimum_subscription
        )
        tokens = [
            deployer("TrancheToken").deploy(t.name, t.symbol, deal.address, issuance.address, i, t.face)
            for i, t in enumerate(config.tranches)
        ]
        oracle = deployer("RemittanceOracle").deploy(
            deal.address,
            servicer,
            list(attestors),
            config.quorum,
            config.initial_loan_count,
            int(round(config.max_annual_rate * WAD)),
            int(round(config.max_index_rate * WAD)),
        )
        if test_waterfall:
            coupons = [int(round(t.coupon * WAD)) for t in config.tranches]
            waterfall = deployer("SequentialTestWaterfall").deploy(coupons)
        else:
            waterfall = deployer("Waterfall").deploy()
        deal.configure([t.address for t in tokens], issuance.address, oracle.address, waterfall.address)
    if not deal.configured():
        raise ChainError(f"deal {config.name!r}: configure did not take effect")
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
    )
