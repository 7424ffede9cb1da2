"""Backpropagation through time: log‖∂L/∂h_t‖ against the lag T − t for RNN, LSTM and GRU.

(a) Autonomous vanilla RNN h_{t+1} = tanh(g W h_t), W_ij ~ N(0, 1/N): mean over networks of
log(‖∂L/∂h_t‖/‖∂L/∂h_T‖) ± one standard error (markers, ``vg.bptt_gradient_norms``, log
domain); lines: the slope λ_max(g) of mean-field theory (``vg.theory.rnn_mean_field_exponent``:
the gradient decays or grows like the largest Lyapunov exponent) and, dotted, the seed's
upper bound (T − t)·log(σ_max(W)·γ) with γ = sup|tanh'| = 1 (``vg.theory.s6_log_bound``,
claim S6) at the mean measured σ_max(W).
(b) Input-driven cells of the same width (inputs x_t ~ N(0, 1)): vanilla tanh RNN with
orthogonal W, Flax LSTM with forget-gate bias 0 and 1, and Flax GRU (claims S6, S17); no
closed form is drawn for the gated cells (S17 checks the cell path alone).
"""

from __future__ import annotations

import _common as C
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

import vgtheory as vg

NAME = "bptt"
TITLE = "BPTT gradient norm against T − t for RNN, LSTM and GRU"
CLAIMS = ("S6", "S17")
SEED = 6
GAINS = (0.8, 1.0, 1.5)
_HI = jax.lax.Precision.HIGHEST


def _tanh_step(w, h, x):
    return jnp.tanh(jnp.matmul(w, h, precision=_HI))


def _stats(a):
    a = np.asarray(a, np.float64)
    a = a - a[..., -1:]  # relative to ∂L/∂h_T
    return a.mean(-2), a.std(-2, ddof=1) / np.sqrt(a.shape[-2])


def _autonomous(key, n, t, draws):
    def one(k, g):
        kw, kh = jax.random.split(k)
        w = vg.recurrent_matrix(kw, n, gain=g, dtype=jnp.float64)
        h0 = jax.random.normal(kh, (n,), jnp.float64)
        r = vg.bptt_gradient_norms(_tanh_step, w, h0, steps=t)
        return r.log_sq_norms / 2, jnp.linalg.norm(w, ord=2)

    logs, smax = C.sweep(one, key, draws, jnp.asarray(GAINS))
    return _stats(logs), np.asarray(smax).mean(1)


def _cells(key, n, t, draws):
    def one(k, bf):
        kp, kx, kq = jax.random.split(k, 3)
        xs = jax.random.normal(kx, (t, 1), jnp.float64)
        rnn = vg.init_rnn(kp, n, 1, init="orthogonal", dtype=jnp.float64)
        lstm = vg.init_lstm(kq, n, 1, forget_bias=bf, dtype=jnp.float64)
        gru = vg.init_gru(kq, n, 1, dtype=jnp.float64)
        out = [
            vg.bptt_gradient_norms(vg.rnn_step, rnn, vg.initial_state("rnn", n, jnp.float64), xs, steps=t),
            vg.bptt_gradient_norms(vg.lstm_step, lstm, vg.initial_state("lstm", n, jnp.float64), xs, steps=t),
            vg.bptt_gradient_norms(vg.gru_step, gru, vg.initial_state("gru", n, jnp.float64), xs, steps=t),
        ]
        return jnp.stack([o.log_sq_norms / 2 for o in out])

    logs = C.sweep(one, key, draws, jnp.asarray([0.0, 1.0]))  # [bf, draws, cell, T+1]
    return _stats(np.moveaxis(logs, 2, 1))  # [bf, cell, T+1]


def main(out_dir: str, smoke: bool = False) -> list[str]:
    n, t, draws = (8, 12, 4) if smoke else (64, 100, 24)
    key = C.key(SEED)
    (mean, se), smax = _autonomous(jax.random.fold_in(key, 0), n, t, draws)
    lag = np.arange(t + 1)[::-1]
    every = max(1, t // 20)
    sel = slice(None, None, every)
    fig, (a, b) = plt.subplots(1, 2, figsize=(10.0, 3.9))
    for i, g in enumerate(GAINS):
        col = C.COLORS[i]
        lam = float(vg.theory.rnn_mean_field_exponent(g))
        lab = f"g = {g}: mean-field slope λ_max = " + f"{lam:+.3f}".replace("-0.000", "0.000")
        a.plot(lag, lam * lag / np.log(10), color=col, label=lab, **C.THEORY)
        bound = np.asarray(vg.theory.s6_log_bound(smax[i], 1.0, lag)) / np.log(10)
        a.plot(lag, bound, color=col, ls=":", lw=1.1, label=f"g = {g}: S6 bound, σ_max(W) ≈ {smax[i]:.2f}")
        a.errorbar(
            lag[sel],
            mean[i][sel] / np.log(10),
            yerr=se[i][sel] / np.log(10),
            color=col,
            marker="os^"[i],
            mfc="none",
            label=f"g = {g}: simulation (± SE)",
            **C.SIM,
        )
    lo = min(np.min(mean) / np.log(10), -1.0) * 1.3
    a.set_ylim(lo, max(2.0, np.max(mean) / np.log(10) * 1.5 + 1))
    a.text(
        0.42,
        0.6,
        "lines: N → ∞ mean field; at finite N the exponent lies\ncloser to 0 (finite-N shortfall ≈ 2–5/N, claim L7)",
        transform=a.transAxes,
        fontsize=6.5,
    )
    a.set_xlabel("lag T − t (steps)")
    a.set_ylabel("log₁₀ ‖∂L/∂h_t‖ / ‖∂L/∂h_T‖")
    a.set_title(f"(a) S6: autonomous tanh RNN, N = {n}, {draws} nets")
    a.legend(loc="lower left", fontsize=6.5, ncol=1)

    (cm, cs) = _cells(jax.random.fold_in(key, 1), n, t, draws)
    series = [
        ("vanilla RNN (orthogonal W)", 0, 0),
        ("LSTM, forget bias 0", 0, 1),
        ("LSTM, forget bias 1", 1, 1),
        ("GRU", 0, 2),
    ]
    for j, (lab, bi, ci) in enumerate(series):
        b.errorbar(
            lag[sel],
            cm[bi, ci][sel] / np.log(10),
            yerr=cs[bi, ci][sel] / np.log(10),
            color=C.COLORS[j],
            marker="osD^"[j],
            mfc="none",
            label=f"{lab} (± SE)",
            **{**C.SIM, "ls": "-", "lw": 0.6},
        )
    b.set_xlabel("lag T − t (steps)")
    b.set_ylabel("log₁₀ ‖∂L/∂h_t‖ / ‖∂L/∂h_T‖")
    b.set_title(f"(b) input-driven cells, N = {n}, {draws} draws (simulation only)")
    b.legend(loc="lower left")
    fig.tight_layout()
    return C.save(fig, out_dir, NAME)


if __name__ == "__main__":
    C.cli(main, __doc__)
