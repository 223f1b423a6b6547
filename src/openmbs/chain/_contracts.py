"""Contract sources, compilation (titanoboa / vyper 0.4.3) and artefact export."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from openmbs.errors import ChainError

__all__ = ["CONTRACTS", "CONTRACTS_DIR", "contract_path", "deployer", "export_artifacts"]

#: Folder of the Vyper sources shipped with the package.
CONTRACTS_DIR = Path(__file__).resolve().parent / "contracts"

#: Contract name -> source file, relative to :data:`CONTRACTS_DIR`.
CONTRACTS: dict[str, str] = {
    "Deal": "Deal.vy",
    "TrancheToken": "TrancheToken.vy",
    "RemittanceOracle": "RemittanceOracle.vy",
    "Issuance": "Issuance.vy",
    "Timelock": "Timelock.vy",
    "ExactWaterfall": "ExactWaterfall.vy",
    "MockSettlementToken": "mocks/MockSettlementToken.vy",
    "MaliciousToken": "mocks/MaliciousToken.vy",
    "SequentialTestWaterfall": "mocks/SequentialTestWaterfall.vy",
}


def contract_path(name: str) -> Path:
    """Path of contract ``name``'s source."""
    try:
        return CONTRACTS_DIR / CONTRACTS[name]
    except KeyError:
        raise ChainError(f"unknown contract {name!r}; known: {sorted(CONTRACTS)}") from None


@functools.cache
def deployer(name: str) -> Any:
    """A cached titanoboa deployer (``boa.load_partial``) of contract ``name``."""
    import boa

    return boa.load_partial(str(contract_path(name)))


def export_artifacts(out_dir: str | Path, names: list[str] | None = None) -> list[Path]:
    """Write ``<name>.json`` with ``abi``, ``bytecode`` and ``deployedBytecode`` per contract.

    The files are what web3.py (``w3.eth.contract(abi=..., bytecode=...)``), ethers
    (``new ContractFactory(abi, bytecode)``) and cast expect.
    """
    from vyper.compiler.output import build_abi_output

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names or list(CONTRACTS):
        data = deployer(name).compiler_data
        doc = {
            "contractName": name,
            "source": CONTRACTS[name],
            "compiler": "vyper 0.4.3",
            "abi": build_abi_output(data),
            "bytecode": "0x" + bytes(data.bytecode).hex(),
            "deployedBytecode": "0x" + bytes(data.bytecode_runtime).hex(),
        }
        target = out / f"{name}.json"
        target.write_text(json.dumps(doc, indent=1))
        written.append(target)
    return written
