"""Gas of a deal's rule program on chain (``RuleProgram.run``) by number of classes.

Run: ``.venv/bin/python benchmarks/bench_gas_classes.py``

Each row is a deal in the deal language shaped like an agency REMIC group, with ``n``
classes: PAC groups of four classes (paid sequentially inside the group) against
planned-balance schedules, a Z class whose accrual goes to the last PAC group up to
its planned balance and then to itself, the support classes split 80/20 between a
sequential list and a pro-rata list, then every class and group "to zero". The deal
is compiled by ``compile_exact`` and deployed by ``deploy_rule_program``; each figure
is the EVM execution gas of one ``run`` call on titanoboa's embedded py-evm (gas
metered; the transaction's intrinsic 21,000 and calldata are NOT included; a
waterfall calling the program pays the execution plus a cold CALL, 2,600, and the
ABI encoding of ``n`` balances in and ``n`` amounts out).

Columns:

* ``empty``: a run of no instruction (the baseline of the same deal in the same run:
  balances in, amounts out, the checks);
* ``period``: the principal rules on a typical month (period 12, principal funds of
  1.5% of the pool: the PAC groups to their planned balance, the supports);
* ``payoff``: the principal rules paying every class off (every instruction pays
  every class it names: the most a period can cost);
* ``accrual``: the Z class's accrual rules;
* ``per class``: ``payoff / n``; ``marginal``: the payoff's growth per added class
  from the row above.

The agency REMIC example (``examples/deals/language/agency_remic.toml``) is the last
row.

A second table runs the whole period on chain: ``ExactWaterfall.apply`` (the
waterfall's part of a remittance: every step, its storage, and for a rules deal the
call to its ``RuleProgram`` for the principal rules and the Z accrual) for rules deals
of 2, 4, 8, 9, 15 classes and the largest bound (``MAX_TRANCHES``), each on the build
``deploy_exact_waterfall`` chooses (the smallest class bound holding it: 8 up to 8
classes, else 16; column ``build``), against the same
classes in the fixed sequential order deployed in the same run (the baseline), per
class and as a share of a 30M block; then the agency REMIC example. Period 2 of a performing
pool (every storage slot already written in period 1), execution gas as above.

A third table runs the WHOLE remittance (``RemittanceOracle.submit`` with 3-of-5
signatures: the oracle's checks, the cash pulled, ``Deal.distribute`` and its events,
the waterfall, the rule program): each rules deal deployed as a Deal by
``deploy_deal(config_from_spec(...))``, one investor a class, period 2 of a
performing month (1/360 scheduled, 1% prepaid), against the fixed order of the same
classes (the baseline, same run), each on the build ``deploy_deal`` chooses; for 8
classes or fewer the fixed order again on the 16-class build (column ``on 16``: what
the smaller build saves); execution gas (the transaction's intrinsic 21,000 and its
calldata, about 17k for the report and three signatures, come on top).
"""

from __future__ import annotations

import datetime
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import boa
from eth_account import Account

from openmbs.chain import config_from_spec, deploy_deal
from openmbs.chain._contracts import BOUNDS, bound_for
from openmbs.chain._exact_waterfall import deploy_exact_waterfall, report_struct
from openmbs.chain._rule_program import deploy_rule_program
from openmbs.oracle import RemittanceReport, attest
from openmbs.structuring import (
    MAX_TRANCHES,
    DealSpec,
    ExactDeal,
    ExactRemittance,
    compile_exact,
    example_deal,
    parse_deal,
)

SIZES = (4, 8, 15, 16, 32, 64)
#: class counts of the waterfall table: 4, 8, 15 and the bound (with 2 for the slope)
APPLY_SIZES = tuple(sorted({2, 4, 8, 9, 15, MAX_TRANCHES}))
#: class counts of the whole-remittance table: both sides of the 8-class build's bound
REMIT_SIZES = (4, 8, 9, 15, MAX_TRANCHES)
#: EIP-170's limit on deployed code (bytes)
EIP170 = 24_576
#: a block's gas limit (Ethereum mainnet, 2025), for scale
BLOCK_GAS = 30_000_000


def _spec(n: int, tranches: list[dict[str, Any]], **top: Any) -> ExactDeal:
    return compile_exact(_deal_spec(n, tranches, **top))


def _deal_spec(n: int, tranches: list[dict[str, Any]], **top: Any) -> DealSpec:
    return parse_deal({
        "name": f"bench{n}", "closing_date": datetime.date(2026, 1, 29),
        "first_payment_date": datetime.date(2026, 2, 25),
        "asset": {"symbol": "USDC", "decimals": 6},
        "pool": {"balance": sum(t["balance"] for t in tranches)},
        "tranches": tranches, **top,
    })


def sequential_deal(n: int) -> ExactDeal:
    """``n`` classes of the benchmark's faces in the fixed sequential order (baseline)."""
    return compile_exact(sequential_spec(n))


def sequential_spec(n: int) -> DealSpec:
    """The spec of :func:`sequential_deal`."""
    return _deal_spec(n, [{"name": f"C{i}", "balance": 1_000_000.0 + 10_000.0 * i, "rate": 0.05, "priority": i + 1}
                     for i in range(n)])


def rules_deal(n: int) -> ExactDeal:
    """The benchmark's deal with ``n`` classes (see the module docstring)."""
    return compile_exact(rules_spec(n))


def rules_spec(n: int) -> DealSpec:
    """The spec of :func:`rules_deal`."""
    names = [f"C{i}" for i in range(n)]
    tranches: list[dict[str, Any]] = [
        {"name": c, "balance": 1_000_000.0 + 10_000.0 * i, "rate": 0.05, "priority": 1} for i, c in enumerate(names)
    ]
    z = names[-1]
    tranches[-1]["accrual"] = True
    n_pac = max(1, (n - 1) // 8)  # about half the classes in PAC groups of four
    groups: list[dict[str, Any]] = []
    for g in range(n_pac):
        members = names[4 * g : min(4 * g + 4, n - 1)]
        face = sum(tranches[names.index(m)]["balance"] for m in members)
        groups.append({"name": f"PAC{g}", "classes": members, "kind": "pac",
                       "planned_balance": [round(face * (1 - 0.01 * (k + 1)), 2) for k in range(60)]})
    used = {m for g in groups for m in g["classes"]}
    support = [c for c in names if c not in used and c != z]
    items = [g["name"] for g in groups] + support + [z]
    rules: list[dict[str, Any]] = [{"pay": "planned", "target": g["name"]} for g in groups]
    if len(support) >= 2:
        half = len(support) // 2
        rules.append({"pay": "concurrent", "split": [
            {"percent": 0.8, "pay": "sequential", "classes": [*support[:half], z]},
            {"percent": 0.2, "pay": "pro_rata", "classes": support[half:]}]})
    rules.append({"pay": "sequential", "classes": items})
    accrual = [{"z": z, "rules": [{"pay": "planned", "target": groups[-1]["name"]},
                                  {"pay": "sequential", "classes": [z]}]}]
    return _deal_spec(n, tranches, groups=groups, principal_rules=rules, accrual_rules=accrual)


def measure(deal: ExactDeal) -> dict[str, int]:
    contract = deploy_rule_program(deal)
    bal = list(deal.face)
    z = next(i for i, r in enumerate(deal.accrual_prog) if r[1] > r[0])

    def gas(amount: int, rng: tuple[int, int], period: int = 12) -> int:
        contract.run(bal, 0, period, amount, rng[0], rng[1])
        return int(contract._computation.get_gas_used())

    return {
        "empty": gas(0, (0, 0)),
        "period": gas(deal.pool_original * 15 // 1000, deal.principal_prog),
        "payoff": gas(sum(bal) + 1, deal.principal_prog),
        "accrual": gas(deal.face[z] * 5 // 1200, deal.accrual_prog[z]),
        "instructions": len(deal.program) // 4,
    }


def apply_gas(deal: ExactDeal) -> int:
    """Execution gas of ``ExactWaterfall.apply`` in period 2 of a performing pool, on
    the build ``deploy_exact_waterfall`` chooses (:func:`bound_for`)."""
    me = boa.env.eoa
    contract = deploy_exact_waterfall(deal, me)
    assert int(contract.max_tranches()) == bound_for(deal.n_tranches)
    pool = deal.pool_original
    gas = 0
    for period in (1, 2):
        sched, pre = pool // 300, pool * 15 // 1000
        rem = ExactRemittance(period, pool * 55 // 1000 // 12, sched, pre, 0, 0, pool, pool - sched - pre)
        contract.apply(report_struct(rem), sender=me)
        gas = int(contract._computation.get_gas_used())
        pool -= sched + pre
    return gas


def remittance_gas(spec: DealSpec, bound: int | None = None) -> int:
    """Execution gas of ``RemittanceOracle.submit`` in period 2 of the whole deal, on
    the ``bound``-class build (default the one ``deploy_deal`` chooses)."""
    keys = [Account.from_key(bytes([i + 1]) * 32) for i in range(5)]
    admin = boa.env.generate_address("admin")
    cfg = config_from_spec(spec, loan_count=10, max_net_rate=0.06)
    d = deploy_deal(cfg, attestors=[k.address for k in keys], admin=admin, bound=bound)
    assert d.bound == (bound or bound_for(len(cfg.tranches)))
    faces = cfg.exact.face
    investors = [boa.env.generate_address(f"investor{i}") for i in range(len(faces))]
    d.allow([*investors, admin], 2**40)
    for i, face in enumerate(faces):
        d.settlement.mint(investors[i], face, sender=admin)
        d.subscribe(investors[i], i, face)
    d.close()
    for inv in investors:
        d.settle(inv)
    d.settlement.mint(admin, 10**18, sender=admin)
    ending, gas = cfg.exact.pool_original, 0
    for period in (1, 2):
        sched, unsched, interest = ending // 360, ending // 100, ending * 55 // 12000
        rep = RemittanceReport(period, sched, unsched, interest, 0, 0, ending, ending - sched - unsched, 10, 0, 0, 0,
                               0, 0, b"\x42" * 32, advances=0)
        rep = replace(rep, cash=rep.collections())
        sigs = attest(rep, [k.key for k in keys[:3]], chain_id=d.chain_id(), verifying_contract=d.oracle.address)
        d.settlement.approve(d.oracle.address, rep.cash, sender=admin)
        d.oracle.submit(rep.as_tuple(), sigs[0].deadline, [s.as_tuple() for s in sigs], sender=admin)
        gas = int(d.oracle._computation.get_gas_used())
        ending -= sched + unsched
    return gas


def size_rows() -> list[str]:
    """Deployed size of each bounded contract per build (EIP-170: 24,576 bytes of
    runtime plus immutables, as Vyper 0.4 deploys them)."""
    from openmbs.chain._contracts import artifact
    from openmbs.chain._verify import _immutables_size

    out = [f"{'contract':<16}{'build':>7}{'runtime':>9}{'immutables':>12}{'deployed':>10}{'room (EIP-170)':>16}"]
    out.append("-" * len(out[0]))
    for name in ("ExactWaterfall", "Deal", "RuleProgram", "Issuance"):
        for bound in BOUNDS:
            art = artifact(name, bound)
            imm = _immutables_size(art.bytecode)
            size = len(art.runtime) + imm
            out.append(f"{name:<16}{bound:>7}{len(art.runtime):>9,}{imm:>12,}{size:>10,}{EIP170 - size:>16,}")
    return out


def main() -> None:
    print("Code size per build (deal_types.MAX_TRANCHES; the immutables' length is fixed by the build)")
    for line in size_rows():
        print(line)
    print()
    rows: list[tuple[str, int, dict[str, int]]] = [(f"{n} classes", n, measure(rules_deal(n))) for n in SIZES]
    agency = compile_exact(example_deal("agency_remic"))
    rows.append(("agency_remic", agency.n_tranches, measure(agency)))
    head = f"{'deal':<14}{'classes':>8}{'instr':>7}{'empty':>9}{'period':>9}{'payoff':>9}{'accrual':>9}{'per class':>11}{'marginal':>10}"
    print(head)
    print("-" * len(head))
    prev: tuple[int, int] | None = None
    for name, n, m in rows:
        marginal = ""
        if prev is not None and name != "agency_remic":
            marginal = f"{(m['payoff'] - prev[1]) / (n - prev[0]):,.0f}"
        print(f"{name:<14}{n:>8}{m['instructions']:>7}{m['empty']:>9,}{m['period']:>9,}{m['payoff']:>9,}"
              f"{m['accrual']:>9,}{m['payoff'] / n:>11,.0f}{marginal:>10}")
        if name != "agency_remic":
            prev = (n, m["payoff"])
    print()
    head = (f"{'classes':>8}{'build':>7}{'fixed order':>13}{'rules':>9}{'rules - fixed':>15}{'fixed / class':>15}"
            f"{'rules / class':>15}{'% of 30M':>10}")
    print(f"ExactWaterfall.apply, period 2 (execution gas; builds {list(BOUNDS)}, the largest bound {MAX_TRANCHES})")
    print(head)
    print("-" * len(head))
    for n in APPLY_SIZES:
        fixed, rules = apply_gas(sequential_deal(n)), apply_gas(rules_deal(n))
        print(f"{n:>8}{bound_for(n):>7}{fixed:>13,}{rules:>9,}{rules - fixed:>15,}{fixed / n:>15,.0f}"
              f"{rules / n:>15,.0f}{100 * rules / BLOCK_GAS:>9.2f}%")
    remic = apply_gas(agency)
    print(f"agency_remic ({agency.n_tranches} classes): {remic:,} gas, {remic / agency.n_tranches:,.0f} per class")
    print()
    print(f"Whole remittance (RemittanceOracle.submit, 3-of-5), period 2 (execution gas; builds {list(BOUNDS)})")
    head = (f"{'classes':>8}{'build':>7}{'fixed order':>13}{'on 16':>9}{'rules':>9}{'fixed / class':>15}"
            f"{'rules / class':>15}{'% of 30M':>10}")
    print(head)
    print("-" * len(head))
    for n in REMIT_SIZES:
        fixed, rules = remittance_gas(sequential_spec(n)), remittance_gas(rules_spec(n))
        on16 = f"{remittance_gas(sequential_spec(n), bound=BOUNDS[-1]):,}" if bound_for(n) < BOUNDS[-1] else "-"
        print(f"{n:>8}{bound_for(n):>7}{fixed:>13,}{on16:>9}{rules:>9,}{fixed / n:>15,.0f}{rules / n:>15,.0f}"
              f"{100 * rules / BLOCK_GAS:>9.2f}%")
    remic = remittance_gas(example_deal("agency_remic"))
    print(f"agency_remic ({agency.n_tranches} classes): {remic:,} gas, {remic / agency.n_tranches:,.0f} per class")


if __name__ == "__main__":
    main()
