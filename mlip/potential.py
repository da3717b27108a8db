"""A saved, loadable potential: model + metadata, usable as an md force field.

File format (a ``torch.save`` dict, read back with ``weights_only=True``, i.e. no pickled code):

    {"format": "mlip-potential", "format_version": 1,
     "metadata": {"mlip_version", "elements", "atomic_numbers", "cutoff_A", "dtype", "units",
                  "created_utc", "config": ModelConfig.to_dict(), "info": {...},
                  "baselines": [resolved spec of each torch baseline term, in term order],
                  "external_baseline": {"kind": "ase", ...} or None,
                  "fidelities": [...] or [], "fidelity": the one evaluated or None, "uncertainty_scale": float (absent: 1)},
     "state_dict": {name: tensor}}

A potential is a sum of energy terms: ``model.terms[0]`` is the learned network, the others
are torch baselines (ZBL, Lennard-Jones, point charges, a frozen potential; see
:mod:`mlip.baselines`); an external ASE-calculator baseline is added outside torch.

Loading checks every field and refuses missing or inconsistent metadata with a clear error.
Files are written to a temporary name and renamed, so a crash never leaves half a file.
"""
from __future__ import annotations

import datetime
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import torch
from torch import nn

from mlip.atomic_io import atomic_open
from mlip.backends import resolve_model_backend
from mlip.errors import ConfigError, PotentialFileError
from mlip.models.committee import CommitteeMean, member_spread
from mlip.models.config import ModelConfig
from mlip.models.force_model import ForceModel
from mlip.models.multi_fidelity import learned_term_for, select_fidelity, selected_fidelity
from mlip.models.network import new_network
from mlip.potential_format import FORMAT_NAME, FORMAT_VERSION, UNITS, fail as _fail, read_payload
from mlip.nn.interaction import InteractionBlock
from mlip.chunked_evaluation import chunked_prediction
from mlip.types import Edges, Prediction, System

#: Graphs with more edges are evaluated in blocks (bounded memory, :mod:`mlip.chunked_evaluation`):
#: about 20,000 atoms at 5 Å in a metal; ``pair_style mlip``'s ``max_edges`` default is the same.
DEFAULT_MAX_EDGES_PER_CHUNK = 1 << 20


class Potential(nn.Module):
    """An interatomic potential: ``potential(system, edges, compute_stress) -> Prediction``.

    Satisfies md's force-field protocol (``cutoff`` in Å plus the call). Inputs are cast to
    the potential's dtype; outputs are in eV, eV/Å, eV/Å³.
    """

    def __init__(
        self,
        config: ModelConfig,
        model: ForceModel,
        info: Optional[Dict[str, Any]] = None,
        baselines: Optional[List[Dict[str, Any]]] = None,
        external=None,
    ):
        super().__init__()
        self.config = config
        self.model = model
        self.info: Dict[str, Any] = dict(info or {})
        #: resolved specs of the torch baseline terms ``model.terms[1:]``
        self.baseline_specs: List[Dict[str, Any]] = list(baselines or [])
        #: :class:`mlip.baselines.ase_baseline.ExternalBaseline` or None
        self.external = external
        #: training on the residual: evaluate the learned term only (no baselines)
        self.residual_only = False
        #: also return the learned charges (``Prediction.charges``) when the model has them
        self.return_charges = False
        #: calibration factor (dimensionless) of the committee spread; see :meth:`set_uncertainty_scale`
        self.uncertainty_scale = 1.0
        #: evaluate graphs of more edges in blocks of this many (None: always whole); see
        #: :meth:`set_max_edges_per_chunk`
        self.max_edges_per_chunk: Optional[int] = DEFAULT_MAX_EDGES_PER_CHUNK

    @property
    def cutoff(self) -> float:
        """Neighbour-list cutoff, Å: the largest of the network's (one message-passing step)
        and the torch baselines' cutoffs."""
        cut = float(self.config.cutoff)
        for term in list(self.model.terms)[1:]:
            cut = max(cut, float(getattr(term, "cutoff", 0.0)))
        return cut

    @property
    def has_charges(self) -> bool:
        """True when the learned model predicts charges (long-range Coulomb)."""
        return self.config.long_range == "coulomb"

    def charges(self, system: System, edges: Edges) -> torch.Tensor:
        """(n_atoms,) learned charges in e (committee: the members' mean), total charge exact."""
        learned = self.model.terms[0]
        members = list(learned.members) if isinstance(learned, CommitteeMean) else [learned]
        q = members[0].charges(system, edges)
        for m in members[1:]:
            q = q + m.charges(system, edges)
        return q / len(members)

    @property
    def fidelities(self) -> tuple:
        """Levels of theory, lowest first; () for one (:mod:`mlip.models.multi_fidelity`)."""
        return tuple(self.config.fidelities)

    @property
    def fidelity(self) -> Optional[str]:
        """The fidelity this potential evaluates (None for a single-fidelity potential)."""
        return selected_fidelity(self.model.terms[0])

    def set_fidelity(self, name: Optional[str]) -> "Potential":
        """Evaluate fidelity ``name`` (None: the highest) in place, like ``.to()``; returns self."""
        select_fidelity(self.model.terms[0], name)
        return self

    @property
    def elements(self):
        return self.config.elements

    @property
    def atomic_numbers(self):
        return self.config.atomic_numbers

    @property
    def committee_size(self) -> int:
        """Number of committee members (1 for a single model)."""
        learned = self.model.terms[0]
        return int(learned.n_members) if isinstance(learned, CommitteeMean) else 1

    def predict_with_uncertainty(self, system: System, edges: Edges, compute_stress: bool = False):
        """Mean prediction plus calibrated committee spread: ``(Prediction, energy_std
        (n_systems,) eV, forces_std (n_atoms,) eV/Å)`` as :meth:`committee_spread` defines them.
        For a single model the spreads are zero. Same numbers as
        ``forward(..., compute_spread=True)``, which also carries them in the Prediction."""
        mean = self.forward(system, edges, compute_stress, compute_spread=True)
        if mean.forces_std is None:  # a single model
            return mean, torch.zeros_like(mean.energy), torch.zeros_like(mean.forces[:, 0])
        return mean, mean.energy_std, mean.forces_std

    def committee_spread(self, system: System, edges: Edges):
        """The one uncertainty definition (ASE calculator, ``mlip md``, active learning): ``(energy_std
        (n_systems,) eV, forces_std (n_atoms,) eV/Å)`` = s·std_members(E), s·sqrt(Σ_xyz var_members(F_i))
        with s = :attr:`uncertainty_scale`, population variances over the members, each evaluated with
        the same other terms as the mean (one forward and backward pass each, through the one autograd
        wrapper; the external ASE baseline is common to all and cancels). Zeros for a single model."""
        system, edges = _cast(system, self.dtype, self.device), _edges_to(edges, self.device)
        learned = self.model.terms[0]
        if not isinstance(learned, CommitteeMean):
            return system.positions.new_zeros(system.cell.shape[0]), system.positions.new_zeros(system.positions.shape[0])
        energy_std, forces_std = member_spread(learned, [] if self.residual_only else list(self.model.terms)[1:], system, edges)
        return self.uncertainty_scale * energy_std, self.uncertainty_scale * forces_std

    def set_uncertainty_scale(self, scale: float) -> "Potential":
        """Multiply :meth:`committee_spread` (eV, eV/Å) by ``scale`` (dimensionless, finite, > 0; 1: raw)
        in place, like ``.to()``; returns self. Saved in the file; fitted by :mod:`mlip.train.calibration`."""
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not 0 < scale < float("inf"):
            raise ConfigError(f"uncertainty_scale must be a finite number > 0 (1 = the raw committee spread), got {scale!r}")
        self.uncertainty_scale = float(scale)
        return self

    def set_max_edges_per_chunk(self, max_edges: Optional[int]) -> "Potential":
        """Bound inference memory: graphs of more than ``max_edges`` edges are evaluated in blocks
        of receivers, one layer at a time (:mod:`mlip.chunked_evaluation`; one more forward pass
        of all layers but the last). None: always whole. Training (``create_graph``), committee
        spreads and Coulomb models are always evaluated whole. Returns the potential."""
        if max_edges is not None and (isinstance(max_edges, bool) or not isinstance(max_edges, int) or max_edges < 1):
            raise ConfigError(f"max_edges_per_chunk must be a positive integer or None, got {max_edges!r}")
        self.max_edges_per_chunk = max_edges
        return self

    def set_backend(self, backend: str = "auto") -> "Potential":
        """Choose the kernels that evaluate this potential, in place (like ``.to()``), and
        return it: "auto" (native when the op library is loaded, else reference), "native"
        (an error naming the fix when it is missing) or "reference". Weights, outputs (to
        rounding) and saved files do not depend on it; see :mod:`mlip.backends`."""
        concrete = resolve_model_backend(backend)
        for module in self.modules():
            if isinstance(module, InteractionBlock):
                module.set_backend(concrete)
        return self

    @property
    def backend(self) -> str:
        """The kernels in use: "native" or "reference" (of the learned model and any frozen
        potential baseline, which always share one backend)."""
        blocks = [m for m in self.modules() if isinstance(m, InteractionBlock)]
        return blocks[0].backend if blocks else "reference"

    def __repr__(self) -> str:
        extra = f", committee_size={self.committee_size}" if self.committee_size > 1 else ""
        base = [s.get("kind", "?") for s in self.baseline_specs] + ([self.external.spec.get("kind", "ase")] if self.external else [])
        extra += f", baselines={base}" if base else ""
        extra += f", fidelity={self.fidelity!r} of {list(self.fidelities)}" if self.fidelities else ""
        return (
            f"Potential(elements={list(self.elements)}, cutoff_A={self.cutoff:g}, dtype={str(self.dtype).replace('torch.', '')}, "
            f"device={self.device}, backend={self.backend!r}{extra})"
        )

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def forward(self, system: System, edges: Edges, compute_stress: bool = False, create_graph: bool = False,
                compute_spread: bool = False, fidelity=None) -> Prediction:
        """Energy (eV), forces (eV/Å) and optionally stress (eV/Å³) of a batched system:
        the sum of all torch terms plus the external baseline (if any), or, while training on
        the residual (``residual_only``), the learned term alone.

        ``compute_spread=True`` on a committee also fills ``energy_std`` (n_systems,) eV and
        ``forces_std`` (n_atoms,) eV/Å (see :meth:`committee_spread`; it costs one more
        forward and backward pass per member, so it is off by default). Energy and forces stay
        the mean's, bit for bit. A single model leaves both None.
        ``fidelity``: per-system fidelity names (None: :attr:`fidelity`) for mixed batches."""
        dt, dev = self.dtype, self.device
        if system.positions.dtype != dt or system.positions.device != dev:
            system = _cast(system, dt, dev)
            edges = _edges_to(edges, dev)
        learned = learned_term_for(self.model.terms[0], fidelity, system)
        if self.residual_only:
            pred = ForceModel([learned])(system, edges, True, compute_stress, create_graph)
        else:
            model = self.model if learned is self.model.terms[0] else ForceModel([learned] + list(self.model.terms)[1:])
            pred = None
            chunk = self.max_edges_per_chunk
            if chunk is not None and not create_graph and edges.index.shape[1] > chunk:
                pred = chunked_prediction(model, system, edges, compute_stress, chunk)
            if pred is None:
                pred = model(system, edges, True, compute_stress, create_graph)
            if self.external is not None:
                pred = self.external.add_to(system, pred, compute_stress)
        if self.return_charges and self.has_charges:
            pred = pred._replace(charges=self.charges(system, edges))
        if compute_spread and self.committee_size > 1:
            energy_std, forces_std = self.committee_spread(system, edges)
            pred = pred._replace(energy_std=energy_std, forces_std=forces_std)
        return pred

    def metadata(self) -> Dict[str, Any]:
        """The metadata block written to files (JSON-serialisable)."""
        from mlip.version import __version__

        return {
            "mlip_version": __version__,
            "elements": list(self.config.elements),
            "atomic_numbers": list(self.config.atomic_numbers),
            "cutoff_A": self.cutoff,
            "dtype": str(self.dtype).replace("torch.", ""),
            "units": dict(UNITS),
            "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "config": self.config.to_dict(),
            "committee_size": self.committee_size,
            "info": dict(self.info),
            "baselines": [dict(s) for s in self.baseline_specs],
            "external_baseline": None if self.external is None else dict(self.external.spec),
            "fidelities": list(self.fidelities),
            "fidelity": self.fidelity,
            "uncertainty_scale": self.uncertainty_scale,
        }

    def save(self, path: Union[str, os.PathLike]) -> Path:
        """Write the potential to ``path`` atomically (temporary file + rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "metadata": self.metadata(),
            "state_dict": {k: v.detach().cpu() for k, v in self.state_dict().items()},
        }
        with atomic_open(str(path), "wb") as f:  # fsync'ed before the rename: never half a file
            torch.save(payload, f)
        return path


def build_potential(
    config: ModelConfig,
    dtype: torch.dtype = torch.float64,
    device: Union[str, torch.device] = "cpu",
    seed: int = 0,
    info: Optional[Dict[str, Any]] = None,
    committee_size: int = 1,
    baselines: Optional[List[Dict[str, Any]]] = None,
    load_weights: bool = True,
    backend: str = "auto",
) -> Potential:
    """A freshly initialised potential (weights N(0, 1) from a local ``torch.Generator(seed)``;
    per-element scale 1 and shift 0 eV). Never touches the global RNG or default dtype.

    ``baselines``: spec dicts (see :mod:`mlip.baselines.registry`) of baseline terms added to the
    learned one, e.g. ``[{"kind": "zbl"}, {"kind": "ase", "calculator": "gfn2-xtb"}]``.
    ``load_weights=False`` builds a frozen-potential baseline's architecture only (its weights
    then come from a state dict, as in :func:`load_potential`).
    ``backend``: "auto" (default), "native" or "reference" kernels (:mod:`mlip.backends`);
    change it later with :meth:`Potential.set_backend`.

    Example:
        >>> pot = build_potential(ModelConfig(elements=("Cu",), cutoff=4.0, channels=8, n_layers=2))
        >>> pot.cutoff, pot.dtype
        (4.0, torch.float64)
    """
    if dtype not in (torch.float32, torch.float64):
        raise PotentialFileError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
    if committee_size < 1:
        raise PotentialFileError(f"committee_size must be >= 1, got {committee_size}")
    kernels = resolve_model_backend(backend)
    learned = new_network(config, kernels, committee_size, seed)
    terms, specs, external = [], [], None
    if baselines:
        from mlip.baselines.registry import build_baselines

        # a frozen_potential baseline reads/builds a potential: hand this layer's functions down
        terms, specs, external = build_baselines(baselines, config.atomic_numbers, load_weights,
                                                 potential_files=(load_potential, build_potential))
    model = ForceModel([learned] + terms)
    return Potential(config, model, info, specs, external).to(device=device, dtype=dtype).set_backend(kernels)


def _cast(system: System, dtype: torch.dtype, device: torch.device) -> System:
    q = system.total_charge
    return System(system.positions.to(device, dtype), system.atomic_numbers.to(device), system.cell.to(device, dtype),
                  system.pbc.to(device), system.system_index.to(device), None if q is None else q.to(device, dtype))


def _edges_to(edges: Edges, device: torch.device) -> Edges:
    return Edges(edges.index.to(device), edges.shift.to(device))


def load_potential(
    path: Union[str, os.PathLike],
    device: Union[str, torch.device] = "cpu",
    dtype: Optional[torch.dtype] = None,
    backend: str = "auto",
    fidelity: Optional[str] = None,
) -> Potential:
    """Load a potential file (or a shipped potential by name) with full metadata checks.

    Args:
        path: file path, or the name of a potential shipped in potentials/.
        device: where to put the weights.
        dtype: convert to this dtype (default: the dtype it was saved in).
        backend: kernels that evaluate it: "auto" (native when the op library is loaded,
            else reference), "native" or "reference" (:mod:`mlip.backends`). The file does
            not fix it: a potential trained on native kernels runs on the reference and back.
        fidelity: the fidelity to evaluate (default: the saved one, normally the highest).

    Raises:
        PotentialFileError: missing, corrupted, foreign, or inconsistent file.
    """
    p = Path(path)
    if not p.exists():
        from mlip.shipped import find_shipped

        shipped = find_shipped(str(path))
        if shipped is None:
            raise PotentialFileError(f"{path}: no such file, and no shipped potential of that name")
        p = shipped
    meta, state, config, saved_dtype = read_payload(p)
    committee_size = meta.get("committee_size", 1)
    if not isinstance(committee_size, int) or committee_size < 1:
        raise _fail(p, f"invalid committee_size {committee_size!r}")
    baselines = list(meta.get("baselines") or [])
    external = meta.get("external_baseline")
    if not isinstance(baselines, list) or not (external is None or isinstance(external, dict)):
        raise _fail(p, "metadata 'baselines' must be a list and 'external_baseline' a mapping or null")
    try:
        pot = build_potential(
            config, dtype=saved_dtype, info=meta.get("info") or {}, committee_size=committee_size,
            baselines=baselines + ([external] if external else []), load_weights=False, backend="reference",
        ).set_uncertainty_scale(meta.get("uncertainty_scale", 1.0))  # files before calibration: 1
    except ConfigError as exc:
        raise _fail(p, f"invalid baseline or uncertainty_scale in metadata: {exc}") from exc
    if float(meta["cutoff_A"]) != pot.cutoff:
        raise _fail(p, f"metadata cutoff {meta['cutoff_A']} Å disagrees with the config and baselines' {pot.cutoff} Å")
    if pot.external is not None:
        pot.external.check_available()
    expected = pot.state_dict()
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    if missing or extra:
        raise _fail(p, f"weights do not match the config (missing {missing[:3]}, unexpected {extra[:3]})")
    for k, v in state.items():
        if v.shape != expected[k].shape:
            raise _fail(p, f"weight {k} has shape {tuple(v.shape)}, config implies {tuple(expected[k].shape)}")
        if v.is_floating_point() and v.dtype != saved_dtype:
            raise _fail(p, f"weight {k} is {v.dtype} but metadata says {meta['dtype']}")
    if list(meta.get("fidelities", config.fidelities)) != list(config.fidelities):
        raise _fail(p, f"metadata fidelities {meta['fidelities']} disagree with the config's {list(config.fidelities)}")
    pot.load_state_dict(state)
    pot.set_fidelity(fidelity if fidelity is not None else meta.get("fidelity"))
    return pot.to(device=device, dtype=dtype or saved_dtype).set_backend(backend)
