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
    "BOUNDS",
    "CACHE_ENV",
    "CONTRACTS",
    "CONTRACTS_DIR",
    "AbiDeployer",
    "ContractArtifact",
    "abi_deployer",
    "artifact",
    "artifact_cache_dir",
    "bound_for",
    "build_dir",
    "contract_path",
    "deployer",
    "export_artifacts",
    "export_name",
    "sources_fingerprint",
]

#: Folder of the Vyper sources shipped with the package.
CONTRACTS_DIR = Path(__file__).resolve().parent / "contracts"

#: Environment variable naming the folder of openmbs's caches (default
#: ``$XDG_CACHE_HOME/openmbs``, else ``~/.cache/openmbs``).
CACHE_ENV = "OPENMBS_CACHE_DIR"

_ARTIFACT_FORMAT = "openmbs-artifact/1"

#: The class bounds the contracts are built for, smallest first (docs/chain.md,
#: "Classes"). A build is the package's sources with ``deal_types.vy``'s one
#: ``MAX_TRANCHES`` line set to the bound; the last is the sources as shipped, and
#: the default of every function here that takes a ``bound``: it runs any deal the
#: contracts accept, so a caller that does not say gets a build that fits. A deal
#: is deployed on the smallest bound that holds its classes (:func:`bound_for`):
#: every row of the waterfall's arrays costs memory gas each period.
BOUNDS: tuple[int, ...] = (8, 16)
_SHIPPED_BOUND = BOUNDS[-1]
_BOUND_LINE = "MAX_TRANCHES: constant(uint256) = "

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


def bound_for(n_classes: int) -> int:
    """The smallest class bound of :data:`BOUNDS` that holds ``n_classes`` classes."""
    for bound in BOUNDS:
        if n_classes <= bound:
            return bound
    raise ChainError(f"{n_classes} classes: more than the largest build's bound {BOUNDS[-1]}")


def _check_bound(bound: int) -> int:
    if bound not in BOUNDS:
        raise ChainError(f"class bound {bound!r}: the contracts are built for {list(BOUNDS)}")
    return bound


def _bounded_types(bound: int) -> str:
    """``deal_types.vy`` with its one ``MAX_TRANCHES`` line set to ``bound``."""
    text = (CONTRACTS_DIR / "deal_types.vy").read_text()
    pattern = re.compile(rf"^{re.escape(_BOUND_LINE)}{_SHIPPED_BOUND}$", re.M)
    found = len(pattern.findall(text))
    if found != 1:
        raise ChainError(
            f"{CONTRACTS_DIR / 'deal_types.vy'}: need exactly one line "
            f"{_BOUND_LINE + str(_SHIPPED_BOUND)!r} to build other class bounds, found {found}"
        )
    return pattern.sub(f"{_BOUND_LINE}{bound}", text)


def build_dir(bound: int = _SHIPPED_BOUND) -> Path:
    """The folder of the sources of the ``bound``-class build (imports resolve there).

    The shipped bound is :data:`CONTRACTS_DIR` itself; another bound is a copy of
    every source with ``deal_types.vy``'s ``MAX_TRANCHES`` line replaced, written once
    to ``<cache>/builds/c<bound>-<sha256 of the sources>`` (a temporary folder when
    the cache cannot be written).
    """
    if _check_bound(bound) == _SHIPPED_BOUND:
        return CONTRACTS_DIR
    return _derived_build(bound, _tree_fingerprint(CONTRACTS_DIR))


def _tree_fingerprint(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.vy*")):
        h.update(b"\0" + path.relative_to(root).as_posix().encode() + b"\0")
        h.update(path.read_bytes())
    return h.hexdigest()


@functools.cache
def _derived_build(bound: int, key: str) -> Path:
    import tempfile

    types = _bounded_types(bound)
    files = {p.relative_to(CONTRACTS_DIR): p.read_text() for p in CONTRACTS_DIR.rglob("*.vy*")}
    files[Path("deal_types.vy")] = types
    target = artifact_cache_dir().parent / "builds" / f"c{bound}-{key[:32]}"
    try:
        if not _build_complete(target, files):
            staging = Path(tempfile.mkdtemp(prefix=f".c{bound}-", dir=_mkdir(target.parent)))
            _write_tree(staging, files)
            try:
                os.replace(staging, target)
            except OSError:  # another process wrote it first
                if not _build_complete(target, files):
                    raise
    except OSError:
        target = Path(tempfile.mkdtemp(prefix=f"openmbs-c{bound}-"))
        _write_tree(target, files)
    return target


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _build_complete(target: Path, files: dict[Path, str]) -> bool:
    try:
        return all((target / rel).read_text() == text for rel, text in files.items())
    except OSError:
        return False


def _write_tree(root: Path, files: dict[Path, str]) -> None:
    for rel, text in files.items():
        _mkdir((root / rel).parent)
        (root / rel).write_text(text)


@functools.cache
def deployer(name: str, bound: int = _SHIPPED_BOUND) -> Any:
    """A cached titanoboa deployer (``boa.load_partial``) of contract ``name`` in the
    ``bound``-class build (:data:`BOUNDS`; default the shipped sources)."""
    import boa

    return boa.load_partial(str(build_dir(bound) / contract_path(name).relative_to(CONTRACTS_DIR)))


# -- compiled artefacts ------------------------------------------------------------------
@dataclass(frozen=True)
class ContractArtifact:
    """A compiled contract: its ABI (the JSON list), init code and runtime code."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: bytes
    runtime: bytes
    #: The class bound of the build (:data:`BOUNDS`).
    bound: int = _SHIPPED_BOUND

    def as_dict(self) -> dict[str, Any]:
        """The artefact file's content (``abi``, hex ``bytecode`` and ``deployedBytecode``)."""
        return {
            "contractName": self.name,
            "source": CONTRACTS[self.name],
            "classBound": self.bound,
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


def sources_fingerprint(name: str | None = None, bound: int = _SHIPPED_BOUND) -> str:
    """The key of the artefact cache: sha256 (hex) of the versions of vyper, snekmate
    and titanoboa and of the Vyper sources (paths and bytes) that contract ``name``
    is built from (its file and the local modules it imports, recursively); every
    source under :data:`CONTRACTS_DIR` when ``name`` is ``None`` or an import cannot
    be followed.

    A change to a contract, to a module it imports or to the compiler or its
    libraries gives another key (and so a fresh compilation of that contract only).
    ``bound`` names the build (:func:`build_dir`): its sources are hashed, and a
    bound other than the shipped one is part of the key.
    """
    root = build_dir(bound)
    files = _dependencies(root / contract_path(name).relative_to(CONTRACTS_DIR)) if name is not None else None
    if files is None:
        files = set(root.rglob("*.vy*"))
    tag = "" if bound == _SHIPPED_BOUND else f";c{bound}"
    h = hashlib.sha256(f"{_ARTIFACT_FORMAT};{_versions()};{name}{tag}".encode())
    for path in sorted(files):
        h.update(b"\0" + path.relative_to(root).as_posix().encode() + b"\0")
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


def artifact(name: str, bound: int = _SHIPPED_BOUND) -> ContractArtifact:
    """The compiled contract ``name`` of the ``bound``-class build (ABI, init code,
    runtime code), from the cache.

    Notes
    -----
    The artefact is stored as ``<cache>/<name>-<fingerprint>.json`` (see
    :func:`sources_fingerprint` and :func:`artifact_cache_dir`). On a miss the contract
    is compiled through titanoboa (:func:`deployer`, the same compiler data as every
    other path) and written atomically; a cache folder that cannot be written is
    skipped. A file that does not parse, or whose ABI or code is missing, is compiled
    again.
    """
    key = sources_fingerprint(name, bound)
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
            bound=bound,
        )
    except (OSError, ValueError, KeyError, TypeError):
        art = None
    if art is None or not art.bytecode:
        art = _compile(name, bound)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(art.as_dict()))
            os.replace(tmp, path)
        except OSError:
            pass
    _MEMO[(name, key)] = art
    return art


def _compile(name: str, bound: int) -> ContractArtifact:
    from vyper.compiler.output import build_abi_output

    data = deployer(name, bound).compiler_data
    return ContractArtifact(
        name=name,
        abi=list(build_abi_output(data)),
        bytecode=bytes(data.bytecode),
        runtime=bytes(data.bytecode_runtime),
        bound=bound,
    )


class AbiDeployer:
    """Deploys contract ``name`` from its cached artefact and wraps addresses in
    titanoboa ABI contracts (``boa.loads_abi``), without parsing the Vyper sources.

    The contracts have the methods of their ABI (``contract.fn(*args, sender=...)``,
    ``simulate=...``) and ``abi``, as :func:`deployer`'s contracts do; what they lack
    is the source-level tracing (``# dev:`` revert reasons, coverage, storage dumps):
    a caller that needs a revert's reason re-runs the call on ``deployer(name).at``.
    """

    def __init__(self, name: str, bound: int = _SHIPPED_BOUND) -> None:
        from boa.contracts.abi.abi_contract import ABIContract, ABIFunction

        class _Contract(ABIContract):  # type: ignore[misc]
            # a contract may have a public ``deployer`` (ExactWaterfall does), which
            # ABIContract's read-only ``deployer`` property would refuse to bind
            deployer: Any = None

        self.name = name
        self.bound = bound
        self.artifact = artifact(name, bound)
        self._cls = _Contract
        self._filename = str(build_dir(bound) / CONTRACTS[name])
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


def abi_deployer(name: str, bound: int = _SHIPPED_BOUND) -> AbiDeployer:
    """A cached :class:`AbiDeployer` of contract ``name`` in the ``bound``-class build
    (for the current sources)."""
    key = (name, sources_fingerprint(name, bound))
    found = _ABI_DEPLOYERS.get(key)
    if found is None:
        found = _ABI_DEPLOYERS[key] = AbiDeployer(name, bound)
    return found


def export_name(name: str, bound: int = _SHIPPED_BOUND) -> str:
    """The exported artefact's name of contract ``name`` in the ``bound``-class build:
    ``name`` for the shipped bound, ``name.c<bound>`` for another (``Deal.c8``)."""
    return name if _check_bound(bound) == _SHIPPED_BOUND else f"{name}.c{bound}"


def export_artifacts(
    out_dir: str | Path, names: list[str] | None = None, bounds: tuple[int, ...] = BOUNDS
) -> list[Path]:
    """Write ``<name>.json`` with ``abi``, ``bytecode`` and ``deployedBytecode`` per
    contract and build: ``<name>.json`` for the shipped bound (16), ``<name>.c8.json``
    for the 8-class build (:func:`export_name`; the file's ``classBound`` says which).

    The files are what web3.py (``w3.eth.contract(abi=..., bytecode=...)``), ethers
    (``new ContractFactory(abi, bytecode)``) and cast expect.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for bound in sorted(bounds, reverse=True):  # the shipped build's files first
        for name in names or list(CONTRACTS):
            target = out / f"{export_name(name, bound)}.json"
            target.write_text(json.dumps(artifact(name, bound).as_dict(), indent=1))
            written.append(target)
    return written
