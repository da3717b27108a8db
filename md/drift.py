"""Energy-drift analysis of a run: drift rates, fluctuations and a one-line diagnosis.

Inputs are time series sampled along a run: the energy the dynamics conserves (H = K + U in
NVE, the thermostat's effective energy in NVT) and, for velocity Verlet, the shadow
Hamiltonian H̃ (:mod:`md.shadow`). Drift = least-squares slope (meV/atom/ps); fluctuation =
RMS of the residual about that line (meV/atom).

How to read it:

* H fluctuates, H̃ flat → the energy error is integration error, bounded and ∝ h²; the
  forces are the gradient of one smooth energy. Reduce ``timestep_fs`` if H's fluctuation
  is too large for you.
* H̃ drifts or jumps (its change over the run is not small next to H's fluctuation) → the
  forces are not the gradient of one smooth energy: a discontinuity at the cutoff or in the
  neighbour-list skin, float32 round-off, a non-conservative model, a bug — or the time
  step is beyond the range where a shadow Hamiltonian exists (halve it: if the problem were
  the time step, H̃'s drift would shrink like h^order).
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Optional, Sequence, Tuple

import numpy as np

#: H̃ counts as conserved when (its RMS + its total drift) < this fraction of H's RMS.
SHADOW_TOLERANCE = 0.1
#: Absolute floor (meV/atom) under which fluctuations are round-off and not compared.
NOISE_FLOOR_MEV_PER_ATOM = 1e-7


@dataclass(frozen=True)
class DriftReport:
    """Per-run energy-conservation summary (all energies meV/atom, rates meV/atom/ps)."""

    ensemble: str
    n_atoms: int
    n_samples: int
    duration_ps: float
    timestep_fs: float
    energy_name: str
    drift_meV_per_atom_per_ps: float
    rms_meV_per_atom: float
    shadow_order: Optional[int]
    shadow_drift_meV_per_atom_per_ps: Optional[float]
    shadow_rms_meV_per_atom: Optional[float]
    verdict: str
    diagnosis: str

    def to_dict(self) -> dict:
        """Plain-data form (what ``drift.json`` holds)."""
        return asdict(self)

    def write_json(self, path) -> None:
        """Write the report as JSON (atomically: unique temp file, fsync, rename)."""
        from mlip.atomic_io import atomic_open

        with atomic_open(path, "w", encoding="utf-8") as handle:
            json.dump(self.to_dict(), handle, indent=2, allow_nan=True)
            handle.write("\n")


def linear_fit(time_ps: np.ndarray, values: np.ndarray) -> Tuple[float, float]:
    """(slope, RMS of the residual) of a least-squares line through the samples."""
    if len(values) < 2:
        return 0.0, 0.0
    t = time_ps - time_ps.mean()
    y = values - values.mean()
    denom = float((t * t).sum())
    slope = float((t * y).sum() / denom) if denom > 0 else 0.0
    residual = y - slope * t
    return slope, float(np.sqrt((residual * residual).mean()))


def analyze_drift(time_fs: Sequence[float], energy_eV: Sequence[float], n_atoms: int,
                  ensemble: str, timestep_fs: float, shadow_eV: Optional[Sequence[float]] = None,
                  shadow_order: Optional[int] = None, energy_name: str = "H = K + U") -> DriftReport:
    """Fit drift and fluctuation of H (and H̃ where given, same sample times) and diagnose.

    Args:
        time_fs: sample times, fs.
        energy_eV: the conserved energy at those times, eV.
        n_atoms: number of atoms (energies are reported per atom).
        ensemble: ensemble name, for the message.
        timestep_fs: time step, fs.
        shadow_eV: H̃ at the same times, eV, or None where the shadow does not apply.
        shadow_order: order of the H̃ estimate.
        energy_name: what ``energy_eV`` is (for the report).
    """
    t_ps = np.asarray(time_fs, dtype=np.float64) * 1e-3
    to_mev = 1e3 / max(n_atoms, 1)
    energy = (np.asarray(energy_eV, dtype=np.float64) - (energy_eV[0] if len(energy_eV) else 0.0)) * to_mev
    duration = float(t_ps[-1] - t_ps[0]) if len(t_ps) > 1 else 0.0
    drift, rms = linear_fit(t_ps, energy)
    s_drift = s_rms = None
    if shadow_eV is not None:
        shadow = (np.asarray(shadow_eV, dtype=np.float64) - (shadow_eV[0] if len(shadow_eV) else 0.0)) * to_mev
        s_drift, s_rms = linear_fit(t_ps, shadow)
    verdict, diagnosis = _diagnose(ensemble, len(t_ps), duration, drift, rms, s_drift, s_rms, shadow_order)
    return DriftReport(ensemble, int(n_atoms), int(len(t_ps)), duration, float(timestep_fs), energy_name,
                       drift, rms, shadow_order if shadow_eV is not None else None, s_drift, s_rms,
                       verdict, diagnosis)


def _diagnose(ensemble, n_samples, duration, drift, rms, s_drift, s_rms, order) -> Tuple[str, str]:
    if n_samples < 3 or duration <= 0.0:
        return "too-short", "run too short to judge energy conservation (fewer than 3 samples)"
    if s_drift is None:
        h_change = abs(drift) * duration
        scale = max(rms, NOISE_FLOOR_MEV_PER_ATOM)
        return ("not-applicable",
                f"shadow Hamiltonian does not apply to {ensemble} (stochastic or non-Hamiltonian "
                f"dynamics); its conserved quantity drifts {drift:.3g} meV/atom/ps "
                f"({h_change / scale:.2g}x its RMS {rms:.3g} meV/atom over the run): a drift large "
                "next to the RMS means time-step error or non-conservative forces; rerun in NVE to "
                "tell them apart with the shadow monitor")
    s_change = abs(s_drift) * duration
    ratio = (s_rms + s_change) / max(rms, NOISE_FLOOR_MEV_PER_ATOM)
    if s_rms + s_change < NOISE_FLOOR_MEV_PER_ATOM or ratio < SHADOW_TOLERANCE:
        # H − H̃ is bounded (O(h²)), so while H̃ holds any apparent drift of H is fluctuation
        return ("conservative",
                f"H̃ (order {order}) conserved (drift {s_drift:.3g} meV/atom/ps, RMS {s_rms:.3g}) while H "
                f"fluctuates by {rms:.3g} meV/atom (drift {drift:.3g}): integrator error dominates and is "
                "bounded; forces conservative (H's fluctuation shrinks as h² if you reduce timestep_fs)")
    return ("non-conservative",
            f"H̃ (order {order}) not conserved: drift {s_drift:.3g} meV/atom/ps, RMS {s_rms:.3g} "
            f"meV/atom vs H RMS {rms:.3g}: forces are not the gradient of one smooth energy "
            "(cutoff/skin discontinuity, float32 round-off, non-conservative model, bug) or the "
            "time step is too large for a shadow Hamiltonian (halve timestep_fs: if H̃'s drift "
            f"shrinks ~2^{order or 0}x it was the time step)")


def is_finite_report(report: DriftReport) -> bool:
    """True when every number in the report is finite."""
    values = [report.drift_meV_per_atom_per_ps, report.rms_meV_per_atom]
    values += [v for v in (report.shadow_drift_meV_per_atom_per_ps, report.shadow_rms_meV_per_atom) if v is not None]
    return all(math.isfinite(v) for v in values)
