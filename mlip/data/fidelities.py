"""Multi-fidelity data: frames labelled at several levels of theory, read, split by structure.

``data.fidelities`` maps each fidelity name, lowest first, to its options::

    fidelities:
      xtb:   {energy: xtb_energy, forces: xtb_forces}
      b3lyp: {energy: dft_energy, forces: dft_forces, n_train: 50, loss_weight: 1.0}

Options: any ``data.keys`` option (overriding ``data.keys`` for this fidelity), plus
``loss_weight`` (multiplies the weight of its frames in the loss, default 1), ``n_train`` (use
only its first n_train training frames, in the seeded shuffled order) and ``train``/``index``
(its own data file and ASE index; default ``data.train``/``data.index``).

Where frames come from:

* **label sets** (no ``data.keys.fidelity``): every structure of a file yields one frame per
  fidelity whose energy or forces it carries, so a structure with xTB and B3LYP labels trains
  both levels;
* **a label key** (``data.keys.fidelity: level``): ``atoms.info["level"]`` names the one
  fidelity of each structure's labels, read with that fidelity's keys.

Splits are by structure (``split_frames`` on each file's structures with ``data.split_seed``),
so a held-out structure is held out at every fidelity. A structure without labels at any
fidelity, an unknown fidelity label, or a fidelity with no frames at all is a DataError.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from mlip.data.frames import DataKeys, Frame, frame_from_atoms, read_images
from mlip.data.split import split_frames
from mlip.errors import ConfigError, DataError
from mlip.models.fidelity_names import check_fidelity_names

#: Options of one fidelity besides the ``data.keys`` ones.
EXTRA_OPTIONS = ("loss_weight", "n_train", "train", "index")


@dataclass(frozen=True)
class FidelitySpec:
    """One fidelity of the data: its label keys, loss weight, training-frame limit and file."""

    name: str
    keys: DataKeys
    loss_weight: float = 1.0
    n_train: Optional[int] = None
    train: Optional[str] = None
    index: Optional[str] = None
    explicit_keys: Tuple[str, ...] = ()


def parse_fidelities(fidelities: Any, base_keys: Mapping[str, Any]) -> List[FidelitySpec]:
    """``data.fidelities`` (a mapping name -> options, lowest first) as FidelitySpecs."""
    if not isinstance(fidelities, Mapping) or not fidelities:
        raise ConfigError("data.fidelities: give a mapping from fidelity name (lowest first) to its label keys, "
                          "e.g. {xtb: {energy: xtb_energy, forces: xtb_forces}, b3lyp: {energy: dft_energy, forces: dft_forces}}")
    names = check_fidelity_names(list(fidelities), "data.fidelities", minimum=1)
    known = {f.name for f in dataclasses.fields(DataKeys)} - {"fidelity"}
    specs = []
    for name in names:
        options = dict(fidelities[name] or {})
        unknown = sorted(set(options) - known - set(EXTRA_OPTIONS))
        if unknown:
            raise ConfigError(f"data.fidelities.{name}: unknown option(s) {unknown}; valid: {sorted(known | set(EXTRA_OPTIONS))}")
        extra = {k: options.pop(k) for k in EXTRA_OPTIONS if k in options}
        weight = extra.get("loss_weight", 1.0)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight >= 0:
            raise ConfigError(f"data.fidelities.{name}.loss_weight must be a number >= 0, got {weight!r}")
        n_train = extra.get("n_train")
        if n_train is not None and (isinstance(n_train, bool) or not isinstance(n_train, int) or n_train < 0):
            raise ConfigError(f"data.fidelities.{name}.n_train must be an integer >= 0, got {n_train!r}")
        keys = DataKeys.from_dict({**{k: v for k, v in base_keys.items() if k != "fidelity"}, **options})
        specs.append(FidelitySpec(name, keys, float(weight), n_train, extra.get("train"), extra.get("index"),
                                  tuple(k for k in ("energy", "forces", "stress") if k in options)))
    return specs


def _labelled(frame: Frame) -> bool:
    return frame.energy is not None or frame.forces is not None or frame.stress is not None


def read_structures(path: str, index: str, specs: Sequence[FidelitySpec], fidelity_key: Optional[str]) -> List[List[Frame]]:
    """Per structure of ``path`` (file order), its frames at each fidelity of ``specs`` it is
    labelled at (``fidelity`` set, weight × loss_weight). DataError for an unlabelled structure."""
    by_name = {s.name: s for s in specs}
    structures = []
    for k, atoms in enumerate(read_images(path, index)):
        source = f"{path}:{k}"
        if fidelity_key is not None:
            label = atoms.info.get(fidelity_key)
            if label is None:
                raise DataError(f"{source}: no fidelity label {fidelity_key!r} (data.keys.fidelity) in its info")
            if str(label) not in by_name:
                raise DataError(f"{source}: fidelity label {label!r} is not one of data.fidelities {list(by_name)}")
            chosen = [by_name[str(label)]]
        else:
            chosen = list(specs)
        frames = []
        for spec in chosen:
            frame = frame_from_atoms(atoms, spec.keys, source)
            if _labelled(frame):
                frames.append(dataclasses.replace(frame, fidelity=spec.name, weight=frame.weight * spec.loss_weight))
        if not frames:
            raise DataError(f"{source}: no labels of any fidelity ({', '.join(f'{s.name}: {s.keys.energy}/{s.keys.forces}' for s in chosen)}); "
                            "remove the frame or fix the keys in data.fidelities")
        structures.append(frames)
    return structures


def split_fidelity_frames(data, specs: Sequence[FidelitySpec]) -> Tuple[List[Frame], List[Frame], List[Frame], Dict[str, List[List[Frame]]]]:
    """Read and split multi-fidelity data as ``data`` (a :class:`mlip.train.config.DataConfig`)
    says. Returns (train, valid, test) frames of all fidelities and, per data file, all its
    structures in file order (for baseline labels)."""
    fidelity_key = dict(data.keys).get("fidelity")
    groups: Dict[Tuple[str, str], List[FidelitySpec]] = {}
    for spec in specs:
        groups.setdefault((spec.train or data.train, spec.index or data.index), []).append(spec)
    train, valid, test = [], [], []
    files: Dict[str, List[List[Frame]]] = {}
    for (path, index), group in groups.items():
        structures = read_structures(path, index, group, fidelity_key)
        files[path] = structures
        tr, va, te = split_frames(structures, 0 if data.valid else data.n_valid, 0 if data.test else data.n_test, data.split_seed)
        if data.n_train is not None:
            if data.n_train > len(tr):
                raise ConfigError(f"data.n_train={data.n_train} but only {len(tr)} training structures are in {path}")
            tr = tr[: data.n_train]
        train += [f for s in tr for f in s]
        valid += [f for s in va for f in s]
        test += [f for s in te for f in s]
    for attr, out in (("valid", valid), ("test", test)):
        path = getattr(data, attr)
        if path:
            out += [f for s in read_structures(path, ":", specs, fidelity_key) for f in s]
    train = _limit_per_fidelity(train, specs)
    for spec in specs:
        mine = [f for f in train + valid + test if f.fidelity == spec.name]
        if not mine and spec.n_train != 0:
            raise DataError(f"data.fidelities.{spec.name}: no frame carries its labels (energy key {spec.keys.energy!r}, "
                            f"forces key {spec.keys.forces!r}); fix the keys or remove the fidelity")
        for label in spec.explicit_keys:
            if mine and all(getattr(f, label) is None for f in mine):
                raise DataError(f"data.fidelities.{spec.name}: no frame has its {label} key {getattr(spec.keys, label)!r}")
    return train, valid, test, files


def _limit_per_fidelity(train: List[Frame], specs: Sequence[FidelitySpec]) -> List[Frame]:
    """Keep each fidelity's first ``n_train`` training frames (in the shuffled order)."""
    seen: Dict[str, int] = {}
    limits = {s.name: s.n_train for s in specs}
    kept = []
    for f in train:
        seen[f.fidelity] = seen.get(f.fidelity, 0) + 1
        limit = limits.get(f.fidelity)
        if limit is None or seen[f.fidelity] <= limit:
            kept.append(f)
    for name, limit in limits.items():
        if limit is not None and seen.get(name, 0) < limit:
            raise ConfigError(f"data.fidelities.{name}.n_train={limit} but only {seen.get(name, 0)} training frames carry it")
    return kept
