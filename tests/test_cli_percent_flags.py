"""Percent flags: a decimal typed where percent is expected draws a warning, and a
value out of range is refused naming the flag and the value as the user typed them.

``--wac 0.065`` used to run silently as a WAC of 0.065%; ``--wac -6.5`` was refused
with the internal field in decimals (``gross_coupon ... got -0.065``), or, under
``openmbs deal``, with a raw pydantic traceback.
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from openmbs.cli import app
from openmbs.commands._pool_options import DECIMAL_LOOKING

runner = CliRunner()

PROJECT = ["project", "--balance", "1000000", "--wac", "6.5", "--term", "360", "--cpr", "6"]


def _with(args: list[str], flag: str, value: str) -> list[str]:
    out = list(args)
    if flag in out:
        out[out.index(flag) + 1] = value
    else:
        out += [flag, value]
    return out


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--wac", "0.065"), ("--net-coupon", "0.06"), ("--cpr", "0.06"), ("--cdr", "0.02"),
     ("--severity", "0.35")],
)
def test_decimal_in_percent_flag_warns_on_stderr(flag: str, value: str) -> None:
    args = _with(PROJECT, flag, value)
    if flag == "--net-coupon":
        args = _with(args, "--wac", "0.065")  # keep net <= gross
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith(f"warning: {flag} {value}")]
    assert len(lines) == 1, r.stderr
    assert "percent" in lines[0]
    assert "warning" not in r.stdout


def test_percent_values_do_not_warn() -> None:
    args = [*PROJECT, "--net-coupon", "6", "--cdr", "1", "--severity", "35"]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "warning" not in r.stderr


def test_zero_does_not_warn() -> None:
    r = runner.invoke(app, _with(PROJECT, "--cpr", "0"))
    assert r.exit_code == 0, r.output
    assert "warning" not in r.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["project", "--balance", "1000000", "--wac", "-6.5"],
        ["price", "--yield", "6", "--wac", "-6.5"],
        ["deal", "run", "four_tranche", "--wac", "-6.5"],
    ],
)
def test_negative_wac_names_the_flag_as_typed(args: list[str]) -> None:
    r = runner.invoke(app, args)
    assert r.exit_code != 0
    msg = str(r.exception)
    assert "--wac -6.5" in msg, msg
    assert "gross_coupon" not in msg and "-0.065" not in msg


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--net-coupon", "150"), ("--wac", "100"), ("--cpr", "101"), ("--severity", "-1")],
)
def test_out_of_range_names_flag_and_value(flag: str, value: str) -> None:
    r = runner.invoke(app, _with(PROJECT, flag, value))
    assert r.exit_code != 0
    assert f"{flag} {value}" in str(r.exception)


def test_net_coupon_above_wac_names_both_flags() -> None:
    r = runner.invoke(app, [*PROJECT, "--net-coupon", "7"])
    assert r.exit_code != 0
    msg = str(r.exception)
    assert "--net-coupon 7" in msg and "--wac 6.5" in msg


def test_help_states_the_thresholds() -> None:
    r = runner.invoke(app, ["project", "--help"], terminal_width=200)
    text = " ".join(r.stdout.split())
    for flag, below in DECIMAL_LOOKING.items():
        assert f"below {below:g}" in text, (flag, text)


def test_deal_net_coupon_above_the_deals_wac_names_flag_and_source() -> None:
    from openmbs.structuring import example_deal

    wac = example_deal("four_tranche").pool.wac
    assert wac is not None
    r = runner.invoke(app, ["deal", "run", "four_tranche", "--net-coupon", "9"])
    assert r.exit_code != 0
    msg = str(r.exception)
    assert "--net-coupon 9 must not exceed the deal's [pool] WAC" in msg, msg
    assert f"{wac * 100:g}%" in msg


def test_pool_from_flags_names_the_flags() -> None:
    from openmbs.commands.oas import pool_from_flags
    from openmbs.errors import InputError

    with pytest.raises(InputError, match=r"--net-coupon 7 must not exceed the default WAC 6\.5%"):
        pool_from_flags(tape=None, balance=None, wac=None, net_coupon=7, term=None, age=None)
    with pytest.raises(InputError, match=r"--net-coupon 6 must not exceed --wac 5"):
        pool_from_flags(tape=None, balance=None, wac=5, net_coupon=6, term=None, age=None)


def test_risk_scenarios_lists_warn_per_decimal_looking_value() -> None:
    r = runner.invoke(
        app,
        ["risk", "scenarios", "--deal", "four_tranche", "--psa", "100", "--cdr", "0,0.02,2",
         "--severity", "0.4", "--price", "100", "--workers", "1", "--json"],
    )
    assert r.exit_code == 0, r.output
    warned = [ln for ln in r.stderr.splitlines() if ln.startswith("warning:")]
    assert [ln.split(" is ")[0] for ln in warned] == [
        "warning: --cdr 0.02", "warning: --severity 0.4"
    ], r.stderr


def test_risk_scenarios_range_error_names_the_flag() -> None:
    r = runner.invoke(
        app,
        ["risk", "scenarios", "--deal", "four_tranche", "--psa", "100", "--severity", "140",
         "--price", "100", "--workers", "1"],
    )
    assert r.exit_code != 0
    assert "--severity 140" in str(r.exception)


def test_demo_severity_warns() -> None:
    from openmbs.commands._pool_options import check_percent

    assert check_percent("severity", 35.0) == 35.0
    with pytest.raises(Exception, match=r"--severity 101"):
        check_percent("severity", 101.0)
    r = runner.invoke(app, ["demo", "--help"], terminal_width=200)
    assert "below 1 draws a warning" in " ".join(r.stdout.split())


def test_demo_severity_flag_is_converted_to_the_api_decimal(monkeypatch: pytest.MonkeyPatch) -> None:
    import openmbs.sim

    seen: list[object] = []

    def fake_run(out: object, cfg: object, **kwargs: object) -> object:
        seen.append(cfg)
        raise SystemExit(0)

    monkeypatch.setattr(openmbs.sim, "run_lifecycle", fake_run)
    runner.invoke(app, ["demo", "--severity", "35", "--no-chain", "--loans", "5", "--months", "1"])
    assert [getattr(c, "severity", None) for c in seen] == [0.35]
