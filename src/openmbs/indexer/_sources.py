"""Where contract event logs come from: the abstract log source and two implementations.

A :class:`LogSource` answers two questions: which block is the newest one whose logs are
complete (``latest_block``), and which logs were emitted in a range of blocks
(``logs``). :class:`RpcLogSource` asks a JSON-RPC node (``eth_blockNumber``,
``eth_getLogs``) over HTTP; :class:`MemoryLogSource` is fed by its caller, for example
with the logs of each transaction run in titanoboa's embedded EVM
(:class:`BoaLogCollector`).
"""

from __future__ import annotations

import bisect
import contextlib
import json
import urllib.error
import urllib.request
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from openmbs.errors import ChainError, DataIntegrityError

__all__ = [
    "BoaLogCollector",
    "LogSource",
    "MemoryLogSource",
    "RawLog",
    "RpcLogSource",
    "parse_rpc_log",
]


@dataclass(frozen=True)
class RawLog:
    """One event log as a chain reports it (not yet decoded).

    Attributes
    ----------
    block_number, log_index : int
        Position of the log: ``log_index`` is the log's index within its block, so the
        pair is unique on a chain.
    tx_hash : str
        ``0x``-prefixed transaction hash (synthesised for the embedded EVM, see
        :class:`BoaLogCollector`).
    tx_index : int
        Index of the transaction within its block.
    address : str
        Checksummed address of the contract that emitted the log.
    topics : tuple of bytes
        The 32-byte topics; ``topics[0]`` is the event selector (non-anonymous events).
    data : bytes
        ABI-encoded non-indexed arguments.
    block_hash : str or None
        ``0x``-prefixed block hash when the source knows it.
    """

    block_number: int
    log_index: int
    tx_hash: str
    tx_index: int
    address: str
    topics: tuple[bytes, ...]
    data: bytes
    block_hash: str | None = None


class LogSource(ABC):
    """A source of contract event logs, read by block ranges.

    Subclasses implement :meth:`latest_block` and :meth:`logs`; ``name`` identifies the
    source in the indexer's cursor table (one cursor per source name).
    """

    name: str = "source"

    #: Blocks an :class:`~openmbs.indexer.Indexer` stays behind :meth:`latest_block` when
    #: it is given no ``confirmations``: 0 for a source whose blocks are final once
    #: reported (sealed), more for a chain that can reorganise.
    default_confirmations: int = 0

    def block_hashes(self, numbers: Sequence[int]) -> dict[int, tuple[str, str | None]]:
        """Hash and parent hash (``0x`` hex, lower case) of each block the source knows.

        Blocks the chain does not hold (any more) are left out. The default knows no
        hashes (``{}``): the source's blocks are final, and the indexer does not look
        for reorganisations.
        """
        return {}

    @abstractmethod
    def latest_block(self) -> int:
        """Newest block whose logs are complete (``-1`` when there is none yet)."""

    @abstractmethod
    def logs(self, from_block: int, to_block: int) -> list[RawLog]:
        """Every log of the watched contracts in blocks ``from_block..to_block``
        (inclusive), in (block, log index) order."""


class MemoryLogSource(LogSource):
    """Logs held in memory, appended by the caller block by block.

    ``seal(block)`` declares every block up to ``block`` complete: ``latest_block``
    returns the highest sealed block, so an indexer never reads a block that may still
    receive logs, and appending to a sealed block is an error.

    Examples
    --------
    >>> src = MemoryLogSource()
    >>> src.latest_block()
    -1
    """

    def __init__(self, name: str = "memory", logs: Iterable[RawLog] = ()) -> None:
        self.name = name
        self._logs: list[RawLog] = []
        self._head = -1
        self._seen: set[tuple[int, int]] = set()
        self._blocks: list[int] = []  # block number of each log, for bisect
        self.append(logs)

    def append(self, logs: Iterable[RawLog]) -> None:
        """Add logs (of blocks not yet sealed).

        Logs usually arrive in (block, log index) order and are appended as they are;
        the list is re-sorted only when one arrives out of order.
        """
        unordered = False
        for log in logs:
            key = (log.block_number, log.log_index)
            if log.block_number <= self._head:
                raise DataIntegrityError(
                    f"source {self.name!r}: block {log.block_number} is already sealed "
                    f"(latest sealed block {self._head}); log index {log.log_index}"
                )
            if key in self._seen:
                raise DataIntegrityError(
                    f"source {self.name!r}: duplicate log at block {key[0]} index {key[1]}"
                )
            self._seen.add(key)
            if not unordered and self._logs and (log.block_number, log.log_index) < (
                self._logs[-1].block_number,
                self._logs[-1].log_index,
            ):
                unordered = True
            self._logs.append(log)
            if not unordered:
                self._blocks.append(log.block_number)
        if unordered:
            self._logs.sort(key=lambda x: (x.block_number, x.log_index))
            self._blocks = [x.block_number for x in self._logs]

    def seal(self, block: int) -> None:
        """Declare every block up to ``block`` complete."""
        self._head = max(self._head, int(block))

    def latest_block(self) -> int:
        return self._head

    def logs(self, from_block: int, to_block: int) -> list[RawLog]:
        lo = bisect.bisect_left(self._blocks, from_block)
        hi = bisect.bisect_right(self._blocks, to_block)
        return self._logs[lo:hi]


def _topic_bytes(value: int | bytes) -> bytes:
    return value.to_bytes(32, "big") if isinstance(value, int) else bytes(value).rjust(32, b"\0")


class BoaLogCollector:
    """Collect the logs of transactions run in titanoboa's embedded EVM into a source.

    titanoboa keeps the last computation of each contract object
    (``contract._computation``); its ``get_raw_log_entries()`` returns every log of the
    call, those of nested calls included, as ``(counter, address, topics, data)``.
    The embedded EVM has no transaction hashes; the collector synthesises
    ``keccak256("openmbs-boa:{chain_id}:{block}:{tx_index}")``. Block numbers are the
    environment's ``evm.patch.block_number``: blocks below the current one are sealed on
    each :meth:`record`, and :meth:`seal` seals the current block too (after which the
    caller must advance it, e.g. ``boa.env.time_travel(blocks=1)``, before the next
    transaction).

    Parameters
    ----------
    source : MemoryLogSource
        Where the logs go.
    env : boa.Env, optional
        The titanoboa environment (default: the global ``boa.env``).
    """

    def __init__(self, source: MemoryLogSource, env: Any = None) -> None:
        if env is None:
            import boa

            env = boa.env
        self.source = source
        self.env = env
        self._block = -1
        self._tx_index = 0
        self._log_index = 0
        self._last: Any = None

    def _block_number(self) -> int:
        return int(self.env.evm.patch.block_number)

    def record(self, contract_or_computation: Any, *, tx_hash: str | None = None) -> list[RawLog]:
        """Append the logs of the last transaction of a contract (or of a computation).

        Returns the logs added; a computation already recorded adds nothing.
        """
        comp = getattr(contract_or_computation, "_computation", contract_or_computation)
        if comp is None or comp is self._last:
            return []
        self._last = comp
        block = self._block_number()
        if block != self._block:
            if block < self._block:
                raise DataIntegrityError(
                    f"embedded EVM block number went back from {self._block} to {block}"
                )
            self.source.seal(block - 1)
            self._block = block
            self._tx_index = 0
            self._log_index = 0
        tx_index = self._tx_index
        self._tx_index += 1
        chain_id = int(getattr(self.env.evm.patch, "chain_id", 0))
        if tx_hash is None:
            tx_hash = "0x" + keccak(text=f"openmbs-boa:{chain_id}:{block}:{tx_index}").hex()
        out = []
        for entry in comp.get_raw_log_entries():
            _counter, address, topics, data = entry
            out.append(
                RawLog(
                    block_number=block,
                    log_index=self._log_index,
                    tx_hash=tx_hash,
                    tx_index=tx_index,
                    address=to_checksum_address(bytes(address)),
                    topics=tuple(_topic_bytes(t) for t in topics),
                    data=bytes(data),
                )
            )
            self._log_index += 1
        self.source.append(out)
        return out

    def seal(self) -> None:
        """Declare the current block complete (advance the block before more txs)."""
        self.source.seal(self._block_number())

    @contextlib.contextmanager
    def capture(self) -> Iterator[BoaLogCollector]:
        """Record every successful state-changing call and deployment made in the block.

        Inside ``with collector.capture():`` the environment's ``execute_code`` and
        ``deploy`` are wrapped so that each transaction that does not revert (view calls
        and ``simulate`` calls excepted) is recorded as it happens, which is safer than
        calling :meth:`record` by hand (a later view call replaces a contract's
        ``_computation``).
        """
        env = self.env
        saved = {k: env.__dict__[k] for k in ("execute_code", "deploy") if k in env.__dict__}
        orig_exec, orig_deploy = env.execute_code, env.deploy

        def execute_code(*args: Any, **kwargs: Any) -> Any:
            comp = orig_exec(*args, **kwargs)
            modifying = kwargs.get("is_modifying", True) and not kwargs.get("simulate", False)
            if modifying and not comp.is_error:
                self.record(comp)
            return comp

        def deploy(*args: Any, **kwargs: Any) -> Any:
            address, comp = orig_deploy(*args, **kwargs)
            if not comp.is_error:
                self.record(comp)
            return address, comp

        env.execute_code = execute_code
        env.deploy = deploy
        try:
            yield self
        finally:
            for k in ("execute_code", "deploy"):
                if k in saved:
                    setattr(env, k, saved[k])
                else:
                    delattr(env, k)


def _hex_int(value: Any, field: str) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.startswith("0x"):
        return int(value, 16)
    raise ChainError(f"JSON-RPC log field {field!r} value {value!r}: expected a hex quantity")


def _hex_bytes(value: Any, field: str) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise ChainError(f"JSON-RPC log field {field!r} value {value!r}: expected hex data")
    return bytes.fromhex(value[2:])


def parse_rpc_log(obj: dict[str, Any]) -> RawLog:
    """One ``eth_getLogs`` result object to a :class:`RawLog`."""
    try:
        return RawLog(
            block_number=_hex_int(obj["blockNumber"], "blockNumber"),
            log_index=_hex_int(obj["logIndex"], "logIndex"),
            tx_hash=str(obj["transactionHash"]).lower(),
            tx_index=_hex_int(obj.get("transactionIndex", "0x0"), "transactionIndex"),
            address=to_checksum_address(obj["address"]),
            topics=tuple(_hex_bytes(t, "topics") for t in obj.get("topics", [])),
            data=_hex_bytes(obj.get("data", "0x"), "data"),
            block_hash=(str(obj["blockHash"]).lower() if obj.get("blockHash") else None),
        )
    except KeyError as exc:
        raise ChainError(f"JSON-RPC log is missing field {exc.args[0]!r}: {obj!r}") from exc


class RpcLogSource(LogSource):
    """Logs from a JSON-RPC node (``eth_getLogs`` over HTTP, standard library only).

    Parameters
    ----------
    url : str
        HTTP(S) endpoint of the node.
    addresses : sequence of str, optional
        Contracts to watch (all logs of the chain when omitted).
    name : str, optional
        Cursor name (default ``"rpc:" + url``).
    timeout : float, default 30
        Seconds per request.
    max_range : int, default 2000
        Largest block range per ``eth_getLogs`` call; a range the node refuses (too many
        results) is split in halves.

    confirmations : int, default 12
        :attr:`default_confirmations`: how far behind the head an indexer stays when it
        is not told (a reorganisation deeper than this is still detected and rolled back,
        see :class:`~openmbs.indexer.Indexer`; staying behind keeps what a reader sees
        from being undone).

    Notes
    -----
    Logs with ``removed: true`` (dropped by a reorganisation) are skipped. Block hashes
    come from ``eth_getBlockByNumber`` (:meth:`block_hashes`).
    """

    def __init__(
        self,
        url: str,
        *,
        addresses: Sequence[str] | None = None,
        name: str | None = None,
        timeout: float = 30.0,
        max_range: int = 2000,
        confirmations: int = 12,
    ) -> None:
        if confirmations < 0:
            raise ValueError(f"confirmations must be >= 0, got {confirmations!r}")
        self.default_confirmations = int(confirmations)
        self.url = url
        self.addresses = [to_checksum_address(a) for a in addresses] if addresses else None
        self.name = name or f"rpc:{url}"
        self.timeout = timeout
        self.max_range = max(1, int(max_range))
        self._id = 0

    def _call(self, method: str, params: list[Any]) -> Any:
        self._id += 1
        body = json.dumps({"jsonrpc": "2.0", "id": self._id, "method": method, "params": params})
        req = urllib.request.Request(
            self.url, data=body.encode(), headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                reply = json.loads(resp.read().decode())
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise ChainError(f"JSON-RPC {method} to {self.url}: {exc}") from exc
        if "error" in reply:
            err = reply["error"]
            raise _RpcError(f"JSON-RPC {method} to {self.url}: error {err!r}")
        return reply.get("result")

    def latest_block(self) -> int:
        return _hex_int(self._call("eth_blockNumber", []), "blockNumber")

    def block_hashes(self, numbers: Sequence[int]) -> dict[int, tuple[str, str | None]]:
        out: dict[int, tuple[str, str | None]] = {}
        for n in sorted(set(numbers)):
            if n < 0:
                continue
            blk = self._call("eth_getBlockByNumber", [hex(n), False])
            if not isinstance(blk, dict) or not blk.get("hash"):
                continue  # not on the chain (any more)
            if _hex_int(blk.get("number"), "number") != n:
                raise ChainError(f"JSON-RPC eth_getBlockByNumber({n}) to {self.url}: got block {blk.get('number')!r}")
            parent = blk.get("parentHash")
            out[n] = (str(blk["hash"]).lower(), str(parent).lower() if parent else None)
        return out

    def logs(self, from_block: int, to_block: int) -> list[RawLog]:
        out: list[RawLog] = []
        start = from_block
        while start <= to_block:
            end = min(to_block, start + self.max_range - 1)
            out.extend(self._range(start, end))
            start = end + 1
        out.sort(key=lambda x: (x.block_number, x.log_index))
        return out

    def _range(self, start: int, end: int) -> list[RawLog]:
        flt: dict[str, Any] = {"fromBlock": hex(start), "toBlock": hex(end)}
        if self.addresses:
            flt["address"] = self.addresses
        try:
            result = self._call("eth_getLogs", [flt])
        except _RpcError:
            if end <= start:
                raise
            mid = (start + end) // 2
            return self._range(start, mid) + self._range(mid + 1, end)
        if not isinstance(result, list):
            raise ChainError(f"JSON-RPC eth_getLogs to {self.url}: result {result!r} is not a list")
        return [parse_rpc_log(x) for x in result if not x.get("removed", False)]


class _RpcError(ChainError):
    """The node answered with a JSON-RPC error object."""
