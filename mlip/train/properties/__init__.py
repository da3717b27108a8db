"""Property targets in the training loss: lattice constant, zero stress, bulk modulus, cubic
elastic constants, harmonic frequencies, dimer energy curves (``training.properties``).

Each property is computed by differentiating the model (stress, its strain derivative,
Hessian) through the one autograd wrapper with the graph kept, so its loss term is
differentiable with respect to the weights; see docs/training.md ("Property targets").
"""
from mlip.train.properties.property_loss import PropertyLoss, property_loss_for
from mlip.train.properties.registry import KINDS, parse_property_targets
from mlip.train.properties.structure import Structure, read_structure

__all__ = ["KINDS", "PropertyLoss", "Structure", "parse_property_targets", "property_loss_for", "read_structure"]
