"""md tests run torch single-threaded: the systems are tiny and, on a shared 2-core machine,
intra-op threads only add contention (a 20x slowdown was measured). Set per test and restored
after it, so tests elsewhere in the suite keep torch's default."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))


@pytest.fixture(autouse=True)
def _single_thread(single_thread):  # the shared fixture of tests/conftest.py, for every test here
    yield
