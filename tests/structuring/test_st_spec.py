"""Deal spec validation: errors name the file, the key path and the value."""

from __future__ import annotations

from pathlib import Path

import pytest

from openmbs.errors import SpecError
from openmbs.structuring import (
    EXAMPLE_DEALS,
    compile_exact,
    example_deal,
    example_deal_path,
    load_deal,
)

GOOD = """
name = "x"
closing_date = 2026-01-29
first_payment_date = 2026-02-25
[asset]
symbol = "USDC"
decimals = 6
[pool]
balance = 1000000.0
[[tranches]]
name = "A"
percent = 0.9
rate = 0.05
priority = 1
[[tranches]]
name = "B"
remainder = true
rate = 0.06
priority = 2
"""


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "deal.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_good_spec_loads_and_sizes(tmp_path: Path) -> None:
    spec = load_deal(_write(tmp_path, GOOD))
    d = compile_exact(spec)
    # 90% of 1,000,000.000000 USDC = 900,000.000000 -> 900_000 * 10**6 units; B the rest
    assert d.face == (900_000 * 10**6, 100_000 * 10**6)
    assert d.pool_original == 1_000_000 * 10**6
    # a 5% coupon in WAD
    assert d.rate == (5 * 10**16, 6 * 10**16)
    # resized to another pool: same percentages
    d2 = compile_exact(spec.with_pool(balance=2_000_000.0))
    assert d2.face == (1_800_000 * 10**6, 200_000 * 10**6)


@pytest.mark.parametrize(
    ("edit", "key", "value"),
    [
        (("rate = 0.05", "rate = 1.5"), "tranches[0].rate", 1.5),
        (("rate = 0.05", 'rate = "five"'), "tranches[0].rate", "five"),
        (("decimals = 6", "decimals = 30"), "asset.decimals", 30),
        (("priority = 2", "priority = 0"), "tranches[1].priority", 0),
        (('name = "B"', 'name = "A"'), "tranches[1].name", "A"),
        (("percent = 0.9", "percent = 0.9\ncolour = 'red'"), "tranches[0].colour", "red"),
        (("remainder = true", "remainder = true\npercent = 0.1"), "tranches[1].balance", None),
        (("first_payment_date = 2026-02-25", "first_payment_date = 2026-01-01"), "first_payment_date", "2026-01-01"),
    ],
)
def test_bad_specs_name_key_and_value(tmp_path: Path, edit: tuple[str, str], key: str, value: object) -> None:
    text = GOOD.replace(edit[0], edit[1], 1)
    path = _write(tmp_path, text)
    with pytest.raises(SpecError) as info:
        load_deal(path)
    err = info.value
    assert err.file == str(path)
    assert err.key == key
    assert err.value == value
    assert key in str(err) and str(path) in str(err)


def test_bad_references(tmp_path: Path) -> None:
    text = GOOD + """
[[triggers]]
name = "oc"
test = "overcollateralization"
tranche = "Z"
threshold = 1.05
effects = ["turbo"]
"""
    with pytest.raises(SpecError) as info:
        load_deal(_write(tmp_path, text))
    assert info.value.key == "triggers[0].tranche" and info.value.value == "Z"
    text = GOOD + """
[[triggers]]
name = "cl"
test = "cumulative_loss"
threshold = 0.05
effects = ["trap"]
"""
    with pytest.raises(SpecError) as info:
        load_deal(_write(tmp_path, text))
    assert info.value.key == "triggers[0].effects"


def test_not_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="not valid TOML"):
        load_deal(_write(tmp_path, "name = "))
    with pytest.raises(SpecError, match="cannot read"):
        load_deal(tmp_path / "nope.toml")


def test_oversized_classes_rejected(tmp_path: Path) -> None:
    text = GOOD.replace("percent = 0.9", "balance = 1200000.0")
    with pytest.raises(SpecError) as info:
        compile_exact(load_deal(_write(tmp_path, text)))
    assert info.value.key == "tranches[1].remainder"


def test_examples_ship_and_load() -> None:
    assert set(EXAMPLE_DEALS) == {"senior_sub", "four_tranche", "pac_io"}
    for name in EXAMPLE_DEALS:
        assert example_deal_path(name).is_file()
        spec = example_deal(name)
        assert spec.name == name
    ft = compile_exact(example_deal("four_tranche"))
    # A 80% / B 8% / C 5% / D 4% of 500,000,000 USDC (6 decimals)
    assert ft.face == tuple(p * 5 * 10**6 * 10**6 for p in (80, 8, 5, 4))
    assert ft.decimals == 6
    root = Path(__file__).resolve().parents[2]
    assert (root / "examples/deals/four_tranche.toml").resolve() == example_deal_path("four_tranche").resolve()
