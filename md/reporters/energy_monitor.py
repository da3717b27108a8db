"""Energy and shadow-Hamiltonian monitor: per-run drift report, drift.json and a plot.

It sees every step (the shadow stencil needs consecutive iterates; it only keeps references
to the immutable state tensors, no copies) and samples the conserved energy and H̃ every
``sample_interval`` steps. H̃ of step n becomes available at step n + order/2.
"""
from __future__ import annotations

import bisect
from collections import deque
from typing import Any, Dict, List, Optional

import torch

from md.drift import DriftReport, analyze_drift
from md.reporters.base import Reporter, RunContext, check_interval
from md.shadow import StencilPoint, check_order, shadow_energy_eV


class EnergyMonitor(Reporter):
    """Tracks H (or the thermostat's conserved quantity) and H̃; writes drift.json and a PNG.

    Args:
        sample_interval: record energies every this many steps.
        order: order of the H̃ estimate (2, 4, 6 or 8; stencil of order + 1 steps).
        json_path: where to write the :class:`md.drift.DriftReport` at the end (or None).
        plot_path: where to plot H and H̃ vs time (PNG, or None).
    """

    interval = 1
    order = 0
    key = "energy_monitor"

    def __init__(self, sample_interval: int = 1, order: int = 8, json_path: Optional[str] = None,
                 plot_path: Optional[str] = None) -> None:
        self.sample_interval = check_interval(sample_interval, "sample_interval")
        self.shadow_order = check_order(order)
        self.json_path = None if json_path is None else str(json_path)
        self.plot_path = None if plot_path is None else str(plot_path)
        self._stencil: deque = deque(maxlen=self.shadow_order + 1)
        self._steps: List[int] = []
        self._times: List[float] = []
        self._energy: List[float] = []
        self._shadow_steps: List[int] = []
        self._shadow: List[float] = []
        self._last_step: Optional[int] = None
        self.shadow_applies = True
        self._masses = None
        self._timestep_fs = None
        self._n_atoms = 0
        self._ensemble = "nve"
        self._energy_name = "H = K + U"
        self.last_report: Optional[DriftReport] = None

    # -- reporter hooks -------------------------------------------------------------------
    def start(self, state, context: RunContext) -> None:
        integrator = context.integrator
        self.shadow_applies = bool(integrator.shadow_applies)
        self._masses = state.masses
        self._timestep_fs = float(integrator.timestep_fs)
        self._n_atoms = state.n_atoms
        self._ensemble = integrator.name
        self._energy_name = "H = K + U" if integrator.name == "nve" else f"{integrator.name} conserved energy"
        if self._last_step is None or state.step > self._last_step:
            self.report(state, context)

    def report(self, state, context: RunContext) -> None:
        if self._last_step is not None and state.step <= self._last_step:
            return
        self._last_step = state.step
        if state.step % self.sample_interval == 0:
            self._steps.append(state.step)
            self._times.append(state.time_fs)
            self._energy.append(context.integrator.conserved_energy_eV(state))
        if not self.shadow_applies:
            return
        if self._stencil and self._stencil[-1].step != state.step - 1:
            self._stencil.clear()  # a gap (should not happen inside one trajectory)
        self._stencil.append(StencilPoint(state.positions, state.velocities, state.forces,
                                          state.potential_energy, state.step))
        if len(self._stencil) == self._stencil.maxlen:
            centre = self._stencil[self.shadow_order // 2].step
            if centre % self.sample_interval == 0:
                value = shadow_energy_eV(list(self._stencil), self._masses, self._timestep_fs, self.shadow_order)
                self._shadow_steps.append(centre)
                self._shadow.append(value)

    def finish(self, state, context: RunContext) -> None:
        self.last_report = self.summary()
        if self.json_path is not None:
            self.last_report.write_json(self.json_path)
        if self.plot_path is not None and len(self._steps) > 1:
            from md.reporters.energy_plot import plot_energies

            plot_energies(self.plot_path, self._times, self._energy, self._shadow_times(),
                          self._shadow if self.shadow_applies else None, self._n_atoms,
                          f"{self._ensemble}, h = {self._timestep_fs:g} fs")

    # -- queries --------------------------------------------------------------------------
    def shadow_at(self, step: int) -> Optional[float]:
        """H̃ (eV) at ``step`` if it was computed, else None."""
        i = bisect.bisect_left(self._shadow_steps, step)
        if i < len(self._shadow_steps) and self._shadow_steps[i] == step:
            return self._shadow[i]
        return None

    def shadow_known_through(self) -> int:
        """Every step <= this one has had its chance to get an H̃ value."""
        if self._last_step is None:
            return -1
        return self._last_step - self.shadow_order // 2

    def summary(self) -> DriftReport:
        """Drift report over the samples so far (H̃ on the steps where it exists)."""
        if self.shadow_applies:
            index = {s: i for i, s in enumerate(self._steps)}
            common = [s for s in self._shadow_steps if s in index]
            times = [self._times[index[s]] for s in common]
            energy = [self._energy[index[s]] for s in common]
            shadow = [self.shadow_at(s) for s in common]
            return analyze_drift(times, energy, self._n_atoms, self._ensemble, self._timestep_fs or 0.0,
                                 shadow, self.shadow_order, self._energy_name)
        return analyze_drift(self._times, self._energy, self._n_atoms, self._ensemble,
                             self._timestep_fs or 0.0, None, None, self._energy_name)

    def series(self) -> Dict[str, List[float]]:
        """The sampled series: steps, time_fs, energy_eV, shadow_steps, shadow_eV."""
        return {"steps": list(self._steps), "time_fs": list(self._times), "energy_eV": list(self._energy),
                "shadow_steps": list(self._shadow_steps), "shadow_eV": list(self._shadow)}

    def _shadow_times(self) -> List[float]:
        index = {s: i for i, s in enumerate(self._steps)}
        return [self._times[index[s]] if s in index else float("nan") for s in self._shadow_steps]

    # -- checkpoints ----------------------------------------------------------------------
    def state_dict(self) -> Dict[str, Any]:
        stencil = [{"positions": p.positions, "velocities": p.velocities, "forces": p.forces,
                    "potential_energy": p.potential_energy, "step": p.step} for p in self._stencil]
        return {"stencil": stencil, "last_step": self._last_step,
                "steps": torch.tensor(self._steps, dtype=torch.int64),
                "time_fs": torch.tensor(self._times, dtype=torch.float64),
                "energy_eV": torch.tensor(self._energy, dtype=torch.float64),
                "shadow_steps": torch.tensor(self._shadow_steps, dtype=torch.int64),
                "shadow_eV": torch.tensor(self._shadow, dtype=torch.float64)}

    def load_state_dict(self, data: Dict[str, Any]) -> None:
        self._stencil.clear()
        for p in data["stencil"]:
            self._stencil.append(StencilPoint(p["positions"], p["velocities"], p["forces"],
                                              p["potential_energy"], int(p["step"])))
        self._last_step = data["last_step"]
        self._steps = [int(s) for s in data["steps"].tolist()]
        self._times = data["time_fs"].tolist()
        self._energy = data["energy_eV"].tolist()
        self._shadow_steps = [int(s) for s in data["shadow_steps"].tolist()]
        self._shadow = data["shadow_eV"].tolist()
