"""Deep linear network: E‖g₀‖²/‖g_L‖² = σ^{2L} in its three regimes (claim S4).

Simulation: square linear MLPs with W entries N(0, σ²/n), a random input and a random unit
cotangent per draw; the mean of ‖∂L/∂x_l‖²/‖∂L/∂x_L‖² over draws ± one standard error
(``vg.gradient_flow``). Theory: ``vg.theory.linear_gradient_gain`` = σ^{2(L−l)}, exact at any
width, vanishing (σ² < 1), stable (σ² = 1) and exploding (σ² > 1).
"""

from __future__ import annotations

import _common as C
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

import vgtheory as vg

NAME = "deep_linear"
TITLE = "Deep linear network: σ^{2L} vanishing, stable, exploding"
CLAIMS = ("S4",)
SEED = 2
SIGMA2 = (0.9, 1.0, 1.1)


def _sim(key, n, depth, draws):
    def one(k, sw2):
        kp, kx, kg = jax.random.split(k, 3)
        p = vg.init_mlp(kp, [n] * (depth + 1), init="gaussian", sigma_w2=sw2)
        x = jax.random.normal(kx, (n,), jnp.float32)
        g = jax.random.normal(kg, (n,), jnp.float32)
        return vg.gradient_flow(p, x, "linear", g / jnp.linalg.norm(g)).log_sq_norms

    logs = np.asarray(C.sweep(one, key, draws, jnp.asarray(SIGMA2, jnp.float32)), np.float64)
    r = np.exp(logs - logs[..., -1:])  # [sigma, draws, L+1]
    return r.mean(1), r.std(1, ddof=1) / np.sqrt(draws)


def main(out_dir: str, smoke: bool = False) -> list[str]:
    n, depth, draws = (16, 10, 16) if smoke else (128, 60, 256)
    mean, se = _sim(C.key(SEED), n, depth, draws)
    fig, ax = plt.subplots(figsize=(5.4, 3.8))
    back = np.arange(depth + 1)[::-1]  # L − l for l = 0..L
    fine = np.linspace(0, depth, 200)
    every = max(1, depth // 12)
    names = {0.9: "vanishing", 1.0: "stable", 1.1: "exploding"}
    for i, s2 in enumerate(SIGMA2):
        th = np.asarray(jax.vmap(lambda L: vg.theory.linear_gradient_gain(s2, 1) ** L)(jnp.asarray(fine)))
        assert np.isclose(float(vg.theory.linear_gradient_gain(s2, depth)), th[-1], rtol=1e-9)
        ax.plot(fine, th, color=C.COLORS[i], label=f"σ² = {s2:g} ({names[s2]}): theory σ^(2(L−l))", **C.THEORY)
        sel = slice(None, None, every)
        C.log_errorbar(
            ax,
            back[sel],
            mean[i, sel],
            se[i, sel],
            color=C.COLORS[i],
            marker="os^"[i],
            mfc="none",
            label=f"σ² = {s2:g}: simulation (± SE)",
        )
    ax.set_yscale("log")
    ax.set_xlabel("layers back-propagated, L − l")
    ax.set_ylabel("E ‖∂L/∂x_l‖² / ‖∂L/∂x_L‖²  (log scale)")
    ax.set_title(f"S4: deep linear network, width {n}, {draws} draws per σ²")
    ax.legend(loc="upper left")
    fig.tight_layout()
    return C.save(fig, out_dir, NAME)


if __name__ == "__main__":
    C.cli(main, __doc__)
