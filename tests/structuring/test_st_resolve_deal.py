"""Which deal a user named: one rule (``resolve_deal``), used by every command and the
lifecycle. An existing file wins over a shipped example of the same name."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from openmbs.errors import InputError, SpecError
from openmbs.structuring import example_deal_path, resolve_deal


def _loaders() -> dict[str, Callable[[str], Any]]:
    from openmbs.commands import chain, deal, oas
    from openmbs.sim import _lifecycle

    return {
        "resolve_deal": resolve_deal,
        "openmbs deal": deal._load,
        "openmbs chain": chain._load_spec,
        "openmbs oas": oas.deal_from_arg,
        "lifecycle": _lifecycle._load_spec,
    }


@pytest.mark.parametrize("where", list(_loaders()))
def test_an_existing_file_wins_over_the_example_of_that_name(
    where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a file called 'senior_sub' in the working directory holds another deal
    shutil.copy(example_deal_path("four_tranche"), tmp_path / "senior_sub")
    monkeypatch.chdir(tmp_path)
    assert _loaders()[where]("senior_sub").name == "four_tranche"


@pytest.mark.parametrize("where", list(_loaders()))
def test_a_name_that_is_no_file_is_an_example(
    where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert _loaders()[where]("senior_sub").name == "senior_sub"
    path = tmp_path / "mine.toml"
    shutil.copy(example_deal_path("pac_io"), path)
    assert _loaders()[where](str(path)).name == "pac_io"


@pytest.mark.parametrize("where", list(_loaders()))
def test_neither_a_file_nor_an_example_is_refused(
    where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SpecError, match=r"neither an example deal .* nor a file") as err:
        _loaders()[where]("no_such_deal")
    assert isinstance(err.value, InputError) and "no_such_deal" in str(err.value)
