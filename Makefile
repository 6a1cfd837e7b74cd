# Two entry points for a fresh machine (see README):
#   make smoke   set up, then run the embedded CPU smoke pipeline (tiny model, nothing downloaded)
#   make test    set up, then run the whole test suite, slow end-to-end trainings included
#   make lint    set up, then run the linter (CI runs it before the tests)
# The virtual environment lives in .venv; torch is installed first as the pinned CPU build so that
# no dependency resolution pulls a multi-GB CUDA wheel. Set TORCH_SPEC to use another build.

PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
SMOKE_OUT ?= runs/smoke
BIN := $(VENV)/bin

.PHONY: setup system-deps smoke lint test test-fast clean

# The code sandbox needs bubblewrap (and libseccomp2, g++, prlimit, present on Debian/Ubuntu images).
system-deps:
	@command -v bwrap >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap libseccomp2 g++ >/dev/null; \
	  else echo "the code sandbox needs bubblewrap: sudo apt-get install bubblewrap" >&2; exit 1; fi; }

$(BIN)/rltrain: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(BIN)/rltrain

setup: system-deps $(BIN)/rltrain

smoke: setup
	$(BIN)/rltrain pipeline recipes/smoke/pipeline.yaml --set output_dir=$(SMOKE_OUT)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy

test: setup
	$(BIN)/python -m pytest -ra --durations=15

test-fast: setup
	$(BIN)/python -m pytest -ra -m "not slow"

clean:
	rm -rf $(VENV) runs
