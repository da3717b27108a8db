"""``learn(config)``: the active-learning loop of ``mlip learn``.

Each round: train the committee on every frame labelled so far → explore with MD at every
condition → select the frames whose σ passes the threshold (thinned by farthest-point
sampling) → label them with the oracle. It stops when exploration has stayed under the
threshold for ``stop.quiet_time_fs`` of simulated time, when ``stop.max_labels`` labels are
spent, or after ``stop.max_rounds`` rounds; a last committee is then trained on all labels
(``output/committee.pt``).

Output folder::

    journal.json            where the loop is and each round's measurements (resume state)
    labelled.extxyz         every labelled frame with its provenance (round, condition, σ)
    labelled/NNNNNN.extxyz  the same frames one per file, written as each is labelled
    validation.extxyz       the fixed validation set (and test.extxyz), labels as REF_*
    round_R/member_k/       each member's mlip train run; round_R/committee.pt
    round_R/samples.extxyz  exploration frames with σ; round_R/selected.json
    rounds.csv, rounds.png  the per-round table and plot
    committee.pt            the final committee

Everything is written atomically and every phase is recorded in ``journal.json`` when it
ends, so ``learn(config, resume=True)`` after a kill (even ``kill -9``) redoes at most the
phase that was running, and within labelling, at most the frame being labelled. Exploration
and selection are seeded by (seed, round, condition), so the redone phase gives the same
frames.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from mlip.atomic_io import atomic_open, atomic_path
from mlip.errors import ConfigError
from mlip.learn import labelled_set, report
from mlip.learn.conditions import build_condition
from mlip.learn.config import LABEL_KEYS, LearnConfig
from mlip.learn.journal import open_journal
from mlip.learn.oracle import Oracle
from mlip.learn.retrain import load_template, train_committee
from mlip.learn.select import descriptor, min_distance_A, select

JOURNAL = "journal.json"
LABELLED = "labelled.extxyz"


class _Loop:
    def __init__(self, cfg: LearnConfig, resume: bool, say: Callable[[str], None]):
        self.cfg, self.say = cfg, say
        self.out = Path(cfg.output)
        self.out.mkdir(parents=True, exist_ok=True)
        self.journal_path = str(self.out / JOURNAL)
        self.journal = open_journal(self.journal_path, cfg.to_dict(), resume)
        self.template = load_template(cfg)
        self.oracle = Oracle(cfg.oracle.calculator, cfg.oracle.script, cfg.oracle.kwargs, cfg.base_dir)
        self.starts = self._read_starts()
        self.validation = self._fixed_set(cfg.validation, "validation")
        self.test = self._fixed_set(cfg.test, "test")
        self.labelled_path = str(self.out / LABELLED)
        self.store = labelled_set.LabelledStore(str(self.out / "labelled"), self.labelled_path,
                                                cfg.train.explored_weight)

    # ---------------------------------------------------------------- inputs
    def _read_starts(self):
        import ase.io

        starts = []
        for path in self.cfg.start.structures:
            resolved = self.cfg.resolve(path)
            try:
                starts += list(ase.io.read(resolved, index=":"))
            except FileNotFoundError:
                raise ConfigError(f"start.structures: {resolved!r} not found") from None
            except Exception as exc:
                raise ConfigError(f"start.structures: cannot read {resolved!r}: {exc}") from None
        return starts

    def _fixed_set(self, section, name: str) -> Optional[str]:
        """The fixed labelled set copied into the output with the loop's label keys."""
        if section.file is None:
            return None
        target = self.out / f"{name}.extxyz"
        if not target.exists():
            from mlip.data import DataKeys, read_frames

            frames = read_frames(self.cfg.resolve(section.file), DataKeys(**section.keys))
            atoms = []
            for f in frames:
                a = f.to_atoms()
                a.calc = None
                a.info[LABEL_KEYS["energy"]] = f.energy
                a.arrays[LABEL_KEYS["forces"]] = f.forces
                if f.stress is not None:
                    a.info[LABEL_KEYS["stress"]] = f.stress[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]
                atoms.append(a)
            labelled_set.write_labelled(str(target), atoms)
        return str(target)

    # ---------------------------------------------------------------- phases
    def save(self, phase: str, round_index: Optional[int] = None) -> None:
        self.journal.phase = phase
        if round_index is not None:
            self.journal.round = round_index
        self.journal.save(self.journal_path)

    def initial(self) -> None:
        """Round 0: label the initial data and rattled copies of the start structures."""
        done = len(self.store)
        todo = []
        if self.cfg.start.initial_data:
            import ase.io

            todo += [(a, "initial data") for a in ase.io.read(self.cfg.resolve(self.cfg.start.initial_data), index=":")]
        rng = np.random.default_rng([self.cfg.seed, 0, 99])
        for k, start in enumerate(self.starts):
            for _ in range(self.cfg.start.rattle_per_structure):
                todo.append((labelled_set.rattled(start, self.cfg.start.rattle_A, rng), f"start {k} rattled"))
        if not todo:
            raise ConfigError("no initial labels: give start.initial_data or start.rattle_per_structure >= 1")
        for n, (atoms, condition) in enumerate(todo):
            if n < done:
                continue  # labelled before a kill
            labels = self.oracle.label(atoms, f"initial {n} ({condition})")
            self.store.add(labelled_set.with_labels(atoms, labels, 0, condition, float("nan"), "initial", self.oracle.name))
        frames = self.store.write_combined()
        self.say(f"initial labels: {len(frames)} frames from {self.oracle.name}")
        self.save("train")

    def train(self, r: int) -> None:
        n = len(self.store)
        self.say(f"round {r}: training a committee of {self.cfg.train.committee_size} on {n} labelled frames")
        reuse = r > 0 and any(row["round"] == r - 1 and row.get("labels") == n for row in self.journal.rows)
        if reuse:
            self.say(f"round {r}: nothing was labelled in round {r - 1}; exploring again with its committee")
        path = train_committee(self.cfg, self.template, r, self.out, self.labelled_path, self.validation, reuse)
        from mlip.potential import load_potential

        pot = load_potential(path)
        row = {"round": r, "labels": n}
        row.update(report.errors(pot, self.validation, "valid"))
        row.update(report.errors(pot, self.test, "test"))
        self.journal.rows = [x for x in self.journal.rows if x["round"] != r] + [row]
        self.save("explore")

    def explore(self, r: int) -> None:
        from mlip.learn.explore import explore
        from mlip.potential import load_potential

        cfg = self.cfg
        pot = load_potential(self.out / f"round_{r}" / "committee.pt")
        threshold = cfg.select.threshold_eV_per_A
        stop_sigma = cfg.explore.stop_sigma_eV_per_A or 10.0 * threshold
        samples, simulated, notes = [], 0.0, []
        for k, spec in enumerate(cfg.explore.conditions):
            condition = build_condition(spec, k, self.starts, np.random.default_rng([cfg.seed, r, k]), cfg.explore.ensemble)
            result = explore(pot, condition, cfg.explore.timestep_fs, cfg.explore.sample_every_steps,
                             seed=cfg.seed * 100003 + r * 1009 + k, stop_sigma_eV_per_A=stop_sigma,
                             friction_per_fs=cfg.explore.friction_per_fs, barostat_tau_fs=cfg.explore.barostat_tau_fs)
            simulated += result.simulated_fs
            worst = max(s.sigma_eV_per_A for s in result.samples) if result.samples else float("nan")
            self.say(f"round {r}: explored {condition.name}: {result.simulated_fs:g} fs, max σ {worst:.3g} eV/Å"
                     + (f" (stopped early: {result.stopped})" if result.stopped else ""))
            if result.stopped:
                notes.append(f"{condition.name}: {result.stopped}")
            for s in result.samples:
                s.atoms.info.update(condition=s.condition, step=s.step, sigma_eV_per_A=s.sigma_eV_per_A)
                samples.append(s.atoms)
        labelled_set.write_labelled(str(self.out / f"round_{r}" / "samples.extxyz"), samples)
        sigmas = [a.info["sigma_eV_per_A"] for a in samples]
        candidates = int(sum(s > threshold for s in sigmas))
        self.journal.quiet_fs = 0.0 if candidates else self.journal.quiet_fs + simulated
        self._update_row(r, max_sigma_eV_per_A=max(sigmas) if sigmas else None, candidates=candidates,
                         simulated_fs=simulated, explore_notes=notes)
        self.save("select")

    def select(self, r: int) -> None:
        cfg = self.cfg
        samples = labelled_set.read_labelled(str(self.out / f"round_{r}" / "samples.extxyz"))
        labelled = labelled_set.read_labelled(self.labelled_path)
        budget = max(cfg.stop.max_labels - len(labelled), 0)
        elements = sorted({int(z) for a in labelled + samples for z in a.numbers})
        cutoff = cfg.select.descriptor_cutoff_A
        features = np.array([descriptor(a, elements, cutoff) for a in samples]) if samples else np.zeros((0, 1))
        known = np.array([descriptor(a, elements, cutoff) for a in labelled]) if labelled else np.zeros((0, features.shape[1]))
        sigmas = [a.info["sigma_eV_per_A"] for a in samples]
        if cfg.select.min_distance_A is not None:  # collapsed frames are never candidates
            sigmas = [s if min_distance_A(a) >= cfg.select.min_distance_A else -np.inf for s, a in zip(sigmas, samples)]
            if any(s == -np.inf for s in sigmas):
                self.say(f"round {r}: {sum(s == -np.inf for s in sigmas)} frame(s) with atoms closer than "
                         f"{cfg.select.min_distance_A:g} Å left out")
        picked = select(sigmas, features, known, cfg.select.threshold_eV_per_A,
                        min(cfg.select.max_per_round, budget), cfg.select.strategy, np.random.default_rng([cfg.seed, r, 17]),
                        cfg.select.max_sigma_eV_per_A)
        with atomic_open(str(self.out / f"round_{r}" / "selected.json"), "w", encoding="utf-8") as fh:
            json.dump({"selected": picked, "budget_left": budget}, fh)
        self.say(f"round {r}: selected {len(picked)} of {len(samples)} sampled frames")
        self.save("label")

    def label(self, r: int) -> None:
        samples = labelled_set.read_labelled(str(self.out / f"round_{r}" / "samples.extxyz"))
        with open(self.out / f"round_{r}" / "selected.json", encoding="utf-8") as fh:
            picked = json.load(fh)["selected"]
        done = labelled_set.count_by_round(self.store.frames(), r)
        for n, index in enumerate(picked):
            if n < done:
                continue  # labelled before a kill
            atoms = samples[index]
            name = f"round {r}, {atoms.info['condition']}, step {atoms.info['step']} (sample {index})"
            labels = self.oracle.label(atoms, name)
            self.store.add(labelled_set.with_labels(atoms, labels, r, atoms.info["condition"],
                                                    atoms.info["sigma_eV_per_A"], "explore", self.oracle.name))
        self.store.write_combined()
        self._update_row(r, new_labels=len(picked))
        self._write_table()
        self.save("train", r + 1)

    # ---------------------------------------------------------------- control
    def _update_row(self, r: int, **values) -> None:
        for row in self.journal.rows:
            if row["round"] == r:
                row.update(values)

    def _write_table(self) -> None:
        report.write_rounds(self.journal.rows, str(self.out / "rounds.csv"), str(self.out / "rounds.png"))

    def stop_reason(self, r: int) -> str:
        cfg, journal = self.cfg, self.journal
        n = len(self.store)
        if journal.quiet_fs >= cfg.stop.quiet_time_fs:
            return f"converged: σ stayed under {cfg.select.threshold_eV_per_A:g} eV/Å for {journal.quiet_fs:g} fs of exploration"
        if n >= cfg.stop.max_labels:
            return f"label budget spent ({n} of {cfg.stop.max_labels})"
        if r >= cfg.stop.max_rounds:
            return f"{cfg.stop.max_rounds} rounds done"
        return ""

    def finish(self, r: int, reason: str) -> Path:
        final = self.out / f"round_{r}" / "committee.pt"
        with atomic_path(str(self.out / "committee.pt"), suffix=".pt") as tmp:
            shutil.copyfile(final, tmp)
        self.journal.stopped = reason
        self._write_table()
        self.save("done")
        self.say(report.table(self.journal.rows))
        self.say(f"stopped: {reason}; final committee {self.out / 'committee.pt'}")
        return self.out / "committee.pt"

    def run(self) -> Path:
        j = self.journal
        if j.phase == "done":
            self.say(f"{self.out} is finished ({j.stopped}); final committee {self.out / 'committee.pt'}")
            return self.out / "committee.pt"
        if j.phase == "initial":
            self.initial()
        while True:
            r = j.round
            if j.phase == "train":
                self.train(r)
                reason = self.stop_reason(r) if r > 0 else ""
                if reason and "converged" not in reason:  # budget or rounds: the committee on all labels is final
                    return self.finish(r, reason)
            if j.phase == "explore":
                self.explore(r)
                reason = self.stop_reason(r)
                if "converged" in reason:
                    return self.finish(r, reason)
            if j.phase == "select":
                self.select(r)
            if j.phase == "label":
                self.label(r)


def learn(cfg: LearnConfig, resume: bool = False, say: Callable[[str], None] = print) -> Path:
    """Run (or, with ``resume``, continue) the active-learning loop; returns the final committee's path."""
    return _Loop(cfg, resume, say).run()
