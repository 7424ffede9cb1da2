"""`vgtheory diagnose` factory: Flax's LSTMCell, as a sequence model and as a dynamical system.

    vgtheory diagnose examples/diagnose_flax_lstm.py:make --out diag_lstm [--smoke]

The model (``nn.RNN`` over an ``nn.LSTMCell``, Dense readout of the last state) gives the
per-module gradient flow; the cell alone, with its ``(c, h)`` carry and Gaussian inputs,
gives the Lyapunov spectrum and the BPTT gradient norms against T − t.
"""

import jax
import jax.numpy as jnp
import flax.linen as nn

import vgtheory as vg


class SeqModel(nn.Module):
    hidden: int

    @nn.compact
    def __call__(self, xs):  # [B, T, d]
        hs = nn.RNN(nn.LSTMCell(self.hidden))(xs)
        return nn.Dense(4)(hs[:, -1])


def make(smoke: bool = False) -> vg.Problem:
    hidden, d_in, steps = (16, 4, 40) if smoke else (64, 8, 400)
    xs = jax.random.normal(jax.random.key(1), (4, steps, d_in))
    cell = nn.LSTMCell(hidden)
    carry = (jnp.full((hidden,), 0.1), jnp.full((hidden,), 0.1))  # (c, h)
    inputs = jax.random.normal(jax.random.key(2), (steps, d_in))

    def step(params, carry, x):
        return cell.apply(params, carry, x)[0]

    rec = vg.Recurrent(step, init=lambda key: cell.init(key, carry, inputs[0]), h0=carry, inputs=inputs, steps=steps)
    return vg.Problem(SeqModel(hidden), xs, recurrent=rec, name=f"Flax LSTMCell, N = {hidden}")


if __name__ == "__main__":
    import sys

    smoke = "--smoke" in sys.argv
    d = vg.diagnose(make(smoke), jax.random.key(0), members=4 if smoke else 16)
    for f in d.findings:
        print(f"[{f['topic']}: {f['verdict']}] {f['text']}")
