"""Gas table of a four-tranche deal, from real transaction receipts on a local anvil node.

Run: ``.venv/bin/python benchmarks/bench_gas.py [--holders 10,10000] [--loans 10,1000,100000]``
(anvil from ``npm install --prefix .tools @foundry-rs/anvil@1.7.1``; see docs/chain.md).

Every figure is ``gasUsed`` of the transaction's receipt (intrinsic gas and refunds
included). The deal is the four_tranche example (``examples/deals/four_tranche.toml``)
deployed by ``deploy_deal(config_from_spec(...))`` with the REAL waterfall
(``ExactWaterfall``, the port of the exact Python engine); each remittance carries
3-of-5 attestor signatures and is distributed in the same transaction.

Flatness: the remittance rows for every (holders, loans) pair send the SAME period
from the SAME deal state (``evm_snapshot`` / ``evm_revert``); only the loan tape's
Merkle root (built here over 10 / 1,000 / 100,000 loan records) and the number of
holders differ. Holders of the senior tranche are created by real token transfers,
sent in JSON-RPC batches with automine off and mined a few hundred per block.
Baseline in the same run: a plain ERC-20 transfer of the mock settlement token.

Sales and fraud proofs: for each ``--loans`` size, from the same node state, REAL tapes
of that many loan records (columns hashed and treed with the servicer bridge's
compiled keccak, ``leaf_array`` / ``LoanTree``, and aggregated by
``report_from_records``) are reported period by period; the rows prove records of
them (proofs of ceil(log2 loans) siblings), and the table ends with each proof's gas
per Merkle level (largest tape against smallest).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import boa
import numpy as np
import pyarrow as pa
from eth_account import Account

from openmbs.agents import RECORD_FIELDS, LoanTree, leaf_array, report_from_records
from openmbs.agents._keccak import leaf_rows
from openmbs.chain import config_from_spec, deploy_deal, deployer
from openmbs.chain._anvil import ANVIL_KEYS, AnvilNode, find_anvil, start_anvil
from openmbs.chain._env import network_env
from openmbs.chain._exact_waterfall import ZERO_ADDRESS, exact_params
from openmbs.oracle import LoanRecord, RemittanceReport, attest, verify_record
from openmbs.structuring import example_deal

#: The issue's targets (gas per transaction).
TARGETS = {"remittance": 250_000, "remittance with servicing cash": 260_000, "claim": 60_000,
           "transfer": 75_000, "sale bid": 120_000, "fraud proof": 150_000}

NODE: AnvilNode | None = None


# ---------------------------------------------------------------- loan tapes


def tape_root(n_loans: int) -> bytes:
    """Merkle root of a tape of ``n_loans`` loan records (only the root goes on chain).

    Leaves are ``keccak256(keccak256(abi.encode(LoanRecord)))``; every field is a
    static 32-byte word, so the encoding is the fields' big-endian words concatenated
    (checked against ``LoanRecord.leaf`` on the first record), hashed with the servicer
    bridge's compiled keccak (``leaf_rows``, ``LoanTree``).
    """
    fields = (1, 1_000, 10, 0, 5, 990, 0, 0, 0, 0, 0)  # period .. recovery
    rows = np.zeros((n_loans, 12, 32), np.uint8)
    rows[:, 0, 24:] = np.arange(1, n_loans + 1, dtype=">u8").view(np.uint8).reshape(n_loans, 8)
    rows[:, 1:, :] = np.frombuffer(b"".join(x.to_bytes(32, "big") for x in fields), np.uint8).reshape(11, 32)
    leaves = leaf_rows(rows.reshape(n_loans, 384))
    ref = LoanRecord(loan_id=1, period=1, beginning_balance=1_000, scheduled_principal=10,
                     prepaid_principal=0, interest_paid=5, ending_balance=990)
    assert leaves[0].tobytes() == ref.leaf(), "fast leaf encoding differs from LoanRecord.leaf"
    return LoanTree(leaves).root


# ---------------------------------------------------------------- raw JSON-RPC


def rpc(method: str, params: list[Any]) -> Any:
    assert NODE is not None
    return NODE.rpc(method, params)


def rpc_batch(calls: list[tuple[str, list[Any]]]) -> list[Any]:
    """Several JSON-RPC calls in one HTTP request; results in call order."""
    assert NODE is not None
    body = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
    req = urllib.request.Request(NODE.url, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=300) as resp:
        out = {r["id"]: r for r in json.loads(resp.read())}
    res = []
    for i in range(len(calls)):
        if "error" in out[i]:
            raise RuntimeError(f"{calls[i][0]}: {out[i]['error']}")
        res.append(out[i]["result"])
    return res


def receipt(tx: str) -> dict[str, Any]:
    for _ in range(6000):
        rc = rpc("eth_getTransactionReceipt", [tx])
        if rc:
            return dict(rc)
        time.sleep(0.05)
    raise RuntimeError(f"no receipt for {tx} after 300 s")


def tx_gas(contract: Any, fn: str, *args: Any, sender: str) -> int:
    """Send ``contract.fn(*args)`` from ``sender`` straight to the node (impersonated
    account, automine on) and return its receipt's gasUsed; fail if it reverted."""
    rpc("anvil_impersonateAccount", [str(sender)])
    data = getattr(contract, fn).prepare_calldata(*args)
    tx = rpc("eth_sendTransaction", [{"from": str(sender), "to": str(contract.address),
                                      "data": "0x" + data.hex(), "gas": hex(3_000_000)}])
    rc = receipt(tx)
    if int(rc["status"], 16) != 1:
        raise RuntimeError(f"{fn} reverted on the node")
    return int(rc["gasUsed"], 16)


def last_gas() -> int:
    """gasUsed of the last transaction mined (automine: one transaction per block)."""
    blk = rpc("eth_getBlockByNumber", ["latest", False])
    return int(receipt(blk["transactions"][-1])["gasUsed"], 16)


def deploy_gas(bound: int, name: str, *args: Any, sender: str) -> int:
    """Gas of deploying contract ``name`` of the ``bound``-class build (the deal's)."""
    deployer(name, bound).deploy(*args, sender=sender)
    return last_gas()


def send_mined(txs: list[dict[str, Any]], *, per_block: int = 400, per_request: int = 200) -> None:
    """Send many transactions with automine off, mine ``per_block`` per block, then
    check every receipt (in batches). Nonces are given explicitly per sender."""
    nonces: dict[str, int] = {}
    for t in txs:
        s = t["from"]
        if s not in nonces:
            nonces[s] = int(rpc("eth_getTransactionCount", [s, "pending"]), 16)
        t["nonce"] = hex(nonces[s])
        nonces[s] += 1
    rpc("evm_setAutomine", [False])
    hashes: list[str] = []
    try:
        for b in range(0, len(txs), per_block):
            block = txs[b : b + per_block]
            for r in range(0, len(block), per_request):
                hashes += rpc_batch([("eth_sendTransaction", [t]) for t in block[r : r + per_request]])
            rpc("evm_mine", [])
        while int(rpc("txpool_status", [])["pending"], 16):
            rpc("evm_mine", [])
    finally:
        rpc("evm_setAutomine", [True])
    for r in range(0, len(hashes), per_request):
        for h, rc in zip(hashes[r : r + per_request], rpc_batch(
                [("eth_getTransactionReceipt", [h]) for h in hashes[r : r + per_request]]), strict=True):
            if not rc or int(rc["status"], 16) != 1:
                raise RuntimeError(f"holder set-up transaction {h} failed or was not mined")


# ---------------------------------------------------------------- the run


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--holders", default="10,10000")
    ap.add_argument("--loans", default="10,1000,100000")
    ap.add_argument("--bound", type=int, default=None,
                    help="class bound of the build (8 or 16; default the smallest holding the deal: 8)")
    args = ap.parse_args()
    holder_counts = sorted(int(x) for x in args.holders.split(","))
    loan_counts = [int(x) for x in args.loans.split(",")]

    global NODE
    t0 = time.process_time()
    roots = {n: tape_root(n) for n in loan_counts}  # only the roots go on chain
    tree_s = time.process_time() - t0
    binary = find_anvil()
    if binary is None:
        sys.exit("anvil not found: npm install --prefix .tools @foundry-rs/anvil@1.7.1")
    NODE = start_anvil(binary)
    try:
        run(holder_counts, loan_counts, roots, tree_s, str(binary), args.bound)
    finally:
        NODE.stop()


def run(holder_counts: list[int], loan_counts: list[int], roots: dict[int, bytes], tree_s: float,
        binary: str, bound: int | None = None) -> None:
    t0 = time.time()
    network_env(NODE.url if NODE else "")
    admin_acct = Account.from_key(ANVIL_KEYS[0])
    boa.env.add_account(admin_acct, force_eoa=True)
    keys = [Account.from_key(bytes([i + 1]) * 32) for i in range(5)]
    admin = admin_acct.address
    # the pool's highest net loan rate 6% (the interest below is 6% a year); the index
    # reported each period (5%) is the index at cut-off
    cfg = replace(
        config_from_spec(example_deal("four_tranche"), loan_count=max(loan_counts), max_net_rate=0.06),
        initial_index_rate=0.05,
    )
    ex = cfg.exact
    faces = list(ex.face)
    rows: list[tuple[str, int, str, str]] = []  # name, gas, target kind, note

    d = deploy_deal(cfg, attestors=[k.address for k in keys], admin=admin, bound=bound)
    rows.append(("deploy Deal", deploy_gas(d.bound, "Deal", d.settlement.address, faces, ex.pool_original,
                                           ex.reserve_initial, d.timelock.address, admin, admin, admin,
                                           admin, sender=admin), "", ""))
    rows.append(("deploy TrancheToken (each)", deploy_gas(d.bound, "TrancheToken", "Senior A", "A", d.deal.address,
                                                          d.issuance.address, 0, faces[0], sender=admin), "", ""))
    rows.append(("deploy RemittanceOracle", deploy_gas(d.bound, "RemittanceOracle", d.deal.address, admin,
                                                       [k.address for k in keys], 3, max(loan_counts),
                                                       625 * 10**14, 5 * 10**16, 10**16, [0, 0, 0],
                                                       sender=admin), "", ""))
    rows.append(("deploy Issuance", deploy_gas(d.bound, "Issuance", d.deal.address, admin, 0, 2**40, 2**41, 0,
                                              [10**18] * len(faces), sender=admin), "", ""))
    rows.append(("deploy ExactWaterfall (four_tranche parameters)",
                 deploy_gas(d.bound, "ExactWaterfall", exact_params(ex, d.bound), d.deal.address, ZERO_ADDRESS, sender=admin), "", ""))

    inv_accts = [Account.from_key(ANVIL_KEYS[1])] + [Account.from_key(bytes([0x70 + i]) * 32) for i in range(3)]
    for acct in inv_accts:
        boa.env.add_account(acct)
        rpc("anvil_setBalance", [acct.address, hex(10**21)])
    investors = [a.address for a in inv_accts]
    d.allow([*investors, admin], 2**40)
    for i, face in enumerate(faces):
        d.settlement.mint(investors[i], face, sender=admin)
        d.settlement.approve(d.issuance.address, face, sender=investors[i])
        g = tx_gas(d.issuance, "subscribe", i, face, sender=investors[i])
        if i == 0:
            rows.append(("subscribe (first investor)", g, "", ""))
    rows.append(("close (mint 4 tranches, fund reserve, credit seller)", tx_gas(d.issuance, "close", sender=admin),
                 "", ""))
    rows.append(("withdraw_proceeds (the seller pulls)", tx_gas(d.issuance, "withdraw_proceeds", admin, sender=admin),
                 "", ""))
    rows.append(("settle (deliver tokens)", tx_gas(d.issuance, "settle", sender=investors[0]), "", ""))
    for inv in investors[1:]:
        d.settle(inv)
    d.settlement.mint(admin, 10**16, sender=admin)
    d.settlement.transfer(investors[1], 1, sender=admin)
    rows.append(("baseline: mock ERC-20 transfer", tx_gas(d.settlement, "transfer", investors[1], 5, sender=admin), "", ""))
    rows.append(("baseline: mock ERC-20 transfer to an empty wallet",
                 tx_gas(d.settlement, "transfer", Account.create().address, 5, sender=admin), "",
                 "the floor of any payout to a wallet holding no stablecoin"))

    state = {"period": 0, "ending": ex.pool_original, "outstanding": 0}

    def remit_gas(root: bytes, *, servicing: str = "", advances: int = 0, d30: int = 0, d60: int = 0) -> int:
        period, ending = state["period"] + 1, state["ending"]
        # a performing month: 1/360 scheduled, 1% prepaid, 6% a year of interest
        sched, unsched, interest = ending // 360, ending // 100, ending * 6 // 1200
        recov = losses = 0
        kw: dict[str, int] = {"advances": advances}
        if servicing:
            # docs/chain.md's "Advances and penalties": advances, reimbursements out of
            # reinstated loans' catch-up payments, prepayment penalties, late fees;
            # with "liquidation" also a liquidation whose proceeds repay advances (the
            # deal's first loss: its storage is set from zero)
            adv = (interest + sched) // 50
            kw = {"advances": adv, "advance_reimbursements": state["outstanding"] + adv // 2,
                  "prepayment_penalties": unsched // 100, "late_fees": 12_345}
            if servicing == "liquidation":
                recov, losses = ending // 1000, ending // 2000
                kw["liquidation_reimbursements"] = recov // 10
        new_end = ending - sched - unsched - recov - losses
        rep = RemittanceReport(period, sched, unsched, interest, recov, losses, ending, new_end, max(loan_counts),
                               d30, d60, 0, 5 * 10**16, 0, root, **kw)
        rep = replace(rep, cash=rep.collections())
        sigs = attest(rep, [k.key for k in keys[:3]], chain_id=d.chain_id(), verifying_contract=d.oracle.address)
        d.settlement.approve(d.oracle.address, rep.cash, sender=admin)
        return tx_gas(d.oracle, "submit", rep.as_tuple(), sigs[0].deadline, [s.as_tuple() for s in sigs],
                      sender=admin)

    def advance(root: bytes, **kw: int) -> int:
        g = remit_gas(root, **kw)
        state["outstanding"] += kw.get("advances", 0)
        e = state["ending"]
        state["period"] += 1
        state["ending"] = e - e // 360 - e // 100
        return g

    # (5% of the pool 30-59 days late, then 2.5% 60-89 days: the servicing rows below
    # liquidate out of it; the servicer advances in the second period)
    e0 = ex.pool_original
    rows.append(("remittance, first period (storage set from zero)", advance(roots[loan_counts[0]], d30=e0 // 20),
                 "", ""))
    advance(roots[loan_counts[0]], d60=e0 // 40, advances=e0 // 5000)  # the steady state that follows

    # holders of tranche A: created by real transfers from investor 0
    tok = d.tokens[0]
    made = 0
    setup_s = 0.0
    remit_rows: list[int] = []
    for n_holders in holder_counts:
        t1 = time.time()
        new = [Account.create().address for _ in range(n_holders - made)]
        send_mined([{"from": admin, "to": str(d.deal.address), "gas": hex(3_000_000),
                     "data": "0x" + d.deal.set_allowed.prepare_calldata(new[i : i + 64], 2**40).hex()}
                    for i in range(0, len(new), 64)], per_block=30)
        send_mined([{"from": investors[0], "to": str(tok.address), "gas": hex(200_000),
                     "data": "0x" + tok.transfer.prepare_calldata(h, 1_000).hex()} for h in new])
        made = n_holders
        setup_s += time.time() - t1
        for n_loans in loan_counts:  # the same next period from the same state each time
            snap = rpc("evm_snapshot", [])
            g = remit_gas(roots[n_loans])
            rpc("evm_revert", [snap])
            remit_rows.append(g)
            rows.append((f"remittance 3-of-5, {n_loans:,} loans, {n_holders:,} holders", g, "remittance", ""))
            for kind, label, target, note in (
                ("advances", "with advances and penalties", "remittance with servicing cash",
                 "reimbursements and late fees too"),
                ("liquidation", "... and a liquidation repaying advances", "",
                 "the deal's first loss: loss storage set from zero"),
            ):
                snap = rpc("evm_snapshot", [])
                g = remit_gas(roots[n_loans], servicing=kind)
                rpc("evm_revert", [snap])
                rows.append((f"remittance {label}, {n_loans:,} loans, {n_holders:,} holders", g, target, note))
    advance(roots[loan_counts[0]])

    a, b = investors[0], investors[1]
    fresh, fresh2, empty_wallet = (Account.create().address for _ in range(3))
    d.allow([fresh, fresh2, empty_wallet], 2**40)
    rpc("anvil_setBalance", [empty_wallet, hex(10**21)])  # ether for gas; no stablecoin
    d.settlement.transfer(a, 1, sender=admin)  # a spent its stablecoin subscribing: one unit back
    tok.transfer(empty_wallet, 1_000_000, sender=a)
    advance(roots[loan_counts[0]])
    rows.append(("claim, a holder's first (stablecoin wallet not empty)", tx_gas(d.deal, "claim", 0, sender=a),
                 "claim", ""))
    rows.append(("claim, a holder's first, EMPTY stablecoin wallet", tx_gas(d.deal, "claim", 0, sender=empty_wallet),
                 "claim", "the stablecoin's own new-balance slot: +20,000"))
    rows.append(("claim_all, first (holder of one tranche)", tx_gas(d.deal, "claim_all", sender=b), "", ""))
    advance(roots[loan_counts[0]])
    rows.append(("claim (one tranche, repeat claimant)", tx_gas(d.deal, "claim", 0, sender=a), "claim", ""))
    rows.append(("claim_all (4 tranches scanned, repeat claimant)", tx_gas(d.deal, "claim_all", sender=b), "", ""))
    rows.append(("transfer to a new holder", tx_gas(tok, "transfer", fresh, 10, sender=a), "transfer", ""))
    advance(roots[loan_counts[0]])
    rows.append(("transfer between holders, both accrued unclaimed cash", tx_gas(tok, "transfer", fresh, 10, sender=a),
                 "transfer", ""))
    tok.approve(admin, 10**12, sender=a)
    rows.append(("transferFrom to a new holder", tx_gas(tok, "transferFrom", a, fresh2, 10, sender=admin),
                 "transfer", ""))
    advance(roots[loan_counts[0]])
    rows.append(("transferFrom between holders, both accrued", tx_gas(tok, "transferFrom", a, fresh2, 10,
                                                                      sender=admin), "transfer", ""))
    key = b"\x55" * 32
    owner = Account.from_key(key).address
    d.allow([owner], 2**40)
    tok.transfer(owner, 100, sender=a)
    deadline = 2**40
    data = {
        "types": {"EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                                   {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"}],
                  "Permit": [{"name": "owner", "type": "address"}, {"name": "spender", "type": "address"},
                             {"name": "value", "type": "uint256"}, {"name": "nonce", "type": "uint256"},
                             {"name": "deadline", "type": "uint256"}]},
        "primaryType": "Permit",
        "domain": {"name": tok.name(), "version": "1", "chainId": d.chain_id(), "verifyingContract": str(tok.address)},
        "message": {"owner": owner, "spender": admin, "value": 100, "nonce": 0, "deadline": deadline},
    }
    s = Account.sign_typed_data(key, full_message=data)
    rows.append(("permit", tx_gas(tok, "permit", owner, admin, 100, deadline, s.v, s.r.to_bytes(32, "big"),
                                  s.s.to_bytes(32, "big"), sender=admin), "", ""))

    for n_loans in loan_counts:  # every tape size from the same state
        snap = rpc("evm_snapshot", [])
        rows.extend(sale_and_bond_rows(d, admin, keys, state, n_loans, max(loan_counts)))
        rpc("evm_revert", [snap])

    version = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    print(f"machine check: load {os.getloadavg()[0]:.2f} (gas does not depend on load); node: {version}")
    print(f"build: the {d.bound}-class contracts (deal_types.MAX_TRANCHES = {d.bound}) for the deal's "
          f"{len(faces)} classes{'' if bound is None else ' (--bound)'}")
    print(f"loan tapes: {', '.join(f'{n:,}' for n in loan_counts)} leaves built in {tree_s:.1f} s CPU; "
          f"{made:,} holders created by transfers in {setup_s:.0f} s")
    print(f"{'operation':<56} {'gas':>10}  {'target':>8}  result")
    print("-" * 90)
    failed = 0
    for name, gas, kind, note in rows:
        if gas < 0:  # a note line
            print(name)
            continue
        tgt = TARGETS.get(kind)
        if tgt is None:
            print(f"{name:<56} {gas:>10,}")
            continue
        ok = gas <= tgt
        failed += not ok
        print(f"{name:<56} {gas:>10,}  {tgt:>8,}  {'pass' if ok else 'FAIL'}{'  (' + note + ')' if note else ''}")
    spread = max(remit_rows) - min(remit_rows)
    print(f"\nremittance, same period and state for {len(remit_rows)} (holders, loans) pairs: "
          f"{min(remit_rows):,} .. {max(remit_rows):,} gas (spread {spread:,}: the root's calldata bytes); "
          f"{'does not grow' if spread <= 600 else 'GROWS'} with holders or loans")
    for line in per_level_rows(rows, loan_counts):
        print(line)
    print(f"{failed} row(s) over target; baseline ERC-20 transfer in the same run as above "
          f"({time.time() - t0:.0f} s on the node)")


class LoanTape:
    """One period's loan-level tape as columns (``RECORD_FIELDS``), hashed and treed with
    the servicer bridge's compiled keccak (``leaf_array``, ``LoanTree``) and aggregated by
    ``report_from_records``: the production path, fast enough for 100,000 loans."""

    def __init__(self, period: int, ids: np.ndarray, cols: dict[str, np.ndarray]) -> None:
        n = len(ids)
        table = {"loan_id": pa.array(ids, pa.int64()), "period": pa.array(np.full(n, period, np.int64))}
        for name in RECORD_FIELDS[2:]:
            table[name] = pa.array(cols.get(name, np.zeros(n, np.int64)))
        self.period, self.ids, self.table = period, ids, pa.table(table)
        words = np.zeros((n, 32), np.uint8)
        words[:, 24:] = ids.astype(">u8").view(np.uint8).reshape(n, 8)
        self.tree = LoanTree(leaf_array(self.table, words))
        self.row = {int(i): k for k, i in enumerate(ids)}

    def report(self, loan_count: int) -> RemittanceReport:
        rep = report_from_records(self.period, self.table, self.tree.root, index_rate=5 * 10**16)
        return replace(rep, loan_count=loan_count)

    def record(self, loan: int) -> LoanRecord:
        k = self.row[loan]
        vals = {name: self.table.column(name)[k].as_py() for name in RECORD_FIELDS[1:]}
        return LoanRecord(loan_id=loan, **vals)

    def proof(self, loan: int) -> tuple[Any, list[bytes]]:
        """The loan's record (ABI tuple) and its proof, checked off chain first."""
        rec = self.record(loan)
        proof = self.tree.proof(self.row[loan])
        assert verify_record(proof, self.tree.root, rec.record_hash()), f"proof of loan {loan} does not verify"
        return rec.as_tuple(), proof


def sale_and_bond_rows(d: Any, admin: str, keys: list[Any], state: dict[str, int], n: int, max_loans: int) -> list[
        tuple[str, int, str, str]]:
    """Rows for the deal's LoanSale and ServicerBond (deployed and wired by
    ``deploy_deal``) on the same node, on REAL tapes of ``n`` loan records (proofs of
    ceil(log2 n) siblings): loan 1 rolls 30 -> 60 -> 90+ days, its sale, the report
    that confirms it (``submit_with_sales``: loan 1 liquidated at the net proceeds,
    proven against the report's root), then a tape that moves balance from loan 3 to
    loan 2 and shows the sold loan 1 performing again (loan 4's balance moved onto it):
    fraud proofs on loans 2 and 3 (the first one opens the dispute and pauses
    distributions), on the sold loan 1, and the slash of the attestors who signed
    that tape. Returns the rows and leaves ``state`` as it found it (the caller
    reverts the node)."""
    sale, bond, tok = d.loan_sale, d.bond, d.settlement
    saved = dict(state)
    tok.approve(bond.address, 5 * 10**10, sender=admin)
    rows: list[tuple[str, int, str, str]] = [
        ("post servicer bond (first)", tx_gas(bond, "post", 5 * 10**10, sender=admin), "", "")]
    for k in keys[:3]:  # the signing attestors post bonds (slash_attestors takes from them)
        rpc("anvil_setBalance", [k.address, hex(10**21)])
        tok.mint(k.address, 10**10, sender=admin)
        tx_gas(tok, "approve", bond.address, 10**10, sender=k.address)
        tx_gas(bond, "post_attestor", 10**10, sender=k.address)
    ids = np.arange(1, n + 1, dtype=np.int64)
    per = state["ending"] // n
    balances = np.full(n, per, dtype=np.int64)
    balances[-1] = state["ending"] - (n - 1) * per
    tapes: dict[int, LoanTape] = {}
    signed: dict[int, tuple[RemittanceReport, Any]] = {}
    build_s = [0.0]

    clock = {"deadline": None}  # after the late penalty: a deadline on the node's clock

    def remit(delinquency: int, shift: int = 0, sold_net: int | None = None, revive: bool = False) -> int:
        t0 = time.process_time()
        period = state["period"] + 1
        bal = balances.copy()
        bal[1] += shift
        bal[2] -= shift
        if revive:  # the sold loan 1 "performing" again with loan 4's whole balance
            bal[0], bal[3] = bal[3], 0
        keep = (bal > 0) | (np.arange(n) == 0) if sold_net is not None else bal > 0
        b = bal[keep]
        m = len(b)
        late = (ids[keep] == 1) & (delinquency > 0)
        sched = np.where(late, 0, b // 360)
        cols = {"beginning_balance": b, "scheduled_principal": sched,
                "interest_paid": np.where(late, 0, b * 6 // 1200), "ending_balance": b - sched,
                "delinquency": np.where(ids[keep] == 1, delinquency, 0).astype(np.int64),
                "defaulted": np.zeros(m, bool), "liquidated": np.zeros(m, bool)}
        if sold_net is not None:  # the sold loan, liquidated at its net proceeds
            j = 0
            assert ids[keep][j] == 1
            for name, v in (("scheduled_principal", 0), ("interest_paid", 0), ("ending_balance", 0),
                            ("delinquency", 3)):
                cols[name][j] = v
            cols["liquidated"][j] = True
            cols["recovery"] = np.zeros(m, np.int64)
            cols["loss"] = np.zeros(m, np.int64)
            cols["recovery"][j], cols["loss"][j] = sold_net, b[j] - sold_net
        tape = LoanTape(period, ids[keep], cols)
        rep = tape.report(max_loans)
        build_s[0] += time.process_time() - t0
        sigs = attest(rep, [k.key for k in keys[:3]], chain_id=d.chain_id(), verifying_contract=d.oracle.address,
                      deadline=clock["deadline"])
        if sold_net is None:
            tok.approve(d.oracle.address, rep.cash, sender=admin)
            g = tx_gas(d.oracle, "submit", rep.as_tuple(), sigs[0].deadline, [s.as_tuple() for s in sigs],
                       sender=admin)
        else:
            tok.approve(d.oracle.address, rep.cash - sold_net, sender=admin)
            g = tx_gas(d.oracle, "submit_with_sales", rep.as_tuple(), sigs[0].deadline, [s.as_tuple() for s in sigs],
                       [tape.record(1).as_tuple()], [tape.proof(1)[1]], sender=admin)
        tapes[period], signed[period] = tape, (rep, sigs)
        balances[:] = 0
        balances[tape.ids - 1] = cols["ending_balance"]
        state["period"], state["ending"] = period, rep.ending_balance
        return g

    for dq in (1, 2, 3):
        remit(dq)
    p90 = state["period"]
    rows.append((f"LoanSale.start_sale ({n:,}-loan tape)", tx_gas(sale, "start_sale", *tapes[p90].proof(1),
                                                                  sender=admin), "", ""))
    bidder = Account.create().address
    d.allow([bidder], 2**40)
    # the bidder keeps a balance and an allowance after paying (no storage refunds)
    price = int(balances[0])
    tok.transfer(bidder, 2 * price, sender=admin)
    rpc("anvil_setBalance", [bidder, hex(10**21)])
    tx_gas(tok, "approve", sale.address, 2 * price, sender=bidder)  # impersonated
    rows.append((f"LoanSale.bid (first sale: the sale contract's new balance; {n:,} loans)",
                 tx_gas(sale, "bid", (1).to_bytes(32, "big"), price, sender=bidder), "sale bid",
                 "notes the sale on the oracle"))
    net = int(sale.net_proceeds((1).to_bytes(32, "big")))
    # no target: the 260k is for a remittance; this one also proves the sold
    # loan's record and is the first with a loss (unrecovered_losses set from zero)
    rows.append((f"remittance confirming 1 sale ({n:,}-loan tape)", remit(0, sold_net=net), "", ""))
    rows.append((f"remittance after it ({n:,} loans; other state than the rows above)", remit(0), "", ""))
    # the next report is late: anyone takes the penalty, paid from the bond to the deal,
    # and the (late) remittance distributes it with the period's interest; then back to
    # the state before (the fraud-proof rows below stay the bond's first strike)
    snap = rpc("evm_snapshot", [])
    before_penalty = (dict(state), balances.copy(), dict(tapes), dict(signed))
    due = int(bond.due(state["period"] + 1))
    rpc("evm_setNextBlockTimestamp", [hex(due)])
    rpc("evm_mine", [])
    clock["deadline"] = due + 86_400
    rows.append(("ServicerBond.penalize_late (paid to the deal)",
                 tx_gas(bond, "penalize_late", state["period"] + 1, sender=admin), "", "strike + Deal.add_other_income"))
    rows.append((f"remittance carrying a late penalty (other income; {n:,} loans)", remit(0), "",
                 "the income's cold slot"))
    rpc("evm_revert", [snap])
    state.update(before_penalty[0])
    balances[:] = before_penalty[1]
    tapes.clear()
    tapes.update(before_penalty[2])
    signed.clear()
    signed.update(before_penalty[3])
    clock["deadline"] = None
    remit(0, shift=1_000, revive=True)
    p = state["period"]
    t_prev, t_last = tapes[p - 1], tapes[p]
    rows.append((f"ServicerBond.prove_discontinuity (first, {n:,} loans)",
                 tx_gas(bond, "prove_discontinuity", *t_prev.proof(2), *t_last.proof(2), sender=admin),
                 "fraud proof", "opens the dispute: pauses distributions"))
    rows.append((f"ServicerBond.prove_discontinuity (second, {n:,} loans)",
                 tx_gas(bond, "prove_discontinuity", *t_prev.proof(3), *t_last.proof(3), sender=admin),
                 "fraud proof", ""))
    rows.append((f"ServicerBond.prove_sold_performing (third, {n:,} loans)",
                 tx_gas(bond, "prove_sold_performing", *t_last.proof(1), sender=admin), "fraud proof", ""))
    rep, sigs = signed[p]
    rows.append((f"ServicerBond.slash_attestors (3 signers, {n:,}-loan tape)",
                 tx_gas(bond, "slash_attestors", (2).to_bytes(32, "big"), rep.as_tuple(), sigs[0].deadline,
                        [s.as_tuple() for s in sigs], sender=admin), "", "after the fraud proof on loan 2"))
    rows.append((f"  (tapes of {n:,} loans built and hashed in {build_s[0]:.1f} s CPU)", -1, "", ""))
    state.clear()
    state.update(saved)
    return rows


def depth(n: int) -> int:
    """Siblings in a proof of a tape of ``n`` loans (the tree's height)."""
    return max(n - 1, 0).bit_length()


def per_level_rows(rows: list[tuple[str, int, str, str]], loan_counts: list[int]) -> list[str]:
    """Each proof-carrying row's gas per Merkle level: the difference between the
    largest and the smallest tape over the difference in proof length (two proofs for
    a discontinuity)."""
    lo, hi = min(loan_counts), max(loan_counts)
    if depth(hi) == depth(lo):
        return []
    out = []
    for label, name, proofs in (("LoanSale.start_sale", "LoanSale.start_sale", 1),
                                ("ServicerBond.prove_discontinuity (first", "prove_discontinuity, first", 2),
                                ("ServicerBond.prove_discontinuity (second", "prove_discontinuity, second", 2),
                                ("ServicerBond.prove_sold_performing", "prove_sold_performing", 1),
                                ("remittance confirming 1 sale", "remittance confirming 1 sale", 1)):
        g = {n: next(r[1] for r in rows if r[0].startswith(label) and (f"{n:,} loan" in r[0] or f"{n:,}-loan" in r[0]))
             for n in (lo, hi)}
        levels = proofs * (depth(hi) - depth(lo))
        out.append(f"{name}: {g[lo]:,} gas at depth {depth(lo)}, {g[hi]:,} at depth {depth(hi)}: "
                   f"{(g[hi] - g[lo]) / levels:,.0f} gas per proof level ({proofs} proof{'s' if proofs > 1 else ''})")
    return out


if __name__ == "__main__":
    main()
