"""`vgtheory diagnose` factory: a small Flax linen CNN on 8×8×3 images.

    vgtheory diagnose examples/diagnose_linen_cnn.py:make --out diag_cnn [--smoke]

Conv–ReLU blocks (He init) then a Dense readout; cross-entropy on random labels; SGD for the
sharpness-vs-2/η run.
"""

import jax
import jax.numpy as jnp
import flax.linen as nn
import optax

import vgtheory as vg


class CNN(nn.Module):
    channels: int = 8
    blocks: int = 4

    @nn.compact
    def __call__(self, x):
        for _ in range(self.blocks):
            x = nn.relu(nn.Conv(self.channels, (3, 3), kernel_init=nn.initializers.he_normal())(x))
        return nn.Dense(10)(x.reshape(x.shape[0], -1))


def make(smoke: bool = False) -> vg.Problem:
    batch, blocks = (4, 3) if smoke else (32, 8)
    x = jax.random.normal(jax.random.key(1), (batch, 8, 8, 3))
    labels = jax.random.randint(jax.random.key(2), (batch,), 0, 10)

    def loss(logits):
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels))

    return vg.Problem(
        CNN(blocks=blocks),
        x,
        loss=loss,
        optimizer=optax.sgd(0.1),
        learning_rate=0.1,
        name=f"linen CNN, {blocks} conv blocks",
    )


if __name__ == "__main__":
    import sys

    smoke = "--smoke" in sys.argv
    d = vg.diagnose(make(smoke), jax.random.key(0), members=4 if smoke else 16)
    for f in d.findings:
        print(f"[{f['topic']}: {f['verdict']}] {f['text']}")
