"""Per-module gradient flow of an nnx MLP, mean ± SE over initialisations.

    python examples/nnx_mlp_gradient_flow.py [--smoke]

``vg.module_gradient_flow`` wraps every submodule's output (no change to the model's code)
and returns log‖∂L/∂z_m‖² per module and log‖∂L/∂θ‖² per parameter leaf; inside
``vg.ensemble`` the module is built from each member's key, so the statistics are over
initialisations. At σ_w² = 1 (tanh, ordered phase) the squared gradient shrinks by χ₁ per
layer, at σ_w² = 2.5 (chaotic) it grows.
"""

import sys

import jax
import jax.numpy as jnp
from flax import nnx

import vgtheory as vg


class MLP(nnx.Module):
    def __init__(self, width: int, depth: int, sigma_w2: float, *, rngs: nnx.Rngs):
        init = nnx.initializers.variance_scaling(sigma_w2, "fan_in", "normal")
        self.layers = nnx.List([nnx.Linear(width, width, kernel_init=init, rngs=rngs) for _ in range(depth)])

    def __call__(self, x):
        for layer in self.layers:
            x = jnp.tanh(layer(x))
        return x


def main(smoke: bool) -> None:
    width, depth, members = (32, 6, 16) if smoke else (256, 20, 128)
    x = jax.random.normal(jax.random.key(1), (16, width))
    for sigma_w2 in (1.0, 2.5):

        def member(key):
            flow = vg.module_gradient_flow(MLP(width, depth, sigma_w2, rngs=nnx.Rngs(key)), x)
            return flow.activations  # {"layers/0": log‖∂L/∂z‖², ...}

        r = vg.ensemble(member, jax.random.key(0), members)
        chi1 = float(vg.theory.mean_field("tanh", sigma_w2, 0.0).chi1)
        print(f"σ_w² = {sigma_w2} (mean-field χ₁ = {chi1:.3f}): log10‖∂L/∂z_l‖² by layer")
        for name in r.mean:
            print(f"  {name:10s} {float(r.mean[name]) / 2.302585:+.3f} ± {float(r.se[name]) / 2.302585:.3f}")


if __name__ == "__main__":
    main("--smoke" in sys.argv)
