"""Shared fixtures for the physics tests (helpers live in model_fixtures.py), and the
``--shuffle SEED`` option: run the suite in a random order to catch tests that depend on each
other or on state left behind (threads, RNG, loaded libraries).

``--shuffle 1234`` shuffles the order of the test files and, within each file, of its tests
(files stay contiguous, so module-scoped fixtures are built once); ``--shuffle random`` draws
the seed and prints it, so a failing order can be replayed.
"""
import random

import pytest
import torch

from model_fixtures import small_potential


def pytest_addoption(parser):
    parser.addoption("--shuffle", default=None, metavar="SEED",
                     help="run test files, and tests within each file, in a random order (an integer seed, or 'random')")


def _shuffle_seed(config):
    value = config.getoption("--shuffle")
    if value is None:
        return None
    if value == "random":
        return random.SystemRandom().randrange(2**31)
    try:
        return int(value)
    except ValueError:
        raise pytest.UsageError(f"--shuffle expects an integer seed or 'random', got {value!r}") from None


def pytest_configure(config):
    config._mlip_shuffle_seed = _shuffle_seed(config)


def pytest_report_header(config):
    seed = getattr(config, "_mlip_shuffle_seed", None)
    return None if seed is None else f"test order shuffled: --shuffle {seed} replays it"


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    seed = getattr(config, "_mlip_shuffle_seed", None)
    if seed is not None:  # also under -q, where the header is not shown
        terminalreporter.write_line(f"test order was shuffled with --shuffle {seed} (pass it again to replay)")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    seed = getattr(config, "_mlip_shuffle_seed", None)
    if seed is None:
        return
    rng = random.Random(seed)  # a private generator: the global `random` state is untouched
    by_file = {}
    for item in items:
        by_file.setdefault(str(item.fspath), []).append(item)
    files = list(by_file)
    rng.shuffle(files)
    shuffled = []
    for name in files:
        group = by_file[name]
        rng.shuffle(group)
        shuffled.extend(group)
    items[:] = shuffled


@pytest.fixture(scope="session")
def potential64():
    return small_potential(torch.float64)


@pytest.fixture(scope="session")
def potential32():
    return small_potential(torch.float32)


@pytest.fixture
def single_thread():
    """torch single-threaded for one test (tiny systems: intra-op threads only add contention),
    restored after it so tests elsewhere keep their thread count."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
