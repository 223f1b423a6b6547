"""Deal-spec errors that help: an unknown deal name lists the example deals, a
mistyped TOML key suggests the key that was meant (still naming file, key and value)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from openmbs.cli import app
from openmbs.errors import SpecError
from openmbs.structuring import EXAMPLE_DEALS, example_deal_path, load_deal

runner = CliRunner()
REPO_EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "deals"


def _with(tmp_path: Path, edit: str, *, after: str) -> Path:
    """The four_tranche example with ``edit`` inserted after the line ``after``."""
    text = example_deal_path("four_tranche").read_text(encoding="utf-8")
    lines = text.splitlines()
    i = lines.index(after)
    lines.insert(i + 1, edit)
    p = tmp_path / "deal.toml"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tomllib.loads(p.read_text(encoding="utf-8"))  # still TOML
    return p


def test_example_deals_are_the_shipped_files() -> None:
    assert sorted(EXAMPLE_DEALS) == sorted(p.stem for p in REPO_EXAMPLES.glob("*.toml"))


def test_unknown_deal_name_lists_the_example_deals() -> None:
    with pytest.raises(SpecError) as info:
        load_deal("senior_subb")
    msg = str(info.value)
    assert "'senior_subb'" in msg
    for name in EXAMPLE_DEALS:
        assert name in msg
    assert "did you mean 'senior_sub'?" in msg


def test_unknown_deal_name_on_the_cli() -> None:
    r = runner.invoke(app, ["deal", "show", "four_tranch"])
    assert r.exit_code != 0
    msg = str(r.exception)
    assert "four_tranch" in msg and "did you mean 'four_tranche'?" in msg
    for name in EXAMPLE_DEALS:
        assert name in msg


def test_unknown_example_name_suggests() -> None:
    with pytest.raises(SpecError, match=r"did you mean 'pac_io'\?"):
        example_deal_path("pacio")


def test_mistyped_top_level_key(tmp_path: Path) -> None:
    p = _with(tmp_path, "paymnet_delay_days = 24", after='name = "four_tranche"')
    with pytest.raises(SpecError) as info:
        load_deal(p)
    msg = str(info.value)
    assert str(p) in msg
    assert "'paymnet_delay_days'" in msg and "24" in msg
    assert "did you mean 'payment_delay_days'?" in msg


def test_mistyped_key_in_a_table_suggests_from_that_table(tmp_path: Path) -> None:
    text = example_deal_path("four_tranche").read_text(encoding="utf-8")
    p = tmp_path / "deal.toml"
    # first tranche: 'priority' misspelled
    p.write_text(text.replace("priority", "priorty", 1), encoding="utf-8")
    with pytest.raises(SpecError) as info:
        load_deal(p)
    msg = str(info.value)
    assert "tranches[0].priorty" in msg
    assert "did you mean 'priority'?" in msg


def test_unrelated_key_gets_no_suggestion(tmp_path: Path) -> None:
    p = _with(tmp_path, "zzzzzz = 1", after='name = "four_tranche"')
    with pytest.raises(SpecError) as info:
        load_deal(p)
    assert "'zzzzzz'" in str(info.value)
    assert "did you mean" not in str(info.value)
