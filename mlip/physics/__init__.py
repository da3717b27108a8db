"""Physics the network should not have to learn: pure energy terms and long-range electrostatics.

Torch energy terms (each ``forward(system, edges) -> (n_atoms,)`` eV, TorchScript-compatible,
summed by :class:`mlip.models.force_model.ForceModel`):

* :mod:`mlip.physics.zbl` — ZBL screened nuclear repulsion with a smooth cutoff;
* :mod:`mlip.physics.lennard_jones` — Lennard-Jones with per-element mixing and a smooth switch;
* :mod:`mlip.physics.point_charges` — fixed per-element point charges with damped Coulomb.

Electrostatics used by the charge-equipped model: :mod:`mlip.physics.coulomb` (damped kernel,
direct sum for finite systems, dispatch), :mod:`mlip.physics.ewald` (periodic, triclinic) and
:mod:`mlip.physics.charges` (charge head with exact total-charge conservation);
:mod:`mlip.physics.switching` holds the smooth switching functions.

Layering: every module here depends only on torch and mlip's core modules (errors, types),
never on models or potentials, so the model layer may use them. Building terms from spec dicts,
frozen potentials and ASE-calculator baselines are one layer up, in :mod:`mlip.baselines`.
This package's ``__init__`` imports nothing.
"""
