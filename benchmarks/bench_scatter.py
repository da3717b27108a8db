"""Segment sums as the model does them: mlip's native ``scatter_sum`` vs torch and torch-scatter.

The model sums per-edge messages into their receiving atoms: ``src`` is (E, C) or (E, C, D)
(C = 32 channels, D = 9 = (l_max + 1)^2 for l_max 2), E edges, N = E / 30 receivers (about 30
edges per atom; receivers drawn uniformly, so a few atoms have more or fewer), float32 and
float64, with the receiver index sorted (as mlip's neighbour list returns it) or in random order
(as an unsorted list such as vesin's). Side by side in one process, every repeat calls each code
once in a rotating order:

* ``mlip scatter_sum``: ``mlip.nn.scatter.scatter_sum`` (``zeros(N, ...).index_add(0, index, src)``);
* ``torch scatter_add_``: ``zeros(N, ...).scatter_add_(0, index.view(-1, 1, ..).expand_as(src), src)``;
* ``torch segment_reduce``: ``torch.segment_reduce(src, "sum", offsets=indptr, axis=0)`` (sorted only);
* ``torch_scatter.scatter``: ``torch_scatter.scatter(src, index, 0, dim_size=N, reduce="sum")``;
* ``torch_scatter.segment_csr``: ``segment_csr(src, indptr, reduce="sum")`` (sorted only);
* ``torch_scatter.segment_coo``: ``segment_coo(src, index, dim_size=N, reduce="sum")`` (sorted only).

The CSR offsets ``indptr`` (N + 1) are built outside the timed calls (once per neighbour list, then
reusable by every layer); the cost of building them (``bincount`` + ``cumsum``) is timed as its own
row, ``indptr build``. Modes: ``forward`` (no autograd) and ``forward+backward`` (``src`` requires
grad; ``out.backward(grad_out)`` with a fixed random ``grad_out``; the gradient is freed after each
call). Each repeat times a batch of calls (enough for >= ~20 ms of the mlip code) and reports the
time per call: median over the repeats and its spread (min, max), wall (``perf_counter``) and CPU
time of the process (``process_time``), and the ratio of medians to mlip's (time / mlip's time:
< 1 is faster than mlip). One torch thread (``torch.set_num_threads(1)``, set here only).

Every code's output (and, for forward+backward, ``src.grad``) is checked against a float64
``index_add`` reference, elementwise against the recursive-summation error bound
``(count - 1) * eps * sum|x|`` (+ a tiny absolute term), never with ``==``. A code that fails
the check is reported with ``"agrees": false`` and the run exits non-zero.

``mlip/nn/scatter.py`` is loaded by path, so the benchmark needs torch only (importing the
``mlip`` package pulls in ase, numba, ...). torch-scatter is optional: ``pip install .[scatter]``
needs a torch-scatter built against the installed torch, e.g.
``pip install --no-build-isolation torch-scatter`` (a source build, minutes). Usage::

    python benchmarks/bench_scatter.py [--sizes 1e4,1e5,1e6] [--repeats 7] [--output benchmarks/results/scatter.json]

Writes the JSON (and a Markdown table next to it, same name, ``.md``) atomically.
"""
from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
MLIP = "mlip scatter_sum"
INDPTR = "indptr build"
CHUNK = 1 << 15  # rows per chunk of the correctness checks
SORTED_ONLY = {"torch segment_reduce", "torch_scatter.segment_csr", "torch_scatter.segment_coo"}
INSTALL_HINT = ("torch-scatter not importable: its rows are skipped. Install it into this environment "
                "with `pip install --no-build-isolation torch-scatter` (built against the installed torch; "
                "`pip install .[scatter]` does the same only where a matching build is available)")


def load_mlip_scatter_sum():
    """``scatter_sum`` from the checkout's mlip/nn/scatter.py (torch only, no package import)."""
    path = ROOT / "mlip" / "nn" / "scatter.py"
    spec = importlib.util.spec_from_file_location("_mlip_nn_scatter", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.scatter_sum, str(path.relative_to(ROOT))


def load_torch_scatter():
    try:
        import torch_scatter
    except Exception as exc:  # ImportError, or an OSError/RuntimeError from an ABI-mismatched build
        return None, f"{type(exc).__name__}: {exc}"
    return torch_scatter, getattr(torch_scatter, "__version__", "unknown")


def machine_description() -> str:
    cpu = platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        if names:
            cpu = names[0]
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Linux {platform.release()}, Python {platform.python_version()}"


def mem_available_bytes() -> float:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024.0
    except (OSError, ValueError):
        pass
    return math.inf


def write_atomically(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), prefix=".tmp-",
                               suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def make_problem(n_edges: int, per_atom: int, shape: tuple, dtype: torch.dtype, seed: int):
    """src (E, *shape), sorted receiver index (E,), N, indptr (N + 1,)."""
    gen = torch.Generator().manual_seed(seed)
    n_atoms = max(1, n_edges // per_atom)
    index = torch.randint(0, n_atoms, (n_edges,), generator=gen).sort().values
    src = torch.randn((n_edges,) + shape, generator=gen, dtype=torch.float64).to(dtype)
    return src, index, n_atoms


def build_indptr(index: torch.Tensor, n_atoms: int) -> torch.Tensor:
    counts = torch.bincount(index, minlength=n_atoms)
    indptr = torch.zeros(n_atoms + 1, dtype=torch.int64)
    torch.cumsum(counts, 0, out=indptr[1:])
    return indptr


def codes(scatter_sum, ts, index: torch.Tensor, n_atoms: int, indptr, ndim: int, is_sorted: bool) -> dict:
    """name -> f(src) -> (N, ...) segment sums."""
    expanded_shape = (-1,) + (1,) * (ndim - 1)
    view = index.view(expanded_shape)

    def scatter_add_(src):
        out = torch.zeros((n_atoms,) + src.shape[1:], dtype=src.dtype)
        return out.scatter_add_(0, view.expand_as(src), src)

    fns = {MLIP: lambda src: scatter_sum(src, index, n_atoms), "torch scatter_add_": scatter_add_}
    if is_sorted:
        fns["torch segment_reduce"] = lambda src: torch.segment_reduce(src, "sum", offsets=indptr, axis=0)
    if ts is not None:
        fns["torch_scatter.scatter"] = lambda src: ts.scatter(src, index, dim=0, dim_size=n_atoms, reduce="sum")
        if is_sorted:
            fns["torch_scatter.segment_csr"] = lambda src: ts.segment_csr(src, indptr, reduce="sum")
            fns["torch_scatter.segment_coo"] = lambda src: ts.segment_coo(src, index, dim_size=n_atoms, reduce="sum")
    return fns


def chunked_check(got: torch.Tensor, ref: torch.Tensor, bound: torch.Tensor):
    """(max |got - ref|, all within bound), without full-size temporaries."""
    worst, ok = 0.0, True
    for lo in range(0, got.shape[0], CHUNK):
        diff = (got[lo:lo + CHUNK].double() - ref[lo:lo + CHUNK]).abs_()
        worst = max(worst, float(diff.max()) if diff.numel() else 0.0)
        ok = ok and bool((diff <= bound[lo:lo + CHUNK]).all())
    return worst, ok


def grad_check(grad: torch.Tensor, grad_out: torch.Tensor, index: torch.Tensor, eps: float):
    """d out[index[e]] / d src[e] = 1: src.grad must be grad_out gathered (checked with a 1-ulp bound)."""
    worst, ok = 0.0, True
    for lo in range(0, grad.shape[0], CHUNK):
        expected = grad_out.index_select(0, index[lo:lo + CHUNK]).double()
        diff = (grad[lo:lo + CHUNK].double() - expected).abs_()
        worst = max(worst, float(diff.max()) if diff.numel() else 0.0)
        ok = ok and bool((diff <= expected.abs_().mul_(eps).add_(1e-300)).all())
    return worst, ok


def time_batch(call, calls: int):
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(calls):
        call()
    return (time.perf_counter() - t0) / calls, (time.process_time() - c0) / calls


def summary(values) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def run_config(scatter_sum, ts, n_edges, per_atom, shape, dtype, is_sorted, repeats, seed, min_batch_s):
    src, index, n_atoms = make_problem(n_edges, per_atom, shape, dtype, seed)
    if not is_sorted:
        perm = torch.randperm(n_edges, generator=torch.Generator().manual_seed(seed + 1))
        index = index[perm].contiguous()
    indptr = build_indptr(index, n_atoms) if is_sorted else None
    fns = codes(scatter_sum, ts, index, n_atoms, indptr, src.dim(), is_sorted)
    eps = torch.finfo(dtype).eps
    counts = torch.bincount(index, minlength=n_atoms)

    # float64 reference and the elementwise error bound of a recursive sum
    ref = torch.zeros((n_atoms,) + shape, dtype=torch.float64)
    abs_sum = torch.zeros_like(ref)
    for lo in range(0, n_edges, CHUNK):  # in chunks: no E-sized float64 copy
        part = src[lo:lo + CHUNK].double()
        ref.index_add_(0, index[lo:lo + CHUNK], part)
        abs_sum.index_add_(0, index[lo:lo + CHUNK], part.abs())  # not abs_: for float64, part is src
    del part
    factor = (counts - 1).clamp(min=1).double().view((-1,) + (1,) * len(shape))
    bound = factor * eps * abs_sum + 1e-300
    del abs_sum
    grad_out = torch.randn(ref.shape, generator=torch.Generator().manual_seed(seed + 2),
                           dtype=torch.float64).to(dtype)

    rows = []
    for mode in ("forward", "forward+backward"):
        leaf = src.detach().requires_grad_(mode != "forward")
        if mode == "forward":
            calls = {name: (lambda f=f: f(leaf)) for name, f in fns.items()}
        else:
            def backward_call(f):
                def call():
                    f(leaf).backward(grad_out)
                    leaf.grad = None
                return call
            calls = {name: backward_call(f) for name, f in fns.items()}
        if is_sorted and mode == "forward":
            calls[INDPTR] = lambda: build_indptr(index, n_atoms)
        # correctness (also warms every code up)
        checks = {}
        for name, f in fns.items():
            with torch.set_grad_enabled(mode != "forward"):
                out = f(leaf)
            err, ok = chunked_check(out.detach(), ref, bound)
            if mode != "forward":
                out.backward(grad_out)
                g_err, g_ok = grad_check(leaf.grad, grad_out, index, eps)
                leaf.grad = None
                err, ok = max(err, g_err), ok and g_ok
            checks[name] = (err, ok)
            del out
        # batch size from mlip's warm time
        single, _ = time_batch(calls[MLIP], 1)
        batch = max(1, math.ceil(min_batch_s / max(single, 1e-7)))
        for name in calls:  # one more warm-up call each (indptr build: its first)
            time_batch(calls[name], 1)
        wall = {k: [] for k in calls}
        cpu = {k: [] for k in calls}
        names = list(calls)
        for rep in range(repeats):
            for name in names[rep % len(names):] + names[:rep % len(names)]:
                w, c = time_batch(calls[name], batch)
                wall[name].append(w)
                cpu[name].append(c)
        base_w, base_c = statistics.median(wall[MLIP]), statistics.median(cpu[MLIP])
        for name in names:
            w, c = summary(wall[name]), summary(cpu[name])
            err, ok = checks.get(name, (None, None))
            rows.append({
                "n_edges": n_edges, "n_atoms": n_atoms, "shape": "(E," + ",".join(map(str, shape)) + ")",
                "dtype": str(dtype).replace("torch.", ""), "index": "sorted" if is_sorted else "unsorted",
                "mode": mode, "code": name, "calls_per_repeat": batch, "repeats": repeats,
                "wall_s": w, "cpu_s": c, "wall_s_all": wall[name], "cpu_s_all": cpu[name],
                "ratio_wall_vs_mlip": w["median"] / base_w, "ratio_cpu_vs_mlip": c["median"] / base_c,
                "cpu_over_wall": c["median"] / w["median"] if w["median"] > 0 else None,
                "max_abs_err_vs_f64": err, "agrees": ok,
            })
    return rows


def fmt_ms(seconds: float) -> str:
    ms = seconds * 1e3
    return f"{ms:.3g}" if ms < 100 else f"{ms:.0f}"


def markdown(rows, meta) -> str:
    order = [MLIP, "torch scatter_add_", "torch segment_reduce", "torch_scatter.scatter",
             "torch_scatter.segment_csr", "torch_scatter.segment_coo", INDPTR]
    present = [c for c in order if any(r["code"] == c for r in rows)]
    lines = ["# Segment sums: mlip scatter_sum (index_add) vs torch and torch-scatter", ""]
    for key in ("date", "machine", "torch", "torch_scatter", "threads", "protocol", "command"):
        lines.append(f"- {key}: {meta[key]}")
    lines += ["", "Median ms per call, wall (CPU time), [wall min–max], and ratio of median wall time to "
              "mlip's (< 1: faster than mlip); n/a: needs a sorted index. `indptr build` is the cost of "
              "the CSR offsets (bincount + cumsum) the segment_* codes need, not included in their times.", ""]
    lines.append("| E | N | src | dtype | index | mode | " + " | ".join(present) + " |")
    lines.append("|---:|---:|---|---|---|---|" + "---:|" * len(present))
    groups = {}
    for r in rows:
        groups.setdefault((r["n_edges"], r["n_atoms"], r["shape"], r["dtype"], r["index"], r["mode"]), {})[r["code"]] = r
    for (e, n, shape, dtype, idx, mode), by_code in groups.items():
        cells = []
        for c in present:
            r = by_code.get(c)
            if r is None:
                cells.append("n/a")
                continue
            bad = "" if r["agrees"] in (True, None) else " **DISAGREES**"
            cells.append(f"{fmt_ms(r['wall_s']['median'])} ({fmt_ms(r['cpu_s']['median'])}) "
                         f"[{fmt_ms(r['wall_s']['min'])}–{fmt_ms(r['wall_s']['max'])}] "
                         f"×{r['ratio_wall_vs_mlip']:.2f}{bad}")
        lines.append(f"| {e:,} | {n:,} | {shape} | {dtype} | {idx} | {mode} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="1e4,1e5,1e6", help="numbers of edges E, comma-separated")
    p.add_argument("--edges-per-atom", type=int, default=30)
    p.add_argument("--channels", type=int, default=32)
    p.add_argument("--irreps-dim", type=int, default=9, help="D of the (E, C, D) case: (l_max + 1)^2")
    p.add_argument("--dtypes", default="float32,float64")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--min-batch-s", type=float, default=0.02, help="time per batch of calls (mlip's)")
    p.add_argument("--max-mem-fraction", type=float, default=0.5,
                   help="skip a case whose estimated peak memory exceeds this fraction of MemAvailable")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "scatter.json"),
                   help="JSON path ('' to not write); a .md table is written next to it")
    args = p.parse_args(argv)
    if args.repeats < 5:
        p.error("--repeats must be >= 5")

    torch.set_num_threads(1)
    scatter_sum, mlip_source = load_mlip_scatter_sum()
    ts, ts_version = load_torch_scatter()
    notes = []
    if ts is None:
        print(f"[bench] {INSTALL_HINT} ({ts_version})", file=sys.stderr)
        notes.append(f"{INSTALL_HINT} ({ts_version})")
    sizes = [int(float(s)) for s in args.sizes.split(",") if s]
    dtypes = [getattr(torch, d) for d in args.dtypes.split(",") if d]
    shapes = [(args.channels,), (args.channels, args.irreps_dim)]

    rows = []
    for n_edges in sizes:
        for shape in shapes:
            for dtype in dtypes:
                itemsize = torch.empty((), dtype=dtype).element_size()
                # src, its gradient and one E-sized temporary of a backward
                need = n_edges * math.prod(shape) * 3 * itemsize
                if need > args.max_mem_fraction * mem_available_bytes():
                    note = (f"E={n_edges:,} src (E,{','.join(map(str, shape))}) {dtype}: skipped, needs ~"
                            f"{need / 2**30:.1f} GiB > {args.max_mem_fraction} of MemAvailable")
                    print(f"[bench] {note}", file=sys.stderr)
                    notes.append(note)
                    continue
                for is_sorted in (True, False):
                    t0 = time.perf_counter()
                    new = run_config(scatter_sum, ts, n_edges, args.edges_per_atom, shape, dtype, is_sorted,
                                     args.repeats, args.seed, args.min_batch_s)
                    rows += new
                    gc.collect()  # the case's tensors (up to GBs) are gone before the next one
                    for r in new:
                        print(f"[bench] E={n_edges:>9,} {r['shape']:>9} {r['dtype']} {r['index']:>8} "
                              f"{r['mode']:>16} {r['code']:>26}: {r['wall_s']['median'] * 1e3:9.3f} ms "
                              f"(cpu {r['cpu_s']['median'] * 1e3:9.3f}) x{r['ratio_wall_vs_mlip']:.2f} "
                              f"agrees={r['agrees']}", file=sys.stderr, flush=True)
                    print(f"[bench]   ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)

    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": machine_description(),
        "torch": torch.__version__,
        "torch_scatter": ts_version if ts is not None else None,
        "threads": torch.get_num_threads(),
        "mlip_source": mlip_source,
        "protocol": (f"{args.edges_per_atom} edges per atom (uniform random receivers), C={args.channels}, "
                     f"D={args.irreps_dim}; median of {args.repeats} repeats, each a batch of calls "
                     f"(>= {args.min_batch_s * 1e3:.0f} ms of mlip's), codes interleaved in rotating order; "
                     "indptr built outside the timed segment_* calls; checked against a float64 reference"),
        "command": "python " + " ".join([os.path.relpath(__file__, ROOT)] + (argv if argv is not None else sys.argv[1:])),
    }
    if ts is None:
        meta["torch_scatter"] = f"not installed ({ts_version})"
    text = markdown(rows, meta)
    print(text)
    if args.output and rows:
        write_atomically(args.output, json.dumps(dict(meta, notes=notes, rows=rows), indent=1) + "\n")
        write_atomically(os.path.splitext(args.output)[0] + ".md", text)
        print(f"[bench] wrote {args.output}", file=sys.stderr)
    disagree = [r for r in rows if r["agrees"] is False]
    for r in disagree:
        print(f"[bench] DISAGREES: {r['code']} E={r['n_edges']} {r['shape']} {r['dtype']} {r['index']} "
              f"{r['mode']}: max |err| {r['max_abs_err_vs_f64']:.3g}", file=sys.stderr)
    return 1 if disagree or not rows else 0


if __name__ == "__main__":
    sys.exit(main())
