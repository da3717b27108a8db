"""Backends: *how* a potential is evaluated, never *what* it is.

The weights of a potential are the same whichever kernels run it, so the backend is chosen when
a potential is built, loaded or handed to a calculator, not stored in its architecture:

=============  ==================================================================================
``"auto"``     ``"native"`` when the compiled op library (``make ops``) is loaded, else
               ``"reference"`` — a shipped potential runs on any machine (the default)
``"native"``   the fused C++/CUDA kernels of :mod:`mlip.ops`; an error naming the fix if missing
``"reference"`` pure torch (any device, TorchScript, plain libtorch)
=============  ==================================================================================

Neighbour lists have their own names (:func:`mlip.neighbor_list.resolve_backend`): ``"auto"``
there means native when built, else matscipy.

Example:
    >>> resolve_model_backend("reference")
    'reference'
    >>> resolve_model_backend("auto") in ("native", "reference")
    True
"""
from __future__ import annotations

from mlip.errors import BackendUnavailableError

#: values accepted wherever a model backend is chosen
MODEL_BACKENDS = ("auto", "native", "reference")


def resolve_model_backend(backend: str) -> str:
    """The concrete model backend (``"native"`` or ``"reference"``) that ``backend`` means here.

    Raises:
        BackendUnavailableError: an unknown name, or ``"native"`` without the op library
            (the message says how to build it).
    """
    if backend not in MODEL_BACKENDS:
        raise BackendUnavailableError(f"unknown backend {backend!r}; choose one of {list(MODEL_BACKENDS)}")
    from mlip.ops._library import available, require

    if backend == "auto":
        return "native" if available() else "reference"
    if backend == "native":
        require()
    return backend


def native_unavailable_reason() -> str:
    """Why ``"auto"`` falls back to the reference ('' when the op library is loaded)."""
    from mlip.ops._library import available, load_error

    if available():
        return ""
    return f"op library not loaded ({load_error()}); build it with `make ops` for the native kernels"
