"""The deployment record: one JSON format for every deal deployed, wherever it runs.

``openmbs chain deploy`` (embedded or ``--rpc``) and ``openmbs demo`` (embedded or
``--rpc``) write the same document, :data:`RECORD_FORMAT` (``docs/chain.md``,
Deployment record)::

    format          "openmbs-chain-deployment/2"
    openmbs_version the version that wrote it
    deal            the deal's name
    network         "embedded" | "rpc"
    rpc             the node's URL (null on the embedded chain)
    chain_id        the chain's id (EIP-712 attestations are bound to it)
    admin, servicer accounts (addresses)
    attestors       the oracle's attestors (addresses)
    test_waterfall  true when the SequentialTestWaterfall TEST DOUBLE is wired
    class_bound     the build of the deal's contracts: 8 or 16 classes (docs/chain.md,
                    "Classes"); a record without it was written by the 8-class build
    settlement      {address, symbol, decimals, mock}
    config          the DealConfig (dataclasses.asdict)
    contracts       role -> address, "tokens" -> [address per class] (priority order);
                    the roles: settlement, timelock, deal, issuance, oracle, waterfall,
                    and (since the loan sales and the bond) loan_sale, servicer_bond
    deployments     role -> {address, block, tx_hash}
    classes         class symbol -> {index, name, address, block, tx_hash}

``block`` and ``tx_hash`` are the deploying transaction's (``null`` on the embedded
chain, which has no transaction hashes; its journal is the record of what ran). The
embedded chain's record adds its ``journal``, ``investors`` and ``dev_attestors``.

``class_bound`` extends ``/2`` compatibly too: a record without it reads as 8 (the
only build before the 16-class one).

The ``loan_sale`` and ``servicer_bond`` roles extend ``/2`` compatibly (optional
keys, in ``contracts`` and ``deployments``): a ``/2`` record written before them reads
as a deal without them (:func:`openmbs.chain.attach_deal` gives a client whose
``loan_sale`` and ``bond`` are ``None``), and ``config.servicing``, absent there,
reads as :class:`openmbs.chain.ServicingConfig`'s defaults.

Records of format ``openmbs-chain-deployment/1`` (before deploy blocks and hashes
were kept) are read: they lack ``deployments``, ``classes``, ``settlement`` and
``rpc``, which read as empty. Any other ``format`` is refused with the file, field
and value. Records are written atomically (:func:`openmbs._files.atomic_write`).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openmbs.errors import InputError

if TYPE_CHECKING:
    from openmbs.chain._clients import DealClient

__all__ = [
    "RECORD_FORMAT",
    "RECORD_FORMATS_READ",
    "Deployed",
    "DeploymentRecord",
    "read_deployment_record",
    "write_deployment_record",
]

#: ``format`` of the records this version writes.
RECORD_FORMAT = "openmbs-chain-deployment/2"
#: Formats this version reads (``/1``: no deploy blocks, hashes or settlement facts).
RECORD_FORMATS_READ = ("openmbs-chain-deployment/1", RECORD_FORMAT)
#: The class bound of a record without ``class_bound`` (every deal deployed before
#: the 16-class build was on the 8-class one).
LEGACY_CLASS_BOUND = 8
_ROLES = ("settlement", "timelock", "deal", "issuance", "oracle", "waterfall", "loan_sale", "servicer_bond")


@dataclass(frozen=True)
class Deployed:
    """Where a contract is and the transaction that created it (``block`` and
    ``tx_hash`` are ``None`` on the embedded chain)."""

    address: str
    block: int | None = None
    tx_hash: str | None = None


@dataclass(frozen=True)
class DeploymentRecord:
    """A deal's deployment (see the module docstring for the JSON form)."""

    deal: str
    network: str
    chain_id: int
    admin: str
    servicer: str
    attestors: tuple[str, ...]
    test_waterfall: bool
    config: Mapping[str, Any]
    contracts: Mapping[str, Any]
    deployments: Mapping[str, Deployed] = field(default_factory=dict)
    classes: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    settlement: Mapping[str, Any] = field(default_factory=dict)
    rpc: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    #: The class bound of the build the contracts come from (8 or 16).
    class_bound: int = LEGACY_CLASS_BOUND

    def __post_init__(self) -> None:
        if self.network not in ("embedded", "rpc"):
            raise InputError(
                f"deployment record field 'network' value {self.network!r}: need 'embedded' or 'rpc'"
            )

    @classmethod
    def from_client(
        cls,
        client: DealClient,
        *,
        network: str,
        attestors: Sequence[str],
        rpc: str | None = None,
        receipts: Mapping[str, tuple[int, str]] | None = None,
        settlement_mock: bool = True,
        extra: Mapping[str, Any] | None = None,
    ) -> DeploymentRecord:
        """The record of a deal deployed by ``client``'s accounts. ``receipts`` maps a
        contract address (lower case) to the ``(block, tx_hash)`` of the transaction
        that created it (default: those the current node environment logged,
        :class:`openmbs.chain.TxLog`; none on the embedded chain)."""
        if receipts is None:
            import boa

            from openmbs.chain._backend import env_receipts

            receipts = env_receipts(boa.env)
        receipts = {k.lower(): v for k, v in receipts.items()}
        addresses = client.addresses()

        def deployed(address: str) -> Deployed:
            block, tx = receipts.get(address.lower(), (None, None))
            return Deployed(address, block, tx)

        classes: dict[str, dict[str, Any]] = {}
        for i, (tranche, address) in enumerate(zip(client.config.tranches, addresses["tokens"], strict=True)):
            d = deployed(address)
            classes[tranche.symbol] = {
                "index": i,
                "name": tranche.name,
                "address": d.address,
                "block": d.block,
                "tx_hash": d.tx_hash,
            }
        return cls(
            deal=client.config.name,
            network=network,
            chain_id=client.chain_id(),
            admin=str(client.admin),
            servicer=str(client.servicer),
            attestors=tuple(str(a) for a in attestors),
            test_waterfall=client.test_waterfall,
            config=dataclasses.asdict(client.config),
            contracts=addresses,
            deployments={r: deployed(addresses[r]) for r in _ROLES if r in addresses},
            classes=classes,
            settlement={
                "address": addresses["settlement"],
                "symbol": str(client.settlement.symbol()),
                "decimals": int(client.settlement.decimals()),
                "mock": settlement_mock,
            },
            rpc=rpc,
            extra=dict(extra or {}),
            class_bound=client.bound,
        )

    def to_json(self) -> dict[str, Any]:
        """The record as the JSON document (format :data:`RECORD_FORMAT`)."""
        import openmbs

        doc: dict[str, Any] = {
            "format": RECORD_FORMAT,
            "openmbs_version": openmbs.__version__,
            "deal": self.deal,
            "network": self.network,
            "rpc": self.rpc,
            "chain_id": self.chain_id,
            "admin": self.admin,
            "servicer": self.servicer,
            "attestors": list(self.attestors),
            "test_waterfall": self.test_waterfall,
            "class_bound": self.class_bound,
            "settlement": dict(self.settlement),
            "config": _plain(self.config),
            "contracts": _plain(self.contracts),
            "deployments": {k: dataclasses.asdict(v) for k, v in self.deployments.items()},
            "classes": {k: dict(v) for k, v in self.classes.items()},
        }
        doc.update(self.extra)
        return doc


def _plain(x: Any) -> Any:
    """Tuples as lists, mappings as dicts (what ``json`` writes)."""
    if isinstance(x, Mapping):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    return x


def write_deployment_record(path: str | os.PathLike[str], record: DeploymentRecord | Mapping[str, Any]) -> Path:
    """Write ``record`` (a :class:`DeploymentRecord`, or its JSON document) to ``path``
    atomically: never seen half-written, an earlier record stays whole until the rename."""
    from openmbs._files import atomic_write_text

    doc = record.to_json() if isinstance(record, DeploymentRecord) else dict(record)
    target = Path(path)
    atomic_write_text(target, json.dumps(doc, indent=1))
    return target


def read_deployment_record(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The JSON document of the record at ``path`` (format ``/1`` or ``/2``; a ``/1``
    record gets empty ``deployments``, ``classes``, ``settlement`` and a null ``rpc``).

    Raises
    ------
    InputError
        The file cannot be read, is not JSON, is of another format, or lacks a field
        every record has (the message names the file, the field and the value).
    """
    p = Path(path)
    try:
        raw = json.loads(p.read_text())
    except OSError as exc:
        raise InputError(f"file {str(p)!r}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise InputError(f"file {str(p)!r}: not JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise InputError(f"file {str(p)!r}: not a deployment record (a JSON object)")
    fmt = raw.get("format")
    if fmt not in RECORD_FORMATS_READ:
        raise InputError(
            f"file {str(p)!r} field 'format' value {fmt!r}: not a deployment record this version "
            f"reads ({', '.join(RECORD_FORMATS_READ)}); redeploy, or use the openmbs that wrote it"
        )
    for key, kind in (("deal", str), ("network", str), ("chain_id", int), ("contracts", dict), ("config", dict)):
        if not isinstance(raw.get(key), kind):
            raise InputError(
                f"file {str(p)!r} field {key!r} value {raw.get(key)!r}: need a {kind.__name__}"
            )
    raw.setdefault("class_bound", LEGACY_CLASS_BOUND)
    from openmbs.chain._contracts import BOUNDS

    if raw["class_bound"] not in BOUNDS or isinstance(raw["class_bound"], bool):
        raise InputError(
            f"file {str(p)!r} field 'class_bound' value {raw['class_bound']!r}: need one of the "
            f"builds' class bounds {list(BOUNDS)}"
        )
    raw.setdefault("deployments", {})
    raw.setdefault("classes", {})
    raw.setdefault("settlement", {})
    raw.setdefault("rpc", None)
    return raw
