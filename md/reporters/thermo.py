"""Thermodynamic log as CSV.

Columns: step, time_fs, potential_eV, kinetic_eV, total_eV (K + U), conserved_eV (what the
integrator conserves), shadow_eV (H̃, velocity Verlet only; empty elsewhere and for the last
order/2 steps of a run), temperature_K, pressure_GPa (instantaneous, kinetic + virial; empty
without a full 3-D cell), volume_A3 (cell volume, Å^3; empty without a full 3-D cell),
max_force_eV_per_A. A row waits until its H̃ is known (order/2 steps later).

With a committee force field (``committee_size`` > 1, see :mod:`md.committee_spread`) two more
columns: energy_std_eV (spread of the members' total potential energies, eV, not per atom) and
max_forces_std_eV_per_A (the largest per-atom force spread s·sqrt(Σ_xyz var(F_i)), eV/Å, with s
the force field's calibration scale, 1 when uncalibrated), both at the row's positions. They cost about one more force evaluation per member per row.
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Optional

from mlip.errors import ConfigError

from md.committee_spread import has_spread, spread_at
from md.reporters.base import Reporter, RunContext, check_interval
from md.state import kinetic_energy_eV, max_force_eV_per_A, pressure_GPa, temperature_K, volume_A3

COLUMNS = ("step", "time_fs", "potential_eV", "kinetic_eV", "total_eV", "conserved_eV", "shadow_eV",
           "temperature_K", "pressure_GPa", "volume_A3", "max_force_eV_per_A")
_VOLUME = COLUMNS.index("volume_A3")
SPREAD_COLUMNS = ("energy_std_eV", "max_forces_std_eV_per_A")


class ThermoReporter(Reporter):
    """Append one CSV row every ``interval`` steps.

    Args:
        path: CSV file to write.
        interval: steps between rows.
        monitor: the run's :class:`~md.reporters.energy_monitor.EnergyMonitor`, to fill the
            shadow column (its ``sample_interval`` must divide ``interval``), or None.
    """

    order = 20

    def __init__(self, path: str, interval: int = 10, monitor=None) -> None:
        self.path = str(path)
        self.interval = check_interval(interval)
        self.monitor = monitor
        if monitor is not None and self.interval % monitor.sample_interval != 0:
            raise ConfigError(f"thermo interval {interval} must be a multiple of the energy monitor's "
                              f"sample_interval {monitor.sample_interval}")
        self.key = f"thermo:{os.path.basename(self.path)}"
        self._handle = None
        self._pending: List[List[Any]] = []
        self._last_step: Optional[int] = None
        self._resume: Optional[Dict[str, Any]] = None
        self._has_cell = False
        self._spread = False
        self._volume = True

    def start(self, state, context: RunContext) -> None:
        self._has_cell = bool(state.system.pbc.all())
        self._spread = has_spread(context.forcefield)
        if self._resume is not None and "spread" not in self._resume:
            self._spread = False  # a checkpoint from before spread columns existed: keep its columns
        self._volume = self._resume is None or "volume" in self._resume  # older checkpoints: no volume column
        if self._resume is not None and bool(self._resume.get("spread", False)) != self._spread:
            raise ConfigError(f"{self.path} was started {'with' if not self._spread else 'without'} committee "
                              f"spread columns; continue it with the same kind of force field (a committee "
                              f"or not) or write to a new file")
        if self._resume is not None and os.path.exists(self.path):
            with open(self.path, "r+b") as handle:
                handle.truncate(int(self._resume["offset"]))
            self._handle = open(self.path, "ab")
        else:
            self._handle = open(self.path, "wb")
            columns = COLUMNS[:_VOLUME] + COLUMNS[_VOLUME + int(not self._volume):]
            columns += SPREAD_COLUMNS if self._spread else ()
            self._handle.write((",".join(columns) + "\n").encode())
            self._handle.flush()
        if (self._last_step is None or state.step > self._last_step) and state.step % self.interval == 0:
            self.report(state, context)

    def wants_stress(self, step: int) -> bool:
        return self._has_cell and step % self.interval == 0

    def report(self, state, context: RunContext) -> None:
        if self._last_step is not None and state.step <= self._last_step:
            return
        self._last_step = state.step
        kinetic = float(kinetic_energy_eV(state))
        potential = float(state.potential_energy)
        pressure = pressure_GPa(state)
        row = [state.step, state.time_fs, potential, kinetic, potential + kinetic,
               context.integrator.conserved_energy_eV(state), None, temperature_K(state),
               pressure] + ([volume_A3(state)] if self._volume else []) + [max_force_eV_per_A(state)]
        if self._spread:
            spread = spread_at(context.forcefield, state)
            row += [spread.energy_std_eV, spread.max_forces_std_eV_per_A]
        self._pending.append(row)
        self._flush(final=False)

    def _flush(self, final: bool) -> None:
        if self._handle is None:
            return
        shadow_ready = self.monitor is None or not self.monitor.shadow_applies
        known = None if shadow_ready else self.monitor.shadow_known_through()
        while self._pending and (final or shadow_ready or self._pending[0][0] <= known):
            row = self._pending.pop(0)
            if not shadow_ready:
                row[6] = self.monitor.shadow_at(row[0])
            self._handle.write((",".join(_cell(v) for v in row) + "\n").encode())
        self._handle.flush()

    def finish(self, state, context: RunContext) -> None:
        self._flush(final=True)
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def state_dict(self) -> Dict[str, Any]:
        offset = self._handle.tell() if self._handle is not None else os.path.getsize(self.path)
        data = {"offset": offset, "pending": [list(r) for r in self._pending], "last_step": self._last_step,
                "spread": self._spread}
        if self._volume:
            data["volume"] = True
        return data

    def load_state_dict(self, data: Dict[str, Any]) -> None:
        self._resume = data
        self._pending = [list(r) for r in data["pending"]]
        self._last_step = data["last_step"]


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    return repr(float(value))
