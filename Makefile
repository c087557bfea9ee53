# Two entry points for a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1

.PHONY: demo test test-fast bench bench-gpu clean setup

# the reference quality classifier filter.quality's `model: reference` names (trained on the bundled sample)
REFERENCE := $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/gristmill/quality/reference/model.bin

setup: $(STAMP) $(REFERENCE)

$(STAMP): pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q -U pip
	$(BIN)/pip install -q -c constraints.txt -e '.[dev,gpu]'
	touch $(STAMP)

$(REFERENCE): $(STAMP) pipelines/quality_train.yaml
	$(BIN)/gristmill quality train pipelines/quality_train.yaml

demo: setup
	$(BIN)/gristmill run pipelines/quickstart.yaml
	$(BIN)/gristmill inspect out/quickstart
	$(BIN)/gristmill run pipelines/commoncrawl.yaml
	$(BIN)/gristmill inspect out/commoncrawl
	$(BIN)/gristmill run pipelines/code.yaml
	$(BIN)/gristmill tokenize pipelines/tokenize.yaml
	$(BIN)/gristmill train pipelines/train_tiny.yaml
	$(BIN)/gristmill card out/quickstart out/commoncrawl out/code out/tokens out/train-tiny --out out/card

test: setup
	$(BIN)/python -m pytest -q

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow"

bench: $(STAMP)
	$(BIN)/python benchmarks/engine_gopher.py
	$(BIN)/python benchmarks/commoncrawl.py
	$(BIN)/python benchmarks/train_throughput.py
	$(BIN)/python benchmarks/kernels_cpu.py

bench-gpu: $(STAMP)  # one CUDA GPU, <= 9 min: env check, CUDA kernel tests, trainer MFU vs transformers, Liger kernels, train + resume (lent machines: benchmarks/GPU-SESSION.md)
	$(BIN)/python benchmarks/gpu_session.py

clean:
	rm -rf out build *.egg-info
