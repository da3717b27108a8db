"""md tests run torch single-threaded: the systems are tiny and, on a shared 2-core machine,
intra-op threads only add contention (a 20x slowdown was measured). Set per test and restored
after it, so tests elsewhere in the suite keep torch's default."""
import os
import sys

import pytest
import torch

sys.path.insert(0, os.path.dirname(__file__))


@pytest.fixture(autouse=True)
def _single_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
