"""Start a local anvil node (from the npm package ``@foundry-rs/anvil``) for tests and benchmarks."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from openmbs.errors import ChainError

__all__ = [
    "ANVIL_KEYS",
    "ANVIL_MNEMONIC",
    "ANVIL_NPM_PACKAGE",
    "AnvilNode",
    "anvil_dev_keys",
    "find_anvil",
    "install_anvil",
    "start_anvil",
]

#: The npm package and version that ships the anvil binary (in the platform
#: sub-package ``@foundry-rs/anvil-<os>-<arch>``, an optional dependency).
ANVIL_NPM_PACKAGE = "@foundry-rs/anvil@1.7.1"

#: anvil's default mnemonic: its development accounts are ``m/44'/60'/0'/0/i`` of it.
#: PUBLIC: anyone can sign with these keys (throwaway development chains only).
ANVIL_MNEMONIC = "test test test test test test test test test test test junk"

#: Private keys of anvil's first three default (test mnemonic) accounts. Public test keys.
ANVIL_KEYS = (
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
)


def anvil_dev_keys(n: int, *, start: int = 0) -> list[str]:
    """Private keys (``0x`` hex) of anvil's development accounts ``start .. start+n-1``
    (:data:`ANVIL_MNEMONIC`, path ``m/44'/60'/0'/0/i``). PUBLIC keys: a throwaway
    development chain only. anvil funds the first ten (``--accounts``)."""
    from eth_account import Account

    Account.enable_unaudited_hdwallet_features()
    return [
        "0x" + bytes(Account.from_mnemonic(ANVIL_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}").key).hex()
        for i in range(start, start + n)
    ]

_REPO = Path(__file__).resolve().parents[3]


def find_anvil(tools_dir: Path | None = None) -> Path | None:
    """The anvil binary: ``$OPENMBS_ANVIL``, the repo's ``.tools`` npm prefix, or PATH."""
    env = os.environ.get("OPENMBS_ANVIL")
    if env and Path(env).is_file():
        return Path(env)
    base = (tools_dir or _REPO / ".tools") / "node_modules" / "@foundry-rs"
    if base.is_dir():
        for sub in sorted(base.glob("anvil-*/bin/anvil")):
            if os.access(sub, os.X_OK):
                return sub
    found = shutil.which("anvil")
    return Path(found) if found else None


def install_anvil(tools_dir: Path | None = None) -> Path:
    """``npm install --prefix <repo>/.tools @foundry-rs/anvil@1.7.1``; returns the binary."""
    npm = shutil.which("npm")
    if npm is None:
        raise ChainError("npm is not installed: cannot install anvil")
    prefix = tools_dir or _REPO / ".tools"
    subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--prefix", str(prefix), ANVIL_NPM_PACKAGE],
        check=True,
        capture_output=True,
        timeout=600,
    )
    found = find_anvil(prefix)
    if found is None:
        raise ChainError(f"npm installed {ANVIL_NPM_PACKAGE} but no anvil binary was found under {prefix}")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class AnvilNode:
    """A running anvil process and its JSON-RPC URL."""

    process: subprocess.Popen[bytes]
    url: str

    def rpc(self, method: str, params: list[object]) -> object:
        req = urllib.request.Request(
            self.url,
            data=json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            out = json.loads(resp.read())
        if "error" in out:
            raise ChainError(f"anvil {method}: {out['error']}")
        return out["result"]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover
            self.process.kill()


def start_anvil(binary: Path, *, chain_id: int = 31337, extra_args: tuple[str, ...] = ()) -> AnvilNode:
    """Start anvil on 127.0.0.1 at a free port and wait until it answers
    (``extra_args``, e.g. ``("--steps-tracing",)``, are passed to anvil)."""
    port = _free_port()
    proc = subprocess.Popen(
        [str(binary), "--host", "127.0.0.1", "--port", str(port), "--chain-id", str(chain_id),
         "--gas-limit", "100000000", "--code-size-limit", "100000", *extra_args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    node = AnvilNode(proc, f"http://127.0.0.1:{port}")
    for _ in range(200):
        try:
            node.rpc("eth_chainId", [])
            return node
        except (OSError, ChainError):
            if proc.poll() is not None:
                raise ChainError(f"anvil exited with code {proc.returncode}") from None
            time.sleep(0.05)
    node.stop()
    raise ChainError("anvil did not start within 10 s")
