"""Baselines: energy terms a potential adds to its learned network, built from spec dicts.

* :mod:`mlip.baselines.registry` — terms from spec dicts (``{"kind": "zbl", ...}``), strict about
  keys; the pure physics terms themselves (ZBL, Lennard-Jones, point charges) are in
  :mod:`mlip.physics`;
* :mod:`mlip.baselines.frozen_potential` — a saved mlip potential, frozen (transfer learning);
* :mod:`mlip.baselines.ase_baseline` — any ASE calculator (GFN2-xTB, EMT), evaluated outside
  torch; :class:`~mlip.potential.Potential` adds its energy, forces and stress after the torch
  terms;
* :mod:`mlip.baselines.baseline_labels` — the baselines' energies, forces and stresses of
  labelled frames, for training on the residual.

Layering: this package sits above :mod:`mlip.models` (a frozen potential is a model) and
:mod:`mlip.data` (labels of frames), below :mod:`mlip.potential` (potential files hold
baselines; see :mod:`mlip.baselines.frozen_potential` for the one dependency that points the
other way and how it is handed down). Its ``__init__`` imports nothing.
"""
