"""Benchmark W4: Hessian-vector products and top eigenvalues (PERF.md, issue 5).

One run answers, side by side on one device:

1. HVP time against gradient time on the W4 model (tanh MLP, 8 layers × 1024, batch 1024,
   float32 at precision "highest"; ``--quick``: 4 × 128, batch 128). Target: HVP ≤ 2.5 ×
   gradient. Compared: vgtheory's forward-over-reverse ``hvp`` and the reverse-over-reverse
   HVP (``grad(⟨grad L, v⟩)``) a user might write otherwise.
2. Lanczos (full reorthogonalisation) against power iteration (PyHessian's method):
   matvecs needed to reach 1e-4 relative accuracy on the eigenvalue of largest magnitude,
   against a float64 dense ``eigh`` of ``jax.hessian``; also the top-5 Ritz values' error.

Usage: ``python benchmarks/bench_hessian.py [--quick] [--record]``. Timing: jitted,
``block_until_ready``, median of repeats after a warm-up; compile time reported apart.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import time
from functools import partial

import jax

jax.config.update("jax_enable_x64", True)  # float64 reference; the timed work is float32

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.flatten_util import ravel_pytree  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from vgtheory._hvp import hessian_operator, hvp  # noqa: E402
from vgtheory._lanczos import lanczos_eigh, lanczos_tridiag, power_iteration  # noqa: E402
from vgtheory._landscape import mlp_init, mse_loss  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import timed  # noqa: E402


def bench_hvp(quick: bool):
    depth, width, batch = (4, 128, 128) if quick else (8, 1024, 1024)
    kx, ky, kp, kv = jax.random.split(jax.random.key(0), 4)
    x = jax.random.normal(kx, (batch, width), jnp.float32)
    y = jax.random.normal(ky, (batch, width), jnp.float32)
    p = mlp_init(kp, (width,) * (depth + 1), jnp.float32)
    v = jax.tree_util.tree_map(lambda a: jax.random.normal(kv, a.shape, a.dtype), p)
    loss = partial(mse_loss, x=x, y=y)
    grad = jax.jit(jax.grad(loss))
    fwd_rev = jax.jit(lambda p, v: hvp(loss, p, v))
    rev_rev = jax.jit(
        lambda p, v: jax.grad(
            lambda q: sum(
                jnp.vdot(a, b)
                for a, b in zip(jax.tree_util.tree_leaves(jax.grad(loss)(q)), jax.tree_util.tree_leaves(v))
            )
        )(p)
    )
    _, tg, cg = timed(grad, p, repeats=10)
    _, tf, cf = timed(fwd_rev, p, v, repeats=10)
    _, tr, cr = timed(rev_rev, p, v, repeats=10)
    # accuracy of the float32 HVP against float64 forward-over-reverse
    p64 = jax.tree_util.tree_map(lambda a: a.astype(jnp.float64), p)
    v64 = jax.tree_util.tree_map(lambda a: a.astype(jnp.float64), v)
    loss64 = partial(mse_loss, x=x.astype(jnp.float64), y=y.astype(jnp.float64))
    ref = ravel_pytree(jax.jit(lambda p, v: hvp(loss64, p, v))(p64, v64))[0]
    err = lambda h: float(jnp.linalg.norm(ravel_pytree(h)[0] - ref) / jnp.linalg.norm(ref))
    nparams = sum(a.size for a in jax.tree_util.tree_leaves(p))
    rows = [
        ("gradient", tg, cg, "—", 1.0),
        ("HVP forward-over-reverse (vgtheory)", tf, cf, f"{err(fwd_rev(p, v)):.1e}", tf / tg),
        ("HVP reverse-over-reverse", tr, cr, f"{err(rev_rev(p, v)):.1e}", tr / tg),
    ]
    head = f"W4 model: tanh MLP {depth}×{width}, batch {batch}, {nparams / 1e6:.2f}M params, float32 highest"
    return head, rows


def _first_below(errs, tol):
    idx = np.flatnonzero(np.asarray(errs) <= tol)
    return int(idx[0]) + 1 if idx.size else None


def bench_eig(quick: bool, tol=1e-4):
    widths = (8, 32, 32, 1) if quick else (16, 64, 64, 1)
    n = 128 if quick else 512
    kx, ky, kp = jax.random.split(jax.random.key(1), 3)
    x = jax.random.normal(kx, (n, widths[0]), jnp.float32)
    y = jnp.sin(x.sum(1, keepdims=True))
    p = mlp_init(kp, widths, jnp.float32)
    loss = partial(mse_loss, x=x, y=y)
    op = hessian_operator(loss, p)
    # float64 dense reference
    p64 = jax.tree_util.tree_map(lambda a: a.astype(jnp.float64), p)
    loss64 = partial(mse_loss, x=x.astype(jnp.float64), y=y.astype(jnp.float64))
    flat64, unravel = ravel_pytree(p64)
    t0 = time.perf_counter()
    h = jax.jit(jax.hessian(lambda z: loss64(unravel(z))))(flat64)
    w = np.linalg.eigvalsh(np.asarray(h))
    dense_s = time.perf_counter() - t0
    lam = w[np.argmax(np.abs(w))]
    m_max, t_max = (80, 2000) if quick else (120, 5000)
    lanczos = jax.jit(lambda v0: lanczos_tridiag(op.matvec, v0, m_max))
    power = jax.jit(lambda v0: power_iteration(op.matvec, v0, t_max).history)
    n_lz, n_pw = [], []
    for s in range(5):
        v0 = jax.random.normal(jax.random.key(100 + s), (op.dim,), jnp.float32)
        tri = lanczos(v0)
        a, b = np.asarray(tri.alpha, np.float64), np.asarray(tri.beta, np.float64)
        errs = []
        for j in range(1, m_max + 1):
            t = np.diag(a[:j]) + np.diag(b[: j - 1], 1) + np.diag(b[: j - 1], -1)
            th = np.linalg.eigvalsh(t)
            errs.append(abs(th[np.argmax(np.abs(th))] - lam) / abs(lam))
        n_lz.append(_first_below(errs, tol))
        hist = np.asarray(power(v0), np.float64)
        n_pw.append(_first_below(np.abs(hist - lam) / abs(lam), tol))
    med = lambda xs: (
        statistics.median([x for x in xs if x is not None])
        if all(x is not None for x in xs)
        else f">{t_max}"
        if xs is n_pw
        else f">{m_max}"
    )
    # top-5 (largest) Ritz values by Lanczos against dense eigh
    e = jax.jit(lambda v0: lanczos_eigh(op.matvec, v0, 5, num_iters=m_max))(
        jax.random.normal(jax.random.key(7), (op.dim,), jnp.float32)
    )
    top5 = float(np.max(np.abs(np.asarray(e.values) - w[::-1][:5]) / np.abs(w).max()))
    _, tl, cl = timed(
        jax.jit(lambda v: lanczos_eigh(op.matvec, v, 1, num_iters=40, which="largest_magnitude").values),
        jax.random.normal(jax.random.key(8), (op.dim,), jnp.float32),
        repeats=3,
    )
    head = (
        f"Top eigenvalue: tanh MLP {widths}, {n} points, d={op.dim}, float32 matvecs; "
        f"reference float64 dense eigh ({dense_s:.1f} s), |λ|max={abs(lam):.4g}, "
        f"|λ2/λ1|={np.sort(np.abs(w))[-2] / abs(lam):.4f}"
    )
    rows = [
        ("Lanczos (full reorth.)", med(n_lz), str(n_lz)),
        ("power iteration (PyHessian)", med(n_pw), str(n_pw)),
    ]
    extra = (
        f"Lanczos top-5 (m={m_max}) max error vs dense eigh: {top5:.1e} (relative to |λ|max); "
        f"one Lanczos top-1 solve with m=40: {tl * 1e3:.2f} ms (compile {cl:.1f} s)"
    )
    return head, rows, extra


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (seconds on CPU)")
    ap.add_argument("--record", action="store_true", help="append the table to benchmarks/RESULTS.md")
    args = ap.parse_args()
    dev = jax.devices()[0]
    stamp = (
        f"{datetime.date.today()} · {dev.platform}:{getattr(dev, 'device_kind', '')} · "
        f"jax {jax.__version__} · python {platform.python_version()}"
        f"{' · quick' if args.quick else ''}"
    )
    out = [f"### Hessian (W4): {stamp}", ""]
    head, rows = bench_hvp(args.quick)
    out += [
        head,
        "",
        "| method | time (ms) | compile (s) | rel. error vs float64 | × gradient |",
        "|---|---|---|---|---|",
    ]
    out += [f"| {n} | {t * 1e3:.3f} | {c:.2f} | {e} | {r:.2f} |" for n, t, c, e, r in rows]
    out += ["", f"Target: HVP ≤ 2.5 × gradient → {'met' if rows[1][4] <= 2.5 else 'NOT met'} ({rows[1][4]:.2f}×).", ""]
    head, rows, extra = bench_eig(args.quick)
    out += [head, "", "| method | matvecs to 1e-4 (median of 5 starts) | per start |", "|---|---|---|"]
    out += [f"| {n} | {m} | {s} |" for n, m, s in rows]
    out += ["", extra, ""]
    text = "\n".join(out)
    print(text)
    if args.record:
        path = os.path.join(os.path.dirname(__file__), "RESULTS.md")
        with open(path, "a") as f:
            f.write("\n" + text + "\n")


if __name__ == "__main__":
    main()
