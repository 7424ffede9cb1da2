"""Mean-field order–chaos phase diagram of tanh networks with the correlation depth scale ξ_c.

(a) Heat map of ξ_c (log colour scale) over (σ_w², σ_b²) from ``vg.theory.mean_field``, with
the order–chaos boundary χ₁ = 1 from ``vg.theory.critical_sigma_w2`` (Poole et al. 2016;
Schoenholz et al. 2017; claim L1). (b) A slice at fixed σ_b²: χ₁ from theory (line) against
the measured per-layer gradient ratio E‖∂L/∂x_{l−1}‖²/‖∂L/∂x_l‖² averaged over deep layers
of random networks started at q*, ± one standard error over draws (markers).
"""

from __future__ import annotations

import _common as C
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LogNorm

import vgtheory as vg

NAME = "phase_diagram"
TITLE = "Mean-field phase diagram (tanh): χ₁ = 1 boundary and depth scale ξ_c"
CLAIMS = ("L1",)
SEED = 3
SB2_SLICE = 0.05


def _grid(nw, nb):
    sw2 = np.linspace(0.5, 4.0, nw)
    sb2 = np.linspace(0.0, 0.3, nb)
    mf = jax.jit(jax.vmap(jax.vmap(lambda w, b: vg.theory.mean_field("tanh", w, b), (0, None)), (None, 0)))
    r = mf(jnp.asarray(sw2), jnp.asarray(sb2))
    return sw2, sb2, np.asarray(r.xi_c), np.asarray(r.chi1)


def _boundary(nb):
    sb2 = np.linspace(0.0, 0.3, nb)
    crit = jax.jit(jax.vmap(lambda b: vg.theory.critical_sigma_w2("tanh", b)))(jnp.asarray(sb2))
    return sb2, np.asarray(crit)


def _slice_sim(key, sw2s, n, depth, skip, draws):
    """Per-layer ratio averaged over layers skip..depth, one sample per network draw."""

    def one(k, sw2, q):
        kp, kx, kg = jax.random.split(k, 3)
        p = vg.init_mlp(kp, [n] * (depth + 1), init="gaussian", sigma_w2=sw2, sigma_b2=SB2_SLICE, dtype=jnp.float64)
        x = jnp.sqrt((q - SB2_SLICE) / sw2) * jax.random.normal(kx, (n,), jnp.float64)  # h¹ at q*
        g = jax.random.normal(kg, (n,), jnp.float64)
        logs = vg.gradient_flow(p, x, "tanh", g).log_sq_norms
        return jnp.mean(jnp.exp(logs[:-1] - logs[1:])[skip:])

    qs = jax.jit(jax.vmap(lambda w: vg.theory.qstar("tanh", w, SB2_SLICE)))(jnp.asarray(sw2s))
    r = C.sweep(lambda k, s: one(k, s[0], s[1]), key, draws, jnp.stack([jnp.asarray(sw2s), qs], axis=1))  # [sw2, draws]
    return r.mean(1), r.std(1, ddof=1) / np.sqrt(draws)


def main(out_dir: str, smoke: bool = False) -> list[str]:
    nw, nb, nbd = (10, 8, 6) if smoke else (90, 60, 31)
    n, depth, skip, draws = (24, 8, 2, 6) if smoke else (200, 40, 10, 32)
    sw2, sb2, xi, chi = _grid(nw, nb)
    bb, crit = _boundary(nbd)
    fig, (a, b) = plt.subplots(1, 2, figsize=(9.6, 3.8), gridspec_kw={"width_ratios": [1.15, 1]})
    xi_plot = np.clip(np.where(np.isfinite(xi) & (xi > 0), xi, np.nan), 0.3, 300)
    im = a.pcolormesh(sw2, sb2, xi_plot, shading="nearest", cmap="viridis", norm=LogNorm(0.3, 300))
    fig.colorbar(im, ax=a, label="correlation depth scale ξ_c (layers, log scale)")
    a.plot(crit, bb, color="white", lw=2.0, label="χ₁ = 1 (critical_sigma_w2)")
    a.axhline(SB2_SLICE, color="#E69F00", lw=1.0, ls="--", label=f"slice σ_b² = {SB2_SLICE} (right)")
    a.text(1.0, 0.25, "ordered\n(χ₁ < 1)", color="white", ha="center")
    a.text(3.3, 0.15, "chaotic\n(χ₁ > 1)", color="white", ha="center")
    a.set_xlabel("weight variance σ_w²")
    a.set_ylabel("bias variance σ_b²")
    a.set_title("(a) L1: tanh phase diagram, theory")
    a.legend(loc="upper right", fontsize=7)
    a.grid(False)

    fine = np.linspace(0.5, 4.0, 60 if not smoke else 12)
    chi_line = np.asarray(
        jax.jit(jax.vmap(lambda w: vg.theory.mean_field("tanh", w, SB2_SLICE).chi1))(jnp.asarray(fine))
    )
    pts = np.linspace(0.6, 3.8, 9 if not smoke else 4)
    mean, se = _slice_sim(C.key(SEED), pts, n, depth, skip, draws)
    b.plot(fine, chi_line, color=C.COLORS[0], label="χ₁ = σ_w² E[φ'(√q* z)²] (theory)", **C.THEORY)
    b.errorbar(
        pts,
        mean,
        yerr=se,
        color=C.COLORS[1],
        marker="o",
        mfc="none",
        label="per-layer gradient ratio, simulation (± SE)",
        **C.SIM,
    )
    b.axhline(1.0, color="0.4", lw=0.8, ls=":")
    c = float(vg.theory.critical_sigma_w2("tanh", SB2_SLICE))
    b.axvline(c, color="0.4", lw=0.8, ls="--", label=f"critical σ_w² = {c:.3f}")
    b.set_xlabel("weight variance σ_w²")
    b.set_ylabel("E ‖∂L/∂x_(l−1)‖² / ‖∂L/∂x_l‖²")
    b.set_title(f"(b) σ_b² = {SB2_SLICE}: width {n}, layers {skip}–{depth}, {draws} nets")
    b.legend(loc="upper left")
    fig.tight_layout()
    return C.save(fig, out_dir, NAME)


if __name__ == "__main__":
    C.cli(main, __doc__)
