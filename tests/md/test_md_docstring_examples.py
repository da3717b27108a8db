"""The runnable examples in md's docstrings run and print what they claim."""
import doctest
import importlib
import io
import pkgutil

import pytest
import torch

import md
from md.reporters.progress import ProgressReporter

MODULES = sorted(m.name for m in pkgutil.walk_packages(md.__path__, "md."))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"


def test_progress_bar_reports_speed():
    import ase.build

    stream = io.StringIO()
    lj = md.LennardJones(0.0104, 3.4, 6.0)
    state = md.initial_state(ase.build.bulk("Ar", "fcc", a=5.26, cubic=True), lj, temperature_K=50.0)
    progress = ProgressReporter(interval=5, enabled=True, stream=stream)
    md.run(state, lj, md.VelocityVerlet(5.0), 20, [progress])
    assert "ns/day" in stream.getvalue() and "atom·steps/s" in stream.getvalue()
    assert progress.ns_per_day > 0 and progress.atom_steps_per_s > 0
    assert torch.get_num_threads() == 1  # the md test session runs single-threaded
