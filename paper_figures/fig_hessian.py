"""Hessian spectral density, GD stability at η = 2/λ_max, and sharpness during training.

Model: a tanh MLP (4 → 32 → 32 → 1) with a linear read-out on a synthetic regression task,
½·mean squared error, full batch (``vgtheory._landscape``). (a) Hessian spectral density
at initialisation by stochastic Lanczos quadrature (``vg.hessian_slq``; line) against the
histogram of the exact eigenvalues of the dense Hessian (markers). (b) GD on the local
quadratic model ½ δᵀHδ: the measured per-step factor along the top eigenvector (markers)
against |1 − ηλ_max| (line); GD is unstable iff η > 2/λ_max (claim S7). (c) Sharpness
λ_max(H) during full-batch GD for several η (markers, Lanczos every few steps), with the
edge-of-stability level 2/η (lines; Cohen et al. 2021, claim L8).
"""

from __future__ import annotations

from functools import partial

import _common as C
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import optax

import vgtheory as vg
from vgtheory._landscape import mlp_init, mse_loss, regression_data  # the model of claims S7 and L8

NAME = "hessian"
TITLE = "Hessian spectral density (SLQ), GD stability at η = 2/λ_max, sharpness during training"
CLAIMS = ("S7", "L8")
SEED = 7


def main(out_dir: str, smoke: bool = False) -> list[str]:
    widths, ndata = ((2, 6, 1), 16) if smoke else ((4, 32, 32, 1), 64)
    probes, iters = (2, 8) if smoke else (16, 80)
    steps, every = (20, 5) if smoke else (2000, 20)
    etas = (0.3,) if smoke else (0.1, 0.2, 0.3)
    key = C.key(SEED)
    kd, kp, ks, kl = jax.random.split(key, 4)
    x, y = regression_data(kd, ndata, widths[0], dtype=jnp.float64)
    params = mlp_init(kp, widths, dtype=jnp.float64)
    loss = partial(mse_loss, x=x, y=y)

    h = np.asarray(vg.dense_hessian(loss, params))
    eig = np.linalg.eigvalsh(h)
    lam_max = float(eig[-1])
    meas = vg.hessian_slq(loss, params, ks, num_probes=probes, num_iters=iters)
    span = eig[-1] - eig[0]
    grid = np.linspace(eig[0] - 0.05 * span, eig[-1] + 0.05 * span, 400)
    sig = 0.01 * span
    dens = np.asarray(vg.slq_density(meas, jnp.asarray(grid), sig))
    fig, axes = plt.subplots(1, 3, figsize=(13.0, 3.8))
    a = axes[0]
    a.plot(
        grid, dens, color=C.COLORS[0], label=f"SLQ ({probes} probes × {iters} Lanczos steps, σ = {sig:.2g})", **C.THEORY
    )
    edges = np.linspace(grid[0], grid[-1], 41)
    hist = np.histogram(eig, bins=edges, density=True)[0]
    mid = 0.5 * (edges[1:] + edges[:-1])
    a.plot(
        mid,
        hist,
        color=C.COLORS[1],
        marker="o",
        mfc="none",
        ls="none",
        ms=4,
        label=f"exact eigenvalues, dense H (d = {eig.size}), histogram",
    )
    a.set_yscale("symlog", linthresh=0.01)
    a.set_xlabel("Hessian eigenvalue λ")
    a.set_ylabel("spectral density (symlog scale)")
    a.set_title("(a) Hessian spectrum at initialisation")
    a.legend(loc="upper right", fontsize=7)

    b = axes[1]
    ratios = np.linspace(0.2, 1.4, 25 if not smoke else 7)  # η / (2/λ_max)
    w, v = np.linalg.eigh(h)
    top = jnp.asarray(v[:, -1])
    x0 = jnp.asarray(v @ np.ones(v.shape[0]) / np.sqrt(v.shape[0]))
    rate = jax.jit(jax.vmap(lambda eta: vg.direction_rate(vg.gd_quadratic(jnp.asarray(h), x0, eta, 12), top)))
    measured = np.asarray(rate(jnp.asarray(ratios * 2.0 / lam_max)))
    fine = np.linspace(ratios[0], ratios[-1], 300)
    b.plot(fine, np.abs(1.0 - 2.0 * fine), color=C.COLORS[0], label="theory |1 − ηλ_max|", **C.THEORY)
    b.plot(
        ratios,
        measured,
        color=C.COLORS[1],
        marker="o",
        mfc="none",
        ls="none",
        ms=5,
        label="GD on ½δᵀHδ (12 steps): measured",
    )
    b.axhline(1.0, color="0.4", lw=0.8, ls=":")
    b.axvline(1.0, color="0.4", lw=0.8, ls="--", label=f"η = 2/λ_max = {2 / lam_max:.3f}")
    b.set_xlabel("learning rate η / (2/λ_max)")
    b.set_ylabel("per-step factor along top eigenvector")
    b.set_title("(b) S7: GD stability threshold (deterministic)")
    b.legend(loc="upper left", fontsize=7)

    c = axes[2]
    for i, eta in enumerate(etas):
        tr = jax.jit(lambda p, k, eta=eta: vg.sharpness_trajectory(loss, p, optax.sgd(eta), steps, every, k))(
            params, kl
        )
        c.plot(
            np.asarray(tr.steps),
            np.asarray(tr.sharpness),
            color=C.COLORS[i],
            marker="o",
            ms=2.5,
            ls="none",
            label=f"η = {eta}: λ_max(H) (Lanczos)",
        )
        c.axhline(2.0 / eta, color=C.COLORS[i], label=f"η = {eta}: 2/η", **C.THEORY)
    c.set_xlabel("GD step")
    c.set_ylabel("sharpness λ_max(H)")
    c.set_title("(c) L8: sharpness during full-batch GD")
    c.set_ylim(top=1.7 * 2.0 / min(etas))  # room for the legend above the data
    c.legend(loc="upper center", fontsize=6.5, ncol=2)
    fig.tight_layout()
    return C.save(fig, out_dir, NAME)


if __name__ == "__main__":
    C.cli(main, __doc__)
