"""Lyapunov spectra of random RNNs against the recurrent gain.

(a) Largest Lyapunov exponent of h_{t+1} = tanh(g W h_t), W_ij ~ N(0, 1/N), against g:
QR/Benettin estimates (``vg.lyapunov_spectrum``), mean over networks ± one standard error
(markers), and the mean-field exponent ½ log(g² E[tanh'(√q* z)²])
(``vg.theory.rnn_mean_field_exponent``; log g in the ordered phase) as a line: the
transition to chaos at g = 1 (Sompolinsky, Crisanti & Sommers 1988; claim L7).
(b) Full spectrum of products of i.i.d. Gaussian matrices (h_{t+1} = W_t h_t, fresh W_t)
against Newman's closed form (``vg.theory.gaussian_product_exponents``; claim L3), and the
full spectrum of the chaotic tanh RNN at g = 2 for comparison.
"""

from __future__ import annotations

import _common as C
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

import vgtheory as vg

NAME = "lyapunov"
TITLE = "Lyapunov spectrum of random RNNs against gain"
CLAIMS = ("L7", "L3")
SEED = 5
_HI = jax.lax.Precision.HIGHEST


def _tanh_step(w, h, x):
    return jnp.tanh(jnp.matmul(w, h, precision=_HI))


def _product_step(_, h, w):
    return jnp.matmul(w, h, precision=_HI)


def _lmax(key, gains, n, steps, warm, draws):
    def one(k, g):
        kw, kh = jax.random.split(k)
        w = vg.recurrent_matrix(kw, n, gain=g, dtype=jnp.float64)
        h0 = jax.random.normal(kh, (n,), jnp.float64)
        return vg.lyapunov_spectrum(_tanh_step, w, h0, steps=steps, warmup=warm, k=1, reortho=5).exponents[0]

    r = C.sweep(one, key, draws, jnp.asarray(gains))
    return r.mean(1), r.std(1, ddof=1) / np.sqrt(draws)


def _full(key, n, steps, warm, draws, gain):
    def prod(k):
        ws = jax.random.normal(k, (steps, n, n), jnp.float64) / np.sqrt(n)
        return vg.lyapunov_spectrum(_product_step, None, jnp.ones(n), ws, steps=steps).exponents

    def rnn(k):
        kw, kh = jax.random.split(k)
        w = vg.recurrent_matrix(kw, n, gain=gain, dtype=jnp.float64)
        h0 = jax.random.normal(kh, (n,), jnp.float64)
        return vg.lyapunov_spectrum(_tanh_step, w, h0, steps=steps, warmup=warm, reortho=1).exponents

    p = C.members(prod, key, draws)
    r = C.members(rnn, key, draws)
    s = lambda a: (a.mean(0), a.std(0, ddof=1) / np.sqrt(draws))
    return s(p), s(r)


def main(out_dir: str, smoke: bool = False) -> list[str]:
    key = C.key(SEED)
    if smoke:
        n, steps, warm, draws, gains, nf, tf = 16, 60, 20, 4, np.array([0.5, 1.5, 2.5]), 8, 40
    else:
        n, steps, warm, draws, gains, nf, tf = 256, 1500, 500, 16, np.linspace(0.3, 3.0, 19), 64, 600
    mean, se = _lmax(jax.random.fold_in(key, 0), gains, n, steps, warm, draws)
    fine = np.linspace(0.2, 3.1, 120)
    mf = np.asarray(jax.jit(jax.vmap(vg.theory.rnn_mean_field_exponent))(jnp.asarray(fine)))
    fig, (a, b) = plt.subplots(1, 2, figsize=(9.8, 3.8))
    a.plot(fine, mf, color=C.COLORS[0], label="mean field ½ log(g² E[φ'(√q* z)²])", **C.THEORY)
    a.errorbar(
        gains,
        mean,
        yerr=se,
        color=C.COLORS[1],
        marker="o",
        mfc="none",
        label=f"QR/Benettin, N = {n}, T = {steps} (± SE, {draws} nets)",
        **C.SIM,
    )
    a.axhline(0.0, color="0.4", lw=0.8, ls=":")
    a.axvline(1.0, color="0.4", lw=0.8, ls="--", label="g = 1 (edge of chaos)")
    a.set_xlabel("recurrent gain g")
    a.set_ylabel("largest Lyapunov exponent λ_max (per step, natural log)")
    a.set_title("(a) L7: tanh RNN h ← tanh(gWh), order → chaos")
    a.legend(loc="lower right")

    (pm, ps), (rm, rs) = _full(jax.random.fold_in(key, 1), nf, tf, tf // 4, draws, 2.0)
    i = np.arange(1, nf + 1)
    newman = np.asarray(vg.theory.gaussian_product_exponents(nf, 1.0, jnp.float64))
    b.plot(i, newman, color=C.COLORS[0], label="Gaussian product: Newman (1986)", **C.THEORY)
    b.errorbar(i, pm, yerr=ps, color=C.COLORS[0], marker="o", mfc="none", label="Gaussian product: QR (± SE)", **C.SIM)
    b.errorbar(i, rm, yerr=rs, color=C.COLORS[2], marker="^", mfc="none", label="tanh RNN, g = 2: QR (± SE)", **C.SIM)
    b.axhline(0.0, color="0.4", lw=0.8, ls=":")
    b.set_xlabel("exponent index i")
    b.set_ylabel("Lyapunov exponent λ_i (per step)")
    b.set_title(f"(b) L3: full spectra, N = {nf}, T = {tf}")
    b.legend(loc="lower left")
    fig.tight_layout()
    return C.save(fig, out_dir, NAME)


if __name__ == "__main__":
    C.cli(main, __doc__)
