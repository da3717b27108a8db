"""The force model compiles with TorchScript (deployment path) and gives the same numbers."""
import torch

import mlip
from model_fixtures import random_crystal, small_potential


def test_scripted_force_model_equals_eager():
    pot = small_potential(torch.float64)
    scripted = torch.jit.script(pot.model)
    system = mlip.system_from_atoms(random_crystal(seed=21))
    edges = mlip.neighbor_list(system, pot.cutoff)
    eager = pot.model(system, edges, True, True, False)
    compiled = scripted(system, edges, True, True, False)
    torch.testing.assert_close(compiled.energy, eager.energy, rtol=1e-13, atol=1e-12)
    torch.testing.assert_close(compiled.forces, eager.forces, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(compiled.stress, eager.stress, rtol=1e-12, atol=1e-12)
