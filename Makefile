# Two entry points for a fresh machine (see README):
#   make smoke   set up, then run the embedded CPU smoke pipeline (tiny model, nothing downloaded)
#   make test    set up, then run the whole test suite, slow end-to-end trainings included
# The virtual environment lives in .venv; torch is installed first as the pinned CPU build so that
# no dependency resolution pulls a multi-GB CUDA wheel. Set TORCH_SPEC to use another build.

PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
SMOKE_OUT ?= runs/smoke
BIN := $(VENV)/bin

.PHONY: setup smoke test test-fast clean

$(BIN)/rltrain: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(BIN)/rltrain

setup: $(BIN)/rltrain

smoke: setup
	$(BIN)/rltrain pipeline recipes/smoke/pipeline.yaml --set output_dir=$(SMOKE_OUT)

test: setup
	$(BIN)/python -m pytest -ra --durations=15

test-fast: setup
	$(BIN)/python -m pytest -ra -m "not slow"

clean:
	rm -rf $(VENV) runs
