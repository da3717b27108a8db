"""Export a potential for LAMMPS: ``export_lammps(potential, path)`` -> a TorchScript file.

The file is read by ``pair_style mlip`` (C++ plugin in ``cuda/lammps/``, see ``docs/lammps.md``).
It is self-contained TorchScript: no Python and no third-party op library at run time.

What the deployed module computes (one MPI rank's local and ghost atoms, edges from LAMMPS's
neighbour list, energies of owned atoms, forces by autograd, virials) is described in
:mod:`mlip.export.lammps_module`. Long-range Coulomb terms (a learned charge head, fixed point
charges) are supported when LAMMPS runs on ONE MPI rank: the module then sums them over the
local atoms (= all atoms) in LAMMPS's box, with our own direct sum (non-periodic box) or Ewald
sum (fully periodic box, triclinic included); see :mod:`mlip.export.lammps_terms` and
``docs/lammps.md``. The pair style refuses such a model on more than one rank.

Because the last layer of a message-passing model sees ``n_layers`` hops, LAMMPS must hold ghost
atoms out to ``n_layers · cutoff`` (+ neighbour skin): the metadata declares ``n_layers`` and
``receptive_field_A`` (over all torch terms: the network, ZBL/LJ baselines, a frozen potential;
see :func:`deployment_reach`) and the pair style sets or checks the communication cutoff.

Metadata travels inside the file as the extra file ``mlip_lammps.json``::

    {"format": "mlip-lammps", "format_version": 2, "elements": [...], "atomic_numbers": [...],
     "masses_amu": [...], "cutoff_A": 5.0, "network_cutoff_A": 5.0, "n_layers": 3,
     "receptive_field_A": 15.0, "long_range": "none" | "coulomb", "baselines": [...],
     "dtype": "float64", "lammps_units": "metal", "units": {...}, "mlip_version": ..., ...,
     "fidelities": [...], "fidelity": the level of theory computed (multi-fidelity) or null,
     "ghost_exchange": true | false, "feature_dims": [D_0, ..., D_L]}

``ghost_exchange``: the file also holds the layer-by-layer methods (``exchange_*``, see
:mod:`mlip.export.lammps_layered`) with which ``pair_style mlip`` keeps ghost atoms one cutoff
deep and exchanges node features between ranks once per layer (all short-range models; not
Coulomb models). ``feature_dims`` are the features per atom it communicates before and after
each layer.
"""
from __future__ import annotations

import copy
import json
import os
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

import torch

from mlip.atomic_io import atomic_path
from mlip.backends import resolve_model_backend
from mlip.errors import PotentialFileError
from mlip.export.lammps_coulomb import CoulombRanksModel, distributed_coulomb
from mlip.export.lammps_layered import ExchangeModel, evaluate_with_exchange
from mlip.layered import LayeredModel, layered_parts
from mlip.export.lammps_module import LammpsModel
from mlip.export.lammps_terms import deploy_term, needs_box
from mlip.potential import UNITS, Potential, load_potential
from mlip.types import System

FORMAT_NAME = "mlip-lammps"
#: Bump when the deployed module's call signature or the metadata's meaning changes; the C++
#: pair style refuses files of any other version. Version 2: box, periodicity and total charge
#: inputs and the cell-virial output (Coulomb terms).
FORMAT_VERSION = 2
METADATA_FILE = "mlip_lammps.json"


@contextmanager
def _torchscript_quietly():
    """TorchScript is deprecated in torch >= 2.13 but is the route plain libtorch (LAMMPS) loads."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit.*deprecated", category=DeprecationWarning)
        yield


class ExportError(PotentialFileError):
    """A potential cannot be exported (a non-torch term, or the compiled module disagrees)."""


def export_lammps(
    potential: Union[Potential, str, os.PathLike],
    path: Union[str, os.PathLike],
    dtype: Optional[torch.dtype] = None,
    check: bool = True,
    backend: str = "reference",
    fidelity: Optional[str] = None,
) -> Path:
    """Write ``potential`` as a TorchScript file for LAMMPS's ``pair_style mlip``.

    Args:
        potential: a :class:`~mlip.potential.Potential`, a potential file, or a shipped name.
        path: output file (conventionally ``*.pt``); written atomically.
        dtype: ``torch.float32`` or ``torch.float64`` (default: the potential's dtype).
        check: compare the compiled module with the eager potential on a small random cluster
            (energy, forces, virial) before writing; a mismatch raises :class:`ExportError`.
        backend: kernels compiled into the file, whatever ``potential`` runs on now:
            "reference" (default: plain libtorch, any LAMMPS build), "native" (the fused ops:
            faster, LAMMPS must load the op library, ``pair_style mlip ... ops PATH``), or
            "auto" (native when the op library is loaded here).
        fidelity: the level of theory of a multi-fidelity potential baked into the file
            (default: the one it evaluates, normally the highest); the metadata records it
            (``fidelity``, ``fidelities``). Unknown names raise UnknownFidelityError.

    Returns:
        The written path.

    Raises:
        ExportError: a term cannot be compiled (e.g. a baseline that calls an external ASE
            calculator), or the compiled module disagrees with the potential.

    Coulomb terms (``long_range="coulomb"``, point-charge baselines) are exported; LAMMPS then
    splits their Ewald sum across MPI ranks in a periodic box (:mod:`mlip.export.lammps_coulomb`)
    and runs a finite box on one rank (see ``docs/lammps.md``).

    Example:
        >>> import tempfile, os, mlip
        >>> from mlip.export import export_lammps, read_lammps_metadata
        >>> pot = mlip.build_potential(mlip.ModelConfig(elements=("Cu",), cutoff=4.0, channels=4, n_layers=2))
        >>> out = export_lammps(pot, os.path.join(tempfile.mkdtemp(), "cu.pt"))
        >>> meta = read_lammps_metadata(out)
        >>> meta["elements"], meta["n_layers"], meta["receptive_field_A"]
        (['Cu'], 2, 8.0)
    """
    kernels = resolve_model_backend(backend)
    if not isinstance(potential, Potential):
        potential = load_potential(potential, backend=kernels, fidelity=fidelity)
    elif potential.backend != kernels or (fidelity is not None and fidelity != potential.fidelity):
        potential = copy.deepcopy(potential).set_backend(kernels)  # the caller's object stays as it is
        potential.set_fidelity(fidelity if fidelity is not None else potential.fidelity)
    dtype = dtype or potential.dtype
    if dtype not in (torch.float32, torch.float64):
        raise ExportError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
    _refuse_external_calculators(potential)
    _refuse_external_baseline(potential)
    force_model = copy.deepcopy(potential.model).to(device="cpu", dtype=dtype).eval()
    for p in force_model.parameters():
        p.requires_grad_(False)
    try:
        terms = [deploy_term(t) for t in force_model.terms]
    except TypeError as exc:
        raise ExportError(f"the potential cannot be deployed to LAMMPS: {exc}") from exc
    deployed = LammpsModel(terms, needs_box(force_model))
    parts = layered_parts(force_model)
    if deployed.has_box_terms:  # the Ewald sum split across MPI ranks next to the one-rank forward
        deployed = CoulombRanksModel(deployed, distributed_coulomb(force_model))
    if parts is not None:  # the layer-by-layer methods (feature exchange) next to the whole-graph forward
        deployed = ExchangeModel(deployed, LayeredModel(*parts))
    try:
        with _torchscript_quietly():
            scripted = torch.jit.script(deployed)
    except Exception as exc:
        terms = ", ".join(type(t).__name__ for t in getattr(force_model, "terms", []))
        raise ExportError(
            f"the potential cannot be compiled to TorchScript for LAMMPS (energy terms: {terms}): "
            f"every term must be a TorchScript-compatible torch module. {type(exc).__name__}: {str(exc)[:400]}"
        ) from exc
    if check:
        _check_against_eager(potential, scripted, dtype)
    metadata = lammps_metadata(potential, dtype)
    metadata["ghost_exchange"] = parts is not None
    metadata["coulomb_ranks"] = hasattr(scripted, "coulomb_energy")
    metadata["feature_dims"] = list(scripted.exchange_feature_dims()) if parts is not None else []
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(str(path)) as tmp, _torchscript_quietly():
        torch.jit.save(scripted, tmp, _extra_files={METADATA_FILE: json.dumps(metadata, indent=1)})
    return path


def lammps_metadata(potential: Potential, dtype: torch.dtype) -> Dict[str, Any]:
    """The metadata block stored in the exported file (JSON-serialisable)."""
    from ase.data import atomic_masses

    meta = potential.metadata()
    n_layers, receptive_field = deployment_reach(potential)
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "elements": list(potential.config.elements),
        "atomic_numbers": [int(z) for z in potential.config.atomic_numbers],
        "masses_amu": [float(atomic_masses[z]) for z in potential.config.atomic_numbers],
        "cutoff_A": float(potential.cutoff),
        "network_cutoff_A": float(potential.config.cutoff),
        "n_layers": n_layers,
        "receptive_field_A": receptive_field,
        # Coulomb terms sum over all atoms: one rank (finite box) or the Ewald sum split across ranks
        "long_range": "coulomb" if needs_box(potential.model) else "none",
        "baselines": list(meta.get("baselines") or []),
        "dtype": str(dtype).replace("torch.", ""),
        "lammps_units": "metal",
        "units": dict(UNITS),
        "mlip_version": meta["mlip_version"],
        "created_utc": meta["created_utc"],
        "committee_size": meta.get("committee_size", 1),
        # the model calls torch.ops.mlip.* (exported with backend "native"): LAMMPS must load
        # the op library first (pair_style mlip ops /path/libmlip_ops.so)
        "native_ops": potential.backend == "native",
        "config": meta["config"],
        "info": meta.get("info", {}),
        "fidelities": list(potential.fidelities),  # multi-fidelity: the one level of theory the file computes
        "fidelity": potential.fidelity,
    }


def deployment_reach(potential: Potential) -> Tuple[int, float]:
    """``(n_layers, receptive_field_A)`` of all torch terms together, nested ones included.

    ``n_layers``: the most message-passing steps of any network term (1 for pair terms alone);
    ``receptive_field_A``: how far an atom's energy reaches, the largest of each network's
    ``n_layers · cutoff`` and each pair term's cutoff. LAMMPS keeps ghost atoms out to the
    receptive field (+ skin) and prunes its graph (edges up to ``potential.cutoff``) to
    ``n_layers`` hops; both cover every term."""
    from mlip.models.equivariant import EquivariantModel

    layers, reach = 1, float(potential.cutoff)
    for module in potential.model.modules():
        if isinstance(module, EquivariantModel):
            layers = max(layers, len(module.layers))
            reach = max(reach, len(module.layers) * float(module.cutoff))
    return layers, reach


def read_lammps_metadata(path: Union[str, os.PathLike]) -> Dict[str, Any]:
    """The metadata of an exported LAMMPS model file (raises PotentialFileError if absent)."""
    extra = {METADATA_FILE: ""}
    try:
        with _torchscript_quietly():
            torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    except Exception as exc:
        raise PotentialFileError(f"{path}: not a loadable TorchScript file: {type(exc).__name__}") from exc
    if not extra[METADATA_FILE]:
        raise PotentialFileError(f"{path}: no {METADATA_FILE} inside: not an mlip LAMMPS export")
    return json.loads(extra[METADATA_FILE])


def _refuse_external_calculators(potential: Potential) -> None:
    """Refuse potentials that hold an ASE calculator anywhere (it cannot run inside LAMMPS)."""
    from ase.calculators.calculator import Calculator

    holders = [("potential", vars(potential))]
    holders += [(name or "model", vars(m)) for name, m in potential.named_modules()]
    holders.append(("potential.info", potential.info))
    for owner, attrs in holders:
        for key, value in attrs.items():
            if isinstance(value, Calculator):
                raise ExportError(
                    f"{owner}.{key} is an ASE calculator ({type(value).__name__}); LAMMPS runs only the torch "
                    "part of a potential. Export a potential whose baselines are torch terms, or run it in ASE/md."
                )


def _refuse_external_baseline(potential: Potential) -> None:
    """Refuse an ASE-calculator baseline: it is evaluated outside torch, LAMMPS runs only torch."""
    if getattr(potential, "external", None) is not None:
        spec = getattr(potential.external, "spec", {})
        raise ExportError(
            f"the potential adds an ASE-calculator baseline ({spec}), evaluated outside torch; LAMMPS runs only "
            "torch terms. Export a potential whose baselines are torch terms (zbl, lennard_jones, ...), or run it "
            "in ASE/md."
        )


def _check_against_eager(potential: Potential, scripted: torch.jit.ScriptModule, dtype: torch.dtype) -> None:
    """Compiled module vs eager potential on a random cluster: energy, forces, virial."""
    from mlip.neighbor_list import neighbor_list

    gen = torch.Generator().manual_seed(1234)
    z = torch.tensor(list(potential.config.atomic_numbers), dtype=torch.int64).repeat(3)
    n = z.numel()
    # a loose random cluster: density of ~1 atom per 12 Å^3, minimum distance 1 Å
    side = (12.0 * n) ** (1.0 / 3.0)
    pos = []
    while len(pos) < n:
        p = torch.rand(3, generator=gen, dtype=torch.float64) * side
        if all(float(torch.linalg.norm(p - q)) > 1.0 for q in pos):
            pos.append(p)
    positions = torch.stack(pos).to(dtype)
    total_charge = _consistent_total_charge(potential, z)
    system = System(
        positions,
        z,
        torch.zeros((1, 3, 3), dtype=dtype),
        torch.zeros((1, 3), dtype=torch.bool),
        torch.zeros((n,), dtype=torch.int64),
        torch.tensor([total_charge], dtype=dtype),
    )
    edges = neighbor_list(system, potential.cutoff)
    eager_model = copy.deepcopy(potential.model).to(device="cpu", dtype=dtype)
    ref = eager_model(system, edges, True, False, False)
    energy, forces, _, atom_virial, _ = scripted(
        positions, z, edges.index, n, True, torch.zeros((3, 3), dtype=dtype), torch.zeros(3, dtype=torch.bool), total_charge
    )
    virial_fdotr = (positions.unsqueeze(2) * forces.unsqueeze(1)).sum(0)  # Σ r_a F_b
    virial_atoms = atom_virial.sum(0)
    rtol = 1e-9 if dtype == torch.float64 else 2e-4
    scale_e = max(1.0, float(ref.energy.abs().max()))
    scale_f = max(1e-3, float(ref.forces.abs().max()))
    problems = []
    if abs(float(energy) - float(ref.energy[0])) > rtol * scale_e:
        problems.append(f"energy {float(energy)} vs {float(ref.energy[0])} eV")
    if float((forces - ref.forces).abs().max()) > rtol * scale_f:
        problems.append(f"forces differ by {float((forces - ref.forces).abs().max()):.3g} eV/Å")
    six = torch.stack(
        [virial_fdotr[0, 0], virial_fdotr[1, 1], virial_fdotr[2, 2], virial_fdotr[0, 1], virial_fdotr[0, 2], virial_fdotr[1, 2]]
    )
    scale_v = max(1e-3, float(six.abs().max()))
    if float((virial_atoms - six).abs().max()) > 10 * rtol * scale_v:
        problems.append(
            "per-atom virial does not sum to Σ r⊗F (a term computes distances without mlip.types.edge_vectors?)"
        )
    if hasattr(scripted, "exchange_embed"):  # the layer-by-layer path (one rank, no ghosts here)
        e_x, f_x, _ = evaluate_with_exchange(scripted, positions, z, edges.index, n, torch.arange(n))
        if abs(float(e_x) - float(ref.energy[0])) > rtol * scale_e or float((f_x - ref.forces).abs().max()) > rtol * scale_f:
            problems.append(f"the layer-by-layer methods give energy {float(e_x)} eV, forces off by "
                            f"{float((f_x - ref.forces).abs().max()):.3g} eV/Å")
    if problems:
        raise ExportError("the compiled LAMMPS module disagrees with the potential: " + "; ".join(problems))


def _consistent_total_charge(potential: Potential, atomic_numbers: torch.Tensor) -> float:
    """A total charge (e) the potential accepts for these atoms: the fixed point charges' sum
    if it has a point-charge term (they cannot absorb an excess), else 0."""
    from mlip.physics.point_charges import PointCharges

    for module in potential.model.modules():
        if isinstance(module, PointCharges):
            return float(module.charge_table.double()[atomic_numbers].sum())
    return 0.0
