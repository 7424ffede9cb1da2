"""Training with optax: sharpness, Hessian top-k and trace against 2/η.

    python examples/optax_sharpness.py [--smoke]

Full-batch GD on a small Flax MLP regression. ``vg.sharpness_trajectory`` tracks λ_max of the
loss Hessian during training (warm-started Lanczos); it rises towards 2/η (progressive
sharpening) and hovers there (edge of stability, Cohen et al. 2021). At the end,
``vg.hessian_eigh`` gives the top-k at both ends and ``vg.hessian_trace`` the trace ± SE;
each is checked against the dense ``jax.hessian`` when the model is small enough.
"""

import sys

import jax
import jax.numpy as jnp
import flax.linen as nn
import optax

import vgtheory as vg


class MLP(nn.Module):
    @nn.compact
    def __call__(self, x):
        for _ in range(3):
            x = jnp.tanh(nn.Dense(16)(x))
        return nn.Dense(1)(x)


def main(smoke: bool) -> None:
    eta, steps, every = (0.5, 40, 10) if smoke else (0.5, 2000, 50)
    x = jax.random.normal(jax.random.key(1), (64, 4))
    y = jnp.sin(x.sum(-1, keepdims=True))
    model = MLP()
    params = model.init(jax.random.key(0), x)["params"]

    def loss(p):
        return 0.5 * jnp.mean((model.apply({"params": p}, x) - y) ** 2)

    tr = vg.sharpness_trajectory(loss, params, optax.sgd(eta), steps, every, jax.random.key(2))
    print(f"2/η = {2 / eta:.2f}; λ_max along training:", " ".join(f"{float(s):.2f}" for s in tr.sharpness))
    top = vg.hessian_eigh(loss, params, 3, jax.random.key(3), which="largest")
    bottom = vg.hessian_eigh(loss, params, 3, jax.random.key(3), which="smallest")
    trace = vg.hessian_trace(loss, params, jax.random.key(4), 60)
    print("top-3:", top.values.tolist(), " bottom-3:", bottom.values.tolist())
    print(f"trace = {float(trace.mean):.3f} ± {float(trace.se):.3f}")
    dense = jnp.linalg.eigvalsh(vg.dense_hessian(loss, params))
    print("dense check: top-3", dense[-3:][::-1].tolist(), " trace", float(dense.sum()))


if __name__ == "__main__":
    main("--smoke" in sys.argv)
