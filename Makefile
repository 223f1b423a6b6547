# The two set-up commands for a fresh machine:
#   make demo   -- create/reuse .venv, install openmbs, run the main job (`openmbs demo`)
#   make test   -- create/reuse .venv, install openmbs with its test tools, run every test
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
DEMO_OUT ?= demo-out
FUZZ_MINUTES ?= 30
FUZZ_SEED ?= 0
FUZZ_MACHINES ?= deal,diff

ANVIL  := .tools/node_modules/.bin/anvil
ANVIL_VERSION := 1.7.1

.PHONY: demo test lint bench venv clean slither fuzz

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade "pip==25.3"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

venv: $(STAMP)

# anvil (a real JSON-RPC node) for the RPC-path tests: the binary ships inside the npm
# package @foundry-rs/anvil; nothing is downloaded from anywhere but the npm registry.
$(ANVIL):
	npm install --silent --no-audit --no-fund --prefix .tools @foundry-rs/anvil@$(ANVIL_VERSION)
	$(ANVIL) --version >/dev/null

demo: $(STAMP)
	$(BIN)/openmbs demo --out $(DEMO_OUT)

# A real browser for the dashboard's tests: Debian's chromium and its driver.
CHROMIUM := /usr/bin/chromium /usr/bin/chromedriver
$(CHROMIUM):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
	/usr/bin/chromium --version >/dev/null

test: $(STAMP) $(ANVIL) $(CHROMIUM)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python .ci/slither_gate.py --mocks
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q

# Static analysis: every slither detector on every contract (and the mocks); fails on
# any finding that slither.triage.md does not list (see docs/testing.md).
slither: $(STAMP)
	$(BIN)/python .ci/slither_gate.py --mocks

# A long, seeded, resumable campaign over the stateful machines (outside CI):
#   make fuzz FUZZ_MINUTES=120 FUZZ_SEED=7 FUZZ_MACHINES=deal,diff
# Hypothesis's database and the campaign's progress live in .fuzz/ (a rerun resumes
# and replays saved failures first); prints steps per second per machine.
fuzz: $(STAMP)
	$(BIN)/python tests/fuzz.py --minutes $(FUZZ_MINUTES) --seed $(FUZZ_SEED) --machines $(FUZZ_MACHINES)

bench: $(STAMP)
	for f in benchmarks/bench_*.py; do $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
