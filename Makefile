# The README's two commands: `make demo` and `make test`. Each sets up what it
# needs (a virtualenv here; the lab installs its own apt packages as root).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup compile demo test unit e2e verify lab-down settings-doc

setup: $(VENV)/.installed compile

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

# pyinfra writes no bytecode (sys.dont_write_bytecode), so without this every run
# compiles groundwork's modules again (~0.1 s); a pip-installed package has it.
compile: $(VENV)/.installed
	@$(BIN)/python -m compileall -q groundwork >/dev/null

# A lab host converged with deploys/full.py, left running for you.
demo: setup
	$(BIN)/groundwork lab up
	$(BIN)/pyinfra -y inventories/lab.py deploys/full.py
	@echo
	@echo "Converged deploys/full.py on the lab (the example app in examples/demoapp):"
	@$(BIN)/groundwork lab status
	@echo
	@echo "  shell:   $(BIN)/groundwork lab ssh lab1"
	@echo "  verify:  $(BIN)/pytest tests/verify --inventory inventories/lab.py"
	@echo "  again:   $(BIN)/pyinfra -y inventories/lab.py deploys/full.py   (reports no changes)"
	@echo "  stop:    $(BIN)/groundwork lab down"

# Unit tests, then the end-to-end tests on lab hosts; the lab is always torn down.
test: setup
	$(BIN)/pytest --durations=30 tests/unit tests/e2e; rc=$$?; $(BIN)/groundwork lab down; exit $$rc

unit: setup
	$(BIN)/pytest tests/unit

verify: setup
	$(BIN)/pytest tests/verify --inventory inventories/lab.py

lab-down: setup
	$(BIN)/groundwork lab down

settings-doc: setup
	$(BIN)/python -c "from groundwork.reference import update_readme; update_readme()"
