"""Random deals in the deal language for the rule-program differential tests.

Seeded (``random.Random``), so a failing case is reproduced by its seed. Each deal has
random classes (some IO strips between them), disjoint groups of every payment mode
(a group paid by its own rules gets random rules over its classes: orders, pro rata,
concurrent splits, trigger conditions), planned-balance schedules with deferrals,
IO strips on the pool, a class or a group, random principal rules (nested concurrent splits, ``when``/``unless`` conditions,
planned rules) ending with every class and group "to zero" in a random order, and
Z classes whose accrual is directed by random rules; coupons fixed, floating or
inverse floating (index multipliers 1, 1.5, 2.5).
"""

from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "structuring"))
from structuring_helpers import build_deal

from openmbs.errors import SpecError
from openmbs.structuring import DealSpec

TRIGGERS = ["T0", "T1", "T2"]


def _split(rng: random.Random, k: int) -> list[float]:
    cuts = sorted(rng.sample(range(1, 100), k - 1))
    return [(b - a) / 100 for a, b in zip([0, *cuts], [*cuts, 100], strict=True)]


def _rule(rng: random.Random, items: list[str], planned: list[str], depth: int) -> dict[str, Any]:
    kinds = ["sequential", "pro_rata"] + (["planned"] if planned else []) + (["concurrent"] if depth < 3 else [])
    kind = rng.choice(kinds)
    r: dict[str, Any] = {"pay": kind}
    if kind == "planned":
        r["target"] = rng.choice(planned)
    elif kind == "concurrent":
        pcts = _split(rng, rng.randint(2, 3))
        r["split"] = [{**_rule(rng, items, planned, depth + 1), "percent": p} for p in pcts]
    else:
        r["classes"] = rng.sample(items, rng.randint(1, min(5, len(items))))
    cond = rng.choice([None, None, "when", "unless"])
    if cond is not None:
        r[cond] = rng.choice(TRIGGERS)
    return r


def random_rules_deal(seed: int, *, max_classes: int = 24) -> DealSpec:
    """A random valid deal in the deal language (redrawn until the spec accepts it),
    with at most ``max_classes`` classes, IO strips included."""
    rng = random.Random(seed)
    for _attempt in range(50):
        try:
            return build_deal(**_draw(rng, max_classes))
        except SpecError:
            continue
    raise AssertionError(f"seed {seed}: no valid deal in 50 draws")


def _draw(rng: random.Random, max_classes: int) -> dict[str, Any]:
    n_io = rng.randint(0, min(2, max_classes - 2))
    n = rng.randint(2, max_classes - n_io)
    names = [f"C{i}" for i in range(n)]
    faces = {name: float(rng.randint(1, 50) * 10_000) for name in names}
    tranches: list[dict[str, Any]] = []
    for name in names:
        t: dict[str, Any] = {"name": name, "balance": faces[name], "priority": rng.randint(1, 3)}
        kind = rng.choice(["fixed", "fixed", "fixed", "floating", "inverse_floating"])
        if kind == "fixed":
            t["rate"] = rng.choice([0.0, 0.04, 0.06])
        elif kind == "floating":
            t.update(coupon="floating", margin=0.01, cap=0.08, multiplier=rng.choice([1.0, 1.5]))
        else:
            t.update(coupon="inverse_floating", margin=0.09, cap=0.085, floor=0.005,
                     multiplier=rng.choice([1.0, 2.5]))
        tranches.append(t)
    # IO strips between the classes (they bear no principal: never a rule's item)
    for k in range(n_io):
        tranches.insert(rng.randint(0, len(tranches)), {
            "name": f"IO{k}", "notional": rng.choice(["pool", *names]), "rate": 0.01, "priority": 1,
            "principal": "none", "offering_price": 2.5})
    free = list(names)
    rng.shuffle(free)
    groups: list[dict[str, Any]] = []
    for g in range(rng.randint(0, 5)):
        if len(free) < 2:
            break
        members = [free.pop() for _ in range(rng.randint(1, min(4, len(free) - 1)))]
        face = sum(faces[m] for m in members)
        step = rng.uniform(0.02, 0.3)
        schedule = [round(max(face * (1.0 - step * (k + 1)), 0.0), 2) for k in range(rng.randint(1, 30))]
        group: dict[str, Any] = {"name": f"G{g}", "classes": members,
                                 "pay": rng.choice(["sequential", "pro_rata", "rules", "rules"]),
                                 "planned_balance": schedule, "deferral": rng.choice([0, 0, rng.randint(1, 6)])}
        if group["pay"] == "rules":
            own = [_rule(rng, members, [], 1) for _ in range(rng.randint(1, 3))]
            group["rules"] = own
        groups.append(group)
    gnames = [g["name"] for g in groups]
    items = gnames + free
    # an IO strip on a group's classes (its notional the group's balance)
    for t in tranches:
        if "notional" in t and gnames and rng.random() < 0.5:
            t["notional"] = rng.choice(gnames)
    rules = [_rule(rng, items, gnames, 0) for _ in range(rng.randint(1, 6))]
    rules.append({"pay": "sequential", "classes": rng.sample(items, len(items))})
    top: dict[str, Any] = {
        "groups": groups,
        "principal_rules": rules,
        "triggers": [{"name": t, "test": "cumulative_loss", "threshold": 0.01 * (k + 1),
                      "effects": ["sequential"]}
                     for k, t in enumerate(TRIGGERS)],
        "pool": {"balance": sum(faces.values())},
    }
    accrual: list[dict[str, Any]] = []
    for z in rng.sample(names, rng.randint(0, min(2, n - 1))):
        t = next(t for t in tranches if t["name"] == z)
        if t.get("rate", 0.0) == 0.0:
            continue
        t["accrual"] = True
        own_group = next((g["name"] for g in groups if z in g["classes"]), None)
        others = [x for x in items if x not in (z, own_group)]
        if not others:
            t["accrual"] = False
            continue
        acc = [_rule(rng, others, [x for x in gnames if x in others], 1) for _ in range(rng.randint(1, 3))]
        acc.append({"pay": "sequential", "classes": [own_group or z]})
        accrual.append({"z": z, "rules": acc})
    if accrual:
        top["accrual_rules"] = accrual
    targets: set[str] = set()
    stack = list(rules) + [r for acc in accrual for r in acc["rules"]]
    while stack:
        r = stack.pop()
        if r["pay"] == "planned":
            targets.add(r["target"])
        stack.extend(r.get("split", []))
    for g in groups:
        if g["name"] not in targets:
            del g["planned_balance"]
            del g["deferral"]
            g["kind"] = "none"
    return {"tranches": tranches, **top}
