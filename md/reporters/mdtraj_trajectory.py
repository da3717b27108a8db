"""Trajectory writer for DCD and XTC through mdtraj, with a topology built in code.

mdtraj needs a topology to read these files back; it is written once next to the trajectory
as a PDB (one chain, one residue per atom, element from the atomic number):
``mdtraj.load("traj.dcd", top="traj.pdb")``. DCD stores Å (float32); XTC stores nm with a
precision of 1e-3 nm (0.01 Å) and time in ps.
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Optional

import numpy as np

from mlip.errors import ConfigError

from mlip.atomic_io import atomic_path
from md.frames import wrapped_positions
from md.reporters.trajectory_writer import TrajectoryWriter

_FORMATS = (".dcd", ".xtc")


def topology_from_state(state):
    """An ``mdtraj.Topology`` for the state's atoms (one residue per atom, named by element)."""
    import mdtraj

    topology = mdtraj.Topology()
    chain = topology.add_chain()
    for z in state.system.atomic_numbers.cpu().tolist():
        element = mdtraj.element.Element.getByAtomicNumber(int(z))
        residue = topology.add_residue(element.symbol.upper(), chain)
        topology.add_atom(element.symbol, element, residue)
    return topology


def _cell_parameters(state):
    """(lengths Å, angles degrees) of a cell periodic in 3-D, or (None, None)."""
    if not bool(state.system.pbc.all()):
        return None, None
    cell = state.system.cell[0].detach().cpu().double().numpy()
    lengths = np.linalg.norm(cell, axis=1)
    angles = [np.degrees(np.arccos(np.clip(np.dot(cell[b], cell[c]) / (lengths[b] * lengths[c]), -1.0, 1.0)))
              for b, c in ((1, 2), (0, 2), (0, 1))]
    return lengths, np.array(angles)


class MdtrajTrajectoryReporter(TrajectoryWriter):
    """Write a frame every ``interval`` steps to a ``.dcd`` or ``.xtc`` file.

    Args:
        path: ``*.dcd`` or ``*.xtc``.
        interval: steps between frames.
        wrap: fold positions into the cell when writing.
        topology_path: where to write the PDB topology (default: ``path`` with ``.pdb``).
    """

    def __init__(self, path: str, interval: int = 100, wrap: bool = True,
                 topology_path: Optional[str] = None) -> None:
        suffix = os.path.splitext(str(path))[1].lower()
        if suffix not in _FORMATS:
            raise ConfigError(f"MdtrajTrajectoryReporter writes {_FORMATS}, got {suffix!r}")
        super().__init__(path, interval, wrap)
        self.suffix = suffix
        self.topology_path = topology_path or os.path.splitext(self.path)[0] + ".pdb"

    def _open(self, state, resume: Optional[Dict[str, Any]]) -> None:
        import mdtraj.formats as formats

        kept = self._read_frames(int(resume["n_frames"])) if resume is not None else None
        if kept is None:
            self._write_topology(state)
        opener = formats.DCDTrajectoryFile if self.suffix == ".dcd" else formats.XTCTrajectoryFile
        if kept:
            # rewrite the frames the checkpoint knew about, then swap the file in; the open
            # handle follows the file to its final name (POSIX rename semantics)
            with atomic_path(self.path, suffix=self.suffix) as tmp:
                self._handle = opener(tmp, "w", force_overwrite=True)
                try:
                    for frame in kept:
                        self._handle.write(*frame)
                    self._flush()
                except BaseException:
                    self._handle.close()
                    self._handle = None
                    raise
        else:
            self._handle = opener(self.path, "w", force_overwrite=True)

    def _write_topology(self, state) -> None:
        import mdtraj

        xyz_nm = wrapped_positions(state, self.wrap)[None].astype(np.float32) / 10.0
        lengths, angles = _cell_parameters(state)
        trajectory = mdtraj.Trajectory(xyz_nm, topology_from_state(state))
        if lengths is not None:
            trajectory.unitcell_lengths = (lengths / 10.0)[None]
            trajectory.unitcell_angles = angles[None]
        trajectory.save_pdb(self.topology_path)

    def _read_frames(self, n_frames: int) -> List[tuple]:
        import mdtraj.formats as formats

        if n_frames == 0:
            return []
        if self.suffix == ".dcd":
            with formats.DCDTrajectoryFile(self.path, "r") as handle:
                xyz, lengths, angles = handle.read(n_frames=n_frames)
            return [(xyz[i:i + 1], None if lengths is None else lengths[i:i + 1],
                     None if angles is None else angles[i:i + 1]) for i in range(len(xyz))]
        with formats.XTCTrajectoryFile(self.path, "r") as handle:
            xyz, time, step, box = handle.read(n_frames=n_frames)
        return [(xyz[i:i + 1], time[i:i + 1], step[i:i + 1], box[i:i + 1]) for i in range(len(xyz))]

    def _flush(self) -> None:
        if hasattr(self._handle, "flush"):
            self._handle.flush()

    def _write_frame(self, state) -> None:
        xyz = wrapped_positions(state, self.wrap)[None].astype(np.float32)
        lengths, angles = _cell_parameters(state)
        if self.suffix == ".dcd":
            self._handle.write(xyz, None if lengths is None else lengths[None], None if angles is None else angles[None])
        else:
            box = None
            if lengths is not None:
                box = (state.system.cell[0].detach().cpu().double().numpy() / 10.0)[None].astype(np.float32)
            self._handle.write(xyz / 10.0, time=np.array([state.time_fs * 1e-3], dtype=np.float32),
                               step=np.array([state.step], dtype=np.int32), box=box)
        self._flush()
