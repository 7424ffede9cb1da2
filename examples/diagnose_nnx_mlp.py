"""`vgtheory diagnose` factory: an nnx MLP of one activation, with the mean-field row.

    vgtheory diagnose examples/diagnose_nnx_mlp.py:make --out diag_nnx [--smoke]

A tanh MLP at σ_w² = 1.5, σ_b² = 0.05 (ordered side of the edge of chaos is σ_w² < ~1.4 here);
the factory names the hidden layers so the report compares their measured per-layer gradient
rate with mean-field log χ₁.
"""

import jax
import jax.numpy as jnp
import optax
from flax import nnx

import vgtheory as vg

SIGMA_W2, SIGMA_B2 = 1.5, 0.05


class MLP(nnx.Module):
    def __init__(self, d_in: int, width: int, depth: int, d_out: int, *, rngs: nnx.Rngs):
        w_init = nnx.initializers.variance_scaling(SIGMA_W2, "fan_in", "normal")
        b_init = nnx.initializers.normal(SIGMA_B2**0.5)
        self.layers = nnx.List(
            [
                nnx.Linear(d_in if i == 0 else width, width, kernel_init=w_init, bias_init=b_init, rngs=rngs)
                for i in range(depth)
            ]
        )
        self.readout = nnx.Linear(width, d_out, rngs=rngs)

    def __call__(self, x):
        for layer in self.layers:
            x = jnp.tanh(layer(x))
        return self.readout(x)


def make(smoke: bool = False) -> vg.Problem:
    width, depth = (32, 8) if smoke else (128, 24)
    x = jax.random.normal(jax.random.key(1), (8, 16))
    hint = vg.MeanFieldHint(
        "tanh", SIGMA_W2, SIGMA_B2, modules=tuple(f"layers/{i}" for i in range(2, depth)), width=width
    )
    return vg.Problem(
        None,
        x,
        init=lambda key: MLP(16, width, depth, 4, rngs=nnx.Rngs(key)),
        optimizer=optax.sgd(0.02),
        learning_rate=0.02,
        mean_field=hint,
        name=f"nnx tanh MLP ×{depth}",
    )


if __name__ == "__main__":
    import sys

    d = vg.diagnose(make(smoke="--smoke" in sys.argv), jax.random.key(0), members=4 if "--smoke" in sys.argv else 16)
    for f in d.findings:
        print(f"[{f['topic']}: {f['verdict']}] {f['text']}")
