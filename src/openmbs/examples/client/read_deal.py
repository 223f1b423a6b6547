"""Read an openmbs deal with web3.py, from its exported files only.

Needs: a JSON-RPC node, the artifacts folder written by
``openmbs chain artifacts --out DIR`` and the deployment record written by
``openmbs chain deploy --rpc ... --state FILE``. No openmbs import: web3.py (with
eth-abi, eth-utils and eth-typing, which it installs) and the standard library only.

    python examples/client/read_deal.py --rpc http://127.0.0.1:8545 \\
        --artifacts out --record deployment.json --deal 0xDEAL --holder 0xHOLDER \\
        [--loan loan.json] [--json]

It prints, per tranche, the factor, the current face, the holder's tokens, their
current face (balance x factor) and what the holder may claim; every
``Distributed`` event with its packed ``state`` decoded; and, with ``--loan``, whether
a loan record belongs to its period's loan tape (Merkle proof checked here and by the
oracle). See docs/client.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from eth_abi.abi import encode
from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from web3 import Web3

WAD = 10**18

#: ABI types of the on-chain ``LoanRecord`` struct, in field order.
LOAN_RECORD_FIELDS = (
    ("loan_id", "bytes32"),
    ("period", "uint256"),
    ("beginning_balance", "uint256"),
    ("scheduled_principal", "uint256"),
    ("prepaid_principal", "uint256"),
    ("interest_paid", "uint256"),
    ("ending_balance", "uint256"),
    ("delinquency", "uint256"),
    ("defaulted", "bool"),
    ("liquidated", "bool"),
    ("loss", "uint256"),
    ("recovery", "uint256"),
)

#: Bits 8.. of ``Distributed.state[2]``: the effects of the latched triggers.
EFFECTS = {1: "SEQUENTIAL", 2: "TRAP", 4: "TURBO"}


def load_deployment(path: Path) -> dict[str, Any]:
    """The deployment record, reduced to what this client needs.

    The one function that knows the record's layout: adapt it if the format changes.
    Returns ``chain_id``, ``deal`` (address), ``tokens`` (addresses in tranche order),
    ``oracle``, ``waterfall``, ``from_block`` (where to start reading events: the
    deal's deployment block when the record keeps it, ``deployments.deal.block``,
    else 0) and ``class_bound`` (the build of the deal's contracts, 8 or 16 classes;
    8 when the record predates the field).
    """
    record = json.loads(path.read_text())
    contracts = record["contracts"]
    deal_deployment = (record.get("deployments") or {}).get("deal") or {}
    return {
        "chain_id": int(record["chain_id"]),
        "deal": to_checksum_address(contracts["deal"]),
        "tokens": [to_checksum_address(a) for a in contracts["tokens"]],
        "oracle": to_checksum_address(contracts["oracle"]),
        "waterfall": to_checksum_address(contracts["waterfall"]),
        "from_block": int(deal_deployment.get("block") or 0),
        "class_bound": int(record.get("class_bound", 8)),
    }


def load_artifact(folder: Path, name: str, class_bound: int = 16) -> dict[str, Any]:
    """``<folder>/<name>.json``, a Foundry-style artifact of the 16-class build, or
    ``<folder>/<name>.c8.json`` of the 8-class build (``class_bound`` 8)."""
    stem = name if class_bound == 16 else f"{name}.c{class_bound}"
    doc: dict[str, Any] = json.loads((folder / f"{stem}.json").read_text())
    return doc


def attach(w3: Web3, art: dict[str, Any], address: ChecksumAddress) -> Any:
    """The contract at ``address``, refused unless its code is the artifact's: vyper
    deploys the runtime followed by the immutables, so the code must start with
    ``deployedBytecode.object``."""
    runtime = bytes.fromhex(art["deployedBytecode"]["object"][2:])
    code = bytes(w3.eth.get_code(address))
    if not code.startswith(runtime):
        sys.exit(f"{address}: its code is not the compiled {art['contractName']}; refusing to read it")
    return w3.eth.contract(address=address, abi=art["abi"])


def open_deal(w3: Web3, artifacts: Path, deployment: dict[str, Any]) -> dict[str, Any]:
    """The deal and its contracts, read FROM THE DEAL (the record must agree)."""
    if w3.eth.chain_id != deployment["chain_id"]:
        sys.exit(f"the node is chain {w3.eth.chain_id}, the record says {deployment['chain_id']}")
    bound = deployment["class_bound"]
    deal = attach(w3, load_artifact(artifacts, "Deal", bound), deployment["deal"])
    oracle_addr = to_checksum_address(deal.functions.oracle().call())
    n = deal.functions.tranche_count().call()
    token_addrs = [to_checksum_address(deal.functions.tranche_token(i).call()) for i in range(n)]
    if oracle_addr != deployment["oracle"] or token_addrs != deployment["tokens"]:
        sys.exit("the deployment record's addresses differ from the deal's; refusing to read it")
    token_art = load_artifact(artifacts, "TrancheToken", bound)
    return {
        "deal": deal,
        "oracle": attach(w3, load_artifact(artifacts, "RemittanceOracle", bound), oracle_addr),
        "tokens": [attach(w3, token_art, a) for a in token_addrs],
    }


def tranche_figures(deal: Any, tokens: list[Any], holder: ChecksumAddress | None) -> list[dict[str, Any]]:
    """Per tranche: factor (wad), current face, and the holder's tokens, current face
    (tokens x factor) and claimable cash (settlement base units)."""
    out = []
    for i, token in enumerate(tokens):
        factor = deal.functions.tranche_factor(i).call()
        row = {
            "index": i,
            "symbol": token.functions.symbol().call(),
            "original_face": deal.functions.original_face(i).call(),
            "factor": factor,
            "current_face": deal.functions.tranche_balance(i).call(),
        }
        if holder is not None:
            tokens_held = token.functions.balanceOf(holder).call()
            row["holder_tokens"] = tokens_held
            row["holder_current_face"] = tokens_held * factor // WAD
            row["claimable"] = deal.functions.claimable(i, holder).call()
        out.append(row)
    return out


def decode_state(state: list[int]) -> dict[str, Any]:
    """``Distributed.state`` (docs/events.md): net cumulative loss, period,
    latched-trigger bits | effects << 8, dust."""
    word2 = state[2]
    return {
        "cumulative_loss": state[0],
        "state_period": state[1],
        "latched_triggers": [k for k in range(8) if (word2 >> k) & 1],
        "effects": [name for bit, name in EFFECTS.items() if (word2 >> 8) & bit],
        "dust": state[3],
    }


def distributions(deal: Any, from_block: int) -> list[dict[str, Any]]:
    """Every ``Distributed`` event of the deal, decoded."""
    out = []
    for log in deal.events.Distributed().get_logs(from_block=from_block):
        a = log["args"]
        out.append({
            "period": a["period"],
            "block": log["blockNumber"],
            "cash": a["cash"],
            "fee": a["fee"],
            "residual": a["residual"],
            "reserve_balance": a["reserve_balance"],
            "credited": a["credited"],
            **decode_state(list(a["state"])),
        })
    return out


def hash_pair(a: bytes, b: bytes) -> bytes:
    """A Merkle node: keccak256 of the two children, smaller first."""
    return bytes(keccak(a + b if a < b else b + a))


def check_loan(oracle: Any, loan: dict[str, Any]) -> dict[str, Any]:
    """Whether a loan record belongs to its period's tape: the record hash is
    keccak256(abi.encode(record)), the leaf is keccak256(record hash) (hashed twice,
    so a leaf is never an internal node), the proof climbs by sorted pairs to the root
    the oracle stored for the period. Checked here and by ``verify_loan``."""
    record = loan["record"]
    types = [t for _, t in LOAN_RECORD_FIELDS]
    values = [
        bytes.fromhex(record[k][2:]) if t == "bytes32" else record[k] for k, t in LOAN_RECORD_FIELDS
    ]
    record_hash = bytes(keccak(encode(types, values)))
    leaf = bytes(keccak(record_hash))
    proof = [bytes.fromhex(p[2:]) for p in loan["proof"]]
    node = leaf
    for sibling in proof:
        node = hash_pair(node, sibling)
    period = int(record["period"])
    root = bytes(oracle.functions.loan_tape_root(period).call())
    return {
        "period": period,
        "record_hash": "0x" + record_hash.hex(),
        "leaf": "0x" + leaf.hex(),
        "oracle_leaf": "0x" + bytes(oracle.functions.loan_leaf(tuple(values)).call()).hex(),
        "root": "0x" + root.hex(),
        "proof_ok": node == root,
        "verify_loan": bool(oracle.functions.verify_loan(period, record_hash, proof).call()),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rpc", required=True, help="JSON-RPC URL of the node")
    p.add_argument("--artifacts", required=True, type=Path, help="folder of <Contract>.json artifacts")
    p.add_argument("--record", required=True, type=Path, help="the deployment record (JSON)")
    p.add_argument("--deal", help="the deal's address, from a source you trust (the record must agree)")
    p.add_argument("--holder", help="a holder's address: its tokens, current face and claimable")
    p.add_argument("--loan", type=Path, help="a loan record and its Merkle proof (JSON) to check")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    args = p.parse_args(argv)

    w3 = Web3(Web3.HTTPProvider(args.rpc))
    deployment = load_deployment(args.record)
    if args.deal is not None and to_checksum_address(args.deal) != deployment["deal"]:
        sys.exit(f"the record names deal {deployment['deal']}, you pinned {args.deal}; refusing to read it")
    c = open_deal(w3, args.artifacts, deployment)
    holder = to_checksum_address(args.holder) if args.holder else None
    doc: dict[str, Any] = {
        "chain_id": w3.eth.chain_id,
        "deal": c["deal"].address,
        "last_period": c["deal"].functions.last_period().call(),
        "holder": holder,
        "tranches": tranche_figures(c["deal"], c["tokens"], holder),
        "distributions": distributions(c["deal"], deployment["from_block"]),
    }
    if args.loan is not None:
        doc["loan"] = check_loan(c["oracle"], json.loads(args.loan.read_text()))
    if args.json:
        print(json.dumps(doc, indent=1))
        return 0
    print(f"deal {doc['deal']} on chain {doc['chain_id']}, last period {doc['last_period']}")
    for t in doc["tranches"]:
        line = (f"  tranche {t['index']} {t['symbol']:<6} factor {t['factor'] / WAD:.9f}  "
                f"current face {t['current_face']:,} of {t['original_face']:,}")
        if holder is not None:
            line += (f"  | holder: {t['holder_tokens']:,} tokens = {t['holder_current_face']:,} "
                     f"current face, claimable {t['claimable']:,}")
        print(line)
    for d in doc["distributions"]:
        print(f"  period {d['period']}: cash {d['cash']:,}, credited {d['credited']:,}, fee {d['fee']:,}, "
              f"residual {d['residual']:,}, reserve {d['reserve_balance']:,}, cumulative loss "
              f"{d['cumulative_loss']:,}, triggers {d['latched_triggers']}, effects {d['effects']}, dust {d['dust']}")
    if "loan" in doc:
        loan = doc["loan"]
        print(f"  loan leaf {loan['leaf']} in period {loan['period']}'s tape: proof {loan['proof_ok']}, "
              f"verify_loan {loan['verify_loan']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
