"""One way to reach a deal, wherever it runs: the embedded chain's journal or a node.

:func:`open_deal` returns a :class:`DealSession` for a deployment record: on the
embedded chain the journal replayed (:mod:`openmbs.chain._journal`), on a JSON-RPC node
the deal the user pinned (``--deal`` / ``$OPENMBS_DEAL``), read from the chain and
checked against the record (:mod:`openmbs.chain._verify`) after the node's chain id is
compared with the record's. Commands act through the session's :class:`DealClient` and
its :meth:`~DealSession.remit` / :meth:`~DealSession.claim`, and call
:meth:`~DealSession.save` (the embedded journal appends what ran; a node keeps its own
history) -- they never branch on where the deal runs.

:class:`TxLog` is what a node run sends: every transaction's hash and block, and the
contracts created (deploy blocks and hashes for the deployment record). titanoboa
prints two lines per transaction; the log keeps them quiet unless ``verbose``.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openmbs.errors import ChainError, InputError

if TYPE_CHECKING:
    from openmbs.chain._clients import DealClient
    from openmbs.oracle import Attestation, RemittanceReport

__all__ = ["DealSession", "SentTx", "TxLog", "open_deal", "set_tx_verbosity", "tx_verbosity"]

#: The sender of a read-only client (it sends nothing).
NOBODY = "0x" + "00" * 20


@dataclass(frozen=True)
class SentTx:
    """A transaction mined on a node: its hash, block, and the contract it created."""

    tx_hash: str
    block: int
    created: str | None


@dataclass
class TxLog:
    """The transactions a titanoboa network environment sends (see :meth:`install`).

    With ``verbose`` each one is echoed (``echo``, default ``print``) as
    ``tx <hash> block <n>``; otherwise titanoboa's own lines are swallowed."""

    verbose: bool = False
    echo: Callable[[str], None] = print
    sent: list[SentTx] = field(default_factory=list)

    def install(self, env: Any) -> TxLog:
        """Wrap ``env`` (a ``boa.NetworkEnv``) so that every transaction is logged."""
        send, deploy = env._send_txn, env.deploy

        def _send_txn(*args: Any, **kwargs: Any) -> Any:
            with self._quiet():
                txdata, receipt, trace = send(*args, **kwargs)
            created = receipt.get("contractAddress")
            tx = SentTx(str(receipt["transactionHash"]), int(receipt["blockNumber"], 16), created and str(created))
            self.sent.append(tx)
            if self.verbose:
                what = f" created {tx.created}" if tx.created else ""
                self.echo(f"tx {tx.tx_hash} block {tx.block}{what}")
            return txdata, receipt, trace

        def _deploy(*args: Any, **kwargs: Any) -> Any:
            with self._quiet():
                return deploy(*args, **kwargs)

        env._send_txn = _send_txn
        env.deploy = _deploy
        return self

    @contextlib.contextmanager
    def _quiet(self) -> Iterator[None]:
        if self.verbose:
            yield
            return
        with contextlib.redirect_stdout(io.StringIO()):
            yield

    def receipts(self) -> dict[str, tuple[int, str]]:
        """Contract address (lower case) -> (block, tx hash) of its creation."""
        return {t.created.lower(): (t.block, t.tx_hash) for t in self.sent if t.created}


_VERBOSITY: list[tuple[bool, Callable[[str], None]]] = [(False, print)]


def set_tx_verbosity(verbose: bool, echo: Callable[[str], None] = print) -> None:
    """Whether the node environments made from now on (:func:`openmbs.chain.network_env`)
    echo every transaction (``openmbs demo -v``); quiet by default."""
    _VERBOSITY[0] = (verbose, echo)


def tx_verbosity() -> tuple[bool, Callable[[str], None]]:
    """The setting of :func:`set_tx_verbosity`."""
    return _VERBOSITY[0]


def env_receipts(env: Any) -> dict[str, tuple[int, str]]:
    """The creations logged on ``env`` (a node environment made by ``network_env``);
    empty on the embedded chain."""
    log = getattr(env, "openmbs_tx_log", None)
    return log.receipts() if isinstance(log, TxLog) else {}


class DealSession:
    """A deployed deal reached through its record (see :func:`open_deal`)."""

    def __init__(
        self,
        path: Path,
        record: dict[str, Any],
        client: DealClient,
        *,
        embedded: Any = None,
        account: Any = None,
        url: str | None = None,
    ) -> None:
        self.path = path
        self.record = record
        self.client = client
        self._embedded = embedded
        self.account = account
        self.url = url

    @property
    def network(self) -> str:
        """``"embedded"`` or ``"rpc"``."""
        return "embedded" if self._embedded is not None else "rpc"

    @property
    def investors(self) -> list[str]:
        """The offering's investors the record names (the embedded chain's; none on a node)."""
        return list(self._embedded.investors) if self._embedded is not None else []

    @property
    def dev_quorum(self) -> int | None:
        """The quorum to sign with the PUBLIC development attestor keys, when the
        embedded deal was deployed with them; else ``None`` (the user's keys sign)."""
        if self._embedded is not None and self.record.get("dev_attestors"):
            return int(self.record["config"]["quorum"])
        return None

    @property
    def journal_entries(self) -> int | None:
        """Entries in the embedded chain's journal (``None`` on a node)."""
        return len(self._embedded.journal) if self._embedded is not None else None

    @property
    def sender(self) -> str:
        """The account that sends (the operator on a node)."""
        if self.account is None:
            raise InputError(f"file {str(self.path)!r}: a read-only session sends nothing")
        return str(self.account.address)

    def remit(self, report: RemittanceReport, attestations: Sequence[Attestation]) -> None:
        """Submit ``report`` with ``attestations`` and deposit its cash (the servicer's
        on the embedded chain; the operator account's on a node)."""
        if self._embedded is not None:
            self._embedded.remit(report, attestations)
        else:
            self.client.remit(report, attestations, sender=self.sender)

    def remit_with_sales(
        self, report: RemittanceReport, attestations: Sequence[Attestation], sold: Sequence[tuple[Any, Any]]
    ) -> None:
        """:meth:`remit` confirming the sold loans awaiting confirmation (``sold``: each
        one's record in the report's tape and its proof); a node only (the embedded
        journal records no loan sales)."""
        if self._embedded is not None:
            raise InputError(
                f"file {str(self.path)!r}: loan sales run on a node; the embedded chain's journal has no sales to confirm"
            )
        self.client.remit_with_sales(report, attestations, sold, sender=self.sender)

    def claim(self, holders: Sequence[str] | None, tranche: int | None) -> list[tuple[str, int]]:
        """Claim for ``holders`` (the embedded chain's investors; on a node the operator
        account claims for itself, ``holders`` must be ``None``). Returns (holder, paid)."""
        n = len(self.client.tokens)
        if tranche is not None and not 0 <= tranche < n:
            raise InputError(f"--tranche value {tranche}: need 0..{n - 1}")
        if self._embedded is not None:
            who = list(holders) if holders is not None else self.investors
            entry = self._embedded.claim(who, tranche)
            return list(zip(who, (int(x) for x in entry["output"]["paid"]), strict=True))
        if holders is not None:
            raise InputError("--holder is for the embedded chain; with --rpc the operator account claims")
        return [(self.sender, self.client.claim(self.sender, tranche))]

    def save(self) -> None:
        """Keep what ran: the embedded journal written atomically (a node keeps its own)."""
        if self._embedded is not None:
            self._embedded.save()


def _read_node_record(path: Path) -> dict[str, Any]:
    from openmbs.chain._record import read_deployment_record

    record = read_deployment_record(path)
    if record["network"] != "rpc":
        raise InputError(
            f"file {str(path)!r} field 'network' value {record['network']!r}: --rpc needs a record of a "
            "deal on a node (`openmbs chain deploy --rpc` or `openmbs demo --rpc`); drop --rpc to use the "
            "embedded chain"
        )
    return record


def _pinned(deal: str | None) -> str | None:
    from openmbs.chain._verify import DEAL_ENV

    return deal or os.environ.get(DEAL_ENV) or None


@contextlib.contextmanager
def open_deal(
    path: Path,
    *,
    rpc: str | None = None,
    deal: str | None = None,
    keystore: Path | None = None,
    read_only: bool = False,
    verbose: bool = False,
    echo: Callable[[str], None] = print,
) -> Iterator[DealSession]:
    """The deal of the record at ``path``, checked against the chain.

    Parameters
    ----------
    path
        The deployment record.
    rpc
        The node's URL; ``None``: the embedded chain (the record's journal replayed).
    deal
        The deal's address from a source the user trusts (``--deal``; default
        ``$OPENMBS_DEAL``); required on a node. Every other address is read from the
        deal on chain; a record that disagrees is refused.
    keystore
        The operator's keystore (else ``$OPENMBS_PRIVATE_KEY`` / ``$ETH_PRIVATE_KEY``);
        not read when ``read_only``.
    verbose
        Echo every transaction sent on a node.

    Raises
    ------
    ChainError
        The node is on another chain than the record's (one line naming both ids), or
        does not answer.
    DataIntegrityError
        The record does not describe the deal on chain.
    """
    from openmbs.chain._deploy import DealConfig, TrancheConfig, attach_deal
    from openmbs.chain._env import check_chain_id, load_account, network_env
    from openmbs.chain._verify import DEAL_ENV, check_record, read_deal

    where = f"file {str(path)!r}"
    if rpc is None:
        from openmbs.chain._journal import open_embedded

        d = open_embedded(path)
        with d:
            pinned = _pinned(deal) or str(d.client.deal.address)
            check_record(d.record, read_deal(pinned), where=where)
            yield DealSession(path, d.record, d.client, embedded=d)
        return
    record = _read_node_record(path)
    pinned_node = _pinned(deal)
    if pinned_node is None:
        raise InputError(
            f"{where}: --rpc needs the deal's address from a source you trust: pass --deal ADDRESS or set "
            f"{DEAL_ENV} (the record's addresses are checked against the chain from there, never used alone)"
        )
    check_chain_id(int(record["chain_id"]), rpc, where=where)
    account = None if read_only else load_account(keystore, prompt=True)
    set_tx_verbosity(verbose, echo)
    try:
        env = network_env(rpc)
    except (OSError, ValueError) as exc:
        raise ChainError(f"cannot use node {rpc!r}: {exc}") from None
    from boa.util.abi import Address

    if account is None:
        env.eoa = Address(NOBODY)  # calls only: no account sends
    else:
        env.add_account(account, force_eoa=True)
    chain = read_deal(pinned_node)
    check_record(record, chain, where=where)
    cfg = dict(record["config"])
    cfg["tranches"] = tuple(TrancheConfig(**t) for t in cfg["tranches"])
    admin = str(account.address) if account is not None else NOBODY
    client = attach_deal(
        DealConfig(**cfg), chain.addresses, admin=admin, test_waterfall=chain.test_waterfall, bound=chain.bound
    )
    yield DealSession(path, record, client, account=account, url=rpc)
