"""Pick an integrator by ensemble name (what the CLI and YAML configs use)."""
from __future__ import annotations

import difflib
from typing import Any, Optional

from mlip.errors import ConfigError

from md.bussi import Bussi
from md.integrator import Integrator
from md.langevin_baoab import LangevinBAOAB
from md.nose_hoover_chain import NoseHooverChain
from md.npt import check_npt_settings, make_npt_integrator
from md.velocity_verlet import VelocityVerlet

#: Canonical ensemble names.
ENSEMBLES = ("nve", "langevin", "bussi", "nose-hoover", "npt")

_ALIASES = {
    "nve": "nve", "velocity-verlet": "nve", "verlet": "nve",
    "langevin": "langevin", "baoab": "langevin", "nvt-langevin": "langevin",
    "bussi": "bussi", "csvr": "bussi", "svr": "bussi", "v-rescale": "bussi",
    "nose-hoover": "nose-hoover", "nosehoover": "nose-hoover", "nhc": "nose-hoover",
    "nose-hoover-chain": "nose-hoover",
    "npt": "npt", "nvt-npt": "npt", "isobaric": "npt",
}


def canonical_ensemble(name: str) -> str:
    """The canonical name of ``name`` (case and ``_``/``-`` insensitive), or a ConfigError."""
    key = str(name).strip().lower().replace("_", "-").replace("é", "e")
    if key in _ALIASES:
        return _ALIASES[key]
    close = difflib.get_close_matches(key, list(_ALIASES), n=1)
    hint = f" (did you mean {_ALIASES[close[0]]!r}?)" if close else ""
    raise ConfigError(f"unknown ensemble {name!r}{hint}; choose one of {', '.join(ENSEMBLES)}")


def make_integrator(ensemble: str, timestep_fs: float, temperature_K: Optional[float] = None,
                    friction_per_fs: float = 0.01, tau_fs: float = 100.0,
                    chain_length: int = 3, **npt: Any) -> Integrator:
    """An integrator for ``ensemble`` (``nve``, ``langevin``, ``bussi``, ``nose-hoover``, ``npt``).

    Args:
        ensemble: ensemble name (aliases such as ``nhc``, ``csvr``, ``baoab`` accepted).
        timestep_fs: time step, fs (> 0).
        temperature_K: thermostat temperature, K (> 0; required except for ``nve``).
        friction_per_fs: Langevin friction γ, 1/fs.
        tau_fs: Bussi / Nosé–Hoover relaxation time, fs.
        chain_length: Nosé–Hoover chain length.
        **npt: for ``npt``: ``pressure_GPa`` (GPa, required), ``barostat`` (``scr`` or ``mtk``),
            ``barostat_tau_fs`` (fs), ``flexibility`` and ``compressibility_per_GPa`` (1/GPa);
            see :func:`md.npt.make_npt_integrator`.

    Example:
        >>> make_integrator("nve", 2.0)
        VelocityVerlet(timestep_fs=2.0)
    """
    name = canonical_ensemble(ensemble)
    if name != "npt":
        check_npt_settings(name, npt.get("pressure_GPa"))  # a pressure with a constant-volume ensemble
    if name == "nve":
        return VelocityVerlet(timestep_fs)
    if temperature_K is None:
        raise ConfigError(f"ensemble {name!r} is a thermostat: give temperature_K (K, > 0)")
    if name == "langevin":
        return LangevinBAOAB(timestep_fs, temperature_K, friction_per_fs)
    if name == "bussi":
        return Bussi(timestep_fs, temperature_K, tau_fs)
    if name == "npt":
        return make_npt_integrator(timestep_fs, temperature_K, tau_fs=tau_fs, chain_length=chain_length, **npt)
    return NoseHooverChain(timestep_fs, temperature_K, tau_fs, chain_length)
