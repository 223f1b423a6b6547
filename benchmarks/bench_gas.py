"""Gas table of a four-tranche deal, from real transaction receipts on a local anvil node.

Run: ``.venv/bin/python benchmarks/bench_gas.py [--holders 10,10000] [--loans 10,1000,100000]``
(anvil from ``npm install --prefix .tools @foundry-rs/anvil@1.7.1``; see docs/chain.md).

Every figure is ``gasUsed`` of the transaction's receipt (intrinsic gas included). The
deal is the four_tranche example (``examples/deals/four_tranche.toml``) deployed by
``deploy_deal(config_from_spec(...))`` with the REAL waterfall (``ExactWaterfall``,
the port of the exact Python engine); each remittance carries 3-of-5 attestor
signatures and is distributed in the same transaction. Holders of the senior tranche
are added with raw ``eth_sendTransaction`` transfers (impersonated sender, no local
simulation), so 10,000 holders take a few minutes. Baseline in the same run: a plain
ERC-20 transfer of the mock settlement token between two existing holders.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import boa
from eth_account import Account

from openmbs.chain import config_from_spec, deploy_deal, deployer
from openmbs.chain._anvil import ANVIL_KEYS, find_anvil, start_anvil
from openmbs.chain._env import network_env
from openmbs.chain._exact_waterfall import exact_params
from openmbs.oracle import LoanRecord, MerkleTree, RemittanceReport, attest
from openmbs.structuring import example_deal

TARGETS = {"remittance": 250_000, "claim": 60_000, "transfer": 75_000}


NODE = None
ROOTS: dict[int, bytes] = {}


def tape_root(n_loans: int) -> bytes:
    """Merkle root of a tape of ``n_loans`` loan records (only the root goes on chain)."""
    recs = [LoanRecord(loan_id=i + 1, period=1, beginning_balance=1_000, scheduled_principal=10,
                       prepaid_principal=0, interest_paid=5, ending_balance=990) for i in range(n_loans)]
    return MerkleTree([r.leaf() for r in recs]).root


def last_gas() -> int:
    """gasUsed of the last transaction mined (anvil mines one transaction per block)."""
    blk = NODE.rpc("eth_getBlockByNumber", ["latest", False])
    rc = NODE.rpc("eth_getTransactionReceipt", [blk["transactions"][-1]])
    return int(rc["gasUsed"], 16)


def tx_gas(contract, fn: str, *args, sender) -> int:
    """Send ``contract.fn(*args)`` from ``sender`` straight to the node (impersonated
    account, no local simulation) and return its receipt's gasUsed; fail if it reverted."""
    NODE.rpc("anvil_impersonateAccount", [str(sender)])
    data = getattr(contract, fn).prepare_calldata(*args)
    tx = NODE.rpc("eth_sendTransaction", [{"from": str(sender), "to": str(contract.address),
                                           "data": "0x" + data.hex(), "gas": hex(3_000_000)}])
    rc = None
    for _ in range(600):
        rc = NODE.rpc("eth_getTransactionReceipt", [tx])
        if rc:
            break
        time.sleep(0.05)
    if not rc or int(rc["status"], 16) != 1:
        raise RuntimeError(f"{fn} reverted on the node")
    return int(rc["gasUsed"], 16)


def deploy_gas(name: str, *args, sender) -> tuple[int, object]:
    c = deployer(name).deploy(*args, sender=sender)
    return last_gas(), c


def raw_send(sender: str, to: str, data: bytes) -> None:
    NODE.rpc("eth_sendTransaction", [{"from": sender, "to": to, "data": "0x" + data.hex(), "gas": hex(3_000_000)}])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--holders", default="10,10000")
    ap.add_argument("--loans", default="10,1000,100000")
    args = ap.parse_args()
    holder_counts = [int(x) for x in args.holders.split(",")]
    loan_counts = [int(x) for x in args.loans.split(",")]

    global NODE
    for n in loan_counts:  # build the tapes first: only their roots go on chain
        ROOTS[n] = tape_root(n)
    binary = find_anvil()
    if binary is None:
        sys.exit("anvil not found: npm install --prefix .tools @foundry-rs/anvil@1.7.1")
    NODE = start_anvil(binary)
    try:
        run(holder_counts, loan_counts)
    finally:
        NODE.stop()


def run(holder_counts: list[int], loan_counts: list[int]) -> None:
    t0 = time.time()
    network_env(NODE.url)
    admin_acct = Account.from_key(ANVIL_KEYS[0])
    boa.env.add_account(admin_acct, force_eoa=True)
    keys = [Account.from_key(bytes([i + 1]) * 32) for i in range(5)]
    admin = admin_acct.address
    cfg = config_from_spec(example_deal("four_tranche"), loan_count=max(loan_counts))
    ex = cfg.exact
    faces = list(ex.face)
    rows: list[tuple[str, int, str]] = []

    d = deploy_deal(cfg, attestors=[k.address for k in keys], admin=admin)
    g, _ = deploy_gas("Deal", d.settlement.address, faces, ex.pool_original, ex.reserve_initial,
                      d.timelock.address, admin, admin, admin, admin, sender=admin)
    rows.append(("deploy Deal", g, ""))
    g, _ = deploy_gas("TrancheToken", "Senior A", "A", d.deal.address, d.issuance.address, 0,
                      faces[0], sender=admin)
    rows.append(("deploy TrancheToken (each)", g, ""))
    g, _ = deploy_gas("RemittanceOracle", d.deal.address, admin, [k.address for k in keys], 3,
                      max(loan_counts), 25 * 10**16, 25 * 10**16, sender=admin)
    rows.append(("deploy RemittanceOracle", g, ""))
    g, _ = deploy_gas("Issuance", d.deal.address, admin, 0, 2**40, 0, sender=admin)
    rows.append(("deploy Issuance", g, ""))
    g, _ = deploy_gas("ExactWaterfall", exact_params(ex), d.deal.address, sender=admin)
    rows.append(("deploy ExactWaterfall (four_tranche parameters)", g, ""))

    inv_accts = [Account.from_key(ANVIL_KEYS[1])] + [Account.from_key(bytes([0x70 + i]) * 32) for i in range(3)]
    for acct in inv_accts:
        boa.env.add_account(acct)
        NODE.rpc("anvil_setBalance", [acct.address, hex(10**21)])
    investors = [a.address for a in inv_accts]
    d.allow([*investors, admin], 2**40)
    for i, face in enumerate(faces):
        d.settlement.mint(investors[i], face, sender=admin)
        d.settlement.approve(d.issuance.address, face, sender=investors[i])
        g = tx_gas(d.issuance, "subscribe", i, face, sender=investors[i])
        if i == 0:
            rows.append(("subscribe (first investor)", g, ""))
    rows.append(("close (mint 4 tranches, fund reserve, pay seller)", tx_gas(d.issuance, "close", sender=admin), ""))
    rows.append(("settle (deliver tokens)", tx_gas(d.issuance, "settle", sender=investors[0]), ""))
    for inv in investors[1:]:
        d.settle(inv)
    base_holder = investors[1]
    d.settlement.mint(admin, 10**16, sender=admin)
    d.settlement.transfer(base_holder, 1, sender=admin)
    rows.append(("baseline: mock ERC-20 transfer", tx_gas(d.settlement, "transfer", base_holder, 5, sender=admin), ""))

    # holders: spread tranche A over many accounts (no loop over holders on chain)
    period = 0
    ending = ex.pool_original

    def remit_gas(n_loans: int) -> int:
        nonlocal period, ending
        period += 1
        root = ROOTS[n_loans] if n_loans in ROOTS else tape_root(n_loans)
        # a performing month: 1/360 scheduled, 1% prepaid, 6% a year of interest
        sched, unsched, interest = ending // 360, ending // 100, ending * 6 // 1200
        new_end = ending - sched - unsched
        rep = RemittanceReport(period, sched, unsched, interest, 0, 0, ending, new_end, max(loan_counts),
                               0, 0, 0, 5 * 10**16, interest + sched + unsched, root)
        sigs = attest(rep, [k.key for k in keys[:3]], chain_id=d.chain_id(), verifying_contract=d.oracle.address)
        d.settlement.approve(d.oracle.address, rep.cash, sender=admin)
        g = tx_gas(d.oracle, "submit", rep.as_tuple(), [s.as_tuple() for s in sigs], sender=admin)
        ending = new_end
        return g

    rows.append(("remittance, first period (storage set from zero)", remit_gas(10), ""))
    made = 0
    for n_holders in holder_counts:
        extra = []
        while made < n_holders:
            batch = [Account.create().address for _ in range(min(64, n_holders - made))]
            raw_send(admin, str(d.deal.address), d.deal.set_allowed.prepare_calldata(batch, 2**40))
            for h in batch:
                raw_send(investors[0], str(d.tokens[0].address), d.tokens[0].transfer.prepare_calldata(h, 1_000))
            extra += batch
            made += len(batch)
        for n_loans in loan_counts:
            rows.append((f"remittance 3-of-5, {n_loans:,} loans, {n_holders:,} holders", remit_gas(n_loans),
                         "remittance"))
    a, b = investors[0], investors[1]
    tok = d.tokens[0]
    fresh = Account.create().address
    d.allow([fresh], 2**40)
    rows.append(("claim, first ever (new checkpoint, empty wallet)", tx_gas(d.deal, "claim", 0, sender=a), ""))
    rows.append(("claimAll, first ever (holder of one tranche)", tx_gas(d.deal, "claimAll", sender=b), ""))
    remit_gas(10)
    rows.append(("claim (one tranche, repeat claimant)", tx_gas(d.deal, "claim", 0, sender=a), "claim"))
    rows.append(("claimAll (4 tranches scanned, repeat claimant)", tx_gas(d.deal, "claimAll", sender=b), ""))
    rows.append(("transfer to a new holder", tx_gas(tok, "transfer", fresh, 10, sender=a), "transfer"))
    remit_gas(10)
    rows.append(("transfer between existing holders", tx_gas(tok, "transfer", fresh, 10, sender=a), "transfer"))
    tok.approve(admin, 10**12, sender=a)
    rows.append(("transferFrom", tx_gas(tok, "transferFrom", a, fresh, 10, sender=admin), "transfer"))
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
                                  s.s.to_bytes(32, "big"), sender=admin), ""))

    import os
    import subprocess

    version = subprocess.run([find_anvil(), "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    print(f"machine check: load {os.getloadavg()[0]:.2f} (gas does not depend on load); node: {version}")
    print(f"{'operation':<52} {'gas':>10}  target")
    print("-" * 76)
    for name, gas, kind in rows:
        tgt = TARGETS.get(kind)
        mark = "" if tgt is None else (f"<= {tgt:,} {'ok' if gas <= tgt else 'OVER'}")
        print(f"{name:<52} {gas:>10,}  {mark}")
    print(f"\n({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
