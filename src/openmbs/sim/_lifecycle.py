"""The deal's whole life: tape -> deal -> chain -> monthly remittances -> claims -> audit.

:func:`run_lifecycle` wires the packages together (this is the ``openmbs demo`` job):

1. the tape (generated, or read) is written to ``tape.parquet``; the deal spec is sized
   to the simulated pool's integer balance; tranche analytics at closing come from the
   pool projection at the assumptions and the float waterfall;
2. the deal is deployed on titanoboa's embedded EVM; investors subscribe in the
   issuance escrow, which closes;
3. each month ``LoanSimulator.step()`` gives the loan-level records; the servicer
   bridge builds the report (aggregates + Merkle root); 3 of the 5 attestors sign; the
   servicer deposits and submits; the oracle accepts and the waterfall distributes;
   the exact Python waterfall runs on the same report; investors claim on their own
   schedules and trade tokens; the keeper watches the triggers;
4. the events are indexed into DuckDB, everything is reconciled.

Files in the output folder (see ``docs/demo.md``): ``tape.parquet``,
``loans/period=NNNN.parquet``, ``state/`` (simulator state, manifest),
``events.duckdb``, ``closing.json``, ``lifecycle.json`` (per-period results),
``summary.json``, ``report.html``.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from openmbs.audit import ReconCheck
from openmbs.errors import DataIntegrityError, InputError, RemittanceRejected
from openmbs.sim._keys import NodeKeys
from openmbs.structuring import exact_remittance

__all__ = [
    "LifecycleConfig",
    "LifecycleResult",
    "ReconCheck",
    "exact_remittance",
    "loans_path",
    "run_lifecycle",
]

MANIFEST = "state/manifest.json"
SIM_STATE = "state/sim.npz"
DEPLOYMENT = "state/deployment.json"
_FORMAT = "openmbs-lifecycle/1"
_FAR_FUTURE = 2**40
_MONTH_SECONDS = 30 * 24 * 3600
_P = ParamSpec("_P")
_R = TypeVar("_R")
#: The embedded chain's first block time (2026-01-01 00:00 UTC): a run's chain, and so
#: its event store, depends only on its inputs.
_GENESIS_TIMESTAMP = 1_767_225_600
#: Gas money (wei) the operator gives each investor account on a node.
_INVESTOR_GAS_WEI = 10**17

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class LifecycleConfig:
    """Inputs of a lifecycle run (rates as decimals; speeds in percent of their curve).

    ``psa``, ``sda`` in percent of the standard curves (150 is 150% PSA, as in
    ``Prepayment.psa(150)``); ``severity`` a decimal of the defaulted balance (0.35 is
    35%, as in ``project_pool(severity=)``); ``lag`` in months; ``advance`` what the
    servicer advances on delinquent and defaulted loans (``"none"``, ``"principal"`` or
    ``"all"``, as in :class:`~openmbs.sim.LoanSimulator`; default ``"none"``, the
    behaviour of earlier versions); ``tape`` a loan tape file (any format
    ``read_tape`` knows) or ``None`` for a generated tape of ``loans`` loans; ``deal`` an
    example deal name or a TOML file. ``chain`` False skips the chain (off-chain
    lifecycle with the exact engine only; the run is then not reconciled on chain).
    ``test_waterfall`` wires the chain package's SequentialTestWaterfall TEST DOUBLE
    instead of ``Waterfall.vy`` (to exercise the plumbing; the audit then reports the
    waterfall mismatch, as it must). Every loan's final record is verified against the
    root stored on chain (proofs checked in Python against
    ``RemittanceOracle.loan_tape_root``, read from the chain); ``verify_limit`` of them
    (a seeded random sample; all when there are fewer) are also verified by the
    contract's ``verify_loan`` (one call each: a few tens of milliseconds in the
    embedded EVM, so not all of a large pool). ``rpc`` a
    JSON-RPC node URL to run on instead of the embedded EVM (the operator key comes
    from ``$OPENMBS_PRIVATE_KEY``; see ``docs/demo.md``).
    """

    tape: str | None = None
    deal: str = "four_tranche"
    loans: int = 2000
    investors: int = 20
    months: int = 360
    psa: float = 150.0
    sda: float = 100.0
    severity: float = 0.35
    lag: int = 6
    seed: int = 7
    chain: bool = True
    trade_probability: float = 0.3
    quorum: int = 3
    attestors: int = 5
    test_waterfall: bool = False
    verify_limit: int = 64
    rpc: str | None = None
    advance: str = "none"

    def __post_init__(self) -> None:
        from openmbs.cashflow import advance_mode

        # a bool (earlier spelling) becomes "all"/"none"; anything else is refused
        object.__setattr__(self, "advance", advance_mode(self.advance, name="advance"))
        if self.loans < 1:
            raise InputError(f"--loans value {self.loans}: need at least 1")
        if not 1 <= self.investors <= 200:
            raise InputError(f"--investors value {self.investors}: need 1..200")
        if not 1 <= self.months <= 600:
            raise InputError(f"--months value {self.months}: need 1..600")
        if not (isinstance(self.severity, int | float) and 0 <= self.severity <= 1):
            raise InputError(
                f"severity value {self.severity!r}: need a decimal in [0, 1] (0.35 is 35%)"
            )
        if self.lag < 0:
            raise InputError(f"--lag value {self.lag}: need >= 0")
        if self.chain and self.lag < 2:
            raise InputError(
                f"--lag value {self.lag}: on chain need >= 2 (the oracle accepts a loss only on "
                "a loan reported 60+ days delinquent the month before; a loan defaults 30 days "
                "delinquent and rolls one bucket a month)"
            )
        if self.verify_limit < 1:
            raise InputError(f"verify_limit value {self.verify_limit}: need >= 1")
        if self.rpc is not None and not self.chain:
            raise InputError(f"--rpc value {self.rpc!r} with the chain disabled: a node run is on chain")
        if self.psa < 0 or self.sda < 0:
            raise InputError(f"--psa {self.psa} / --sda {self.sda}: need >= 0")

    def fingerprint(self) -> str:
        d = _config_record(self)  # severity in percent, as runs made before recorded it
        d.pop("months")  # a run may be extended
        if d["advance"] == "none":
            d.pop("advance")  # runs made before the choice existed keep their fingerprint
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def _config_record(cfg: LifecycleConfig) -> dict[str, Any]:
    """The configuration as ``closing.json`` records it and the fingerprint hashes it.

    ``severity`` stays in percent there (35.0), the representation of earlier versions, so
    their output folders resume, audit and re-execute unchanged (the audit's
    ``reexecute`` divides it back); it is the shortest
    decimal of the API's value times 100 (0.35 -> 35.0), which gives back a percent typed
    with up to a dozen significant digits exactly.
    """
    d = asdict(cfg)
    d["severity"] = float(Decimal(repr(float(cfg.severity))).scaleb(2))
    return d


@dataclass(frozen=True)
class LifecycleResult:
    """What a lifecycle run produced (paths in ``out``; figures in base units).

    ``chain_seconds`` is the wall time spent on chain (deployment, monthly remittances
    with claims and trades, verify_loan); ``month_chain_seconds`` the median of one
    month's chain time; ``sim_seconds`` and ``bridge_seconds`` the loan simulation and
    the servicer bridge (records, leaves, tree, report) of the months simulated in this
    run.
    """

    out: Path
    periods: int
    resumed_from: int
    onchain: bool
    checks: tuple[ReconCheck, ...]
    tranche_totals: dict[str, dict[str, int]]
    chain_seconds: float
    sim_seconds: float
    bridge_seconds: float
    keeper_events: tuple[str, ...]
    note: str = ""
    audit: Any = None
    month_chain_seconds: float = 0.0

    @property
    def reconciled(self) -> bool:
        return self.onchain and all(c.ok for c in self.checks)


def loans_path(out: Path, period: int) -> Path:
    """The loan-level file of ``period`` in the output folder."""
    return Path(out) / "loans" / f"period={period:04d}.parquet"


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


def _atomic_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=_jsonable))
    os.replace(tmp, path)


def _jsonable(x: Any) -> Any:
    if isinstance(x, bytes):
        return "0x" + x.hex()
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.floating):
        return float(x)
    if isinstance(x, Path):
        return str(x)
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


def _load_spec(deal: str) -> Any:
    from openmbs.structuring import resolve_deal

    return resolve_deal(deal)


def _cleanup(records: pa.Table, exact: Any) -> tuple[pa.Table, bool]:
    """Exercise the clean-up call when the pool factor reaches the deal's threshold.

    In that period the remaining balance of every open loan is bought at par: it is
    added to the loan's prepaid principal and its ending balance becomes 0 (the same
    rule as ``collections_from_projection``). Returns the records and whether the call
    was exercised.
    """
    from openmbs.structuring import WAD

    end = records.column("ending_balance").to_numpy().astype(np.int64)
    pool_end = int(end.sum())
    if (
        exact.cleanup_wad <= 0
        or pool_end == 0
        or pool_end * WAD > exact.cleanup_wad * exact.pool_original
    ):
        return records, False
    pre = records.column("prepaid_principal").to_numpy().astype(np.int64) + end
    open_ = end > 0
    status = records.column("status").to_numpy().copy()
    status[open_] = 4  # prepaid in full (bought out)
    dq = records.column("delinquency").to_numpy().copy()
    dq[open_] = 0
    t = records
    for name, arr in (
        ("prepaid_principal", pa.array(pre, pa.int64())),
        ("ending_balance", pa.array(np.zeros_like(end), pa.int64())),
        ("status", pa.array(status, records.schema.field("status").type)),
        ("delinquency", pa.array(dq, pa.int8())),
    ):
        t = t.set_column(t.schema.get_field_index(name), name, arr)
    return t, True


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
    return {
        "max_net_rate": float(np.nanmax(net)) if len(net) else 0.0,
        "initial_delinquent": (
            int(bal[dq == 1].sum()),
            int(bal[dq == 2].sum()),
            int(bal[dq >= 3].sum()),
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
            from_artifacts=cfg.rpc is None,
        )
        client.allow([*investors, admin, servicer], _FAR_FUTURE)
        rng = np.random.default_rng([cfg.seed, 0, 7])
        # each tranche's face is split among the investors in random integer shares
        shares = np.zeros((exact.n_tranches, len(investors)), dtype=np.int64)
        for t, face in enumerate(exact.face):
            wts = rng.dirichlet(np.ones(len(investors)))
            shares[t] = np.floor(wts * face).astype(np.int64)
            shares[t, int(np.argmax(shares[t]))] += face - int(shares[t].sum())
        for j, inv in enumerate(investors):
            # each subscription pays its class's offering price (rounded up)
            total = sum(dcfg.tranches[t].cost(int(shares[t, j])) for t in range(exact.n_tranches))
            client.settlement.mint(inv, total, sender=admin)
            client.settlement.approve(client.issuance.address, total, sender=inv)
            for t in range(exact.n_tranches):
                if shares[t, j] > 0:
                    client.issuance.subscribe(t, int(shares[t, j]), sender=inv)
        # the servicer's float: enough for every month's deposit (the pool's balance
        # plus all its interest is below three times the balance at closing)
        client.settlement.mint(servicer, 3 * exact.pool_original, sender=admin)
        client.close()
        for inv in investors:
            client.settle(inv)
        _seal(collector, env)
    return _world(cfg, client, env, signers, investors, collector, source)


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
    record = json.loads(path.read_text())
    attestor_keys, investor_keys = _run_keys(cfg, keys)
    signers = AttestorSet(attestor_keys)
    investors = _addresses(investor_keys)
    operator = _use_node(cfg, investor_keys)
    if operator.lower() != str(record["operator"]).lower():
        raise InputError(
            f"file {str(path)!r}: the deal was deployed by {record['operator']}, "
            f"$OPENMBS_PRIVATE_KEY is the key of {operator}"
        )
    dcfg = config_from_spec(
        spec, loan_count=loan_count, quorum=cfg.quorum, n_attestors=cfg.attestors
    )
    # the file only names the deal ($OPENMBS_DEAL pins it); every other address is read
    # from the deal on chain, checked (code, back-links) and must be the file's
    chain = read_deal(os.environ.get(DEAL_ENV) or str(record["contracts"]["deal"]))
    check_addresses(record["contracts"], chain, where=f"file {str(path)!r}")
    client = attach_deal(dcfg, chain.addresses, admin=operator, servicer=operator)
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


def _use_node(cfg: LifecycleConfig, investor_keys: list[Any]) -> str:
    """Point titanoboa at ``cfg.rpc`` with the operator key from the environment
    (``$OPENMBS_PRIVATE_KEY``, never a command-line argument); add the investors'
    keys and give each the gas it needs from the operator. Returns the
    operator's address (admin and servicer on a node)."""
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
        if have < _INVESTOR_GAS_WEI:
            boa.env.raw_call(inv, sender=str(operator.address), value=_INVESTOR_GAS_WEI - have)
    return str(operator.address)


def _remit(w: _World, cfg: LifecycleConfig, report: Any) -> None:
    """Attest (a random quorum of the attestors) and submit (approve + submit)."""
    rng = np.random.default_rng([cfg.seed, report.period, 1])
    chosen = sorted(rng.choice(len(w.attestors), size=cfg.quorum, replace=False).tolist())
    sigs = w.attestors.sign(
        report, chosen, chain_id=w.chain_id, verifying_contract=w.oracle_address,
        deadline=_deadline(w),
    )
    try:
        w.client.remit(report, sigs)
    except RemittanceRejected as exc:
        raise RemittanceRejected(_rejection_reason(w, report, sigs, exc.reason), period=report.period) from None


def _deadline(w: _World) -> int | None:
    """The attestations' deadline: a day after the embedded chain's clock (which runs a
    month a period from its genesis); on a node, ``None`` (a day after this machine's
    clock, which the node's blocks follow)."""
    if w.collector is None:
        return None
    from openmbs.oracle import DEFAULT_VALIDITY_SECONDS

    return int(w.env.evm.patch.timestamp) + DEFAULT_VALIDITY_SECONDS


def _rejection_reason(w: _World, report: Any, sigs: Any, reason: str) -> str:
    """The ``# dev:`` reason of a rejected submission.

    The embedded deal is deployed from the compiled artefacts (ABI contracts, no
    source-level tracing), so the rejected ``submit`` is simulated again (same state)
    on the oracle's titanoboa source contract, which names the failing check.
    """
    if w.collector is None:  # on a node the contracts are source contracts already
        return reason
    import boa

    from openmbs.chain import deployer
    from openmbs.chain._clients import _reason, attestation_deadline

    try:
        oracle = deployer("RemittanceOracle").at(w.oracle_address)
        oracle.submit(
            report.as_tuple(),
            attestation_deadline(sigs),
            [a.as_tuple() for a in sigs],
            sender=w.client.servicer,
            simulate=True,
        )
    except boa.BoaError as exc:
        return _reason(exc)
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


def _chain_month(w: _World, cfg: LifecycleConfig, report: Any, keeper: Any, final: bool) -> None:
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
        _remit(w, cfg, report)
        _investors_act(w, cfg, report.period, final)
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


def _restores_boa_env(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run ``fn`` and then put titanoboa's global environment back as it was: a run's
    environment (embedded or a node) is not left as the global one."""

    @functools.wraps(fn)
    def run(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        boa = sys.modules.get("boa")
        before = boa.env if boa is not None else None
        try:
            return fn(*args, **kwargs)
        finally:
            boa = sys.modules.get("boa")
            if boa is not None:
                boa.set_env(before if before is not None else boa.Env())

    return run


@_restores_boa_env
def run_lifecycle(
    out: str | os.PathLike[str],
    config: LifecycleConfig | None = None,
    *,
    fresh: bool = False,
    progress: Progress | None = None,
    log: Callable[[str], None] | None = None,
    write_outputs: bool = True,
    keys: NodeKeys | None = None,
) -> LifecycleResult:
    """Run (or resume) the lifecycle of a deal and reconcile it.

    Parameters
    ----------
    out
        Output folder (created).
    config
        The inputs (defaults: 2,000 generated loans, four-tranche deal, 20 investors,
        360 months, 150 PSA, 100 SDA, severity 0.35 (35%), 6-month lag).
    fresh
        Discard what ``out`` holds from an earlier run instead of resuming it.
    progress
        ``progress(stage, done, total)`` callback.
    log
        Receives one line per notable event (trigger trips, clean-up call).
    write_outputs
        Write ``summary.json`` and ``report.html`` (``openmbs.report``).
    keys
        On a node (``config.rpc``), REQUIRED: the attestors' and investors' private keys
        (``openmbs.sim._keys``: the user's, or anvil's public development keys for a
        throwaway dev chain); seed-derived keys would be public. ``None`` on the
        embedded chain.

    Returns
    -------
    LifecycleResult

    Raises
    ------
    RemittanceRejected
        The oracle rejected a period: nothing of that period is stored; rerunning
        resumes after the last accepted period.

    Notes
    -----
    **Resume.** After each accepted period the loan-level file, the simulator state and
    the manifest (last accepted period, written last, atomically) are saved. The
    embedded chain lives in one process, so a rerun rebuilds it deterministically:
    same accounts and keys (derived from the seed), same deployment, then every accepted
    period is replayed from its saved loan-level file (the report is rebuilt and its
    root checked against the manifest), with the same investor actions (their random
    draws are seeded by period); the simulator then continues from its saved state.
    """
    from openmbs.agents import ServicerBridge, TriggerKeeper, record_columns
    from openmbs.agents._servicer import record_hash_array
    from openmbs.behaviour import Default, Prepayment
    from openmbs.cashflow import project_tape
    from openmbs.collateral import generate_tape, pool_stats, read_tape, write_tape
    from openmbs.pricing import tranche_analytics
    from openmbs.sim._loansim import LoanSimulator
    from openmbs.structuring import (
        apply_period,
        collections_from_projection,
        compile_exact,
        initial_state,
        run_waterfall,
    )

    cfg = config or LifecycleConfig()
    _run_keys(cfg, keys)  # refuses a node run without keys before anything is written
    out = Path(out)
    say = log or (lambda s: None)
    tick = progress or (lambda stage, done, total: None)
    manifest_path = out / MANIFEST
    manifest: dict[str, Any] | None = None
    if manifest_path.exists() and not fresh:
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("format") != _FORMAT or manifest.get("fingerprint") != cfg.fingerprint():
            raise InputError(
                f"folder {str(out)!r} holds a run with other settings (file {str(manifest_path)!r}); "
                "use another --out or --fresh"
            )
    if manifest is None:
        for sub in ("loans", "state"):
            shutil.rmtree(out / sub, ignore_errors=True)
        for name in (
            "events.duckdb",
            "events.duckdb.wal",
            "summary.json",
            "report.html",
            "lifecycle.json",
        ):
            (out / name).unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / "loans").mkdir(exist_ok=True)
    (out / "state").mkdir(exist_ok=True)
    last = int(manifest["last_period"]) if manifest else 0
    roots: list[str] = list(manifest["roots"]) if manifest else []
    finished = bool(manifest.get("finished")) if manifest else False

    # 1. tape, deal, closing analytics ------------------------------------------------
    tick("tape", 0, 1)
    tape = read_tape(cfg.tape) if cfg.tape else generate_tape(cfg.loans, seed=cfg.seed)
    if manifest is None:
        write_tape(tape, out / "tape.parquet")
    prep = Prepayment.psa(cfg.psa)
    dflt = Default.sda(cfg.sda)
    sev = cfg.severity
    sim = LoanSimulator(
        tape, prepayment=prep, default=dflt, severity=sev, lag=cfg.lag, seed=cfg.seed,
        advance=cfg.advance,  # type: ignore[arg-type]
    )
    pool_units = int(sim.balances.sum())
    st = pool_stats(tape)
    spec = _load_spec(cfg.deal).with_pool(
        balance=pool_units / 10**sim.decimals,
        wac=float(st.wac),
        net_coupon=float(st.net_wac),
        term=round(float(st.wa_original_term)),
        age=round(float(st.wala)),
    )
    exact = compile_exact(spec)
    if exact.pool_original != pool_units:
        raise DataIntegrityError(
            f"deal {spec.name!r}: pool balance {exact.pool_original} units after sizing, "
            f"simulated pool {pool_units} units"
        )
    cf = project_tape(  # the closing analytics advance as the simulated servicer does
        tape, prepayment=prep, default=dflt, severity=sev, lag=cfg.lag, method="repline",
        advance=cfg.advance,  # type: ignore[arg-type]
    )
    coll = collections_from_projection(
        cf, servicing_in_net_rate=spec.pool.servicing_in_net_rate, cleanup_call=spec.cleanup_call
    )
    if manifest is None:
        from openmbs.cashflow import write_projection

        write_projection(cf, out / "projection.csv")
    fres = run_waterfall(spec, coll)
    closing = tranche_analytics(fres, price=100.0, delay_days=spec.payment_delay_days)
    tick("tape", 1, 1)
    if manifest is None:
        _atomic_json(
            out / "closing.json",
            {
                "config": _config_record(cfg),
                "deal": spec.name,
                "deal_spec": spec.model_dump(mode="json"),
                "pool_units": pool_units,
                "decimals": sim.decimals,
                "tranche_names": list(exact.names),
                "tranche_face": list(exact.face),
                "pool_stats": {
                    k: getattr(st, k)
                    for k in (
                        "loan_count",
                        "current_balance",
                        "original_balance",
                        "average_balance",
                        "wac",
                        "net_wac",
                        "wam",
                        "wala",
                        "wa_original_term",
                        "wa_credit_score",
                        "wa_ltv",
                        "wa_cltv",
                        "wa_dti",
                    )
                },
                "analytics": [a.as_dict() for a in closing],
                "projection": {
                    "period": cf.period.tolist(),
                    "balance": (cf.factor * cf.original_balance).tolist(),
                    "smm": (
                        cf.voluntary_prepayment
                        / np.maximum(cf.beginning_balance - cf.expected_amortization, 1e-9)
                    ).tolist(),
                    "mdr": (cf.new_default / np.maximum(cf.beginning_balance, 1e-9)).tolist(),
                    "loss": cf.loss.tolist(),
                },
            },
        )

    # 2. chain ------------------------------------------------------------------------
    w: _World | None = None
    if cfg.chain:
        tick("deploy", 0, 1)
        t0 = time.perf_counter()
        if cfg.rpc is not None and last:
            w = _attach(cfg, spec, len(tape), out, last, keys)
        else:
            w = _deploy(cfg, spec, exact, len(tape), _cutoff(tape, sim), keys)
            if cfg.rpc is not None:
                _atomic_json(
                    out / DEPLOYMENT,
                    {"rpc": cfg.rpc, "operator": w.admin, "contracts": w.client.addresses()},
                )
        w.chain_seconds += time.perf_counter() - t0
        tick("deploy", 1, 1)
    bridge = ServicerBridge(tape.table.column("loan_id").to_pylist())
    keeper = TriggerKeeper(exact)
    state = initial_state(exact)
    results: list[Any] = []
    reports: list[Any] = []
    # tape row -> (period, record hash, proof): what verify_loan takes (leaf = keccak256(hash))
    final_leaf: dict[int, tuple[int, bytes, list[bytes]]] = {}
    sim_s = bridge_s = 0.0
    tape_dq = tape.table.column("delinquency_status").to_numpy(zero_copy_only=False)
    prev_dq = np.nan_to_num(np.asarray(tape_dq, dtype=np.float64)).astype(np.int64)
    prev_def = np.zeros(len(tape), dtype=bool)
    pool_extra: list[dict[str, int]] = []

    def pool_figures(sp: Any) -> None:
        rows = sp.records.column("tape_row").to_numpy()
        beg = sp.records.column("beginning_balance").to_numpy().astype(np.int64)
        end = sp.records.column("ending_balance").to_numpy().astype(np.int64)
        d = sp.records.column("defaulted").to_numpy(zero_copy_only=False).astype(bool)
        liq = sp.records.column("liquidated").to_numpy(zero_copy_only=False).astype(bool)
        perf = (prev_dq[rows] == 0) & ~prev_def[rows]
        new = d & ~prev_def[rows]
        pool_extra.append(
            {
                "performing_begin": int(beg[perf].sum()),
                "new_default": int(beg[new].sum()),
                "foreclosure": int(end[d & ~liq].sum()),
            }
        )
        prev_dq[rows] = sp.records.column("delinquency").to_numpy()
        prev_def[rows] = d

    def remember(sp: Any, final: bool) -> None:
        rows = sp.records.column("tape_row").to_numpy()
        end = sp.records.column("ending_balance").to_numpy()
        idx = np.arange(len(rows)) if final else np.flatnonzero(end == 0)
        if not idx.size:
            return
        hashes = record_hash_array(sp.records.take(idx), bridge.id_words(rows[idx])).tobytes()
        for i, j in enumerate(idx.tolist()):
            final_leaf[int(rows[j])] = (sp.period, hashes[32 * i : 32 * i + 32], sp.tree.proof(j))

    def accept(sp: Any, final: bool, replay: bool = False) -> None:
        nonlocal state
        rep = sp.report
        if w is not None and not (replay and w.attached):
            _chain_month(w, cfg, rep, keeper, final)
        else:
            keeper.observe(
                rep.period,
                pool_beg=rep.beginning_balance,
                pool_end=rep.ending_balance,
                losses=rep.losses,
                subsequent_recoveries=rep.subsequent_recoveries,
                delinquent_60_plus=rep.delinquent_60 + rep.delinquent_90_plus,
                tranche_balances=list(state.balance),
            )
        state, res = apply_period(exact, state, exact_remittance(rep))
        results.append(res)
        reports.append(rep)
        remember(sp, final)
        pool_figures(sp)

    # 3a. replay the accepted periods (resume) ------------------------------------------
    if last:
        for k in range(1, last + 1):
            tick("replay", k, last)
            rc = pq.ParquetFile(loans_path(out, k)).read()
            sp = bridge.build(k, rc)
            if "0x" + sp.report.loan_tape_root.hex() != roots[k - 1]:
                raise DataIntegrityError(
                    f"file {str(loans_path(out, k))!r}: Merkle root {sp.report.loan_tape_root.hex()} differs "
                    f"from the accepted root {roots[k - 1]} of period {k}"
                )
            accept(sp, finished and k == last, replay=True)
        sim.load_state(out / SIM_STATE)
        if sim.period != last:
            raise DataIntegrityError(
                f"file {str(out / SIM_STATE)!r}: state of period {sim.period}, manifest says {last}"
            )

    # 3b. new periods -----------------------------------------------------------------
    k = last
    while not finished and k < cfg.months:
        k += 1
        tick("months", k, cfg.months)
        t0 = time.perf_counter()
        rec = sim.step()
        rc = record_columns(rec.loans)
        sim_s += time.perf_counter() - t0
        t0 = time.perf_counter()
        rc, called = _cleanup(rc, exact)
        sp = bridge.build(k, rc)
        bridge_s += time.perf_counter() - t0
        final = called or sp.report.ending_balance == 0 or k == cfg.months
        n_keeper = len(keeper.events)
        try:
            accept(sp, final)
        except RemittanceRejected as exc:
            raise RemittanceRejected(
                f"{exc.reason}; nothing of period {k} was stored; rerun to resume after period {k - 1}",
                period=k,
            ) from None
        for ev in keeper.events[n_keeper:]:
            say(ev.message())
        if called:
            say(
                f"period {k}: clean-up call exercised at pool factor "
                f"{sp.report.beginning_balance / exact.pool_original:.4f}; remaining loans bought at par"
            )
        path = loans_path(out, k)
        tmp = path.with_name(path.name + ".tmp")
        pq.write_table(rc.append_column("leaf", pa.array(sp.leaves, pa.binary(32))), tmp)
        os.replace(tmp, path)
        sim.save_state(out / SIM_STATE)
        roots.append("0x" + sp.report.loan_tape_root.hex())
        finished = final
        _atomic_json(
            manifest_path,
            {
                "format": _FORMAT,
                "fingerprint": cfg.fingerprint(),
                "last_period": k,
                "roots": roots,
                "finished": finished,
            },
        )
    n_periods = len(results)

    # 4. verify, index, reconcile -----------------------------------------------------
    checks: list[ReconCheck] = []
    if w is not None:
        tick("verify", 0, 1)
        t0 = time.perf_counter()
        from openmbs.oracle import verify_record

        ids = tape.table.column("loan_id").to_pylist()
        chain_roots = {
            p: bytes(w.client.oracle.loan_tape_root(p)) for p in {v[0] for v in final_leaf.values()}
        }
        bad_py = [
            row
            for row, (p, record_hash, proof) in sorted(final_leaf.items())
            if not verify_record(proof, chain_roots[p], record_hash)
        ]
        rows = sorted(final_leaf)
        if len(rows) > cfg.verify_limit:
            pick = np.random.default_rng([cfg.seed, 3]).choice(
                len(rows), size=cfg.verify_limit, replace=False
            )
            rows = [rows[i] for i in sorted(pick.tolist())]
        bad = [row for row in rows if not bool(w.client.oracle.verify_loan(*final_leaf[row]))]
        w.chain_seconds += time.perf_counter() - t0
        complete = len(final_leaf) == len(tape)
        checks.append(
            ReconCheck(
                "final loan records verify on chain (verify_loan)",
                not bad and complete,
                f"{len(rows) - len(bad)} of {len(tape)} loans verified by the contract"
                + (f"; failing: {', '.join(str(ids[r]) for r in bad[:10])}" if bad else ""),
            )
        )
        checks.append(
            ReconCheck(
                "final loan records verify against the on-chain roots",
                not bad_py and complete,
                f"{len(final_leaf) - len(bad_py)} of {len(tape)} loans (proofs checked in Python against "
                "RemittanceOracle.loan_tape_root)"
                + (f"; failing: {', '.join(str(ids[r]) for r in bad_py[:10])}" if bad_py else ""),
            )
        )
        tick("verify", 1, 1)
        tick("index", 0, 1)
        from openmbs.indexer import PROJECTION_TABLE, EventStore, Indexer

        db = out / "events.duckdb"
        db.unlink(missing_ok=True)
        with EventStore(db) as store:
            # confirmations=0: the run's last transactions are mined and their receipts
            # checked; on a node a later reorganisation is found and rolled back by the
            # next indexing run (block hashes are stored)
            Indexer(store, w.source, w.registry, batch_blocks=10_000, confirmations=0).run()
            # the projection at the assumptions, for `openmbs query pool-performance`
            # (realised vs projected losses)
            proj = pa.table({"period": pa.array(cf.period, pa.int64()), "loss": pa.array(cf.loss)})
            store.con.register("_projection_in", proj)
            store.con.execute(
                f'CREATE OR REPLACE TABLE "{PROJECTION_TABLE}" AS SELECT * FROM _projection_in'
            )
            store.con.unregister("_projection_in")
        tick("index", 1, 1)
    from openmbs.audit import audit, reconcile

    tick("audit", 0, 1)
    # files only: this process wrote the event store from the chain it just ran
    audit_report = audit(out, files_only=True)
    checks.extend(
        reconcile(
            out,
            exact=exact,
            results=results,
            reports=reports,
            client=w.client if w else None,
            audit_report=audit_report,
        )
    )
    tick("audit", 1, 1)
    totals = {
        exact.names[i]: {
            "interest": sum(r.interest_paid[i] for r in results),
            "principal": sum(r.principal_paid[i] for r in results),
            "losses": sum(r.writedown[i] for r in results),
        }
        for i in range(exact.n_tranches)
    }
    _atomic_json(
        out / "lifecycle.json",
        {
            "periods": n_periods,
            "tranche_names": list(exact.names),
            "results": [asdict(r) for r in results],
            "reports": [asdict(r) for r in reports],
            "pool": pool_extra,
            "keeper_events": [asdict(e) for e in keeper.events],
            "keeper_unwatched": keeper.unwatched,
            "chain_month_seconds": w.month_seconds if w else [],
        },
    )
    note = "" if w is not None else "chain disabled: on-chain steps not run"
    result = LifecycleResult(
        out=out,
        periods=n_periods,
        resumed_from=last,
        onchain=w is not None,
        checks=tuple(checks),
        tranche_totals=totals,
        chain_seconds=w.chain_seconds if w else 0.0,
        sim_seconds=sim_s,
        bridge_seconds=bridge_s,
        keeper_events=tuple(e.message() for e in keeper.events),
        note=note,
        audit=audit_report,
        month_chain_seconds=float(np.median(w.month_seconds)) if w and w.month_seconds else 0.0,
    )
    if write_outputs:
        from openmbs.report import write_report, write_summary

        tick("report", 0, 1)
        write_summary(out, result, audit_report.checks)
        write_report(out, result, audit_report.checks)
        tick("report", 1, 1)
    return result
