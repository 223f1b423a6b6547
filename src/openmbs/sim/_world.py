"""The chain side of a lifecycle run: deploy (or reattach to) the deal, and one month
on chain (attest, submit, claims and trades). The stages (``openmbs.sim._stages``) call
these; nothing here knows about files or the loan-record source."""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from openmbs.errors import DataIntegrityError, InputError, RemittanceRejected
from openmbs.sim._config import DEPLOYMENT, LifecycleConfig
from openmbs.sim._keys import NodeKeys

_FAR_FUTURE = 2**40
_MONTH_SECONDS = 30 * 24 * 3600
#: The embedded chain's first block time (2026-01-01 00:00 UTC): a run's chain, and so
#: its event store, depends only on its inputs.
_GENESIS_TIMESTAMP = 1_767_225_600
#: Gas money (wei) the operator gives each investor account on a node.
_INVESTOR_GAS_WEI = 10**17



def _key(label: str, seed: int) -> bytes:
    return hashlib.sha256(f"openmbs-lifecycle:{label}:{seed}".encode()).digest()


def _address(label: str, seed: int) -> str:
    from eth_account import Account

    return str(Account.from_key(_key(label, seed)).address)


def _run_keys(cfg: LifecycleConfig, keys: NodeKeys | None) -> tuple[list[Any], list[Any]]:
    """The attestors' and investors' private keys: derived from the seed on the embedded
    chain, the user's (or anvil's, ``dev_chain``) on a node (see ``openmbs.sim._keys``)."""
    if cfg.rpc is None:
        if keys is not None:
            raise InputError("keys are for a run on a node (--rpc); the embedded chain derives its own")
        return (
            [_key(f"attestor{i}", cfg.seed) for i in range(cfg.attestors)],
            [_key(f"investor{i}", cfg.seed) for i in range(cfg.investors)],
        )
    if keys is None:
        raise InputError(
            f"--rpc value {cfg.rpc!r}: keys derived from the seed are public on a node; give the "
            "attestors' and investors' keys, or say the node is a throwaway dev chain (--dev-chain)"
        )
    if len(keys.attestors) != cfg.attestors or len(keys.investors) < cfg.investors:
        raise InputError(
            f"keys: {len(keys.attestors)} attestor / {len(keys.investors)} investor key(s), the run has "
            f"{cfg.attestors} attestors and {cfg.investors} investors"
        )
    return list(keys.attestors), list(keys.investors[: cfg.investors])


def _addresses(keys: list[Any]) -> list[str]:
    from eth_account import Account

    return [str(Account.from_key(k).address) for k in keys]


@dataclass
class _World:
    """The chain side of a run: the deal client, accounts and the event collector."""

    client: Any
    env: Any
    admin: str
    servicer: str
    attestors: Any
    investors: list[str]
    collector: Any
    source: Any
    registry: Any
    claim_every: list[int]
    chain_id: int = 0
    oracle_address: str = ""
    attached: bool = False  # reattached to a node's deal: replayed periods are on chain
    balances: list[int] | None = None  # tranche balances after the last period (events)
    chain_seconds: float = 0.0
    month_seconds: list[float] = field(default_factory=list)


def _cutoff(tape: Any, sim: Any) -> dict[str, Any]:
    """What the oracle is deployed with from the tape at cut-off: the highest net loan
    rate (its interest bound is that plus ``RATE_TOLERANCE``) and the balances 30-59,
    60-89 and 90+ days delinquent (base units; bound period 1's roll and liquidations)."""
    note = np.asarray(tape.table.column("note_rate").to_numpy(zero_copy_only=False), dtype=np.float64)
    net = note.copy()
    if "net_rate" in tape.table.column_names:
        given = np.asarray(tape.table.column("net_rate").to_numpy(zero_copy_only=False), dtype=np.float64)
        net = np.where(np.isnan(given), note, given)
    if "servicing_fee" in tape.table.column_names and "net_rate" not in tape.table.column_names:
        fee = np.asarray(tape.table.column("servicing_fee").to_numpy(zero_copy_only=False), dtype=np.float64)
        net = note - np.nan_to_num(fee)
    dq = np.nan_to_num(
        np.asarray(tape.table.column("delinquency_status").to_numpy(zero_copy_only=False), dtype=np.float64)
    ).astype(np.int64)
    bal = np.asarray(sim.balances, dtype=np.int64)
    u = int(getattr(sim, "unit_scale", 1))  # record units -> the asset's base units
    return {
        "max_net_rate": float(np.nanmax(net)) if len(net) else 0.0,
        "initial_delinquent": (
            int(bal[dq == 1].sum()) * u,
            int(bal[dq == 2].sum()) * u,
            int(bal[dq >= 3].sum()) * u,
        ),
    }


def _deploy(
    cfg: LifecycleConfig,
    spec: Any,
    exact: Any,
    loan_count: int,
    cutoff: dict[str, Any],
    keys: NodeKeys | None = None,
) -> _World:
    import boa

    from openmbs.agents import AttestorSet
    from openmbs.chain import config_from_spec, deploy_deal
    from openmbs.chain.fastevm import make_lean
    from openmbs.indexer import BoaLogCollector, MemoryLogSource

    attestor_keys, investor_keys = _run_keys(cfg, keys)
    signers = AttestorSet(attestor_keys)
    attestors = list(signers.addresses)
    investors = _addresses(investor_keys)
    source: Any = None
    collector: Any = None
    if cfg.rpc is None:
        env = boa.Env()
        boa.set_env(env)
        make_lean(env)
        env.evm.patch.timestamp = _GENESIS_TIMESTAMP
        source = MemoryLogSource("boa")
        collector = BoaLogCollector(source, env)
        admin = _address("admin", cfg.seed)
        servicer = _address("servicer", cfg.seed)
    else:
        admin = servicer = _use_node(cfg, investor_keys)
        env = boa.env
    dcfg = config_from_spec(
        spec, loan_count=loan_count, quorum=cfg.quorum, n_attestors=cfg.attestors, **cutoff
    )
    with _capture(collector):
        client = deploy_deal(
            dcfg,
            attestors=attestors,
            admin=admin,
            servicer=servicer,
            test_waterfall=cfg.test_waterfall,
            from_artifacts=True,
        )
        client.allow([*investors, admin, servicer], _FAR_FUTURE)
        _subscribe(cfg, client, dcfg, exact, investors, admin)
        # the servicer's float: enough for every month's deposit (the pool's balance
        # plus all its interest is below three times the balance at closing)
        client.settlement.mint(servicer, 3 * exact.pool_original, sender=admin)
        client.close()
        for inv in investors:
            client.settle(inv)
        _seal(collector, env)
    return _world(cfg, client, env, signers, investors, collector, source)


def _subscribe(cfg: LifecycleConfig, client: Any, dcfg: Any, exact: Any, investors: list[str], admin: str) -> None:
    """The investors subscribe: each tranche's face split among them in random integer
    shares (Dirichlet weights, the rounding remainder to the largest share), each
    subscription paying its class's offering price (rounded up)."""
    rng = np.random.default_rng([cfg.seed, 0, 7])
    # Python integers: an 18-decimal face does not fit in 64 bits
    shares: list[list[int]] = []
    for face in exact.face:
        wts = rng.dirichlet(np.ones(len(investors)))
        row = [int(np.floor(w * face)) for w in wts.tolist()]
        row[max(range(len(row)), key=lambda i: row[i])] += int(face) - sum(row)
        shares.append(row)
    for j, inv in enumerate(investors):
        total = sum(dcfg.tranches[t].cost(shares[t][j]) for t in range(exact.n_tranches))
        client.settlement.mint(inv, total, sender=admin)
        client.settlement.approve(client.issuance.address, total, sender=inv)
        for t in range(exact.n_tranches):
            if shares[t][j] > 0:
                client.issuance.subscribe(t, shares[t][j], sender=inv)


def _world(
    cfg: LifecycleConfig,
    client: Any,
    env: Any,
    signers: Any,
    investors: list[str],
    collector: Any,
    source: Any,
    *,
    attached: bool = False,
) -> _World:
    from openmbs.indexer import ContractRegistry, RpcLogSource

    registry = ContractRegistry()
    registry.add_contract(client.deal, "Deal")
    registry.add_contract(client.oracle, "RemittanceOracle")
    registry.add_contract(client.issuance, "Issuance")
    registry.add_contract(client.settlement, "MockSettlementToken")
    registry.add_contract(client.timelock, "Timelock")
    registry.add_contract(client.waterfall, "Waterfall")
    for tok in client.tokens:
        registry.add_contract(tok, "TrancheToken")
    if client.loan_sale is not None and client.bond is not None:
        registry.add_contract(client.loan_sale, "LoanSale")
        registry.add_contract(client.bond, "ServicerBond")
    # each investor claims every 3 to 12 months (drawn after the subscriptions' draws)
    rng = np.random.default_rng([cfg.seed, 0, 7])
    for _ in range(len(client.tokens)):
        rng.dirichlet(np.ones(len(investors)))
    claim_every = [int(x) for x in rng.integers(3, 13, size=len(investors))]
    if cfg.rpc is not None:
        source = RpcLogSource(cfg.rpc, addresses=registry.addresses)
    return _World(
        client,
        env,
        str(client.admin),
        str(client.servicer),
        signers,
        investors,
        collector,
        source,
        registry,
        claim_every,
        chain_id=client.chain_id(),
        oracle_address=str(client.oracle.address),
        attached=attached,
    )


def _attach(
    cfg: LifecycleConfig, spec: Any, loan_count: int, out: Path, last: int, keys: NodeKeys | None = None
) -> _World:
    """Reattach to the deal a previous run deployed on the node (resume on ``--rpc``)."""
    from openmbs.agents import AttestorSet
    from openmbs.chain import DEAL_ENV, attach_deal, check_addresses, config_from_spec, read_deal

    path = out / DEPLOYMENT
    if not path.exists():
        raise DataIntegrityError(
            f"folder {str(out)!r}: a run on a node to resume but no {DEPLOYMENT} (use --fresh)"
        )
    from openmbs.chain import read_deployment_record

    record = read_deployment_record(path)
    attestor_keys, investor_keys = _run_keys(cfg, keys)
    signers = AttestorSet(attestor_keys)
    investors = _addresses(investor_keys)
    operator = _use_node(cfg, investor_keys, resumed=True)
    if operator.lower() != str(record["admin"]).lower():
        raise InputError(
            f"file {str(path)!r}: the deal was deployed by {record['admin']}, "
            f"$OPENMBS_PRIVATE_KEY is the key of {operator}"
        )
    dcfg = config_from_spec(
        spec, loan_count=loan_count, quorum=cfg.quorum, n_attestors=cfg.attestors
    )
    # the file only names the deal ($OPENMBS_DEAL pins it); every other address is read
    # from the deal on chain, checked (code, back-links) and must be the file's
    chain = read_deal(os.environ.get(DEAL_ENV) or str(record["contracts"]["deal"]))
    check_addresses(record["contracts"], chain, where=f"file {str(path)!r}")
    client = attach_deal(dcfg, chain.addresses, admin=operator, servicer=operator, bound=chain.bound)
    on_chain = int(client.deal.last_period())
    if on_chain != last:
        raise DataIntegrityError(
            f"file {str(path)!r}: the deal at {record['contracts']['deal']} is at period "
            f"{on_chain} on {cfg.rpc}, the folder's last accepted period is {last}"
        )
    import boa

    return _world(cfg, client, boa.env, signers, investors, None, None, attached=True)


def _capture(collector: Any) -> Any:
    """The embedded EVM's log capture (a node keeps its own logs)."""
    return collector.capture() if collector is not None else contextlib.nullcontext()


def _seal(collector: Any, env: Any) -> None:
    """End the block on the embedded EVM and move a month on (a node mines its own)."""
    if collector is not None:
        collector.seal()
        env.time_travel(blocks=1, block_delta=_MONTH_SECONDS)


def _use_node(cfg: LifecycleConfig, investor_keys: list[Any], *, resumed: bool = False) -> str:
    """Point titanoboa at ``cfg.rpc`` with the operator key from the environment
    (``$OPENMBS_PRIVATE_KEY``, never a command-line argument); add the investors'
    keys and give each the gas it needs from the operator. Returns the
    operator's address (admin and servicer on a node).

    A new deployment tops each investor up to ``_INVESTOR_GAS_WEI``. A resumed run
    (``resumed``) does not give that money again (it was sent, and mined, when the deal
    was deployed; the investors have spent some of it on claims and trades since): it
    sends nothing, unless an investor is down to less than a tenth of it."""
    import boa
    from eth_account import Account

    from openmbs.chain import load_account, use_network

    operator = load_account()
    use_network(str(cfg.rpc), operator)
    for key in investor_keys:
        acct = Account.from_key(key)
        inv = str(acct.address)
        boa.env.add_account(acct)
        have = int(boa.env.get_balance(inv))
        if have < (_INVESTOR_GAS_WEI // 10 if resumed else _INVESTOR_GAS_WEI):
            boa.env.raw_call(inv, sender=str(operator.address), value=_INVESTOR_GAS_WEI - have)
    return str(operator.address)


def _remit(w: _World, cfg: LifecycleConfig, report: Any, sold: Sequence[Any] = ()) -> None:
    """Attest (a random quorum of the attestors) and submit (approve + submit; with
    ``sold``, the records and proofs of the sold loans it confirms, ``submit_with_sales``)."""
    rng = np.random.default_rng([cfg.seed, report.period, 1])
    chosen = sorted(rng.choice(len(w.attestors), size=cfg.quorum, replace=False).tolist())
    sigs = w.attestors.sign(
        report, chosen, chain_id=w.chain_id, verifying_contract=w.oracle_address,
        deadline=_deadline(w),
    )
    try:
        if sold:
            w.client.remit_with_sales(report, sigs, sold)
        else:
            w.client.remit(report, sigs)
    except RemittanceRejected as exc:
        raise RemittanceRejected(_rejection_reason(w, report, sigs, exc.reason, sold), period=report.period) from None


def _deadline(w: _World) -> int | None:
    """The attestations' deadline: a day after the embedded chain's clock (which runs a
    month a period from its genesis); on a node, ``None`` (a day after this machine's
    clock, which the node's blocks follow)."""
    if w.collector is None:
        return None
    from openmbs.oracle import DEFAULT_VALIDITY_SECONDS

    return int(w.env.evm.patch.timestamp) + DEFAULT_VALIDITY_SECONDS


def _rejection_reason(w: _World, report: Any, sigs: Any, reason: str, sold: Sequence[Any] = ()) -> str:
    """The ``# dev:`` reason of a rejected submission (``submit_with_sales`` when
    ``sold`` is given).

    The deal is deployed from the compiled artefacts (ABI contracts, no source-level
    tracing), so the rejected ``submit`` is simulated again (same state, locally) on the
    oracle's titanoboa source contract, which names the failing check.
    """
    import boa

    from openmbs.chain import attestation_deadline, deployer, revert_reason

    try:
        oracle = deployer("RemittanceOracle", w.client.bound).at(w.oracle_address)
        head = (report.as_tuple(), attestation_deadline(sigs), [a.as_tuple() for a in sigs])
        if sold:
            oracle.submit_with_sales(
                *head, [r.as_tuple() for r, _ in sold], [list(p) for _, p in sold],
                sender=w.client.servicer, simulate=True,
            )  # fmt: skip
        else:
            oracle.submit(*head, sender=w.client.servicer, simulate=True)
    except boa.BoaError as exc:
        return revert_reason(exc)
    except Exception:  # pragma: no cover - the reason is a courtesy
        return reason
    return reason  # pragma: no cover - the simulation passed: keep the first reason


def _investors_act(w: _World, cfg: LifecycleConfig, period: int, final: bool) -> None:
    """Claims on each investor's schedule (everyone claims in the final period) and
    random trades of tranche tokens between investors."""
    rng = np.random.default_rng([cfg.seed, period, 2])
    c = w.client
    for i, inv in enumerate(w.investors):
        if final or period % w.claim_every[i] == 0:
            c.claim(inv)
    if final:
        for payee in (w.admin,):
            if int(c.deal.payee_owed(payee)) > 0:
                c.deal.claim_payee(sender=payee)
        return
    n_trades = int(
        rng.binomial(len(w.investors), cfg.trade_probability / max(len(w.investors), 1) * 3)
    )
    for _ in range(n_trades):
        t = int(rng.integers(0, len(c.tokens)))
        seller, buyer = (
            rng.choice(len(w.investors), size=2, replace=False).tolist()
            if len(w.investors) > 1
            else (0, 0)
        )
        if seller == buyer:
            continue
        bal = int(c.tokens[t].balanceOf(w.investors[seller]))
        amount = int(bal * float(rng.uniform(0.05, 0.5)))
        if amount > 0:
            c.tokens[t].transfer(w.investors[buyer], amount, sender=w.investors[seller])


def _chain_month(
    w: _World,
    cfg: LifecycleConfig,
    report: Any,
    keeper: Any,
    final: bool,
    *,
    sold: Sequence[Any] = (),
    then: Callable[[], None] | None = None,
) -> None:
    """One month on chain: attest and submit the report, investors claim and trade.

    The keeper sees the tranche balances the chain reported before the period: on the
    embedded EVM they come from the previous period's ``TrancheAllocated`` events
    (decoded from the logs the collector captured, no extra calls); on a node, or
    before the first period, from ``Deal.tranche_balance``.
    """
    t0 = time.perf_counter()
    n = len(w.client.tokens)
    before = w.balances or [int(w.client.deal.tranche_balance(i)) for i in range(n)]
    block = int(w.env.evm.patch.block_number) if w.collector is not None else -1
    with _capture(w.collector):
        _remit(w, cfg, report, sold)
        _investors_act(w, cfg, report.period, final)
        if then is not None:  # the keeper's loan sales, in the period's block
            then()
        _seal(w.collector, w.env)
    w.balances = None
    if w.collector is not None:
        after: dict[int, int] = {}
        for log in w.source.logs(block, block):
            d = w.registry.decode(log)
            if d.event is not None and d.event.name == "TrancheAllocated" and d.args is not None:
                after[int(d.args["tranche"])] = int(d.args["balance"])
        if sorted(after) == list(range(n)):
            w.balances = [after[i] for i in range(n)]
    dt = time.perf_counter() - t0
    w.chain_seconds += dt
    w.month_seconds.append(dt)
    keeper.observe(
        report.period,
        pool_beg=report.beginning_balance,
        pool_end=report.ending_balance,  # the accepted report's (the oracle's last_ending_balance)
        losses=report.losses,
        subsequent_recoveries=report.subsequent_recoveries,
        delinquent_60_plus=report.delinquent_60 + report.delinquent_90_plus,
        tranche_balances=before,
    )


