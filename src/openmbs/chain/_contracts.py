"""Contract sources, compilation (titanoboa / vyper 0.4.3), the artefact cache and export."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openmbs.errors import ChainError

__all__ = [
    "CACHE_ENV",
    "CONTRACTS",
    "CONTRACTS_DIR",
    "AbiDeployer",
    "ContractArtifact",
    "abi_deployer",
    "artifact",
    "artifact_cache_dir",
    "contract_path",
    "deployer",
    "export_artifacts",
    "sources_fingerprint",
]

#: Folder of the Vyper sources shipped with the package.
CONTRACTS_DIR = Path(__file__).resolve().parent / "contracts"

#: Environment variable naming the folder of openmbs's caches (default
#: ``$XDG_CACHE_HOME/openmbs``, else ``~/.cache/openmbs``).
CACHE_ENV = "OPENMBS_CACHE_DIR"

_ARTIFACT_FORMAT = "openmbs-artifact/1"

#: Contract name -> source file, relative to :data:`CONTRACTS_DIR`.
CONTRACTS: dict[str, str] = {
    "Deal": "Deal.vy",
    "TrancheToken": "TrancheToken.vy",
    "RemittanceOracle": "RemittanceOracle.vy",
    "Issuance": "Issuance.vy",
    "Timelock": "Timelock.vy",
    "ExactWaterfall": "ExactWaterfall.vy",
    "RuleProgram": "RuleProgram.vy",
    "LoanSale": "LoanSale.vy",
    "ServicerBond": "ServicerBond.vy",
    "MockSettlementToken": "mocks/MockSettlementToken.vy",
    "MockStablecoin": "mocks/MockStablecoin.vy",
    "MaliciousToken": "mocks/MaliciousToken.vy",
    "BlacklistToken": "mocks/BlacklistToken.vy",
    "FeeOnTransferToken": "mocks/FeeOnTransferToken.vy",
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


# -- compiled artefacts ------------------------------------------------------------------
@dataclass(frozen=True)
class ContractArtifact:
    """A compiled contract: its ABI (the JSON list), init code and runtime code."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: bytes
    runtime: bytes

    def as_dict(self) -> dict[str, Any]:
        """The artefact file's content (``abi``, hex ``bytecode`` and ``deployedBytecode``)."""
        return {
            "contractName": self.name,
            "source": CONTRACTS[self.name],
            "compiler": "vyper 0.4.3",
            "abi": self.abi,
            "bytecode": "0x" + self.bytecode.hex(),
            "deployedBytecode": "0x" + self.runtime.hex(),
        }


@functools.cache
def _versions() -> str:
    from importlib import metadata

    out = []
    for dist in ("vyper", "snekmate", "titanoboa"):
        try:
            out.append(f"{dist}=={metadata.version(dist)}")
        except metadata.PackageNotFoundError:  # pragma: no cover - always installed
            out.append(f"{dist}==?")
    return ";".join(out)


_IMPORT = re.compile(r"^[ \t]*(?:from[ \t]+(\.*)([\w.]*)[ \t]+import[ \t]+([\w \t,]+)|import[ \t]+([\w.]+))", re.M)
#: Libraries whose code is fixed by their installed version (part of the key).
_LIBRARIES = ("snekmate", "ethereum")


def _dependencies(path: Path) -> set[Path] | None:
    """``path`` and the local Vyper modules it imports, recursively; ``None`` when an
    import cannot be resolved to a file (the caller then keys on every source)."""
    seen: set[Path] = set()
    todo = [path]
    while todo:
        cur = todo.pop()
        if cur in seen:
            continue
        seen.add(cur)
        for dots, module, names, plain in _IMPORT.findall(cur.read_text()):
            if plain:
                if plain.split(".")[0] in _LIBRARIES:
                    continue
                return None
            if not dots:
                if module.split(".")[0] in _LIBRARIES:
                    continue
                return None
            base = cur.parent
            for _ in range(len(dots) - 1):
                base = base.parent
            if module:
                base = base.joinpath(*module.split("."))
            for name in (n.split()[0] if n.split() else "" for n in names.split(",")):
                if not name:
                    continue
                found = [base / f"{name}{ext}" for ext in (".vy", ".vyi") if (base / f"{name}{ext}").exists()]
                if not found:
                    return None
                todo.extend(found)
    return seen


def sources_fingerprint(name: str | None = None) -> str:
    """The key of the artefact cache: sha256 (hex) of the versions of vyper, snekmate
    and titanoboa and of the Vyper sources (paths and bytes) that contract ``name``
    is built from (its file and the local modules it imports, recursively); every
    source under :data:`CONTRACTS_DIR` when ``name`` is ``None`` or an import cannot
    be followed.

    A change to a contract, to a module it imports or to the compiler or its
    libraries gives another key (and so a fresh compilation of that contract only).
    """
    files = _dependencies(contract_path(name)) if name is not None else None
    if files is None:
        files = set(CONTRACTS_DIR.rglob("*.vy*"))
    h = hashlib.sha256(f"{_ARTIFACT_FORMAT};{_versions()};{name}".encode())
    for path in sorted(files):
        h.update(b"\0" + path.relative_to(CONTRACTS_DIR).as_posix().encode() + b"\0")
        h.update(path.read_bytes())
    return h.hexdigest()


def artifact_cache_dir() -> Path:
    """The folder of cached artefacts: ``$OPENMBS_CACHE_DIR/contracts`` (default
    ``$XDG_CACHE_HOME/openmbs/contracts``, else ``~/.cache/openmbs/contracts``)."""
    base = os.environ.get(CACHE_ENV)
    if not base:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = str(Path(xdg) / "openmbs") if xdg else str(Path.home() / ".cache" / "openmbs")
    return Path(base).expanduser() / "contracts"


_MEMO: dict[tuple[str, str], ContractArtifact] = {}


def artifact(name: str) -> ContractArtifact:
    """The compiled contract ``name`` (ABI, init code, runtime code), from the cache.

    Notes
    -----
    The artefact is stored as ``<cache>/<name>-<fingerprint>.json`` (see
    :func:`sources_fingerprint` and :func:`artifact_cache_dir`). On a miss the contract
    is compiled through titanoboa (:func:`deployer`, the same compiler data as every
    other path) and written atomically; a cache folder that cannot be written is
    skipped. A file that does not parse, or whose ABI or code is missing, is compiled
    again.
    """
    key = sources_fingerprint(name)
    memo = _MEMO.get((name, key))
    if memo is not None:
        return memo
    path = artifact_cache_dir() / f"{name}-{key}.json"
    art: ContractArtifact | None = None
    try:
        doc = json.loads(path.read_text())
        art = ContractArtifact(
            name=name,
            abi=list(doc["abi"]),
            bytecode=bytes.fromhex(doc["bytecode"][2:]),
            runtime=bytes.fromhex(doc["deployedBytecode"][2:]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        art = None
    if art is None or not art.bytecode:
        art = _compile(name)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(art.as_dict()))
            os.replace(tmp, path)
        except OSError:
            pass
    _MEMO[(name, key)] = art
    return art


def _compile(name: str) -> ContractArtifact:
    from vyper.compiler.output import build_abi_output

    data = deployer(name).compiler_data
    return ContractArtifact(
        name=name,
        abi=list(build_abi_output(data)),
        bytecode=bytes(data.bytecode),
        runtime=bytes(data.bytecode_runtime),
    )


class AbiDeployer:
    """Deploys contract ``name`` from its cached artefact and wraps addresses in
    titanoboa ABI contracts (``boa.loads_abi``), without parsing the Vyper sources.

    The contracts have the methods of their ABI (``contract.fn(*args, sender=...)``,
    ``simulate=...``) and ``abi``, as :func:`deployer`'s contracts do; what they lack
    is the source-level tracing (``# dev:`` revert reasons, coverage, storage dumps):
    a caller that needs a revert's reason re-runs the call on ``deployer(name).at``.
    """

    def __init__(self, name: str) -> None:
        from boa.contracts.abi.abi_contract import ABIContract, ABIFunction

        class _Contract(ABIContract):  # type: ignore[misc]
            # a contract may have a public ``deployer`` (ExactWaterfall does), which
            # ABIContract's read-only ``deployer`` property would refuse to bind
            deployer: Any = None

        self.name = name
        self.artifact = artifact(name)
        self._cls = _Contract
        self._filename = str(contract_path(name))
        ctor = [item for item in self.artifact.abi if item.get("type") == "constructor"]
        self._ctor = ABIFunction(ctor[0], name) if ctor else None
        self._events = [item for item in self.artifact.abi if item.get("type") == "event"]

    @property
    def abi(self) -> list[dict[str, Any]]:
        """The contract's ABI."""
        return self.artifact.abi

    def deploy(self, *args: Any, sender: str | None = None, value: int = 0, gas: int | None = None) -> Any:
        """Deploy with constructor arguments ``args`` on the current ``boa.env``."""
        import boa

        data = self.artifact.bytecode
        if self._ctor is not None:
            data += self._ctor.prepare_calldata(*args)
        elif args:
            raise ChainError(f"contract {self.name!r} has no constructor arguments, got {len(args)}")
        address, computation = boa.env.deploy(sender=sender, value=value, gas=gas, bytecode=data)
        if computation.is_error:
            raise ChainError(f"deploying {self.name!r}: {computation.error}")
        contract = self.at(address)
        contract._computation = computation
        return contract

    def at(self, address: Any) -> Any:
        """The contract at ``address`` (registered with the current ``boa.env``)."""
        from boa.contracts.abi.abi_contract import ABIFunction
        from boa.util.abi import Address

        functions = [ABIFunction(item, self.name) for item in self.artifact.abi if item.get("type") == "function"]
        contract = self._cls(
            self.name, self.artifact.abi, functions, self._events, Address(address), self._filename
        )
        contract.env.register_contract(contract.address, contract)
        return contract


_ABI_DEPLOYERS: dict[tuple[str, str], AbiDeployer] = {}


def abi_deployer(name: str) -> AbiDeployer:
    """A cached :class:`AbiDeployer` of contract ``name`` (for the current sources)."""
    key = (name, sources_fingerprint(name))
    found = _ABI_DEPLOYERS.get(key)
    if found is None:
        found = _ABI_DEPLOYERS[key] = AbiDeployer(name)
    return found


def export_artifacts(out_dir: str | Path, names: list[str] | None = None) -> list[Path]:
    """Write ``<name>.json`` with ``abi``, ``bytecode`` and ``deployedBytecode`` per contract.

    The files are what web3.py (``w3.eth.contract(abi=..., bytecode=...)``), ethers
    (``new ContractFactory(abi, bytecode)``) and cast expect.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names or list(CONTRACTS):
        target = out / f"{name}.json"
        target.write_text(json.dumps(artifact(name).as_dict(), indent=1))
        written.append(target)
    return written
