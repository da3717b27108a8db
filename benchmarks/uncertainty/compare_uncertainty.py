#!/usr/bin/env python3
"""Single-model last-layer uncertainty (LLPR) vs committee spread as predictors of the true error.

Models:
  single     the shipped cuau-emt potential (trained on runs/cu_emt_split/train.extxyz)
  committee  a small committee trained on the same split (benchmarks/calibration/committee.yaml,
             runs/calibration_committee/best.pt); ``member0`` is its first member on its own

Predictors (each calibrated on the validation split, then judged on its own model's error):
  llpr        σ_i² = α f_iᵀ(AᵀA+λ)⁻¹f_i from the atom's last-layer features f_i, A = the training
              atoms' features (mlip.uncertainty.LLPR)
  llpr_structcov  the same with FᵀF, F = the training structures' summed features
  llpr_shift  llpr with the per-element shift as extra features
  llpr_E      the structure's energy σ_E per atom (per-frame only)
  force_llpr  σ_j from the force features −∂Σf/∂r_j (mlip.uncertainty.ForceLLPR)
  committee   the members' force spread (forces_std), scaled by α = ⟨|ΔF|²/std²⟩ on validation

Measured on the in-distribution test split, the out-of-distribution (OOD) set of
benchmarks/active_learning/ood_set.py, and both together ("test+ood": can the σ tell the OOD
frames apart?): Spearman rank correlation of the per-frame predicted force RMSE
sqrt(⟨σ_i²⟩/3) with the true per-frame force RMSE, and per atom of σ_i with |ΔF_i|, with 1000
bootstrap resamples of the frames (mean ± std, and paired LLPR − committee differences);
calibration: observed / predicted RMSE and the fraction of force components within 2σ_i/√3.
Cost: CPU time (time.process_time, median of 3) of a plain evaluation, of the evaluation plus
each σ, and of the committee's mean + spread, on the test split.

Usage (from the repository root; ~5 CPU minutes, 15 min of wall time on a shared machine):
    python benchmarks/accuracy_vs_peers/split_data.py benchmarks/datasets/cu_emt.extxyz runs/cu_emt_split
    OMP_NUM_THREADS=1 python benchmarks/uncertainty/compare_uncertainty.py \
        [--committee runs/calibration_committee/best.pt] [--ood benchmarks/active_learning/data/ood_test.extxyz]
Writes benchmarks/uncertainty/results/{uncertainty.json, uncertainty.md, scatter.png}.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Callable, Dict, List

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", ".."))

import mlip  # noqa: E402
from mlip.atomic_io import atomic_open  # noqa: E402
from mlip.data.batch import build_graphs, collate  # noqa: E402
from mlip.data.frames import DataKeys, read_frames  # noqa: E402
from mlip.potential import Potential, build_potential  # noqa: E402
from mlip.uncertainty import fit_force_llpr, fit_llpr  # noqa: E402

KEYS = DataKeys(energy="REF_energy", forces="REF_forces", stress="REF_stress")
BATCH = 8
#: per-atom σ from the atoms' own covariance AᵀA (default), from the structures' FᵀF, or with shift features
LLPR_VARIANTS = {"llpr": {}, "llpr_structcov": {"atom_covariance": False}, "llpr_shift": {"with_shift": True}}
SET_SEED = {"test": 1, "ood": 2, "test+ood": 3}  # same bootstrap resamples for every predictor of a set


def batches(graphs, dtype) -> List:
    return [collate(graphs[k:k + BATCH], dtype) for k in range(0, len(graphs), BATCH)]


def committee_member(committee: Potential, k: int) -> Potential:
    """Member ``k`` of a committee potential as a single-model potential (same weights)."""
    pot = build_potential(committee.config, dtype=committee.dtype, backend=committee.backend)
    prefix = f"model.terms.0.members.{k}."
    state = {"model.terms.0." + name[len(prefix):]: v for name, v in committee.state_dict().items() if name.startswith(prefix)}
    pot.load_state_dict(state)
    return pot


def numpy(t) -> np.ndarray:
    return t.detach().cpu().to(torch.float64).numpy()


def evaluate(pot: Potential, bs: List, sigma: Callable = None) -> Dict[str, list]:
    """Per frame: force errors (n_atoms, 3) and, with ``sigma(pot, batch, pred) -> (atom σ, energy σ)``, σ."""
    out = {"dF": [], "sigma": [], "sigma_E_per_atom": [], "n_atoms": []}
    for b in bs:
        pred = pot(b.system, b.edges)
        s_atom, s_energy = sigma(b, pred) if sigma else (None, None)
        idx = numpy(b.system.system_index).astype(int)
        dF = numpy(pred.forces) - numpy(b.forces)
        for k in range(int(b.system.cell.shape[0])):
            m = idx == k
            out["dF"].append(dF[m])
            out["n_atoms"].append(int(m.sum()))
            out["sigma"].append(None if s_atom is None else np.asarray(s_atom)[m])
            out["sigma_E_per_atom"].append(None if s_energy is None else float(s_energy[k]) / m.sum())
    return out


def spearman(x, y) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(x, y).correlation)


def frame_table(ev) -> Dict[str, np.ndarray]:
    rmse = np.array([np.sqrt(np.mean(d ** 2)) for d in ev["dF"]])
    pred = np.array([np.sqrt(np.mean(s ** 2) / 3) for s in ev["sigma"]])
    return {"true": rmse, "pred": pred}


def scores(ev, rng, n_boot: int, frames_only_pred=None) -> Dict:
    """Spearman per frame and per atom (bootstrap over frames), calibration figures."""
    ft = frame_table(ev)
    pred = ft["pred"] if frames_only_pred is None else frames_only_pred
    n = len(ft["true"])
    boot_idx = [rng.integers(0, n, n) for _ in range(n_boot)]
    res = {"n_frames": n, "frame_spearman": spearman(pred, ft["true"])}
    fb = np.array([spearman(pred[i], ft["true"][i]) for i in boot_idx])
    res["frame_spearman_boot"] = [float(np.nanmean(fb)), float(np.nanstd(fb))]
    res["_frame_boot"] = fb
    if frames_only_pred is None:
        err = [np.linalg.norm(d, axis=1) for d in ev["dF"]]
        sig = ev["sigma"]
        res["atom_spearman"] = spearman(np.concatenate(sig), np.concatenate(err))
        ab = np.array([spearman(np.concatenate([sig[j] for j in i]), np.concatenate([err[j] for j in i])) for i in boot_idx[:200]])
        res["atom_spearman_boot"] = [float(np.nanmean(ab)), float(np.nanstd(ab))]
        res["_atom_boot"] = ab
        s_all, d_all = np.concatenate(sig), np.concatenate(ev["dF"])
        res["rmse_over_predicted"] = float(np.sqrt(np.mean(d_all ** 2)) / np.sqrt(np.mean(s_all ** 2) / 3))
        res["coverage_2sigma"] = float(np.mean(np.abs(d_all) < 2 * s_all[:, None] / np.sqrt(3)))
    res["_idx"] = boot_idx
    return res


def over_members(predictors: Dict, n_members: int) -> Dict:
    """Spearman of each LLPR variant over the committee's members (each vs its own error): mean, std."""
    out = {}
    for variant in ("llpr", "force_llpr"):
        for sname in ("test", "ood", "test+ood"):
            rows = [predictors.get(f"{variant}(member{k})", {}).get(sname) for k in range(n_members)]
            rows = [r for r in rows if r is not None]
            if rows:
                fr = [r["frame_spearman"] for r in rows]
                at = [r["atom_spearman"] for r in rows]
                out.setdefault(variant, {})[sname] = {"n_models": len(rows), "frame_spearman": [float(np.mean(fr)), float(np.std(fr))],
                                                      "atom_spearman": [float(np.mean(at)), float(np.std(at))]}
    return out


def by_kind(evals: Dict, kinds: List[str]) -> Dict:
    """OOD per kind: true and predicted per-frame force RMSE (meV/Å, mean over frames) and the
    within-kind Spearman of each predictor."""
    out = {}
    for (pname, sname), ev in evals.items():
        if sname != "ood" or any(f"(member{k})" in pname for k in range(1, 10)):
            continue
        ft = frame_table(ev)
        for kind in sorted(set(kinds)):
            m = np.array([k == kind for k in kinds])
            out.setdefault(pname, {})[kind] = {"n": int(m.sum()), "true_rmse_meV_per_A": float(1e3 * np.mean(ft["true"][m])),
                                               "pred_rmse_meV_per_A": float(1e3 * np.mean(ft["pred"][m])),
                                               "frame_spearman": spearman(ft["pred"][m], ft["true"][m])}
    return out


def concat(a, b):
    return {k: a[k] + b[k] for k in a}


def cpu_time(fn, repeats=3) -> float:
    ts = []
    for _ in range(repeats):
        t = time.process_time()
        fn()
        ts.append(time.process_time() - t)
    return float(np.median(ts))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--split", default="runs/cu_emt_split")
    ap.add_argument("--single", default="potentials/cuau-emt/potential.pt")
    ap.add_argument("--committee", default="runs/calibration_committee/best.pt")
    ap.add_argument("--ood", default="benchmarks/active_learning/data/ood_test.extxyz")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-force-llpr", action="store_true", help="skip the (slower) force-feature LLPR")
    args = ap.parse_args()
    t_start = time.process_time()

    single = mlip.load_potential(args.single)
    committee = mlip.load_potential(args.committee)
    members = [committee_member(committee, k) for k in range(committee.committee_size)]
    member0 = members[0]
    # (name, model, LLPR variants): every variant on the single model and member 0, the default
    # and the force variant on the other members too (repeats over independently trained models)
    models = [("single", single, list(LLPR_VARIANTS)), ("member0", member0, list(LLPR_VARIANTS))]
    models += [(f"member{k}", m, ["llpr"]) for k, m in enumerate(members) if k > 0]
    sets = {}
    for name in ("train", "valid", "test"):
        sets[name] = build_graphs(read_frames(os.path.join(args.split, f"{name}.extxyz"), KEYS), single.cutoff)
    sets["ood"] = build_graphs(read_frames(args.ood, KEYS), single.cutoff)
    ood_kinds = [str((g.frame.info or {}).get("kind", "?")) for g in sets["ood"]]
    # the committee's cutoff may differ: graphs per cutoff
    cuts = {single.cutoff: sets}
    if committee.cutoff != single.cutoff:
        cuts[committee.cutoff] = {k: build_graphs([g.frame for g in v], committee.cutoff) for k, v in sets.items()}

    def bs(pot, name):
        return batches(cuts[pot.cutoff][name], pot.dtype)

    # --- fit and calibrate the predictors --------------------------------------------------
    fitted, fit_cpu = {}, {}
    for mname, pot, variants in models:
        for variant in variants:
            t = time.process_time()
            fitted[(mname, variant)] = fit_llpr(pot, bs(pot, "train"), **LLPR_VARIANTS[variant]).calibrated(pot, bs(pot, "valid"))
            fit_cpu[f"{mname}/{variant}"] = time.process_time() - t
            print(f"fitted {mname}/{variant} ({fit_cpu[f'{mname}/{variant}']:.0f} CPU s)", flush=True)
        if not args.skip_force_llpr:
            t = time.process_time()
            fitted[(mname, "force_llpr")] = fit_force_llpr(pot, bs(pot, "train")).calibrated(pot, bs(pot, "valid"))
            fit_cpu[f"{mname}/force_llpr"] = time.process_time() - t
            print(f"fitted {mname}/force_llpr ({fit_cpu[f'{mname}/force_llpr']:.0f} CPU s)", flush=True)
    # committee spread: α on validation
    num, den = [], []
    for b in bs(committee, "valid"):
        p = committee(b.system, b.edges, compute_spread=True)
        num.append(((numpy(p.forces) - numpy(b.forces)) ** 2).sum(axis=1))
        den.append(numpy(p.forces_std) ** 2)
    committee_alpha = float(np.mean(np.concatenate(num) / np.maximum(np.concatenate(den), 1e-30)))

    def llpr_sigma(pot, llpr):
        def f(b, pred):
            s = llpr.predict(pot, b.system, b.edges)[1]
            return s.atom_sigma_eV_per_A, s.energy_sigma_eV
        return f

    def force_sigma(pot, fl):
        return lambda b, pred: (fl.atom_sigmas(pot, b.system, b.edges), None)

    def committee_sigma(b, pred):
        p = committee(b.system, b.edges, compute_spread=True)
        return np.sqrt(committee_alpha) * numpy(p.forces_std), np.sqrt(committee_alpha) * numpy(p.energy_std)

    predictors = {}
    for mname, pot, _ in models:
        for variant in list(LLPR_VARIANTS) + ["force_llpr"]:
            if (mname, variant) not in fitted:
                continue
            fn = llpr_sigma(pot, fitted[(mname, variant)]) if variant != "force_llpr" else force_sigma(pot, fitted[(mname, variant)])
            predictors[f"{variant}({mname})"] = (pot, fn)
    predictors["committee"] = (committee, committee_sigma)
    predictors["committee_spread(single)"] = (single, committee_sigma)

    # --- evaluate -----------------------------------------------------------------------------
    evals = {}
    for pname, (pot, fn) in predictors.items():
        for sname in ("test", "ood"):
            if pname == "committee_spread(single)":  # committee's σ against the single model's error
                ev = evaluate(single, bs(single, sname))
                sig = evaluate(committee, bs(committee, sname), committee_sigma)
                ev["sigma"] = sig["sigma"]
            else:
                ev = evaluate(pot, bs(pot, sname), fn)
            evals[(pname, sname)] = ev
        evals[(pname, "test+ood")] = concat(evals[(pname, "test")], evals[(pname, "ood")])
        print(f"evaluated {pname}", flush=True)

    results = {"predictors": {}, "committee_alpha": committee_alpha, "fit_cpu_s": fit_cpu}
    boots = {}
    for (pname, sname), ev in evals.items():
        r = scores(ev, np.random.default_rng([args.seed, SET_SEED[sname]]), args.n_boot)
        boots[(pname, sname)] = r
        results["predictors"].setdefault(pname, {})[sname] = {k: v for k, v in r.items() if not k.startswith("_")}
        results["predictors"][pname][sname]["force_rmse_meV_per_A"] = float(1e3 * np.sqrt(np.mean(np.concatenate(ev["dF"]) ** 2)))
        if ev["sigma_E_per_atom"][0] is not None and pname.startswith("llpr("):
            rE = scores(ev, np.random.default_rng([args.seed, SET_SEED[sname]]), args.n_boot, np.array(ev["sigma_E_per_atom"]))
            results["predictors"].setdefault(pname.replace("llpr", "llpr_E"), {})[sname] = {
                k: v for k, v in rE.items() if not k.startswith("_")}
    # paired differences (same bootstrap resamples of frames: same seed per set)
    pairs = {}
    for a in [p for p in predictors if p != "committee" and not any(f"(member{k})" in p for k in range(1, len(members)))]:
        for sname in ("test", "ood", "test+ood"):
            d = boots[(a, sname)]["_frame_boot"] - boots[("committee", sname)]["_frame_boot"]
            da = boots[(a, sname)]["_atom_boot"] - boots[("committee", sname)]["_atom_boot"]
            pairs[f"{a} - committee / {sname}"] = {
                "frame_diff_mean": float(np.nanmean(d)), "frame_diff_ci95": [float(np.nanpercentile(d, 2.5)), float(np.nanpercentile(d, 97.5))],
                "atom_diff_mean": float(np.nanmean(da)), "atom_diff_ci95": [float(np.nanpercentile(da, 2.5)), float(np.nanpercentile(da, 97.5))]}
    results["paired_vs_committee"] = pairs
    results["ood_kinds"] = sorted(set(ood_kinds))
    results["over_members"] = over_members(results["predictors"], len(members))
    results["ood_by_kind"] = by_kind(evals, ood_kinds)
    with atomic_open(os.path.join(args.out, "per_frame.json"), "w", encoding="utf-8") as f:
        json.dump({"ood_kinds": ood_kinds, "frames": {f"{p}/{s}": {k: v.tolist() for k, v in frame_table(ev).items()}
                                                       for (p, s), ev in evals.items() if s != "test+ood"}}, f)

    # --- cost -------------------------------------------------------------------------------
    tb_single, tb_comm = bs(single, "test"), bs(committee, "test")
    cost = {
        "plain single": cpu_time(lambda: [single(b.system, b.edges) for b in tb_single]),
        "single + llpr": cpu_time(lambda: [fitted[("single", "llpr")].predict(single, b.system, b.edges) for b in tb_single]),
        "plain member0": cpu_time(lambda: [member0(b.system, b.edges) for b in tb_comm]),
        "member0 + llpr": cpu_time(lambda: [fitted[("member0", "llpr")].predict(member0, b.system, b.edges) for b in tb_comm]),
        "committee mean": cpu_time(lambda: [committee(b.system, b.edges) for b in tb_comm]),
        "committee mean + spread": cpu_time(lambda: [committee(b.system, b.edges, compute_spread=True) for b in tb_comm]),
    }
    if ("single", "force_llpr") in fitted:
        fl = fitted[("single", "force_llpr")]
        cost["single + force_llpr"] = cpu_time(lambda: [(single(b.system, b.edges), fl.atom_sigmas(single, b.system, b.edges))
                                                        for b in tb_single], repeats=1)
    results["cpu_s_test_split"] = cost
    results["n_threads"] = torch.get_num_threads()
    results["total_cpu_s"] = time.process_time() - t_start
    results["committee_size"] = committee.committee_size
    results["n_parameters"] = {"single": sum(p.numel() for p in single.parameters()),
                               "committee member": sum(p.numel() for p in member0.parameters())}
    os.makedirs(args.out, exist_ok=True)
    with atomic_open(os.path.join(args.out, "uncertainty.json"), "w", encoding="utf-8") as f:
        json.dump(results, f, indent=1)
    from report_uncertainty import write_report

    write_report(results, evals, args.out)
    print(open(os.path.join(args.out, "uncertainty.md")).read())


if __name__ == "__main__":
    main()
