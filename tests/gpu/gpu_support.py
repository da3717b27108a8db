"""Shared helpers of the GPU tests (tests/gpu): the device parameter, no-host-sync checks.

Every test body runs on two devices:

* ``"cpu"``, in every run: the rehearsal. It runs the same comparison with the CPU side of what
  the GPU runs (the native CPU kernels in the CUDA kernels' loop order, the host run of the
  CUDA neighbour-list pipeline ``mlip::_neighbor_list_pipeline``), so the test logic is shown
  to pass, and to fail when the numbers are wrong, on machines without a GPU;
* ``"cuda"``: the CUDA kernels against the CPU reference. Skipped, with the reason, only when
  ``torch.cuda.is_available()`` is False. On a CUDA machine whose op library lacks the CUDA
  kernels it fails, naming the fix (benchmarks/gpu/run_on_gpu.sh builds the right one).
"""
from __future__ import annotations

import contextlib
import os
import sys

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

import mlip.ops

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "ops"))
from native_support import assert_close_scaled, native_or_skip  # noqa: E402,F401

CUDA_MISSING = ("CUDA is not available here (torch.cuda.is_available() is False); the cuda cases run on a GPU "
                "machine: bash benchmarks/gpu/run_on_gpu.sh")
DEVICES = [
    pytest.param("cpu", id="cpu"),
    pytest.param("cuda", id="cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason=CUDA_MISSING)),
]

#: aten ops whose result size or value must be read on the host (a device sync on CUDA)
HOST_SYNC_OPS = frozenset({
    "aten::nonzero", "aten::nonzero_static", "aten::_local_scalar_dense", "aten::masked_select", "aten::is_nonzero",
    "aten::equal", "aten::allclose", "aten::bincount", "aten::_unique2", "aten::unique_dim",
    "aten::unique_consecutive", "aten::repeat_interleave", "aten::histc", "aten::item",
})


def require_device(device: str) -> str:
    """The device, after checking that the op library can run there (skip or fail otherwise)."""
    native_or_skip()
    if device == "cuda" and "cuda yes" not in mlip.ops.build_info():
        pytest.fail(f"CUDA is available but the loaded op library has no CUDA kernels ({mlip.ops.build_info()}); "
                    "build it with `bash benchmarks/gpu/build_cuda_ops.sh python3 build-cuda` and set "
                    "MLIP_OPS_LIBRARY=build-cuda/libmlip_ops.so")
    return device


@pytest.fixture(params=DEVICES)
def device(request):
    return require_device(request.param)


class HostSyncRecorder(TorchDispatchMode):
    """Records every aten op of :data:`HOST_SYNC_OPS` run while it is active."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func._schema.name
        if name in HOST_SYNC_OPS:
            self.seen.append(name)
        return func(*args, **(kwargs or {}))


@contextlib.contextmanager
def no_host_sync(device: str):
    """Fail if the block makes a host sync: on CUDA torch's sync debug mode raises at the sync
    (``torch.cuda.set_sync_debug_mode("error")``); on every device the ops that need one
    (``nonzero``, ``.item()``, ...) are recorded and must not occur."""
    recorder = HostSyncRecorder()
    previous = torch.cuda.get_sync_debug_mode() if device == "cuda" else None
    try:
        if device == "cuda":
            torch.cuda.set_sync_debug_mode("error")
        with recorder:
            yield recorder
    finally:
        if device == "cuda":
            torch.cuda.set_sync_debug_mode(previous)
    assert not recorder.seen, f"host-syncing ops in a block that must not sync: {sorted(set(recorder.seen))}"
