"""Native cell-list neighbour search: ``torch.ops.mlip.neighbor_list`` -> :class:`Edges`.

Same contract as :func:`mlip.neighbor_list.neighbor_list`: a full list of integer topology
(receiver, sender, image shift), excluding self-pairs in the home image, sorted by receiver and
then by (sender, shift), for batched systems with any mix of periodic and open directions,
triclinic cells and cells thinner than the cutoff. The search runs in float64 whatever the
positions' dtype. For a Verlet skin, pass ``cutoff + skin``.
"""
from __future__ import annotations

import torch

from mlip.errors import BackendUnavailableError, InvalidSystemError
from mlip.ops._library import require
from mlip.types import Edges, System


def native_neighbor_list(system: System, cutoff: float) -> Edges:
    """All pairs with |r_ij| < ``cutoff`` (Å), by the native op (see module docstring).

    Raises:
        BackendUnavailableError: the op library is not built, or lacks the device's kernels.
        InvalidSystemError: a degenerate cell along a periodic direction, or a bad cutoff.
    """
    require()
    try:
        index, shift = torch.ops.mlip.neighbor_list(
            system.positions.detach(), system.cell.detach(), system.pbc, system.system_index, float(cutoff)
        )
    except NotImplementedError as exc:
        raise BackendUnavailableError(
            f"the native neighbour list has no kernel for device {system.positions.device} in this build: {exc}"
        ) from None
    except ValueError as exc:
        raise InvalidSystemError(str(exc).split("\n")[0]) from None
    return Edges(index=index, shift=shift)
