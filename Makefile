# Two user-facing targets: `make demo` (the main job on embedded defaults) and `make test`.
# Both create .venv and install the project into it; versions come from constraints.txt.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install clean sandbox

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	rm -f runs/demo-math.jsonl
	$(BIN)/rftgym rollout rftgym/MathTools-v0 --policy oracle --split test --num-tasks 25 --group-size 4 \
		--out runs/demo-math.jsonl
	@echo "trajectory file: runs/demo-math.jsonl  (summary again: $(BIN)/rftgym stats runs/demo-math.jsonl)"

# A Docker engine and the sandbox image for the code env's tests: installs docker.io and starts
# dockerd when missing, builds the image offline when missing; a no-op when all is there.
sandbox: $(STAMP)
	PYTHON=$(BIN)/python scripts/ensure-docker.sh

test: $(STAMP) sandbox
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) runs .pytest_cache
