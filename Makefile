# Two commands do everything on a fresh machine with Python 3.11:
#   make run    set up .venv, then run the workflow on the default config
#   make test   set up .venv, then run the test suite
# Extra Snakemake arguments go in ARGS, e.g.
#   make run ARGS="--config download_mirror=../shared/data/eros1"

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of PyTorch; a GPU machine may set TORCH="torch==2.13.0" from its
# own index, or any build its drivers support.
TORCH ?= torch==2.13.0
CORES ?= all
ARGS ?=
PYTEST_ARGS ?=

.PHONY: install run report test lint clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

run: install
	$(BIN)/snakemake --cores $(CORES) $(ARGS)
	$(BIN)/snakemake --cores $(CORES) $(ARGS) --report results/report.html

report: install
	$(BIN)/snakemake --cores $(CORES) $(ARGS) --report results/report.html

# pytest exits with 5 when it collects no test; that is not a failure here.
test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS); status=$$?; \
	  if [ $$status -eq 5 ]; then echo "pytest collected no tests"; exit 0; fi; \
	  exit $$status

lint: install
	$(BIN)/ruff check src scripts tests benchmarks
	$(BIN)/ruff format --check src scripts tests benchmarks
	$(BIN)/snakefmt --check Snakefile rules
	$(BIN)/snakemake --lint

clean:
	rm -rf results logs .snakemake
