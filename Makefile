# Front door: `make demo` runs the workflow on a generated demo site, `make test` runs the tests.
# Both create .venv and install aopflow (with its test extras) on first use.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
CORES  ?= all
STAMP  := $(VENV)/.aopflow-installed

.PHONY: demo test test-fast report map lint format bench docs clean help

help:
	@echo "make demo    - set up .venv and run the workflow on the demo site (results/DEMO/...)"
	@echo "make test    - set up .venv and run the whole test suite (as CI)"
	@echo "make test-fast - unit tests only (no workflow, SLURM or browser tests; ~1-2 min)"
	@echo "make report  - build report.html for the last run"
	@echo "make map     - build (if needed) and open the offline site map (CONFIG=my.yaml for a run of yours)"
	@echo "make lint    - snakemake --lint and snakefmt --check"
	@echo "make bench   - run the benchmarks in bench/ (slow; full-size tiles)"
	@echo "make docs    - regenerate docs/configuration.md from config/schema.yaml"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

demo: $(STAMP)
	$(BIN)/snakemake --cores $(CORES)

report: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) --report report.html

test: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest

# The edit-test loop: everything but the end-to-end runs (markers in pyproject.toml).
test-fast: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest -m "not workflow and not slurm and not browser"

# The site map of the run of CONFIG (default: config/config.yaml alone), built if out of date.
CONFIG ?=
map: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) $(if $(CONFIG),--configfile $(CONFIG)) publish_map
	$(BIN)/python -m aopflow.publish.open $(CONFIG)

lint: $(STAMP)
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile rules

format: $(STAMP)
	$(BIN)/snakefmt Snakefile rules

bench: $(STAMP)
	for b in bench/bench_*.py; do $(BIN)/python $$b || exit 1; done

# The configuration reference is generated from the schema (tests/test_config_reference.py
# fails when it is stale).
docs: $(STAMP)
	$(BIN)/python -m aopflow.config_reference config/schema.yaml docs/configuration.md

clean:
	rm -rf results .snakemake report.html
