"""Flax's LSTMCell as a dynamical system: Lyapunov spectrum and BPTT gradient norms.

    python examples/flax_lstm_lyapunov_bptt.py [--smoke]

The cell's ``(c, h)`` carry goes to ``vg.lyapunov_spectrum`` and ``vg.bptt_gradient_norms``
as it is (pytree states are flattened internally). The largest exponent λ₁ predicts the
BPTT slope: log‖∂L/∂h_t‖ changes by about λ₁ per step of T − t. Exponents at the rounding
floor come back with ``resolved = False``.
"""

import sys

import jax
import jax.numpy as jnp
import flax.linen as nn

import vgtheory as vg


def main(smoke: bool) -> None:
    hidden, d_in, steps, seeds = (16, 4, 200, 2) if smoke else (64, 8, 4000, 8)
    cell = nn.LSTMCell(hidden)
    carry = (jnp.full((hidden,), 0.1), jnp.full((hidden,), 0.1))
    inputs = jax.random.normal(jax.random.key(2), (steps, d_in))

    def step(params, carry, x):
        return cell.apply(params, carry, x)[0]

    @jax.jit
    def run(key):
        params = cell.init(key, carry, inputs[0])
        ly = vg.lyapunov_spectrum(step, params, carry, inputs, steps=steps, warmup=steps // 10)
        bp = vg.bptt_gradient_norms(step, params, carry, inputs, steps=steps)
        return ly, bp

    for seed in range(seeds):
        ly, bp = run(jax.random.key(seed))
        lag = jnp.arange(steps + 1)[::-1]
        slope = jnp.polyfit(lag[: steps // 2].astype(jnp.float32), bp.log_sq_norms[: steps // 2] / 2, 1)[0]
        print(
            f"seed {seed}: status {int(ly.status)}, λ₁ = {float(ly.exponents[0]):+.4f} ± {float(ly.se[0]):.4f}, "
            f"λ_2N = {float(ly.exponents[-1]):+.3f} (resolved: {int(ly.resolved.sum())}/{ly.resolved.size}); "
            f"BPTT slope over the first half of T − t: {float(slope):+.4f} per step"
        )


if __name__ == "__main__":
    main("--smoke" in sys.argv)
