"""Physics that the network should not have to learn: baselines and long-range electrostatics.

Torch energy terms (each ``forward(system, edges) -> (n_atoms,)`` eV, TorchScript-compatible,
summed by :class:`mlip.models.force_model.ForceModel`):

* :mod:`mlip.physics.zbl` — ZBL screened nuclear repulsion with a smooth cutoff;
* :mod:`mlip.physics.lennard_jones` — Lennard-Jones with per-element mixing and a smooth switch;
* :mod:`mlip.physics.point_charges` — fixed per-element point charges with damped Coulomb;
* :mod:`mlip.physics.frozen_potential` — a saved mlip potential, frozen (transfer learning).

Outside torch: :mod:`mlip.physics.ase_baseline` — any ASE calculator (GFN2-xTB, EMT), whose
energy, forces and stress :class:`~mlip.potential.Potential` adds after the torch terms.

Electrostatics used by the charge-equipped model: :mod:`mlip.physics.coulomb` (damped kernel,
direct sum for finite systems, dispatch), :mod:`mlip.physics.ewald` (periodic, triclinic) and
:mod:`mlip.physics.charges` (charge head with exact total-charge conservation).

:mod:`mlip.physics.registry` builds terms from spec dicts (``{"kind": "zbl", ...}``).

Layering: ``coulomb``, ``ewald``, ``charges``, ``switching``, ``zbl``, ``lennard_jones`` and
``point_charges`` depend only on torch and mlip's core modules, so the model layer may use them;
``registry`` and ``frozen_potential`` reach up to potential files and are imported lazily. This
package's ``__init__`` therefore imports nothing.
"""
