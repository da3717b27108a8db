"""The runnable examples in mlip.o3 docstrings stay correct."""
import doctest
import importlib

import pytest

MODULES = [
    "irreps", "rotation", "sphere_quadrature", "spherical_harmonics", "wigner_3j", "wigner_d"
]


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(f"mlip.o3.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
