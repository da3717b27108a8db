"""Pick a constant-pressure integrator by barostat name (what ``--ensemble npt`` uses).

Barostats: ``scr`` (stochastic cell rescaling + Bussi thermostat, :mod:`md.cell_rescaling`;
the default: first order, fast to equilibrate, robust far from equilibrium) and ``mtk``
(Martyna–Tobias–Klein with Nosé–Hoover chains, :mod:`md.mtk`; deterministic, its volume
oscillates with period ~``barostat_tau_fs``). Both take any cell flexibility of
:mod:`md.cell_flexibility`.
"""
from __future__ import annotations

import difflib
from typing import Any, Dict, Optional, Union

from mlip.errors import ConfigError

from md.cell_rescaling import StochasticCellRescaling
from md.mtk import MTK
from md.pressure import check_pressure_GPa

#: Canonical barostat names.
BAROSTATS = ("scr", "mtk")

_ALIASES = {"scr": "scr", "c-rescale": "scr", "crescale": "scr", "cell-rescaling": "scr",
            "stochastic-cell-rescaling": "scr", "bernetti-bussi": "scr",
            "mtk": "mtk", "mttk": "mtk", "martyna-tobias-klein": "mtk", "nose-hoover": "mtk", "nph-nhc": "mtk"}


def canonical_barostat(name: str) -> str:
    """The canonical barostat name of ``name`` (case and ``_``/``-`` insensitive), or a ConfigError."""
    key = str(name).strip().lower().replace("_", "-")
    if key in _ALIASES:
        return _ALIASES[key]
    close = difflib.get_close_matches(key, list(_ALIASES), n=1)
    hint = f" (did you mean {_ALIASES[close[0]]!r}?)" if close else ""
    raise ConfigError(f"unknown barostat {name!r}{hint}; choose one of {', '.join(BAROSTATS)}")


def check_npt_settings(ensemble: str, pressure_GPa: Optional[float]) -> Optional[float]:
    """``pressure_GPa`` as a float (GPa) for ``npt``; a ConfigError when ``npt`` has none or
    another (constant-volume) ensemble has one."""
    if pressure_GPa is None:
        if ensemble == "npt":
            raise ConfigError("ensemble npt needs a target pressure: give pressure_GPa (--pressure-GPa, GPa; "
                              "1 bar = 0.0001 GPa)")
        return None
    if ensemble != "npt":
        raise ConfigError(f"a target pressure ({pressure_GPa} GPa) was given but ensemble {ensemble!r} keeps the "
                          "volume fixed; use --ensemble npt or drop --pressure-GPa")
    return check_pressure_GPa(pressure_GPa)


def npt_settings(config: Any) -> Dict[str, Any]:
    """The keyword arguments :func:`md.make_integrator` needs for ``npt`` from an
    :class:`md.config.MDConfig` (an empty dict for the other ensembles)."""
    if config.ensemble != "npt":
        return {}
    return {"pressure_GPa": config.pressure_GPa, "barostat": config.barostat, "barostat_tau_fs": config.barostat_tau_fs,
            "flexibility": config.cell_flexibility, "compressibility_per_GPa": config.compressibility_per_GPa}


def make_npt_integrator(timestep_fs: float, temperature_K: Optional[float], pressure_GPa: Optional[float] = None,
                        barostat: str = "scr", tau_fs: float = 100.0, barostat_tau_fs: float = 1000.0,
                        flexibility: str = "isotropic", compressibility_per_GPa: float = 0.01,
                        chain_length: int = 3) -> Union[StochasticCellRescaling, MTK]:
    """An NPT integrator.

    Args:
        timestep_fs: time step, fs.
        temperature_K: target temperature, K (> 0).
        pressure_GPa: target hydrostatic pressure, GPa (required).
        barostat: ``scr`` or ``mtk``.
        tau_fs: thermostat relaxation time (scr) or period (mtk), fs.
        barostat_tau_fs: barostat relaxation time (scr) or period (mtk), fs.
        flexibility: ``isotropic``, ``anisotropic`` or ``triclinic``.
        compressibility_per_GPa: the compressibility the scr barostat assumes, 1/GPa (unused by mtk).
        chain_length: Nosé–Hoover chain length (mtk).

    Example:
        >>> make_npt_integrator(2.0, 300.0, 0.0).parameters()["barostat"]
        'scr'
    """
    name = canonical_barostat(barostat)
    if temperature_K is None:
        raise ConfigError("npt needs a temperature: give temperature_K (K, > 0)")
    pressure_GPa = check_npt_settings("npt", pressure_GPa)
    if name == "scr":
        return StochasticCellRescaling(timestep_fs, temperature_K, pressure_GPa, tau_fs, barostat_tau_fs,
                                       compressibility_per_GPa, flexibility)
    return MTK(timestep_fs, temperature_K, pressure_GPa, tau_fs, barostat_tau_fs, chain_length,
               flexibility=flexibility)
