# archkit — `make demo` and `make test` work on a fresh machine with Python 3 and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install system-deps demo test test-fast gpu-check bench clean

install: $(STAMP)

# Idempotent: rebuilds only when pyproject.toml changes. torch/torchvision ranges admit the builds
# already on the CI machine's disk (2.14.1 / 0.29.1), so pip takes them from there.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,dev]'
	touch $(STAMP)

# The main job on the bundled defaults: Table 1 regenerated and compared with the paper, a short
# search on digits (resumes if run again), and the reports.
demo: install
	$(BIN)/archkit profile googlenet
	$(BIN)/archkit profile googlenet --compare paper
	$(BIN)/archkit search studies/demo.yaml
	$(BIN)/archkit report demo -o reports/demo.html
	$(BIN)/archkit profile googlenet --format html -o reports/googlenet.html
	@echo "reports written: reports/demo.html reports/googlenet.html"

# The browser tests drive Debian's Chromium, the concurrency tests start a throwaway PostgreSQL
# cluster, and `--data fashion-mnist` reads Debian's dataset-fashion-mnist. Install them when missing
# and we can (root with apt, as on CI); otherwise the tests that need them fail with a message
# saying how to install them.
system-deps:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	test -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz || missing="$$missing dataset-fashion-mnist"; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing Debian packages:$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
		else \
			echo "warning: missing$$missing (install with: sudo apt-get install$$missing); the tests that need them will fail"; \
		fi; \
	fi

test: install system-deps
	$(BIN)/python -m pytest -q

# The quick lane (under 2 minutes on 2 cores): no browser, PostgreSQL, kill/DDP or long property
# tests, spread over the cores (pytest-xdist). `make test` stays the whole suite, in one process.
test-fast: install
	$(BIN)/python -m pytest -q -n auto -m "not browser and not postgres and not slow"

# The CUDA paths in one prepared command (minutes on one GPU); one line and exit 0 without CUDA.
gpu-check: install
	$(BIN)/python scripts/gpu_check.py -o gpu-check.json

bench: install
	$(BIN)/archkit bench profile
	$(BIN)/archkit bench train
	$(BIN)/archkit bench search

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
