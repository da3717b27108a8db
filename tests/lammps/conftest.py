"""LAMMPS tests: the plugin is built once (make lammps-plugin, or on first use) and the
models are exported once per session. torch runs single-threaded here (a shared 2-core
machine; the plugin also sets LAMMPS's thread count, 1, on the torch it shares with Python;
the previous count is restored after each module)."""
import os
import sys

import pytest
import torch

sys.path.insert(0, os.path.dirname(__file__))

import lammps_helpers as lh  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def pytest_collection_modifyitems(config, items):
    """Every LAMMPS test is marked slow (`make test-fast` deselects them): they need the plugin
    (built on first use, ~1 min, when `make lammps-plugin` has not run), export models once per
    session (~10 s) and start LAMMPS, some of them under mpirun."""
    for item in items:
        if os.path.abspath(str(item.fspath)).startswith(HERE + os.sep):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def plugin():
    return lh.ensure_plugin()


@pytest.fixture(scope="session")
def models(tmp_path_factory, plugin):
    """Exported models and their eager potentials: {name: (potential, path)}.

    * ``f64``, ``f32``: H/C/O, cutoff 3.5 Å, l_max 2, 3 layers (receptive field 10.5 Å);
    * ``mpi``: H/C/O, cutoff 3.0 Å, l_max 1, 4 channels, 3 layers (9 Å), cheap, for MD runs;
      its learned energy is scaled by 0.1 so random weights give gentle forces (a random
      model at full scale heats a 64-atom box to thousands of K within 100 steps, and the
      chaotic growth of round-off then hides what the MPI comparison is about).
    """
    from mlip.export import export_lammps

    out = tmp_path_factory.mktemp("models")
    built = {}
    pot64 = lh.make_potential(torch.float64, seed=0)
    built["f64"] = (pot64, export_lammps(pot64, out / "f64.pt"))
    pot32 = lh.make_potential(torch.float32, seed=0)
    built["f32"] = (pot32, export_lammps(pot32, out / "f32.pt"))
    cheap = lh.make_potential(torch.float64, seed=3, energy_scale=0.1, cutoff=3.0, channels=4, l_max=1)
    built["mpi"] = (cheap, export_lammps(cheap, out / "mpi.pt"))
    return built
