"""Deals on the embedded chain that outlive the process: a journal, replayed on each start.

titanoboa's embedded EVM lives in memory, so a deal deployed by one command is gone
when the next one starts. A *deployment record* (one JSON file) therefore keeps a
journal of every transaction sent on the embedded chain (the deployment inputs, the
offering, each remittance report with its attestations, each claim) with the block
timestamp and number it ran at, the outputs it produced and the EVM state root after
it. :func:`open_embedded` rebuilds the chain by replaying the journal on a fresh EVM
and checks, entry by entry, that the replay reproduces the recorded outputs and state
root; new operations are appended in memory and :meth:`EmbeddedDeal.save` writes the
record atomically (temporary file, then rename).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eth_account import Account
from eth_utils.crypto import keccak

from openmbs import __version__
from openmbs.chain._deploy import config_from_spec, deploy_deal
from openmbs.errors import ChainError, DataIntegrityError, InputError, OpenMBSError
from openmbs.oracle import (
    Attestation,
    RemittanceReport,
    attestation_from_dict,
    attestation_to_dict,
    report_from_dict,
    report_to_dict,
)
from openmbs.structuring import parse_deal

if TYPE_CHECKING:
    from openmbs.chain._clients import DealClient

__all__ = [
    "EMBEDDED_CHAIN_ID",
    "JOURNAL_FORMAT",
    "EmbeddedDeal",
    "deploy_embedded",
    "dev_attestor_keys",
    "open_embedded",
]

#: ``format`` of a deployment record written by this module (the one record format of
#: :mod:`openmbs.chain._record`; ``/1`` records are read too).
JOURNAL_FORMAT = "openmbs-chain-deployment/2"
_FORMATS_READ = ("openmbs-chain-deployment/1", JOURNAL_FORMAT)
#: Chain id of the embedded EVM (EIP-712 signatures are bound to it).
EMBEDDED_CHAIN_ID = 1337
#: Allowlist expiry of the accounts the offering allowlists (far future, seconds).
_FAR_FUTURE = 2**40
_OPS = ("deploy", "offering", "remit", "claim")
_ENTRY_FIELDS = ("seq", "op", "timestamp", "block", "input", "output", "state_root")


def dev_attestor_keys(n: int) -> list[str]:
    """``n`` PUBLIC, deterministic attestor keys for the embedded chain (development only:
    anyone can sign with them)."""
    return ["0x" + (bytes([0xA0 + i]) * 32).hex() for i in range(n)]


def _dev_address(label: str) -> str:
    """A deterministic account address for the embedded chain (``label`` names its role).

    The embedded EVM lets any address send, so the key is never used to sign.
    """
    key = hashlib.sha256(f"openmbs-chain-embedded:{label}".encode()).digest()
    return str(Account.from_key(key).address)


# -- the journal ---------------------------------------------------------------------------


def _normal(x: Mapping[str, Any]) -> dict[str, Any]:
    """``x`` as it reads back from JSON (tuples become lists)."""
    out: dict[str, Any] = json.loads(json.dumps(x))
    return out


def _digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


class EmbeddedDeal:
    """A deal on titanoboa's embedded EVM, rebuilt from its deployment record.

    Use as a context manager: inside ``with deal:`` the deal's EVM is titanoboa's
    current environment (``boa.env``), so :attr:`client` can be used directly.
    Operations (:meth:`remit`, :meth:`claim`) append to the journal in memory;
    :meth:`save` writes the record. An operation that fails leaves the EVM and the
    journal as they were.

    Attributes
    ----------
    path
        The deployment record.
    record
        The record as a JSON-ready dict (``journal`` holds the entries).
    client
        The deal's typed client.
    """

    def __init__(
        self, path: Path, record: dict[str, Any], env: Any, read_digest: str | None
    ) -> None:
        self.path = path
        self.record = record
        self.env = env
        self._read_digest = read_digest
        self._client: DealClient | None = None

    # -- context -----------------------------------------------------------------------
    @contextlib.contextmanager
    def _active(self) -> Iterator[None]:
        import boa

        with boa.swap_env(self.env):
            yield

    def __enter__(self) -> EmbeddedDeal:
        self._ctx = self._active()
        self._ctx.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._ctx.__exit__(None, None, None)

    @property
    def client(self) -> DealClient:
        if self._client is None:
            raise DataIntegrityError(f"file {str(self.path)!r}: the journal has no deploy entry")
        return self._client

    @property
    def journal(self) -> list[dict[str, Any]]:
        return list(self.record["journal"])

    @property
    def investors(self) -> list[str]:
        """The offering's investors (``investor0``, ``investor1``, ...)."""
        return list(self.record.get("investors", []))

    @property
    def last_period(self) -> int:
        """The last period remitted."""
        return sum(1 for e in self.record["journal"] if e["op"] == "remit")

    # -- operations --------------------------------------------------------------------
    def remit(
        self, report: RemittanceReport, attestations: Sequence[Attestation]
    ) -> dict[str, Any]:
        """Submit ``report`` with ``attestations`` from the servicer (minting the
        report's cash to the servicer first: the mock settlement asset) and append the
        entry. Raises ``RemittanceRejected`` when the oracle rejects it."""
        return self._append(
            "remit",
            {
                "report": report_to_dict(report),
                "attestations": [attestation_to_dict(a) for a in attestations],
            },
        )

    def claim(self, holders: Sequence[str], tranche: int | None = None) -> dict[str, Any]:
        """Claim for each of ``holders`` (one tranche, or all with ``None``); holders with
        nothing to claim are skipped (paid 0). The entry's output lists the amounts."""
        return self._append("claim", {"holders": list(holders), "tranche": tranche})

    def _append(self, op: str, inp: dict[str, Any]) -> dict[str, Any]:
        journal = self.record["journal"]
        last = journal[-1] if journal else {"timestamp": 0, "block": 0}
        entry: dict[str, Any] = {
            "seq": len(journal),
            "op": op,
            "timestamp": max(int(time.time()), int(last["timestamp"]) + 1),
            "block": int(last["block"]) + 1,
            "input": _normal(inp),
        }
        with self._active():
            snap = self.env.evm.snapshot()
            try:
                out = self._apply(entry)
            except BaseException:
                self.env.evm.revert(snap)
                raise
            entry["output"] = out
            entry["state_root"] = self._state_root()
        journal.append(entry)
        return entry

    def save(self) -> None:
        """Write the record atomically (temporary file in the same folder, then rename).

        Raises
        ------
        ChainError
            The file changed since it was read (another command ran meanwhile):
            nothing is written.
        """
        if self._read_digest is not None:
            try:
                now = _digest(self.path.read_bytes())
            except OSError:
                now = None
            if now != self._read_digest:
                raise ChainError(
                    f"file {str(self.path)!r} changed while this command ran (another command?); "
                    "nothing was saved: run the command again"
                )
        data = (json.dumps(self.record, indent=1) + "\n").encode()
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)
        self._read_digest = _digest(data)

    # -- replay ------------------------------------------------------------------------
    def _state_root(self) -> str:
        return "0x" + bytes(self.env.evm.vm.state.make_state_root()).hex()

    def _apply(self, entry: Mapping[str, Any]) -> dict[str, Any]:
        """Run one journal entry on the current EVM at its block; returns its output."""
        patch = self.env.evm.patch
        patch.timestamp = int(entry["timestamp"])
        patch.block_number = int(entry["block"])
        inp = entry["input"]
        op = entry["op"]
        if op == "deploy":
            return self._op_deploy(inp)
        c = self.client
        if op == "offering":
            return self._op_offering(c, inp)
        if op == "remit":
            where = f"file {str(self.path)!r} journal entry {entry['seq']}"
            report = report_from_dict(inp["report"], where=where)
            sigs = [attestation_from_dict(a, where=where) for a in inp["attestations"]]
            c.settlement.mint(c.servicer, report.cash, sender=c.admin)
            c.remit(report, sigs)
            return _normal(
                {
                    "period": int(c.deal.last_period()),
                    "pool_balance": int(c.oracle.last_ending_balance()),
                    "tranche_balances": [
                        int(c.deal.tranche_balance(i)) for i in range(len(c.tokens))
                    ],
                    "reserve_balance": int(c.deal.reserve_balance()),
                    "cash_held": int(c.deal.cash_held()),
                }
            )
        if op == "claim":
            t = inp["tranche"]
            paid = []
            for h in inp["holders"]:
                owed = (
                    c.claimable(t, h)
                    if t is not None
                    else sum(c.claimable(i, h) for i in range(len(c.tokens)))
                )
                paid.append(c.claim(h, t) if owed > 0 else 0)
            return {"paid": paid}
        raise DataIntegrityError(
            f"file {str(self.path)!r} journal entry {entry['seq']}: unknown op {op!r}"
        )

    def _op_deploy(self, inp: Mapping[str, Any]) -> dict[str, Any]:
        self.env.evm.patch.chain_id = int(inp["chain_id"])
        spec = parse_deal(inp["spec"], file=str(self.path))
        cfg = config_from_spec(
            spec,
            loan_count=int(inp["loans"]),
            quorum=int(inp["quorum"]),
            n_attestors=len(inp["attestors"]),
            max_net_rate=inp.get("max_net_rate"),
            initial_delinquent=tuple(int(x) for x in inp.get("initial_delinquent", (0, 0, 0))),  # type: ignore[arg-type]
        )
        client = deploy_deal(
            cfg,
            attestors=list(inp["attestors"]),
            admin=inp["admin"],
            servicer=inp["servicer"],
            test_waterfall=bool(inp["test_waterfall"]),
        )
        self._client = client
        return _normal(
            {
                "contracts": client.addresses(),
                "config": dataclasses.asdict(cfg),
                "code": self._code_hashes(client.addresses()),
            }
        )

    def _code_hashes(self, addresses: Mapping[str, Any]) -> dict[str, str]:
        # titanoboa is imported only where the embedded EVM runs (seconds to import)
        from boa.util.abi import Address

        out = {}
        for name, addr in addresses.items():
            for k, a in (
                [(f"{name}[{i}]", x) for i, x in enumerate(addr)]
                if isinstance(addr, list)
                else [(name, addr)]
            ):
                out[k] = "0x" + bytes(keccak(bytes(self.env.evm.get_code(Address(a))))).hex()
        return out

    def _op_offering(self, c: DealClient, inp: Mapping[str, Any]) -> dict[str, Any]:
        investors = list(inp["investors"])
        c.allow([*investors, c.admin, c.servicer], int(inp["valid_until"]))
        totals = [0] * len(investors)
        for j, _t, amount in inp["subscriptions"]:
            totals[j] += int(amount)
        for j, inv in enumerate(investors):
            if totals[j]:
                c.settlement.mint(inv, totals[j], sender=c.admin)
        for j, t, amount in inp["subscriptions"]:
            c.subscribe(investors[j], int(t), int(amount))
        c.close()
        for inv in investors:
            c.settle(inv)
        return {
            "closed": bool(c.deal.closed()),
            "holdings": [[int(tok.balanceOf(inv)) for tok in c.tokens] for inv in investors],
        }

    def _replay(self) -> None:
        """Replay every entry, checking outputs and state roots against the record."""
        where = f"file {str(self.path)!r}"
        for k, entry in enumerate(self.record["journal"]):
            missing = [f for f in _ENTRY_FIELDS if not isinstance(entry, dict) or f not in entry]
            if missing:
                raise DataIntegrityError(
                    f"{where} journal entry {k}: missing field(s) {', '.join(missing)}"
                )
            seq, op = entry["seq"], entry["op"]
            if (
                seq != k
                or op not in _OPS
                or (op == "deploy") != (k == 0)
                or (op == "offering") != (k == 1)
            ):
                raise DataIntegrityError(
                    f"{where} journal entry {k}: field 'seq'/'op' value {seq!r}/{op!r}: out of order "
                    "(the journal starts with deploy, offering)"
                )
            what = f"{where} journal entry {k} ({op}"
            what += (
                f" period {entry['input'].get('report', {}).get('period')})"
                if op == "remit"
                else ")"
            )
            try:
                out = self._apply(entry)
            except OpenMBSError as exc:
                raise DataIntegrityError(
                    f"{what} fails on replay: {exc}; the journal was altered or the contracts changed"
                ) from None
            except Exception as exc:  # titanoboa/vyper errors on a malformed entry
                raise DataIntegrityError(
                    f"{what} fails on replay: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                ) from None
            if op == "deploy":
                self._check_code(entry, out, what)
            if out != entry["output"]:
                rec = entry["output"] if isinstance(entry["output"], dict) else {}
                diff = sorted(key for key in set(out) | set(rec) if out.get(key) != rec.get(key))
                got = ", ".join(f"{d}={out.get(d)!r}" for d in diff)
                want = ", ".join(f"{d}={rec.get(d)!r}" for d in diff)
                raise DataIntegrityError(f"{what}: replay gives {got}; the journal says {want}")
            root = self._state_root()
            if root != entry["state_root"]:
                raise DataIntegrityError(
                    f"{what} field 'state_root' value {entry['state_root']!r}: the replayed chain's state root is {root}"
                )
        if self._client is None:
            raise DataIntegrityError(f"{where}: empty journal")
        contracts = self.record["journal"][0]["output"]["contracts"]
        if self.record.get("contracts") != contracts:
            raise DataIntegrityError(
                f"{where} field 'contracts' value {self.record.get('contracts')!r}: the journal deployed {contracts}"
            )

    def _check_code(self, entry: Mapping[str, Any], out: Mapping[str, Any], what: str) -> None:
        recorded = entry["output"].get("code", {})
        changed = sorted(k for k in out["code"] if recorded.get(k) != out["code"][k])
        if changed:
            raise DataIntegrityError(
                f"{what}: the code of {', '.join(changed)} differs from the code deployed when the journal "
                f"was written (openmbs {self.record.get('openmbs_version')!r}); the contracts changed since: "
                "redeploy the deal with this version"
            )


def deploy_embedded(
    path: str | os.PathLike[str],
    spec: Any,
    *,
    loans: int,
    quorum: int = 3,
    attestors: Sequence[str] | None = None,
    investors: int = 2,
    test_waterfall: bool = False,
    overwrite: bool = False,
    max_net_rate: float | None = None,
    initial_delinquent: tuple[int, int, int] = (0, 0, 0),
) -> EmbeddedDeal:
    """Deploy ``spec`` on a fresh embedded EVM, run its offering, and write the record.

    Parameters
    ----------
    path
        The deployment record to create (refused if it exists, unless ``overwrite``).
    spec
        The deal (``openmbs.structuring.DealSpec``).
    loans
        Number of loans at cut-off (a report may not count more).
    quorum
        Attestor signatures required per report.
    attestors
        Attestor addresses; ``None``: the five PUBLIC development keys of
        :func:`dev_attestor_keys` (the record says ``"dev_attestors": true``).
    investors
        Accounts that subscribe the offering: each tranche's face split equally among
        them (the remainder to the first), paid in the mock settlement asset minted to
        them; the offering then closes and every investor receives its tokens.
    test_waterfall
        Wire the chain package's test-double waterfall instead of the real one.
    max_net_rate, initial_delinquent
        The tape's highest net loan rate (decimal; the oracle's interest bound is
        ``rate_bound`` of it) and its balances 30-59, 60-89 and 90+ days delinquent at
        cut-off (base units); see :func:`openmbs.chain.config_from_spec`.

    Notes
    -----
    The journal starts with two entries: ``deploy`` (the spec, loan count, quorum,
    attestors, accounts, chain id) and ``offering`` (allowlist, subscriptions, close,
    settlement). Accounts are deterministic development addresses (the embedded EVM
    lets any address send).
    """
    p = Path(path)
    if p.exists() and not overwrite:
        raise InputError(
            f"file {str(p)!r} exists: choose another --state or pass --force to replace it"
        )
    if not 1 <= investors <= 64:
        raise InputError(f"--investors value {investors}: need 1..64")
    dev = attestors is None
    addrs = (
        [str(Account.from_key(k).address) for k in dev_attestor_keys(5)]
        if dev
        else list(attestors or [])
    )
    admin, servicer = _dev_address("admin"), _dev_address("servicer")
    holders = [_dev_address(f"investor{j}") for j in range(investors)]
    record: dict[str, Any] = {
        "format": JOURNAL_FORMAT,
        "openmbs_version": __version__,
        "network": "embedded",
        "deal": str(spec.name),
        "chain_id": EMBEDDED_CHAIN_ID,
        "admin": admin,
        "servicer": servicer,
        "attestors": addrs,
        "dev_attestors": dev,
        "investors": holders,
        "test_waterfall": test_waterfall,
        "journal": [],
    }
    import boa

    deal = EmbeddedDeal(p, record, boa.Env(), None)
    deal._append(
        "deploy",
        {
            "chain_id": EMBEDDED_CHAIN_ID,
            "spec": spec.as_data(),
            "loans": loans,
            "quorum": quorum,
            "max_net_rate": max_net_rate,
            "initial_delinquent": list(initial_delinquent),
            "attestors": addrs,
            "admin": admin,
            "servicer": servicer,
            "test_waterfall": test_waterfall,
        },
    )
    out = record["journal"][0]["output"]
    record["config"] = out["config"]
    record["contracts"] = out["contracts"]
    from openmbs.chain._record import DeploymentRecord

    with deal._active():  # the fields every deployment record has (no tx hashes here)
        common = DeploymentRecord.from_client(deal.client, network="embedded", attestors=addrs).to_json()
    for key in ("rpc", "settlement", "deployments", "classes"):
        record[key] = common[key]
    subs = []
    for t, face in enumerate(out["config"]["tranches"]):
        share, rest = divmod(int(face["face"]), investors)
        for j in range(investors):
            amount = share + (rest if j == 0 else 0)
            if amount > 0:
                subs.append([j, t, amount])
    deal._append(
        "offering", {"investors": holders, "subscriptions": subs, "valid_until": _FAR_FUTURE}
    )
    deal.save()
    return deal


def open_embedded(path: str | os.PathLike[str]) -> EmbeddedDeal:
    """Rebuild the embedded chain of a deployment record by replaying its journal.

    Raises
    ------
    InputError
        The file is missing, not JSON, or not an embedded-chain record.
    DataIntegrityError
        The replay does not reproduce the record: an entry fails, its outputs or the
        state root after it differ, or the contracts' code changed since deployment.
    """
    import boa

    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise InputError(
            f"file {str(p)!r}: {exc.strerror or exc}; deploy first with `openmbs chain deploy`"
        ) from None
    try:
        record = json.loads(raw)
    except ValueError as exc:
        raise DataIntegrityError(f"file {str(p)!r}: not JSON ({exc})") from None
    if not isinstance(record, dict) or record.get("network") != "embedded":
        raise InputError(f"file {str(p)!r}: not a deployment on the embedded chain")
    if record.get("format") not in _FORMATS_READ or not isinstance(record.get("journal"), list):
        raise InputError(
            f"file {str(p)!r} field 'format' value {record.get('format')!r}: need {JOURNAL_FORMAT!r} "
            "with a journal (an older embedded record, or the record of a demo's embedded chain, "
            "which lived only in that process, has none: deploy again)"
        )
    deal = EmbeddedDeal(p, record, boa.Env(), _digest(raw))
    with deal._active():
        deal._replay()
    return deal
