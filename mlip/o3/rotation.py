"""Random rotation matrices, uniformly distributed on SO(3) (Haar measure); used by tests."""
from typing import Optional

import torch
from torch import Tensor

__all__ = ["random_rotation"]


def random_rotation(
    generator: Optional[torch.Generator] = None,
    dtype: torch.dtype = torch.float64,
    device: Optional[torch.device] = None,
) -> Tensor:
    """A Haar-uniform random proper rotation matrix R (3, 3), det R = +1.

    Drawn as a normalised Gaussian quaternion (uniform on S^3, hence Haar on SO(3)) on the CPU
    from ``generator`` (the only source of randomness; the global RNG if None), then cast.
    Convention: R acts on column vectors, v' = R @ v (for row-stacked vectors, v @ R.T).

    Example:
        >>> import torch
        >>> R = random_rotation(torch.Generator().manual_seed(0))
        >>> bool(torch.allclose(R @ R.T, torch.eye(3, dtype=R.dtype)))
        True
        >>> round(float(torch.linalg.det(R)), 12)
        1.0
    """
    q = torch.randn(4, generator=generator, dtype=torch.float64)
    w, x, y, z = (q / q.norm()).tolist()
    R = torch.tensor(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ],
        dtype=torch.float64,
    )
    return R.to(dtype=dtype, device=device)
