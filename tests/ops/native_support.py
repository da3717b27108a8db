"""Shared helpers of the native-op tests (tests/ops): skip or fail when the library is missing.

The tests skip, with the reason, only when libmlip_ops is not built; with
``MLIP_REQUIRE_NATIVE=1`` (set by ``make test``) a missing library fails them instead.
"""
from __future__ import annotations

import os

import pytest
import torch

import mlip.ops

REQUIRE_NATIVE = os.environ.get("MLIP_REQUIRE_NATIVE", "") == "1"


def native_or_skip() -> None:
    if mlip.ops.available():
        return
    reason = f"native op library libmlip_ops is not built ({mlip.ops.load_error()}); build it with `make ops`"
    if REQUIRE_NATIVE:
        pytest.fail(f"MLIP_REQUIRE_NATIVE=1 but the {reason}")
    pytest.skip(reason)


def assert_close_scaled(actual: torch.Tensor, expected: torch.Tensor, rtol: float, what: str = "") -> None:
    """|actual - expected| <= rtol * max(1, max|expected|) elementwise (relative to the scale)."""
    scale = max(1.0, float(expected.detach().abs().max())) if expected.numel() else 1.0
    torch.testing.assert_close(actual.detach(), expected.detach(), rtol=rtol, atol=rtol * scale, msg=lambda m: f"{what}: {m}")


def devices():
    """Devices to run the same test body on: CPU always, CUDA when torch and the library have it."""
    out = ["cpu"]
    if torch.cuda.is_available() and mlip.ops.available() and "cuda yes" in mlip.ops.build_info():
        out.append("cuda")
    return out
