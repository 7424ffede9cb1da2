"""A Flax linen CNN's input–output Jacobian spectrum over initialisations.

    python examples/linen_cnn_jacobian_spectra.py [--smoke]

For each of ``members`` initialisations (vmapped, streamed by ``vg.ensemble``): the dense
Jacobian of the logits with respect to one 8×8×3 image (``vg.input_jacobian``, shaped like
``jax.jacrev``'s), flattened to 10 × 192, and its singular values (``vg.singular_values``).
Prints log10 σ_i as mean ± SE, for He and for a too-small init (vanishing: every σ shrinks).
"""

import sys

import jax
import jax.numpy as jnp
import flax.linen as nn

import vgtheory as vg


class CNN(nn.Module):
    scale: float  # kernel variance = scale / fan_in (2: He)
    blocks: int

    @nn.compact
    def __call__(self, x):
        init = nn.initializers.variance_scaling(self.scale, "fan_in", "normal")
        for _ in range(self.blocks):
            x = nn.relu(nn.Conv(8, (3, 3), kernel_init=init)(x))
        return nn.Dense(10)(x.reshape(-1))


def spectrum(scale: float, blocks: int, members: int):
    model = CNN(scale, blocks)
    image = jax.random.normal(jax.random.key(1), (8, 8, 3))

    def member(key):
        variables = model.init(key, image)
        jac = vg.input_jacobian(lambda x: model.apply(variables, x), image)  # (10, 8, 8, 3)
        return jnp.log10(vg.singular_values(jac.reshape(10, -1)))

    return vg.ensemble(member, jax.random.key(0), members)


def main(smoke: bool) -> None:
    blocks, members = (3, 8) if smoke else (12, 64)
    for scale, label in [(2.0, "He (σ_w² = 2)"), (1.0, "LeCun (σ_w² = 1)")]:
        r = spectrum(scale, blocks, members)
        print(f"{label}, {blocks} conv blocks, {members} inits: log10 σ_i =")
        print("   " + "  ".join(f"{m:+.2f}±{s:.2f}" for m, s in zip(r.mean.tolist(), r.se.tolist())))


if __name__ == "__main__":
    main("--smoke" in sys.argv)
