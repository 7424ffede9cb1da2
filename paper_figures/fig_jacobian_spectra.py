"""Singular-value densities of the input–output Jacobian: Gaussian vs orthogonal, linear vs tanh.

Simulation: the squared singular values λ = s² of the exact Jacobian J = ∂x_L/∂x₀
(``vg.mlp_jacobian``, float64, ``vg.singular_values``) of random square MLPs at criticality,
pooled as a density of log₁₀ λ: each draw gives one histogram, markers are the mean over
draws ± one standard error. Theory: for linear Gaussian networks the Fuss–Catalan law of
PPᵀ (Penson & Życzkowski 2011; Haagerup & Möller's parametrisation, whose moments are
``vg.theory`` ``fuss_catalan``); linear orthogonal networks are exact isometries (λ = 1); for
tanh the dynamical-isometry mean and variance of the JJᵀ spectrum (Pennington, Schoenholz &
Ganguli 2017; ``isometry_moments``) are printed beside the measured ones (claims L4, L5).
"""

from __future__ import annotations

import _common as C
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

import vgtheory as vg

try:  # public names once the spectra issue exports them
    from vgtheory.theory import fuss_catalan, isometry_moments
except ImportError:
    from vgtheory.theory._rmt import fuss_catalan, isometry_moments

NAME = "jacobian_spectra"
TITLE = "Jacobian singular-value densities: Gaussian vs orthogonal, linear vs tanh"
CLAIMS = ("L4", "L5")
SEED = 4
SB2 = 0.05  # tanh at the order–chaos boundary for this bias variance


def fuss_catalan_density(s: int, m: int = 4000):
    """(λ, ρ(λ)) of the Fuss–Catalan law with parameter s (product of s Ginibre matrices)."""
    phi = np.linspace(0.0, np.pi / (s + 1), m + 2)[1:-1]
    x = np.sin((s + 1) * phi) ** (s + 1) / (np.sin(phi) * np.sin(s * phi) ** s)
    rho = np.sin(phi) ** 2 * np.sin(s * phi) ** (s - 1) / (np.pi * np.sin((s + 1) * phi) ** s)
    o = np.argsort(x)
    x, rho = x[o], rho[o]
    m1 = np.trapezoid(rho * x, x)
    assert abs(m1 - fuss_catalan(1, s)) < 1e-3, m1
    return x, rho


def _spectra(key, n, depth, draws, act, init, sw2, q0):
    """Squared singular values, ``[draws, n]``; the input has mean square ``q0``."""

    def one(k):
        kp, kx = jax.random.split(k)
        p = vg.init_mlp(
            kp, [n] * (depth + 1), init=init, sigma_w2=sw2, sigma_b2=SB2 if act != "linear" else 0.0, dtype=jnp.float64
        )
        x = jnp.sqrt(q0) * jax.random.normal(kx, (n,), jnp.float64)
        return vg.singular_values(vg.mlp_jacobian(p, x, act), method="svd") ** 2

    return C.members(one, key, draws)  # [draws, n]


def _hist(lam, edges):
    u = np.log10(np.maximum(lam, 1e-300))
    h = np.stack([np.histogram(r, bins=edges)[0] for r in u]) / (u.shape[1] * np.diff(edges))
    return h.mean(0), h.std(0, ddof=1) / np.sqrt(h.shape[0])


def main(out_dir: str, smoke: bool = False) -> list[str]:
    n, depth, draws = (16, 3, 4) if smoke else (200, 8, 24)
    key = C.key(SEED)
    sw2_t = float(vg.theory.critical_sigma_w2("tanh", SB2))
    q_t = float(vg.theory.qstar("tanh", sw2_t, SB2))
    q0_t = (q_t - SB2) / sw2_t  # input mean square that puts h¹ = W x₀ + b at q* from the first layer
    fig, axes = plt.subplots(1, 2, figsize=(10.0, 3.9))
    h = 1.0 / 6.0 if not smoke else 0.5
    edges = np.arange(-4.0, 2.5 + 1e-9, h) - h / 2  # λ = 1 sits at a bin centre, not on an edge
    mid = 0.5 * (edges[1:] + edges[:-1])

    ax = axes[0]
    lam_g = _spectra(jax.random.fold_in(key, 0), n, depth, draws, "linear", "gaussian", 1.0, 1.0)
    lam_o = _spectra(jax.random.fold_in(key, 1), n, depth, draws, "linear", "orthogonal", 1.0, 1.0)
    x, rho = fuss_catalan_density(depth)
    keep = np.log10(x) >= edges[0]
    x, rho = x[keep], rho[keep]
    ax.plot(
        np.log10(x),
        x * np.log(10) * rho,
        color=C.COLORS[0],
        label=f"Gaussian: Fuss–Catalan (s = L = {depth})",
        **C.THEORY,
    )
    m, se = _hist(lam_g, edges)
    ax.errorbar(
        mid, m, yerr=se, color=C.COLORS[0], marker="o", mfc="none", label="Gaussian: simulation (± SE)", **C.SIM
    )
    ax.axvline(0.0, color=C.COLORS[1], label="orthogonal: theory λ = 1 exactly", **C.THEORY)
    m, se = _hist(lam_o, edges)
    dev = float(np.max(np.abs(lam_o - 1.0)))
    ax.errorbar(
        mid,
        m,
        yerr=se,
        color=C.COLORS[1],
        marker="s",
        mfc="none",
        label=f"orthogonal: simulation (± SE); max |λ − 1| = {dev:.1e},\n  all mass in the bin at 0 "
        f"(density {m.max():.1f}, off scale)",
        **C.SIM,
    )
    ax.set_ylim(-0.02, 1.6 * float(np.max(x * np.log(10) * rho)))
    ax.set_title(f"(a) linear, σ_w² = 1, depth {depth}, width {n}, {draws} nets")

    ax = axes[1]
    for i, init in enumerate(("gaussian", "orthogonal")):
        lam = _spectra(jax.random.fold_in(key, 2 + i), n, depth, draws, "tanh", init, sw2_t, q0_t)
        th = isometry_moments(depth, init, "tanh", sw2_t, q=q_t)
        m, se = _hist(lam, edges)
        ax.errorbar(
            mid,
            m,
            yerr=se,
            color=C.COLORS[i],
            marker="os"[i],
            mfc="none",
            label=f"{init}: simulation; mean {lam.mean():.3f}, var {lam.var(axis=1).mean():.3f}",
            **C.SIM,
        )
        ax.axvline(
            np.log10(th.mean),
            color=C.COLORS[i],
            ls="--" if i == 0 else "-.",
            label=f"{init}: theory mean {th.mean:.3f}, var {th.variance:.3f}",
            **C.THEORY,
        )
    ax.set_title(f"(b) tanh at criticality (σ_w² = {sw2_t:.3f}, σ_b² = {SB2}), depth {depth}")
    for ax in axes:
        ax.set_xlabel("log₁₀ λ,  λ = squared singular value of J")
        ax.set_ylabel("density of log₁₀ λ")
        ax.legend(loc="upper left", fontsize=7)
        ax.set_xlim(edges[0], edges[-1])
    fig.suptitle("L4/L5: spectra of JJᵀ (lines: theory, markers: simulation)", y=1.0)
    fig.tight_layout()
    return C.save(fig, out_dir, NAME)


if __name__ == "__main__":
    C.cli(main, __doc__)
