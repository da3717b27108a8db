"""Deployment of mlip potentials outside Python.

* :func:`export_lammps` writes a self-contained TorchScript file for LAMMPS's ``pair_style mlip``
  (the C++ plugin in ``cuda/lammps/``; see ``docs/lammps.md``).
"""
from mlip.export.lammps import FORMAT_NAME, FORMAT_VERSION, LammpsModel, export_lammps, read_lammps_metadata

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "LammpsModel", "export_lammps", "read_lammps_metadata"]
