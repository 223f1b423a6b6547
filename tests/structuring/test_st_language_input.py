"""Bad input in the deal language: each refused naming the key (the rule) and the value.

The issue's list (a rule naming an unknown class or group, a split not summing to 100%,
a class paid by no rule, a cycle in accrual direction, a schedule longer than the
collateral) and keys given where nothing reads them (an empty ``split`` on a
sequential rule, a ``lockout`` on a group with no schedule, ...): each a
:class:`SpecError` whose ``key`` is the exact path and whose ``value`` is the value
given, so a structurer finds the line in the TOML file.
"""

from __future__ import annotations

from typing import Any

import pytest
from structuring_helpers import build_deal

from openmbs.errors import SpecError

BASE = [
    {"name": "A", "balance": 600, "rate": 0.05, "priority": 1},
    {"name": "B", "balance": 400, "rate": 0.05, "priority": 2},
]
WITH_Z = [
    {"name": "A", "balance": 500, "rate": 0.05, "priority": 1},
    {"name": "B", "balance": 300, "rate": 0.05, "priority": 1},
    {"name": "Z", "balance": 200, "rate": 0.05, "priority": 1, "accrual": True},
]
SEQ = [{"pay": "sequential", "classes": ["A", "B"]}]
TO_ZERO = [{"pay": "sequential", "classes": ["A", "B", "Z"]}]
LINE = {"balance": 1000.0, "wac": 0.06, "net_coupon": 0.055, "term": 360, "remaining_term": 360}


def _group(**extra: Any) -> dict[str, Any]:
    return {"groups": [{"name": "G", "classes": ["A"], **extra}],
            "principal_rules": [{"pay": "planned", "target": "G"}, {"pay": "sequential", "classes": ["G", "B"]}]}


CASES: list[tuple[str, list[dict[str, Any]], dict[str, Any], str, Any, str]] = [
    # (case, tranches, top-level keys, key, value, words)
    ("unknown class in a principal rule", BASE,
     {"principal_rules": [{"pay": "sequential", "classes": ["A", "Q"]}]},
     "principal_rules[0].classes[1]", "Q", "unknown class or group"),
    ("unknown group as a planned target", BASE,
     {"principal_rules": [{"pay": "planned", "target": "G9"}, *SEQ]},
     "principal_rules[0].target", "G9", "unknown group"),
    ("unknown class in a concurrent sub-rule", BASE,
     {"principal_rules": [{"pay": "concurrent", "split": [
         {"percent": 0.5, "pay": "sequential", "classes": ["A"]},
         {"percent": 0.5, "pay": "sequential", "classes": ["Q"]}]}, *SEQ]},
     "principal_rules[0].split[1].classes[0]", "Q", "unknown class or group"),
    ("unknown class in an accrual rule", WITH_Z,
     {"principal_rules": TO_ZERO, "accrual_rules": [{"z": "Z", "rules": [{"pay": "sequential", "classes": ["Q"]}]}]},
     "accrual_rules[0].rules[0].classes[0]", "Q", "unknown class or group"),
    ("unknown class in a group", BASE,
     {"groups": [{"name": "G", "classes": ["A", "Q"], "kind": "none"}],
      "principal_rules": [{"pay": "sequential", "classes": ["G", "B"]}]},
     "groups[0].classes[1]", "Q", "unknown class"),
    ("a split over 100%", BASE,
     {"principal_rules": [{"pay": "concurrent", "split": [
         {"percent": 0.51, "pay": "sequential", "classes": ["A"]},
         {"percent": 0.5, "pay": "sequential", "classes": ["B"]}]}]},
     "principal_rules[0].split", [0.51, 0.5], "sum to 100%"),
    ("a split under 100%", BASE,
     {"principal_rules": [{"pay": "concurrent", "split": [
         {"percent": 0.5, "pay": "sequential", "classes": ["A"]},
         {"percent": 0.4, "pay": "sequential", "classes": ["B"]}]}]},
     "principal_rules[0].split", [0.5, 0.4], "sum to 100%"),
    ("a class paid by no rule", BASE,
     {"principal_rules": [{"pay": "sequential", "classes": ["A"]}]},
     "tranches[1].name", "B", "paid by no principal rule"),
    ("a schedule longer than the collateral", BASE,
     {**_group(planned_balance=[1.0] * 400), "pool": {"balance": 1000.0, "term": 360}},
     "groups[0].planned_balance", "400 periods", "longer than the collateral"),
    ("an empty split on a sequential rule", BASE,
     {"principal_rules": [{"pay": "sequential", "classes": ["A", "B"], "split": []}]},
     "principal_rules[0].split", 0, "takes classes, not target or split"),
    ("empty classes on a planned rule", BASE,
     {"groups": [{"name": "G", "classes": ["A"], "planned_balance": [500.0]}],
      "principal_rules": [{"pay": "planned", "target": "G", "classes": []}, {"pay": "sequential", "classes": ["G", "B"]}]},
     "principal_rules[0].classes", [], "takes a target, not classes or split"),
    ("a lockout on a group with no schedule", BASE,
     {"groups": [{"name": "G", "classes": ["A"], "kind": "none", "lockout": 3}],
      "principal_rules": [{"pay": "sequential", "classes": ["G", "B"]}]},
     "groups[0].lockout", 3, "no schedule to lock out"),
    ("a lockout as long as the collateral", BASE,
     {**_group(planned_balance=[500.0], lockout=360), "pool": {"balance": 1000.0, "term": 360}},
     "groups[0].lockout", 360, "before the collateral does (360 months left)"),
    ("a planned balance that rises with no accreting class", BASE,
     _group(planned_balance=[500.0, 550.0]),
     "groups[0].planned_balance[1]", 550.0, "rises (from 500.00)"),
    ("a planned balance above the group's face", BASE,
     _group(planned_balance=[700.0]),
     "groups[0].planned_balance[0]", 700.0, "above the group's original balance (600.00)"),
    ("two pricing overrides at one speed", BASE,
     {"pool": {"replines": [LINE], "pricing": [{"psa": 0.0, "replines": [LINE]}, {"psa": 0.0, "replines": [LINE]}]}},
     "pool.pricing[1].psa", 0.0, "pool.pricing[0] has it"),
    ("a pricing override not summing to the pool", BASE,
     {"pool": {"replines": [LINE], "pricing": [{"psa": 0.0, "replines": [{**LINE, "balance": 900.0}]}]}},
     "pool.pricing[0].replines", 1, "sum to 900.00, not the pool balance (1,000.00)"),
    ("a rep line netting more than it earns", BASE,
     {"pool": {"replines": [{**LINE, "net_coupon": 0.065}]}},
     "pool.replines[0].net_coupon", 0.065, "net_coupon above wac (0.06)"),
    ("a pricing rep line past its term", BASE,
     {"pool": {"replines": [LINE], "pricing": [{"psa": 0.0, "replines": [{**LINE, "remaining_term": 361}]}]}},
     "pool.pricing[0].replines[0].age", 0, "remaining_term at most term"),
    ("a pool netting more than it earns", BASE,
     {"pool": {"balance": 1000.0, "wac": 0.05, "net_coupon": 0.055, "term": 360}},
     "pool.net_coupon", 0.055, "net_coupon above wac (0.05)"),
]


@pytest.mark.parametrize(("tranches", "top", "key", "value", "words"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_names_the_rule_and_the_value(
    tranches: list[dict[str, Any]], top: dict[str, Any], key: str, value: Any, words: str
) -> None:
    with pytest.raises(SpecError) as err:
        build_deal(tranches, **top)
    assert err.value.key == key, str(err.value)
    assert err.value.value == value, str(err.value)
    assert words in str(err.value)
    assert repr(value) in str(err.value) or str(value) in str(err.value)


def test_accrual_cycle_names_the_loop_and_the_rule() -> None:
    tranches = [
        {"name": "A", "balance": 500, "rate": 0.05, "priority": 1},
        {"name": "Z1", "balance": 250, "rate": 0.05, "priority": 2, "accrual": True},
        {"name": "Z2", "balance": 250, "rate": 0.05, "priority": 3, "accrual": True},
    ]
    with pytest.raises(SpecError) as err:
        build_deal(
            tranches,
            principal_rules=[{"pay": "sequential", "classes": ["A", "Z1", "Z2"]}],
            accrual_rules=[
                {"z": "Z1", "rules": [{"pay": "sequential", "classes": ["Z2", "A"]}]},
                {"z": "Z2", "rules": [{"pay": "sequential", "classes": ["Z1"]}]},
            ],
        )
    assert err.value.key.startswith("accrual_rules["), str(err.value)
    assert "Z1 -> Z2 -> Z1" in str(err.value)


def test_what_stays_allowed() -> None:
    """A group holding a Z class may have a rising planned balance (it accretes), and a
    group sized in percent is not checked against a face it does not have yet."""
    build_deal(
        WITH_Z,
        groups=[{"name": "G", "classes": ["B", "Z"], "planned_balance": [500.0, 510.0, 505.0]}],
        principal_rules=[{"pay": "planned", "target": "G"}, {"pay": "sequential", "classes": ["A", "G"]}],
        accrual_rules=[{"z": "Z", "rules": [{"pay": "sequential", "classes": ["A", "Z"]}]}],
    )
    build_deal(
        [{"name": "A", "percent": 0.6, "rate": 0.05, "priority": 1}, {**BASE[1], "balance": None, "remainder": True}],
        pool={"balance": 1000.0},
        **_group(planned_balance=[600.0, 590.0]),
    )
