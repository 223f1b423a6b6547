"""Where the gas of one remittance goes: per contract and per function, with memory.

Run: ``.venv/bin/python benchmarks/bench_gas_profile.py [--top 25]``

The deal and the period are ``bench_gas.py``'s (the four_tranche example on the real
waterfall, a performing month, 3-of-5 signatures): period 1 is sent unprofiled, then
period 2 under titanoboa's per-instruction gas meter (``enable_gas_profiling``) on
the embedded py-evm. Figures are EXECUTION gas (the 21,000 intrinsic and the calldata
are not included: ``bench_gas.py``'s receipts are the whole transaction), so compare
two builds with this script, and the targets with ``bench_gas.py``.

Tables:

* per contract: the gas of its frame with its sub-calls (``with calls``), without
  them (``self``), the highest memory word it touched and what that memory cost
  (``3 w + w**2 / 512``, the EVM's memory expansion: it grows with the square of the
  largest frame, which is why 16-wide arrays copied by value cost more than twice
  8-wide ones);
* per function: self gas of each Vyper function (every instruction is charged to the
  function whose source the compiler's map names for it, or the last one before it).

Baseline in the same run: the execution gas of a mock ERC-20 transfer.
"""

from __future__ import annotations

import argparse
import bisect
import collections
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import boa
from eth_account import Account
from vyper import ast as vy_ast

from openmbs.chain import config_from_spec, deploy_deal
from openmbs.oracle import RemittanceReport, attest
from openmbs.structuring import MAX_TRANCHES, example_deal


def memory_gas(words: int) -> int:
    """The EVM's memory expansion cost of ``words`` 32-byte words (Yellow Paper, C_mem)."""
    return 3 * words + words * words // 512


def _name(computation: Any) -> str:
    contract = boa.env.lookup_contract(computation.msg.code_address)
    return "precompile" if contract is None else str(getattr(contract, "contract_name", type(contract).__name__))


def profile(computation: Any, contracts: dict[str, list[int]], functions: collections.Counter[tuple[str, str]]) -> None:
    """Add ``computation`` and its children to the per-contract and per-function tables."""
    name = _name(computation)
    contract = boa.env.lookup_contract(computation.msg.code_address)
    child_gas = {pc: child.get_gas_used() for pc, child in zip(computation._child_pcs, computation.children, strict=True)}
    source_map = getattr(contract, "source_map", {}).get("pc_raw_ast_map", {}) if contract is not None else {}
    mapped = sorted(source_map)
    self_gas = 0
    for pc, gas in computation._gas_meter._gas_used_of.items():
        gas -= child_gas.get(pc + 1, 0)  # a CALL's own cost, not its callee's
        self_gas += gas
        j = bisect.bisect_right(mapped, pc) - 1
        fn = "?"
        if j >= 0:
            node = source_map[mapped[j]]
            f = node if isinstance(node, vy_ast.FunctionDef) else node.get_ancestor(vy_ast.FunctionDef)
            fn = f.name if f is not None else "(dispatch)"
        functions[(name, fn)] += gas
    words = len(computation._memory._bytes) // 32
    row = contracts.setdefault(name, [0, 0, 0])
    row[0] += computation.get_gas_used()
    row[1] += self_gas
    row[2] = max(row[2], words)
    for child in computation.children:
        profile(child, contracts, functions)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--top", type=int, default=25, help="functions to list")
    args = ap.parse_args()

    keys = [Account.from_key(bytes([i + 1]) * 32) for i in range(5)]
    admin = boa.env.generate_address("admin")
    cfg = replace(config_from_spec(example_deal("four_tranche"), loan_count=10, max_net_rate=0.06),
                  initial_index_rate=0.05)
    ex = cfg.exact
    d = deploy_deal(cfg, attestors=[k.address for k in keys], admin=admin)
    investors = [boa.env.generate_address(f"investor{i}") for i in range(len(ex.face))]
    d.allow([*investors, admin], 2**40)
    for i, face in enumerate(ex.face):
        d.settlement.mint(investors[i], face, sender=admin)
        d.subscribe(investors[i], i, face)
    d.close()
    for inv in investors:
        d.settle(inv)
    d.settlement.mint(admin, 10**16, sender=admin)
    d.settlement.transfer(investors[1], 1, sender=admin)

    state = {"period": 0, "ending": ex.pool_original}

    def remit() -> Any:
        period, ending = state["period"] + 1, state["ending"]
        sched, unsched, interest = ending // 360, ending // 100, ending * 6 // 1200
        new_end = ending - sched - unsched
        rep = RemittanceReport(period, sched, unsched, interest, 0, 0, ending, new_end, 10, 0, 0, 0, 5 * 10**16, 0,
                               b"\x42" * 32, advances=0)
        rep = replace(rep, cash=rep.collections())
        sigs = attest(rep, [k.key for k in keys[:3]], chain_id=d.chain_id(), verifying_contract=d.oracle.address)
        d.settlement.approve(d.oracle.address, rep.cash, sender=admin)
        d.oracle.submit(rep.as_tuple(), sigs[0].deadline, [s.as_tuple() for s in sigs], sender=admin)
        state["period"], state["ending"] = period, new_end
        return d.oracle._computation

    remit()
    boa.env.enable_gas_profiling()
    top = remit()
    d.settlement.transfer(investors[1], 5, sender=admin)
    baseline = int(d.settlement._computation.get_gas_used())

    contracts: dict[str, list[int]] = {}
    functions: collections.Counter[tuple[str, str]] = collections.Counter()
    profile(top, contracts, functions)
    print(f"remittance, period 2, four_tranche deal, class bound {MAX_TRANCHES}: "
          f"{top.get_gas_used():,} execution gas (baseline ERC-20 transfer: {baseline:,})")
    head = f"{'contract':<22}{'with calls':>12}{'self':>10}{'memory words':>14}{'memory gas':>12}"
    print(head)
    print("-" * len(head))
    for name, (total, own, words) in contracts.items():
        print(f"{name:<22}{total:>12,}{own:>10,}{words:>14,}{memory_gas(words):>12,}")
    print()
    head = f"{'contract':<22}{'function':<28}{'self gas':>10}"
    print(head)
    print("-" * len(head))
    for (name, fn), gas in functions.most_common(args.top):
        print(f"{name:<22}{fn:<28}{gas:>10,}")


if __name__ == "__main__":
    main()
