# archkit — `make demo` and `make test` work on a fresh machine with Python 3 and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test bench clean

install: $(STAMP)

# Idempotent: rebuilds only when pyproject.toml changes. torch/torchvision ranges admit the builds
# already on the CI machine's disk (2.14.1 / 0.29.1), so pip takes them from there.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,dev]'
	touch $(STAMP)

demo: install
	$(BIN)/archkit profile googlenet
	$(BIN)/archkit profile googlenet --compare paper

test: install
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/archkit bench profile

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
