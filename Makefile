# Two user-facing targets: `make demo` (the main job on embedded defaults) and `make test`.
# Both create .venv and install the project into it; versions come from constraints.txt.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test check install clean sandbox browser

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# The whole pipeline, offline: serve the tiny model, roll out math, code (Docker) and retail,
# train on the files, then the online loop on a learnable env (examples/demo_pipeline.py).
demo: $(STAMP) sandbox
	$(BIN)/python examples/demo_pipeline.py --out runs/demo

# A Docker engine and the sandbox image for the code env's tests: installs docker.io and starts
# dockerd when missing, builds the image offline when missing; a no-op when all is there.
sandbox: $(STAMP)
	PYTHON=$(BIN)/python scripts/ensure-docker.sh

# Debian's chromium and chromium-driver for the report tests (installed with apt-get when missing).
browser:
	scripts/ensure-chromium.sh

# Lint, format and type checks first (seconds), then the suite.
check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: check sandbox browser
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) runs .pytest_cache
