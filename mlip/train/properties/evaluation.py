"""One evaluation of the property targets: the model, the structures' graphs and the shared
strain probes (a structure used by several targets is differentiated once per evaluation)."""
from __future__ import annotations

from typing import Dict, Tuple

from torch import Tensor

from mlip.models.hessian import hessian
from mlip.neighbor_list import neighbor_list
from mlip.train.properties.strain_probe import StrainProbe
from mlip.train.properties.structure import Structure
from mlip.types import Edges, System


class PropertyEvaluation:
    """Evaluates structures with ``model`` (a :class:`~mlip.train.properties.whole_model.WholeModel`).

    Args:
        model: the energy model.
        graphs: a dict kept by the caller between evaluations, (structure, dtype, device) ->
            (System, Edges): neighbour lists are built once per structure.
        differentiable: keep the graphs with respect to the weights (training); False: values only.
    """

    def __init__(self, model, graphs: Dict, differentiable: bool):
        self.model = model
        self.differentiable = differentiable
        self._graphs = graphs
        self._probes: Dict[Structure, StrainProbe] = {}

    def graph(self, structure: Structure) -> Tuple[System, Edges]:
        """The structure as a System in the model's dtype and device, with its neighbour list."""
        key = (structure, self.model.cutoff, self.model.dtype, self.model.device)
        if key not in self._graphs:
            system = structure.system(self.model.dtype, self.model.device)
            self._graphs[key] = (system, neighbor_list(system, self.model.cutoff))
        return self._graphs[key]

    def probe(self, structure: Structure, keep: bool = True) -> StrainProbe:
        """The strain probe (stress and its strain derivatives) of ``structure``; ``keep=False``
        for a one-off structure (e.g. a step of a lattice-constant search): nothing is cached."""
        if not keep:
            system = structure.system(self.model.dtype, self.model.device)
            return StrainProbe(self.model, system, neighbor_list(system, self.model.cutoff), self.differentiable)
        if structure not in self._probes:
            system, edges = self.graph(structure)
            self._probes[structure] = StrainProbe(self.model, system, edges, self.differentiable)
        return self._probes[structure]

    def energy(self, structure: Structure) -> Tensor:
        """Potential energy of ``structure``, eV (scalar, differentiable w.r.t. the weights)."""
        system, edges = self.graph(structure)
        return self.model(system, edges, compute_stress=False, create_graph=True, compute_forces=False).energy[0]

    def hessian(self, structure: Structure) -> Tensor:
        """(3N, 3N) Hessian of ``structure``, eV/Å², by double backward through the wrapper."""
        system, _ = self.graph(structure)
        return hessian(self.model, system, create_graph=self.differentiable)
