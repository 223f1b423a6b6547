"""Foundry-style artifacts of the deployable contracts, for integrators.

One file per contract, ``<Name>.json``, in the layout Foundry writes to ``out/`` (and
that web3.py, ethers, viem and cast read)::

    {
      "contractName": "Deal",
      "abi": [...],
      "bytecode": {"object": "0x...", "linkReferences": {}},
      "deployedBytecode": {"object": "0x...", "linkReferences": {}},
      "methodIdentifiers": {"claim(uint256)": "379607f5", ...},
      "userdoc": {...}, "devdoc": {...},
      "metadata": {"compiler": {"version": "0.4.3+commit..."}, "language": "Vyper",
                   "settings": {...}, "sources": {...}, "integrity": "...", ...}
    }

Every field comes from the vyper compiler's own outputs, through the compiler data
titanoboa builds for :func:`openmbs.chain.deployer` (so the files describe the very
code the deployment functions deploy): ``abi``, ``bytecode``, ``bytecode_runtime``,
``method_identifiers``, ``userdoc``, ``devdoc``, ``integrity`` and the settings. Two
adjustments to Foundry's conventions: ``methodIdentifiers`` holds 8 hex digits
without ``0x`` (vyper prints ``hex()``, which drops leading zeros) and leaves out
vyper's ``__default__()`` (the fallback, which has no selector of its own: any
unknown selector reaches it).

``deployedBytecode.object`` is the runtime code the constructor returns, before the
immutables: vyper 0.4 deploys ``runtime || immutables``, so the code at a deployed
contract's address starts with it and is longer by the immutables section (whose
length the init code's CBOR metadata states; see :mod:`openmbs.chain._verify`).

Only the contracts a deal deploys are exported (:data:`DEPLOYABLE_CONTRACTS`); the
test doubles under ``contracts/mocks`` never are. Each is exported for both builds
(``openmbs.chain._contracts.BOUNDS``): ``<Name>.json`` for the 16-class build (the
sources as shipped) and ``<Name>.c8.json`` for the 8-class one; ``classBound`` in
each file says which (docs/chain.md, "Classes").
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from openmbs._files import atomic_write_text
from openmbs.chain._contracts import (
    BOUNDS,
    CONTRACTS,
    CONTRACTS_DIR,
    _dependencies,
    build_dir,
    contract_path,
    deployer,
    export_name,
)
from openmbs.errors import InputError

__all__ = ["DEPLOYABLE_CONTRACTS", "foundry_artifact", "write_foundry_artifacts"]

#: The contracts a deal deploys, whose artifacts are exported (no test double).
DEPLOYABLE_CONTRACTS: tuple[str, ...] = (
    "Deal",
    "ExactWaterfall",
    "Issuance",
    "LoanSale",
    "RemittanceOracle",
    "RuleProgram",
    "ServicerBond",
    "Timelock",
    "TrancheToken",
)

_FALLBACK = "__default__()"


def _selector(value: str) -> str:
    """vyper's ``hex()`` selector as Foundry writes it: 8 hex digits, no ``0x``."""
    return f"{int(value, 16):08x}"


def _sources(name: str, bound: int) -> dict[str, dict[str, str]]:
    """The Vyper sources of ``name`` in the ``bound``-class build (its file and the
    local modules it imports), each with its sha256 and keccak256, keyed by path as
    shipped (``openmbs/chain/contracts/Deal.vy``)."""
    from eth_utils.crypto import keccak

    root = build_dir(bound)
    source = root / contract_path(name).relative_to(CONTRACTS_DIR)
    files = _dependencies(source) or {source}
    prefix = CONTRACTS_DIR.relative_to(CONTRACTS_DIR.parents[2]).as_posix()
    out = {}
    for path in sorted(files):
        data = path.read_bytes()
        out[f"{prefix}/{path.relative_to(root).as_posix()}"] = {
            "keccak256": "0x" + bytes(keccak(data)).hex(),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
    return out


def _settings(data: Any) -> dict[str, Any]:
    """The compiler settings, with vyper's defaults written out where titanoboa left
    them unset (the EVM version the code was compiled for)."""
    from vyper.evm.opcodes import DEFAULT_EVM_VERSION

    settings = dict(data.settings.as_dict())
    settings.setdefault("evm_version", DEFAULT_EVM_VERSION)
    return settings


def _libraries() -> dict[str, str]:
    from importlib import metadata

    return {dist: metadata.version(dist) for dist in ("snekmate", "titanoboa")}


def foundry_artifact(name: str, bound: int = BOUNDS[-1]) -> dict[str, Any]:
    """The Foundry-style artifact of deployable contract ``name`` in the
    ``bound``-class build (see the module notes).

    Parameters
    ----------
    name
        One of :data:`DEPLOYABLE_CONTRACTS`.
    bound
        The build's class bound (8 or 16; default 16, the sources as shipped).

    Returns
    -------
    dict
        ``contractName``, ``sourceName``, ``abi``, ``bytecode`` and
        ``deployedBytecode`` (each ``{"object": "0x...", "linkReferences": {}}``),
        ``methodIdentifiers`` (signature -> 8 hex digits), ``userdoc``, ``devdoc``
        (vyper's NatSpec) and ``metadata`` (compiler version, settings, sources and
        their hashes, vyper's integrity hash, library versions).

    Raises
    ------
    InputError
        ``name`` is not a deployable contract (a test double, or unknown).
    """
    if name not in DEPLOYABLE_CONTRACTS:
        raise InputError(
            f"contract {name!r}: not a deployable contract; artifacts exist for {list(DEPLOYABLE_CONTRACTS)}"
        )
    import vyper
    from vyper.compiler.output import (
        build_abi_output,
        build_devdoc,
        build_method_identifiers_output,
        build_userdoc,
    )

    data = deployer(name, bound).compiler_data
    methods = {
        sig: _selector(sel)
        for sig, sel in build_method_identifiers_output(data).items()
        if sig != _FALLBACK
    }
    return {
        "contractName": name,
        "classBound": bound,
        "sourceName": f"openmbs/chain/contracts/{CONTRACTS[name]}",
        "abi": list(build_abi_output(data)),
        "bytecode": {"object": "0x" + bytes(data.bytecode).hex(), "linkReferences": {}},
        "deployedBytecode": {"object": "0x" + bytes(data.bytecode_runtime).hex(), "linkReferences": {}},
        "methodIdentifiers": dict(sorted(methods.items())),
        "userdoc": build_userdoc(data),
        "devdoc": build_devdoc(data),
        "metadata": {
            "compiler": {"version": str(vyper.__long_version__)},
            "language": "Vyper",
            "settings": _settings(data),
            "sources": _sources(name, bound),
            "integrity": str(data.integrity_sum),
            "libraries": _libraries(),
            "version": 1,
        },
    }


def write_foundry_artifacts(
    out_dir: str | Path, names: tuple[str, ...] | None = None, bounds: tuple[int, ...] = BOUNDS
) -> list[Path]:
    """Write ``<out_dir>/<Name>.json`` (:func:`foundry_artifact`) for each contract of
    ``names`` (default :data:`DEPLOYABLE_CONTRACTS`) and each build of ``bounds``
    (``<Name>.c8.json`` for the 8-class build, see the module notes); returns the
    paths written.

    Each file is written whole (a temporary file, then renamed, with the mode a plain
    ``open()`` gives), so a reader never sees half an artifact.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for bound in sorted(bounds, reverse=True):  # the shipped build's files first
        for name in names if names is not None else DEPLOYABLE_CONTRACTS:
            doc = foundry_artifact(name, bound)
            target = out / f"{export_name(name, bound)}.json"
            atomic_write_text(target, json.dumps(doc, indent=2) + "\n")
            written.append(target)
    return written
