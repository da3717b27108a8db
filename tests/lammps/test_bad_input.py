"""Bad input gives a clear LAMMPS error (never a crash, a hang, or a run on invalid forces)."""
import json

import pytest
import torch

import lammps_helpers as lh

CELL = [[7.0, 0.0, 0.0], [1.1, 6.5, 0.0], [-0.8, 0.6, 7.2]]


def run_input(tmp_path, model_path, pair_coeff_elements="H C O", before_read="", after_read="", run="run 0",
              atoms=None, masses=None, log_path=None, pair_style="mlip"):
    atoms = atoms if atoms is not None else lh.random_structure(CELL, 12, ("H", "C", "O"), seed=3)
    data = lh.write_data(tmp_path / "in.data", atoms, ["H", "C", "O"], masses=masses)
    lmp = lh.open_lammps(log_path)
    try:
        lmp.commands_string(f"""
            units metal
            atom_style atomic
            boundary p p p
            {before_read}
            read_data {data}
            {after_read}
            pair_style {pair_style}
            pair_coeff * * {model_path} {pair_coeff_elements}
            {run}
        """)
    finally:
        lmp.close()


@pytest.mark.parametrize(
    "elements, message",
    [
        ("H C", "this box has 3 atom type(s) but 2 element symbol(s) were given"),
        ("H C O O", "this box has 3 atom type(s) but 4 element symbol(s) were given"),
        ("H C Si", "element 'Si' given for atom type 3 is not one of the model's elements (H C O)"),
        ("H NULL O", "NULL (type 2) is not supported"),
    ],
)
def test_wrong_element_list_in_pair_coeff_is_a_clear_error(elements, message, models, tmp_path):
    with pytest.raises(Exception, match="ERROR") as err:
        run_input(tmp_path, models["f64"][1], pair_coeff_elements=elements)
    assert message in str(err.value)


def test_element_order_that_contradicts_the_masses_warns(models, tmp_path):
    log = tmp_path / "log.lammps"
    run_input(tmp_path, models["f64"][1], pair_coeff_elements="O C H", log_path=log)
    text = log.read_text()
    assert "atom type 1 has mass 1.008 amu but pair_coeff maps it to O" in text
    assert "check the order of the elements in pair_coeff" in text


def resave_with_metadata(src, dst, **changes):
    extra = {"mlip_lammps.json": ""}
    module = torch.jit.load(str(src), _extra_files=extra)
    meta = json.loads(extra["mlip_lammps.json"])
    meta.update(changes)
    torch.jit.save(module, str(dst), _extra_files={"mlip_lammps.json": json.dumps(meta)})
    return dst


def test_model_file_of_another_format_version_is_refused(models, tmp_path):
    future = resave_with_metadata(models["f64"][1], tmp_path / "future.pt", format_version=99)
    with pytest.raises(Exception) as err:
        run_input(tmp_path, future)
    assert "model file format version 99, but this pair_style mlip reads version 2" in str(err.value)


def test_files_that_are_not_mlip_exports_are_refused(models, tmp_path):
    foreign = resave_with_metadata(models["f64"][1], tmp_path / "foreign.pt", format="something-else")
    with pytest.raises(Exception) as err:
        run_input(tmp_path, foreign)
    assert "not a model file written by mlip's LAMMPS export" in str(err.value)

    bare = tmp_path / "bare.pt"
    torch.jit.save(torch.jit.load(str(models["f64"][1])), str(bare))  # no metadata
    with pytest.raises(Exception) as err:
        run_input(tmp_path, bare)
    assert "holds no mlip_lammps.json metadata" in str(err.value)

    garbage = tmp_path / "garbage.pt"
    garbage.write_text("not a model")
    with pytest.raises(Exception) as err:
        run_input(tmp_path, garbage)
    assert "as a TorchScript model" in str(err.value)

    with pytest.raises(Exception) as err:
        run_input(tmp_path, tmp_path / "missing.pt")
    assert "missing.pt" in str(err.value)


def test_communication_cutoff_smaller_than_the_receptive_field_is_refused(models, tmp_path):
    # whole-graph path: 3 layers x 3.5 Å + 2 Å default skin = 12.5 Å of ghost atoms are needed
    with pytest.raises(Exception) as err:
        run_input(tmp_path, models["f64"][1], after_read="comm_modify cutoff 6.0", pair_style="mlip exchange no")
    text = str(err.value)
    assert "comm_modify cutoff 6 A is too small for this model" in text
    assert "Use 'comm_modify cutoff 12.5'" in text
    # large enough: accepted
    run_input(tmp_path, models["f64"][1], after_read="comm_modify cutoff 13.0", pair_style="mlip exchange no")
    # feature exchange (the default): one cutoff + skin (5.5 Å) is enough
    run_input(tmp_path, models["f64"][1], after_read="comm_modify cutoff 6.0")


def test_bad_exchange_and_max_edges_values_are_refused(models, tmp_path):
    with pytest.raises(Exception) as err:
        run_input(tmp_path, models["f64"][1], pair_style="mlip exchange maybe")
    assert "boolean" in str(err.value).lower()
    with pytest.raises(Exception) as err:
        run_input(tmp_path, models["f64"][1], pair_style="mlip max_edges -5")
    assert "max_edges must be >= 0" in str(err.value)


def test_newton_pair_off_and_non_metal_units_are_refused(models, tmp_path):
    with pytest.raises(Exception) as err:
        run_input(tmp_path, models["f64"][1], before_read="newton off")
    assert "requires newton pair on" in str(err.value)
    atoms = lh.random_structure(CELL, 12, ("H", "C", "O"), seed=3)
    data = lh.write_data(tmp_path / "real.data", atoms, ["H", "C", "O"])
    lmp = lh.open_lammps()
    try:
        with pytest.raises(Exception) as err:
            lmp.commands_string(f"""
                units real
                atom_style atomic
                read_data {data}
                pair_style mlip
                pair_coeff * * {models["f64"][1]} H C O
                run 0
            """)
        assert "requires units metal" in str(err.value)
    finally:
        lmp.close()


def test_non_finite_model_output_stops_the_run(models, tmp_path):
    atoms = lh.random_structure(CELL, 12, ("H", "C", "O"), seed=3)
    atoms.positions[1] = atoms.positions[0]  # overlapping atoms: r = 0 on an edge
    with pytest.raises(Exception) as err:
        run_input(tmp_path, models["f64"][1], atoms=atoms, run="fix nve all nve\nrun 5")
    assert "non-finite energy, forces or virial at step 0" in str(err.value)


def test_unknown_pair_style_keyword_and_bad_device(models, tmp_path):
    lmp = lh.open_lammps()
    try:
        with pytest.raises(Exception) as err:
            lmp.commands_string("units metal\npair_style mlip devic cpu")
        assert "unknown keyword 'devic'" in str(err.value)
    finally:
        lmp.close()
    if not torch.cuda.is_available():
        lmp = lh.open_lammps()
        atoms = lh.random_structure(CELL, 12, ("H", "C", "O"), seed=3)
        data = lh.write_data(tmp_path / "dev.data", atoms, ["H", "C", "O"])
        try:
            with pytest.raises(Exception) as err:
                lmp.commands_string(f"""
                    units metal
                    atom_style atomic
                    read_data {data}
                    pair_style mlip device cuda
                    pair_coeff * * {models["f64"][1]} H C O
                """)
            assert "no CUDA" in str(err.value)
        finally:
            lmp.close()
