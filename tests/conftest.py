"""Shared fixtures for the physics tests; the helpers live in model_fixtures.py."""
import pytest
import torch

from model_fixtures import small_potential


@pytest.fixture(scope="session")
def potential64():
    return small_potential(torch.float64)


@pytest.fixture(scope="session")
def potential32():
    return small_potential(torch.float32)
