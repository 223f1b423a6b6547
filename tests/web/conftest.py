"""Fixtures of the dashboard tests: one small embedded-chain run per session, the
dashboard served on a free port, and a headless Chromium driven by selenium."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from web_helpers import Served, start_server, stop_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")

#: A run with open claims at its end (investors claim every 3 to 12 months, 14 months).
RUN_CONFIG = {"loans": 120, "months": 14, "investors": 4, "seed": 11}


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The output folder of one small lifecycle run on the embedded chain (events
    store, loans/, closing.json); built once per session."""
    from openmbs.sim import LifecycleConfig, run_lifecycle

    out = tmp_path_factory.mktemp("web-run")
    result = run_lifecycle(out, LifecycleConfig(**RUN_CONFIG), write_outputs=False)
    assert result.reconciled, [c for c in result.checks if not c.ok]
    return out


@pytest.fixture(scope="session")
def serve() -> Iterator[Callable[..., Served]]:
    """Start a dashboard over an events file (and a run folder); stopped at session end."""
    from openmbs.web import create_app

    started: list[Served] = []

    def _serve(events: Path, run: Path | None = None, **kw: Any) -> Served:
        s = start_server(create_app(events, run=run, **kw), events, run)
        started.append(s)
        return s

    yield _serve
    for s in started:
        stop_server(s)


@pytest.fixture(scope="session")
def served(run_dir: Path, serve: Callable[..., Served]) -> Served:
    """The dashboard over the session's run."""
    return serve(run_dir / "events.duckdb", run_dir)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Chromium (Debian's chromium and chromium-driver) driven by selenium.

    Skipped when /usr/bin/chromium is missing, unless CI is set: in CI it must run.
    """
    if not CHROMIUM.exists() and not os.environ.get("CI"):
        pytest.skip(
            "browser tests need Debian's chromium and chromium-driver "
            "(apt-get install -y chromium chromium-driver); /usr/bin/chromium not found"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="openmbs-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--window-size=1400,1000",
    ):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
