"""Importing mlip and using a calculator leaves torch's dtype, RNG, threads and os.environ alone."""
import subprocess
import sys
import textwrap

import pytest


@pytest.mark.slow  # ~5 s: a fresh interpreter imports torch, mlip and md
def test_import_and_calculator_leave_global_state_untouched():
    code = textwrap.dedent(
        """
        import os, torch
        env0 = dict(os.environ); dtype0 = torch.get_default_dtype()
        rng0 = torch.random.get_rng_state().clone(); threads0 = torch.get_num_threads()
        import numpy as np; nprng0 = np.random.get_state()[1].copy()
        import mlip, md, ase.build
        pot = mlip.build_potential(mlip.ModelConfig(elements=("H", "O"), cutoff=3.0, channels=4, n_layers=2), seed=5)
        atoms = ase.build.molecule("H2O"); atoms.calc = mlip.MLIPCalculator(pot)
        atoms.get_forces()
        assert dict(os.environ) == env0, set(os.environ.items()) ^ set(env0.items())
        assert torch.get_default_dtype() == dtype0
        assert torch.equal(torch.random.get_rng_state(), rng0), "global torch RNG consumed"
        assert torch.get_num_threads() == threads0
        assert (np.random.get_state()[1] == nprng0).all(), "global numpy RNG consumed"
        print("CLEAN")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "CLEAN" in out.stdout
