"""Native kernels (``torch.ops.mlip.*``, C++ and CUDA sources in cuda/): loading and the ops.

=======================  ==========================================  ==========================================
op                       here                                        used by (layers above)
=======================  ==========================================  ==========================================
``mlip::tp_conv``        :func:`tp_conv` (+ C++ backward, double     :class:`mlip.nn.native_tensor_product.`
                         backward)                                   ``NativeChannelwiseTensorProduct``
``mlip::neighbor_list``  :func:`native_neighbor_list`                ``mlip.neighbor_list(..., backend="native")``
``mlip::radial_spline``  :class:`TabulatedRadialMLP`,                :func:`mlip.models.radial_tabulation.`
                         :func:`hermite_table`                       ``tabulate_radial`` (inference switch)
=======================  ==========================================  ==========================================

This is the kernel layer: it imports only mlip's core modules (errors, types), never the
network, models or neighbour-list front end that use it (see docs/architecture.md). The
pure-torch references live with their users: ``mlip.nn.tensor_product.ChannelwiseTensorProduct``,
``mlip.neighbor_list.neighbor_list(..., backend="reference")``, the radial MLPs themselves.

Nothing is loaded at import time; :func:`available` loads the library on first call.
A model asks for the native ops explicitly (``backend="native"``); when the library is not
built that raises :class:`~mlip.errors.BackendUnavailableError` — there is no silent fallback
to the reference.
"""
from mlip.ops._library import available, build_info, library_path, load_error, require
from mlip.ops.neighbor_list import native_neighbor_list
from mlip.ops.radial_spline import TabulatedRadialMLP, hermite_table
from mlip.ops.tensor_product import tp_conv

#: Names this package used to export, and where they live now (above the kernel layer).
MOVED = {
    "tabulate_radial": "mlip.models.radial_tabulation.tabulate_radial",
    "radial_tabulation_error": "mlip.models.radial_tabulation.radial_tabulation_error",
    "NativeChannelwiseTensorProduct": "mlip.nn.native_tensor_product.NativeChannelwiseTensorProduct",
    "cg_table": "mlip.nn.native_tensor_product.cg_table",
    "ChannelwiseTensorProduct": "mlip.nn.tensor_product.ChannelwiseTensorProduct",
    "ReferenceChannelwiseTensorProduct": "mlip.nn.tensor_product.ChannelwiseTensorProduct",
    "reference_neighbor_list": 'mlip.neighbor_list.neighbor_list(system, cutoff, backend="reference")',
}


def __getattr__(name: str):
    if name in MOVED:
        raise AttributeError(f"mlip.ops.{name} moved out of the kernel layer: use {MOVED[name]}")
    raise AttributeError(f"module 'mlip.ops' has no attribute {name!r}")


__all__ = [
    "TabulatedRadialMLP",
    "available",
    "build_info",
    "hermite_table",
    "library_path",
    "load_error",
    "native_neighbor_list",
    "require",
    "tp_conv",
]
