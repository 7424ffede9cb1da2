"""W1/W2: Jacobian ensemble and its singular values, side by side on one device.

Question: how long do the singular values of an ensemble of end-to-end Jacobians take,
relative to the Jacobians themselves, and how accurate are they in float32 against a
float64 reference (σ ≥ 1e-3·σ_max and σ ≥ 1e-6·σ_max)?

    python benchmarks/bench_spectra.py            # 256 tanh MLPs, depth 32, width 256
    python benchmarks/bench_spectra.py --quick    # small, seconds on a CPU
    python benchmarks/bench_spectra.py --record   # append the table to benchmarks/RESULTS.md

Times: median of ``--repeats`` after one warm-up call (compile time reported separately),
``block_until_ready``; every row is measured in this one run on this one device.
"""

from __future__ import annotations

import argparse
import sys
import os
import datetime
import platform
import time

import jax

jax.config.update("jax_enable_x64", True)  # float64 reference and the float64 paths
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import vgtheory as vg  # noqa: E402
from vgtheory._spectrum import singular_values  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import timed  # noqa: E402

HI = jax.lax.Precision.HIGHEST


def peak(n, repeats, precision=HI):
    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
    f = jax.jit(lambda x: jnp.matmul(x, x, precision=precision))
    _, t, _ = timed(f, a, repeats=repeats)
    return 2 * n**3 / t


def rel_err(s, ref, thr):
    mask = ref >= thr * ref[:, :1]
    return float(np.max(np.abs(np.asarray(s, np.float64) - ref)[mask] / ref[mask]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--record", action="store_true")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sigma-w2", type=float, default=1.0)
    ap.add_argument("--skip", default="", help="comma-separated rows to skip (e.g. svd,jacobi)")
    ap.add_argument("--results", default=None, help="file --record appends to (default benchmarks/RESULTS.md)")
    args = ap.parse_args()
    E, L, n, pn = (16, 8, 32, 1024) if args.quick else (256, 32, 256, 8192)
    skip = set(filter(None, args.skip.split(",")))
    dev = jax.devices()[0]
    rows = []
    fp32_peak = peak(pn, args.repeats)
    rows.append(
        (f"peak: {pn}³ f32 matmul, highest", 2 * pn**3 / fp32_peak, None, "", "", f"{fp32_peak / 1e12:.1f} TFLOP/s")
    )
    try:  # float32-accurate matmul on tensor cores (three TF32 passes), where implemented
        x3 = peak(pn, args.repeats, jax.lax.DotAlgorithmPreset.TF32_TF32_F32_X3)
        rows.append(
            (
                f"peak: {pn}³ f32 matmul, 3×TF32",
                2 * pn**3 / x3,
                None,
                "",
                "",
                f"{x3 / 1e12:.1f} TFLOP/s = {x3 / fp32_peak:.2f}× the float32 peak",
            )
        )
    except Exception as e:
        rows.append((f"peak: {pn}³ 3×TF32", float("nan"), None, "", "", f"unsupported here: {str(e)[:90]}"))

    act = vg.activation("tanh")
    keys = jax.random.split(jax.random.key(1), E)
    params = jax.vmap(lambda k: vg.init_mlp(k, [n] * (L + 1), sigma_w2=args.sigma_w2, sigma_b2=0.0))(keys)
    x = jax.random.normal(jax.random.key(2), (E, n), jnp.float32)
    jflops = E * L * 2 * n**3

    def jac_fwd(p, x):
        return jax.vmap(lambda p, x: vg.input_jacobian(lambda z: vg.mlp_apply(p, z, act), x, mode="fwd"))(p, x)

    def chain(order, precision):
        return lambda p, x: jax.vmap(lambda p, x: vg.mlp_jacobian(p, x, act, precision, order))(p, x)

    # float64 reference Jacobians (same networks), for the accuracy of every W1 row
    p64 = jax.tree_util.tree_map(lambda a: a.astype(jnp.float64), params)
    J64 = np.asarray(jax.jit(chain("sequential", HI))(p64, x.astype(jnp.float64)))

    def jac_err(J):
        d = np.linalg.norm(np.asarray(J, np.float64) - J64, axis=(1, 2)) / np.linalg.norm(J64, axis=(1, 2))
        return f"{d.max():.1e} (‖J−J64‖/‖J64‖)"

    P = jax.lax.DotAlgorithmPreset

    def split_tf32(a, b):  # hand-written 3×TF32: a·b ≈ a_hi b_hi + a_hi b_lo + a_lo b_hi
        def hi(m):
            return jax.lax.bitcast_convert_type(
                jax.lax.bitcast_convert_type(m, jnp.uint32) & jnp.uint32(0xFFFFE000), jnp.float32
            )

        ah, bh = hi(a), hi(b)
        mm = lambda u, v: jnp.matmul(u, v, precision=P.TF32_TF32_F32)
        return mm(ah, bh) + (mm(ah, b - bh) + mm(a - ah, bh))

    def manual(p, x):
        def one(p, x):
            js = vg.layer_jacobians(p, x, act)
            return jax.lax.scan(lambda J, M: (split_tf32(M, J), None), js[0], js[1:])[0]

        return jax.vmap(one)(p, x)

    w1 = [
        ("W1 vmap(jacfwd), highest", jac_fwd, True),
        ("W1 D·W chain, sequential, highest", chain("sequential", HI), True),
        ("W1 D·W chain, tree, highest", chain("tree", HI), True),
        (
            "W1 D·W chain, sequential, 3×TF32 (DotAlgorithmPreset.TF32_TF32_F32_X3)",
            chain("sequential", P.TF32_TF32_F32_X3),
            False,
        ),
        ("W1 D·W chain, tree, 3×TF32", chain("tree", P.TF32_TF32_F32_X3), False),
        ("W1 D·W chain, sequential, hand-split 3×TF32 (3 TF32_TF32_F32 matmuls)", manual, False),
        ("W1 D·W chain, sequential, 6×BF16 (BF16_BF16_F32_X6)", chain("sequential", P.BF16_BF16_F32_X6), False),
        ("W1 D·W chain, sequential, 9×BF16 (BF16_BF16_F32_X9)", chain("sequential", P.BF16_BF16_F32_X9), False),
    ]
    J, t_w1 = None, float("inf")
    for name, fn, exact in w1:
        try:
            out, t, c = timed(jax.jit(fn), params, x, repeats=args.repeats)
        except Exception as e:  # an algorithm preset this backend does not implement
            rows.append((name, float("nan"), None, "", "", f"unsupported here: {str(e)[:90]}"))
            print(" | ".join(str(v) for v in rows[-1]), flush=True)
            continue
        rows.append((name, t, c, jac_err(out), "", f"{jflops / t / fp32_peak:.0%} of fp32 peak"))
        print(" | ".join(str(v) for v in rows[-1]), flush=True)
        if exact:
            if t < t_w1:
                t_w1 = t
            J = out if J is None else J
    rows.extend(torch_w1(params, x, J64, args.repeats, jflops, fp32_peak))
    print(" | ".join(str(v) for v in rows[-1]), flush=True)

    t0 = time.perf_counter()
    ref = np.linalg.svd(np.asarray(J, np.float64), compute_uv=False)
    ref_s = time.perf_counter() - t0
    cond = ref[:, 0] / ref[:, -1]

    cands = {
        "vg gram (f64 Gram + eigvalsh)": lambda a: singular_values(a, method="gram"),
        "vg rayleigh (f64 eigh, ‖Av‖)": lambda a: singular_values(a, method="rayleigh"),
        "vg jacobi (f32-eigh precond.)": lambda a: singular_values(a, method="jacobi"),
        "vg auto": lambda a: singular_values(a, method="auto"),
        "jnp.linalg.svd f32": lambda a: jnp.linalg.svd(a, compute_uv=False),
        "eigvalsh(GᵀG) f32": lambda a: jnp.sqrt(
            jnp.maximum(jnp.linalg.eigvalsh(jnp.einsum("bki,bkj->bij", a, a, precision=HI))[:, ::-1], 0)
        ),
    }
    tags = {
        "vg gram (f64 Gram + eigvalsh)": "gram",
        "vg rayleigh (f64 eigh, ‖Av‖)": "rayleigh",
        "vg jacobi (f32-eigh precond.)": "jacobi",
        "jnp.linalg.svd f32": "svd",
        "eigvalsh(GᵀG) f32": "eig32",
        "vg auto": "auto",
    }
    for name, fn in cands.items():
        if tags[name] in skip:
            continue
        s, t, c = timed(jax.jit(fn), J, repeats=args.repeats)
        rows.append((name, t, c, f"{rel_err(s, ref, 1e-3):.1e}", f"{rel_err(s, ref, 1e-6):.1e}", f"{t / t_w1:.2f}× W1"))
    # log-singular values of a deep product (depth 10^4 in full mode): float32 vs float64
    depth, m = (1000, 8) if args.quick else (10_000, 32)
    fac = jax.random.normal(jax.random.key(3), (depth, m, m), jnp.float64) / np.sqrt(m)
    lsv = jax.jit(lambda f: vg.log_singular_values(f).log_sv)
    ref_l = np.asarray(lsv(fac))
    out, t, c = timed(lsv, fac.astype(jnp.float32), repeats=args.repeats)
    err = float(np.max(np.abs(np.asarray(out, np.float64) - ref_l) / np.abs(ref_l)))
    rows.append(
        (
            f"log σ of a {depth}-factor product {m}×{m}, f32 (vs f64 run)",
            t,
            c,
            f"{err:.1e} (log σ)",
            "",
            f"finite: {bool(np.all(np.isfinite(np.asarray(out))))}, max abs log σ {np.abs(ref_l).max():.0f}",
        )
    )
    try:
        import torch

        tdev = "cuda" if torch.cuda.is_available() else "cpu"
        Jt = torch.from_numpy(np.asarray(J)).to(tdev)

        def tsv():
            out = torch.linalg.svdvals(Jt)
            if tdev == "cuda":
                torch.cuda.synchronize()
            return out

        s, t, c = timed(tsv, repeats=args.repeats)  # tsv synchronises itself
        s = s.cpu().numpy()
        rows.append(
            (
                "torch.linalg.svdvals f32",
                t,
                c,
                f"{rel_err(s, ref, 1e-3):.1e}",
                f"{rel_err(s, ref, 1e-6):.1e}",
                f"{t / t_w1:.2f}× W1",
            )
        )
    except ImportError:
        rows.append(("torch.linalg.svdvals", float("nan"), None, "", "", "torch not importable"))

    head = (
        f"### bench_spectra ({'quick' if args.quick else 'full'}): {E} tanh MLPs, "
        f"depth {L}, width {n}, σ_w²={args.sigma_w2}\n\n"
        f"device: {dev.device_kind} ({jax.default_backend()}), "
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
        f"jax {jax.__version__}, numpy {np.__version__}, python {platform.python_version()}; "
        f"auto = `{vg_auto(J)}`; cond(J) median {np.median(cond):.1e}, max {cond.max():.1e}; "
        f"float64 reference: numpy SVD on host ({ref_s:.2f} s)\n"
    )
    lines = [
        head,
        "| workload | time | compile | max rel err σ≥1e-3σ_max | σ≥1e-6σ_max | note |",
        "|---|---|---|---|---|---|",
    ]
    for name, t, c, e3, e6, note in rows:
        cs = "" if c is None else f"{c:.2f} s"
        lines.append(f"| {name} | {t * 1e3:.2f} ms | {cs} | {e3} | {e6} | {note} |")
    table = "\n".join(lines) + "\n"
    print(table)
    if args.record:
        path = args.results or __file__.replace("bench_spectra.py", "RESULTS.md")
        with open(path, "a") as f:
            f.write("\n" + table)


def torch_w1(params, x, J64, repeats, jflops, fp32_peak):
    """PyTorch: the same D·W chain with ``torch.bmm`` in true float32 (TF32 off)."""
    try:
        import torch
    except ImportError:
        return [("W1 PyTorch bmm chain", float("nan"), None, "", "", "torch not importable")]
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    torch.backends.cuda.matmul.allow_tf32 = False
    W = torch.from_numpy(np.asarray(params.weights)).to(dev)
    b = torch.from_numpy(np.asarray(params.biases)).to(dev)
    x0 = torch.from_numpy(np.asarray(x)).to(dev)

    def run():
        h, J = x0, None
        for l in range(W.shape[1]):
            a = torch.einsum("eij,ej->ei", W[:, l], h) + b[:, l]
            t = torch.tanh(a)
            Jl = (1 - t * t)[:, :, None] * W[:, l]
            J = Jl if J is None else torch.bmm(Jl, J)
            h = t
        if dev == "cuda":
            torch.cuda.synchronize()
        return J

    J, t, c = timed(run, repeats=repeats)  # run synchronises itself
    J = J.cpu().numpy().astype(np.float64)
    d = np.linalg.norm(J - J64, axis=(1, 2)) / np.linalg.norm(J64, axis=(1, 2))
    return [
        (
            "W1 PyTorch bmm chain, float32 (TF32 off)",
            t,
            c,
            f"{d.max():.1e} (‖J−J64‖/‖J64‖)",
            "",
            f"{jflops / t / fp32_peak:.0%} of fp32 peak",
        )
    ]


def vg_auto(J):
    from vgtheory._spectrum import resolve_method

    return resolve_method("auto", J.shape, J.dtype)


if __name__ == "__main__":
    main()
