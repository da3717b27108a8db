"""O(3) equivariance primitives: real spherical harmonics, Wigner D and 3j, irreps.

Conventions (see :mod:`mlip.o3.spherical_harmonics`): standard real spherical harmonics,
l-major then m = -l..l, component normalisation (Y_00 = 1, sum_m Y_lm^2 = 2l + 1 on the unit
sphere); the l = 1 block is sqrt(3) * (y, z, x) / r. :func:`wigner_D` and :func:`wigner_3j`
are expressed in this same basis. Importing this package changes no global state.
"""
from mlip.o3.irreps import Irreps, tensor_product_paths
from mlip.o3.rotation import random_rotation
from mlip.o3.sphere_quadrature import sphere_quadrature
from mlip.o3.spherical_harmonics import SphericalHarmonics, spherical_harmonics
from mlip.o3.wigner_3j import wigner_3j
from mlip.o3.wigner_d import wigner_D

__all__ = [
    "Irreps",
    "SphericalHarmonics",
    "random_rotation",
    "sphere_quadrature",
    "spherical_harmonics",
    "tensor_product_paths",
    "wigner_3j",
    "wigner_D",
]
