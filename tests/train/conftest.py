"""Fixtures for the training tests; helpers live in emt_fixtures.py."""
import ase.io
import pytest

from emt_fixtures import make_emt_frames


@pytest.fixture(scope="session")
def emt_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "cuau.extxyz"
    ase.io.write(path, make_emt_frames())
    return str(path)
