"""mlip.export.export_lammps: the deployed TorchScript file, its metadata, and what it refuses."""
import pytest
import torch
from ase.calculators.emt import EMT

import lammps_helpers as lh
import mlip
from mlip.export import FORMAT_VERSION, export_lammps, read_lammps_metadata
from mlip.export.lammps import ExportError


def test_metadata_declares_elements_cutoff_layers_dtype_units(models):
    pot, path = models["f64"]
    meta = read_lammps_metadata(path)
    assert meta["format"] == "mlip-lammps" and meta["format_version"] == FORMAT_VERSION
    assert meta["elements"] == ["H", "C", "O"] and meta["atomic_numbers"] == [1, 6, 8]
    assert meta["cutoff_A"] == 3.5 and meta["n_layers"] == 3 and meta["receptive_field_A"] == 10.5
    assert meta["dtype"] == "float64" and meta["lammps_units"] == "metal"
    assert meta["masses_amu"][0] == pytest.approx(1.008, abs=1e-3)
    assert mlip.ModelConfig.from_dict(meta["config"]) == pot.config
    assert read_lammps_metadata(models["f32"][1])["dtype"] == "float32"


def test_deployed_module_is_plain_torchscript(models):
    module = torch.jit.load(str(models["f64"][1]))
    code = module.code + "".join(m.code for _, m in module.named_modules() if hasattr(m, "code"))
    assert "torch_scatter" not in code


def test_deployed_module_sums_local_atoms_and_differentiates_all(models):
    """Energy counts only the first n_local atoms; forces come for every atom."""
    pot, path = models["f64"]
    module = torch.jit.load(str(path))
    atoms = lh.random_structure([[9.0, 0, 0], [0, 9.0, 0], [0, 0, 9.0]], 12, ("H", "C", "O"), seed=2, pbc=False)
    system = mlip.system_from_atoms(atoms)
    edges = mlip.neighbor_list(system, pot.cutoff)
    energy, forces, atomic, virial, cell_virial = module(system.positions, system.atomic_numbers, edges.index, 5, False,
                                                        torch.zeros(3, 3, dtype=torch.float64),
                                                        torch.zeros(3, dtype=torch.bool), 0.0)
    assert virial.shape == (0, 6) and float(cell_virial.abs().max()) == 0.0  # no Coulomb term
    assert float(energy) == pytest.approx(float(atomic[:5].sum()), rel=1e-14)
    pos = system.positions.clone().requires_grad_(True)
    local = pot.model.atomic_energies(system._replace(positions=pos), edges)[:5].sum()
    (grad,) = torch.autograd.grad(local, pos)
    torch.testing.assert_close(forces, -grad, rtol=1e-12, atol=1e-12)


def test_export_in_another_dtype_leaves_the_potential_unchanged(tmp_path):
    pot = lh.make_potential(torch.float64, n_layers=2)
    path = export_lammps(pot, tmp_path / "as32.pt", dtype=torch.float32)
    assert pot.dtype == torch.float64
    assert read_lammps_metadata(path)["dtype"] == "float32"


def test_export_from_a_potential_file(tmp_path):
    pot = lh.make_potential(torch.float64, n_layers=2)
    pot.save(tmp_path / "pot.pt")
    meta = read_lammps_metadata(export_lammps(tmp_path / "pot.pt", tmp_path / "lmp.pt"))
    assert meta["n_layers"] == 2


def test_potential_holding_an_ase_calculator_is_refused(tmp_path):
    pot = lh.make_potential(torch.float64, n_layers=1)
    pot.reference_calculator = EMT()
    with pytest.raises(ExportError, match="ASE calculator"):
        export_lammps(pot, tmp_path / "x.pt")
    assert not (tmp_path / "x.pt").exists()


def test_non_scriptable_term_is_refused(tmp_path):
    class PythonOnly(torch.nn.Module):
        def forward(self, system, edges):
            return torch.as_tensor([len(str(s)) for s in system.positions.tolist()], dtype=torch.float64)

    pot = lh.make_potential(torch.float64, n_layers=1)
    pot.model.terms.append(PythonOnly())
    with pytest.raises(ExportError, match="cannot be compiled to TorchScript"):
        export_lammps(pot, tmp_path / "x.pt")


def test_ase_calculator_baseline_is_refused(tmp_path):
    base = dict(elements=("H", "C", "O"), cutoff=3.0, l_max=1, channels=4, n_layers=1, avg_num_neighbors=6.0)
    pot = mlip.build_potential(mlip.ModelConfig(**base), baselines=[{"kind": "ase", "calculator": "emt"}])
    with pytest.raises(ExportError, match="ASE-calculator baseline"):
        export_lammps(pot, tmp_path / "x.pt")


@pytest.mark.parametrize(
    "config, baselines",
    [
        (dict(long_range="coulomb"), None),
        ({}, [{"kind": "point_charges", "charges": {"H": 0.4, "C": 0.0, "O": -0.8}}]),
    ],
)
def test_coulomb_terms_export_for_one_rank(config, baselines, tmp_path):
    """Coulomb terms are exported (LAMMPS runs them on one MPI rank: tests/lammps/test_lammps_coulomb.py)."""
    base = dict(elements=("H", "C", "O"), cutoff=3.0, l_max=1, channels=4, n_layers=1, avg_num_neighbors=6.0)
    pot = mlip.build_potential(mlip.ModelConfig(**base, **config), baselines=baselines)
    assert read_lammps_metadata(export_lammps(pot, tmp_path / "x.pt"))["long_range"] == "coulomb"
