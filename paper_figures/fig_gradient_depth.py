"""Gradient norm against depth for sigmoid, tanh and ReLU under Xavier and He initialisation.

Simulation: E‖∂L/∂x_l‖²/‖∂L/∂x_L‖² over an ensemble of random square MLPs (one network and
one input x ~ N(0, I) per draw, a random unit cotangent), ± one standard error, from
``vg.gradient_flow`` (log domain, so deep sigmoid stacks do not underflow). Theory:
∏_{k>l} σ_w² κ(q^k) with q^k the mean-field length map (``vg.theory.mean_field_gain``,
claims S3 and its corrected twin). For square layers Xavier is σ_w² = 1 and He σ_w² = 2.
"""

from __future__ import annotations

import _common as C
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

import vgtheory as vg

NAME = "gradient_depth"
TITLE = "Gradient norm against depth: sigmoid, tanh, ReLU under Xavier and He"
CLAIMS = ("S3", "S3.xavier-tanh", "S3.xavier-tanh.corrected", "S1")
SEED = 1
YMIN = 1e-13  # sigmoid reaches 1e-52 at depth 40; clip so that tanh and ReLU stay readable


ACTS = ("sigmoid", "tanh", "relu")


def _sim(key, sigma_w2, n, depth, draws):
    """[acts, L+1] mean and SE of ‖g_l‖²/‖g_L‖² (one compiled function for every setting)."""

    def one(k, sw2):
        kp, kx, kg = jax.random.split(k, 3)
        # For square layers Xavier (2/(n+n)) and He (2/n) are fan-in Gaussians with σ_w² = 1, 2.
        p = vg.init_mlp(kp, [n] * (depth + 1), init="gaussian", sigma_w2=sw2)
        x = jax.random.normal(kx, (n,), jnp.float32)
        g = jax.random.normal(kg, (n,), jnp.float32)
        g = g / jnp.linalg.norm(g)
        return jnp.stack([vg.gradient_flow(p, x, a, g).log_sq_norms for a in ACTS])

    logs = np.asarray(C.members(lambda k: one(k, jnp.float32(sigma_w2)), key, draws), np.float64)
    ratio = np.exp(logs - logs[..., -1:])  # [draws, acts, L+1]
    return ratio.mean(0), ratio.std(0, ddof=1) / np.sqrt(draws)


def _theory(sigma_w2, depth):
    """[acts, L+1]: ∏_{k>l} σ_w² κ(q^k), q^0 = 1; row 0 checked against ``mean_field_gain``."""

    def one(act, sw2):
        qs = vg.theory.q_trajectory(1.0, act, sw2, 0.0, depth)  # q^1..q^L
        logk = jnp.log(sw2 * jax.vmap(lambda q: vg.theory.kappa(act, q))(qs))
        return jnp.concatenate([jnp.cumsum(logk[::-1])[::-1], jnp.zeros(1)]), jnp.log(
            vg.theory.mean_field_gain(act, sw2, 0.0, 1.0, depth)
        )

    tails, g0 = jax.jit(lambda s: tuple(jnp.stack(v) for v in zip(*[one(a, s) for a in ACTS])))(jnp.float64(sigma_w2))
    tails, g0 = np.asarray(tails), np.asarray(g0)
    assert np.allclose(tails[:, 0], g0, rtol=1e-6, atol=1e-9), (tails[:, 0], g0)
    return np.exp(tails)


def main(out_dir: str, smoke: bool = False) -> list[str]:
    n, depth, draws = (32, 8, 8) if smoke else (256, 40, 64)
    key = C.key(SEED)
    fig, axes = plt.subplots(1, 2, figsize=(9.0, 3.6), sharey=True)
    layers = np.arange(depth + 1)
    every = max(1, depth // 10)
    for ax, (init, sw2) in zip(axes, (("xavier", 1.0), ("he", 2.0))):
        mean, se = _sim(jax.random.fold_in(key, int(sw2)), sw2, n, depth, draws)
        th = _theory(sw2, depth)
        for i, act in enumerate(ACTS):
            col = C.COLORS[i]
            ax.plot(layers, th[i], color=col, label=f"{act}: mean-field theory", **C.THEORY)
            sel = slice(None, None, every)
            C.log_errorbar(
                ax,
                layers[sel],
                mean[i, sel],
                se[i, sel],
                color=col,
                marker="os^"[i],
                mfc="none",
                label=f"{act}: simulation (± SE)",
            )
        ax.set_yscale("log")
        ax.set_ylim(YMIN, 1e3)
        ax.text(
            0.45,
            0.03,
            "sigmoid continues below the frame\n(theory and simulation agree there too)",
            transform=ax.transAxes,
            fontsize=7,
            color=C.COLORS[0],
        )
        ax.set_xlabel("layer l (input side = 0)")
        ax.set_title(f"{init.capitalize()} init (σ_w² = {sw2:g}), width {n}, depth {depth}, {draws} nets")
        ax.invert_xaxis()
    axes[0].set_ylabel("E ‖∂L/∂x_l‖² / ‖∂L/∂x_L‖²  (log scale)")
    axes[1].legend(loc="center right", ncol=1)
    fig.suptitle("S3: backpropagated gradient norm against depth (lines: theory, markers: simulation)", y=1.0)
    fig.tight_layout()
    return C.save(fig, out_dir, NAME)


if __name__ == "__main__":
    C.cli(main, __doc__)
