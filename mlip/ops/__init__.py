"""Native kernels (``torch.ops.mlip.*``, C++ and CUDA sources in cuda/) and their references.

=====================  ===============================================  =================================
op                     native (this package)                            pure-torch reference
=====================  ===============================================  =================================
``mlip::tp_conv``      :class:`NativeChannelwiseTensorProduct`,         :class:`ChannelwiseTensorProduct`
                       :func:`tp_conv` (+ C++ backward, double
                       backward)
``mlip::neighbor_list`` :func:`native_neighbor_list`                    :func:`reference_neighbor_list`
``mlip::radial_spline`` :func:`tabulate_radial` (inference switch)       the radial MLPs themselves
=====================  ===============================================  =================================

Nothing is loaded at import time; :func:`available` loads the library on first call.
A model asks for the native ops explicitly (``ModelConfig(backend="native")``); when the library
is not built that raises :class:`~mlip.errors.BackendUnavailableError` — there is no silent
fallback to the reference.
"""
from mlip.nn.tensor_product import ChannelwiseTensorProduct
from mlip.ops._library import available, build_info, library_path, load_error, require
from mlip.ops.neighbor_list import native_neighbor_list
from mlip.ops.radial_spline import radial_tabulation_error, tabulate_radial
from mlip.ops.tensor_product import NativeChannelwiseTensorProduct, cg_table, tp_conv

ReferenceChannelwiseTensorProduct = ChannelwiseTensorProduct


def reference_neighbor_list(system, cutoff: float):
    """The pure-torch/numpy brute-force reference neighbour list (``backend="reference"``)."""
    from mlip.neighbor_list import neighbor_list

    return neighbor_list(system, cutoff, backend="reference")


__all__ = [
    "ChannelwiseTensorProduct",
    "NativeChannelwiseTensorProduct",
    "ReferenceChannelwiseTensorProduct",
    "available",
    "build_info",
    "cg_table",
    "library_path",
    "load_error",
    "native_neighbor_list",
    "radial_tabulation_error",
    "reference_neighbor_list",
    "require",
    "tabulate_radial",
    "tp_conv",
]
