"""Registered claims: lyapunov (S6, S14, S17, L3, L7).

One network (or matrix product, or training run) draw is one sample; estimates are means
over draws with their standard errors. Exact statements are checked in float64 with a
rounding allowance.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .._bptt import bptt_gradient_norms
from .._claims import Comparison, claim
from .._lyapunov import lyapunov_spectrum
from .._rnn import init_lstm, lstm_forget_gate, lstm_step, recurrent_matrix
from .._stats import estimate
from ._common import member_values
from ..theory import _lyapunov_theory as th
from .._numerics import HIGHEST as _HI
from .._numerics import acc_dtype as _dt  # float64 when x64 is on, else float32


def _f(x):
    return float(np.asarray(x, np.float64))


def _eps():
    return 1e-12 if jax.config.read("jax_enable_x64") else 1e-5


# --- L3: Newman's exponents of products of i.i.d. Gaussian matrices --------------------


def _matrix_step(_, h, x):
    return jnp.matmul(x, h, precision=_HI)


@claim(
    id="L3",
    title="Lyapunov spectrum of Gaussian matrix products",
    statement="For products of i.i.d. N×N matrices with N(0, σ²/N) entries the Lyapunov "
    "exponents are λ_i = ½[log(2σ²/N) + ψ((N−i+1)/2)], i = 1..N.",
    source="Newman (1986), Commun. Math. Phys. 103, 121, eq. (1.5); derivation in vgtheory.theory._lyapunov_theory",
    area="lyapunov",
)
def _l3(key, full):
    n, t, draws, s2 = (16, 2000, 128, 2.0) if full else (6, 600, 64, 2.0)
    dt = _dt()

    def one(k):
        ws = jnp.sqrt(s2 / n) * jax.random.normal(k, (t, n, n), dt)
        # reortho=1: a product of a few Gaussian matrices is occasionally near-singular
        # (σ_min has density ~ 1 at 0), which would break CholeskyQR over longer intervals
        return lyapunov_spectrum(_matrix_step, None, jnp.ones(n, dt), ws, steps=t).exponents

    lam = member_values(one, key, draws, full)
    est = estimate(lam)
    pred = np.asarray(th.gaussian_product_exponents(n, s2, dt))
    rows = []
    for i in range(n):
        rows.append(
            Comparison(
                label=f"N={n}, σ²={s2}, T={t}: λ_{i + 1}",
                prediction=pred[i],
                estimate=est.mean[i],
                se=est.se[i],
                n=draws,
                planted=pred[i] + 0.05,
                note="no finite-T bias: from the frame e_1..e_k, every step's frame is Haar (W "
                "rotation-invariant), so E log R_ii is exact at every step; planted: +0.05",
            )
        )
    return rows


# --- L7: transition to chaos of the random tanh RNN ------------------------------------


# λ_max(N) − mean field = b/N: (b, SE(b)) fitted by benchmarks/fit_finite_size.py (issue 9)
_L7_FIT = {1.5: (-4.03, 0.37), 2.0: (-1.98, 0.15)}


def _tanh_w(w, h, x):
    return jnp.tanh(jnp.matmul(w, h, precision=_HI))


@claim(
    id="L7",
    title="Random tanh RNN: chaos as the gain crosses 1",
    statement="For h_{t+1} = tanh(g W h_t), W_ij ~ N(0, 1/N), the largest Lyapunov exponent is "
    "negative for g < 1 (the state collapses to 0 and λ_max = log(g ρ(W)), ρ the "
    "spectral radius, → log g) and positive for g > 1, where it approaches the "
    "discrete-time mean-field value ½ log(g² E[tanh'(√q* z)²]) as N grows.",
    source="Sompolinsky, Crisanti & Sommers (1988), PRL 61, 259; discrete time: Molgedey, "
    "Schuchhardt & Schuster (1992), PRL 69, 3717; mean field as Poole et al. (2016)",
    area="lyapunov",
)
def _l7(key, full):
    n, t, warm, draws = (512, 3000, 500, 32) if full else (256, 1000, 200, 12)
    dt = _dt()
    m = t - warm

    def one(k, g):
        kw, kh = jax.random.split(k)
        w = recurrent_matrix(kw, n, gain=g, dtype=dt)
        h0 = jax.random.normal(kh, (n,), dt)
        return lyapunov_spectrum(_tanh_w, w, h0, steps=t, warmup=warm, k=1, reortho=5).exponents[0]

    def radius(k):  # LAPACK (numpy) eigenvalues of the same W, an independent reference
        w = np.asarray(recurrent_matrix(jax.random.split(k)[0], n, dtype=dt), np.float64)
        return math.log(np.max(np.abs(np.linalg.eigvals(w))))

    gains = (0.8, 1.5, 2.0)
    # one network per member (fold_in keys), run at every gain (vmapped inside the member)
    lams = member_values(lambda k: jax.vmap(lambda g: one(k, g))(jnp.asarray(gains, dt)), key, draws, full)
    rows = []
    g = 0.8
    lam = lams[:, 0]
    ne = min(draws, 6)  # dense eigenvalues are the costly part; the per-draw check is tight
    lin = math.log(g) + jnp.asarray([radius(jax.random.fold_in(key, i)) for i in range(ne)], dt)
    d = estimate(lam[:ne] - lin)
    rows.append(
        Comparison(
            label=f"g={g}, N={n}: λ_max − log(g ρ(W)) (ordered phase, per draw)",
            prediction=0.0,
            estimate=d.mean,
            se=d.se,
            n=ne,
            planted=_f(jnp.mean(math.log(g) - lin)),
            bias=math.log(n) / m,
            note=f"λ_max = {_f(jnp.mean(lam)):.4f} < 0. bias log(N)/T: finite-time term ≤ log κ(V)/T "
            "with eigenvector condition κ(V) = O(N) for Ginibre; planted: the N → ∞ value "
            "log g (ignores ρ(W) > 1 at finite N)",
        )
    )
    for i, g in enumerate(gains[1:], 1):
        e = estimate(lams[:, i])
        mf = _f(th.rnn_mean_field_exponent(g))
        rows.append(
            Comparison(
                label=f"g={g}, N={n}: λ_max vs mean field",
                prediction=mf,
                estimate=e.mean,
                se=e.se,
                n=draws,
                planted=mf + 0.05,
                bias=6.0 / n,
                note="bias 6/N: finite-N shortfall measured at N = 64, 128, 256 (g = 1.5, 2: "
                "N·(MF − λ) ≈ 2–5), as mean field is the N → ∞ limit; planted: +0.05",
            )
        )
        b, b_se = _L7_FIT[g]
        fin = mf + b / n
        rows.append(
            Comparison(
                label=f"g={g}, N={n}: λ_max vs mean field + b/N (fitted finite-N law)",
                prediction=fin,
                estimate=e.mean,
                se=e.se,
                n=draws,
                planted=fin + 0.05,
                bias=2.0 * b_se / n,
                note=f"b = {b:.2f} ± {b_se:.2f} FITTED (not derived): λ_max(N) − MF = b/N, weighted fit "
                "over N = 128, 256, 512 (24 draws each, T = 1000, warm-up 200; a free fit gives an "
                "intercept equal to MF within 1 SE; N = 64 falls below 1/N), "
                "benchmarks/fit_finite_size.py; bias 2·SE(b)/N; planted: +0.05 as the mean-field rows",
            )
        )
        if g == 1.5:
            rows.append(
                Comparison(
                    label=f"g={g}, N={n}: λ_max > 0 (chaos above g = 1)",
                    prediction=0.0,
                    estimate=e.mean,
                    se=e.se,
                    n=draws,
                    kind="lower",
                    planted=math.log(g) - 0.05,
                    note="planted: the unsaturated (linear) rate log g, minus 0.05, as a lower bound",
                )
            )
    return rows


# --- S6: the σ_max bound through time, orthogonal norm preservation --------------------


def _lin_w(w, h, x):
    return jnp.matmul(w, h, precision=_HI) + x


@claim(
    id="S6",
    title="RNN gradients through time: σ_max(W)^{T−t} bound",
    statement="For h_t = φ(W h_{t−1} + U x_t), ‖δ_t‖ ≤ (σ_max(W) γ)^{T−t} ‖δ_T‖ with "
    "γ = sup|φ'|; with orthogonal W and linear φ the norm is preserved exactly.",
    source="seeds (S6); Pascanu, Mikolov & Bengio (2013), eq. (7)",
    area="lyapunov",
)
def _s6(key, full):
    n, t, draws, s = (64, 100, 64, 1.2) if full else (24, 30, 16, 1.2)
    dt = _dt()

    def one(k):
        kw, kx = jax.random.split(k)
        w = recurrent_matrix(kw, n, dtype=dt)
        w = s * w / jnp.linalg.norm(w, ord=2)
        xs = 0.1 * jax.random.normal(kx, (t, n), dt)

        def step(w_, h, x):
            return jnp.tanh(jnp.matmul(w_, h, precision=_HI) + x)

        h = jnp.zeros(n, dt)
        h = jax.lax.fori_loop(0, t - 1, lambda i, h: step(w, h, xs[i]), h)
        j_t = jax.jacfwd(lambda hh: step(w, hh, xs[t - 1]))(h)
        u = jnp.linalg.svd(j_t)[0][:, 0]  # adversarial ∂L/∂h_T: top left singular vector
        r = bptt_gradient_norms(step, w, jnp.zeros(n, dt), xs, steps=t, cotangent=u)
        lag = r.lag
        excess = (r.log_sq_norms - r.log_sq_norms[-1]) / 2 - th.s6_log_bound(s, 1.0, lag)
        return jnp.max(jnp.where(lag > 0, excess, -jnp.inf))

    ex = member_values(one, key, draws, full)
    rows = [
        Comparison(
            label=f"tanh RNN N={n}, σ_max(W)={s}, T={t}: max over draws, t of log(‖δ_t‖/‖δ_T‖) − (T−t) log(σ_max γ)",
            prediction=0.0,
            estimate=jnp.max(ex),
            se=0.0,
            n=draws,
            kind="upper",
            planted=-math.log(s),
            bias=t * _eps(),
            note="γ = 1 (tanh); δ_T = top left singular vector of J_T, so lag 1 nearly attains the bound; "
            "planted: the bound with exponent T−t−1",
        )
    ]

    def orth(k):
        kw, kx = jax.random.split(k)
        w = recurrent_matrix(kw, n, init="orthogonal", dtype=dt)
        xs = jax.random.normal(kx, (t, n), dt)
        cot = jax.random.normal(jax.random.fold_in(k, 1), (n,), dt)
        r = bptt_gradient_norms(_lin_w, w, jnp.zeros(n, dt), xs, steps=t, cotangent=cot)
        return jnp.max(jnp.abs(r.log_sq_norms - r.log_sq_norms[-1]) / 2)

    dev = member_values(orth, jax.random.fold_in(key, 7), draws, full)
    rows.append(
        Comparison(
            label=f"orthogonal W, linear φ, N={n}, T={t}: max over draws, t of |log(‖δ_t‖/‖δ_T‖)|",
            prediction=0.0,
            estimate=jnp.max(dev),
            se=0.0,
            n=draws,
            planted=t * math.log(1.01),
            bias=t * _eps(),
            note="exact up to rounding; planted: 1% change per step",
        )
    )
    return rows


# --- S17: LSTM cell path and the forget-gate bias --------------------------------------


def _lstm_traj(p, xs, h0):
    def body(h, x):
        return lstm_step(p, h, x), h

    return jax.lax.scan(body, h0, xs)[1]


@claim(
    id="S17",
    title="LSTM: ∂c_t/∂c_{t−1} = diag(f_t); the forget bias sets the decay",
    statement="Along the LSTM cell state, ∂c_t/∂c_{t−1} = diag(f_t) (h_{t−1} held fixed), so "
    "the cell path decays per step like log f_t, and the forget-gate bias b_f "
    "shifts its typical rate as E log σ(b_f + a), a the gate's other input.",
    source="seeds (S17); Gers, Schmidhuber & Cummins (2000); Jozefowicz et al. (2015) on b_f",
    area="lyapunov",
)
def _s17(key, full):
    return _s17_rows(key, *((64, 8, 100, 32) if full else (16, 4, 40, 12)))


def _s17_rows(key, n, d, t, draws):
    dt = _dt()

    def one(p, kx, bf):
        xs = jax.random.normal(kx, (t, d), dt)
        hs = _lstm_traj(p, xs, jnp.zeros(2 * n, dt))
        f = jax.vmap(lambda h, x: lstm_forget_gate(p, h, x))(hs, xs)

        def dcdc(h, x):
            return jax.jacfwd(lambda c: lstm_step(p, jnp.concatenate([c, h[n:]]), x)[:n])(h[:n])

        jac = jax.vmap(dcdc)(hs, xs)  # [t, n, n]
        err = jnp.max(jnp.abs(jac - jax.vmap(jnp.diag)(f)))
        err_id = jnp.max(jnp.abs(jnp.eye(n, dtype=dt)[None] - jax.vmap(jnp.diag)(f)))
        a = (jnp.log(f) - jnp.log1p(-f) - bf).ravel()  # gate input without b_f
        c = a - jnp.mean(a)
        v = jnp.mean(c**2)
        k3, k4 = jnp.mean(c**3) / v**1.5, jnp.mean(c**4) / v**2 - 3.0  # standardised cumulants
        pred = th.lstm_forget_log_rate(bf, v).astype(dt)
        # Edgeworth: E g(a) - E g(G) ~ k3 v^1.5/6 E g3 + k4 v^2/24 E g4 for g = log sigma,
        # with |g3| = |sigma''| <= 1/(6 sqrt 3) and |g4| = |sigma'''| <= 1/8
        edge = jnp.abs(k3) * v**1.5 / (6 * 6 * math.sqrt(3)) + jnp.abs(k4) * v**2 / (24 * 8)
        return err, err_id, jnp.mean(jnp.log(f)), pred, edge

    def member(k):
        kp, kx = jax.random.split(k)
        return [one(init_lstm(kp, n, d, forget_bias=bf, dtype=dt), kx, jnp.asarray(bf, dt)) for bf in (0.0, 3.0)]

    # One draw per chunk of the ensemble. LSTMCell draws four orthogonal recurrent kernels: four
    # independent QR factorisations. Vmapped over draws they become four *batched* LAPACK calls
    # (geqrf, orgqr) that XLA:CPU runs concurrently; jaxlib 0.10's batched LAPACK kernels split
    # the batch over XLA's intra-op pool (``jax::ParallelBatchMap``) and block the calling pool
    # thread until the pieces are done. With as many such calls in flight as pool threads (2 on a
    # 2-core machine) every worker waits and none runs the pieces: a deadlock (futex wait, no
    # CPU), which hung S17 at ``--full`` (N = 64, 32 draws). A batch of 1 runs inline.
    (err, err_id, r0, p0, e0), (_, _, r3, p3, e3) = member_values(member, key, draws, full=False, chunk_size=1)
    rows = [
        Comparison(
            label=f"Flax LSTMCell N={n}, T={t}: max |∂c_t/∂c_(t−1) − diag(f_t)| (autodiff)",
            prediction=0.0,
            estimate=jnp.max(err),
            se=0.0,
            n=draws,
            planted=_f(jnp.min(err_id)),
            bias=_eps(),
            note="exact; planted: ∂c_t/∂c_(t−1) = I (the forget-gate-free carousel), whose "
            "statistic would be max|1 − f|",
        )
    ]
    resid = estimate((r3 - r0) - (p3 - p0))
    naive = math.log(1 / (1 + math.exp(-3.0))) - math.log(0.5)
    rows.append(
        Comparison(
            label=f"b_f: 0 → 3, N={n}: measured − predicted shift of the mean per-step log f_t "
            "(cell-path decay rate), per draw",
            prediction=0.0,
            estimate=resid.mean,
            se=resid.se,
            n=draws,
            planted=_f(jnp.mean(naive - (p3 - p0))),
            bias=_f(jnp.mean(e0 + e3)),
            note=f"prediction per draw: E log σ(b_f + √v z) at the measured variance v of the gate's "
            f"other input (mean predicted shift {_f(jnp.mean(p3 - p0)):.4f}); bias: Edgeworth "
            "bound from the measured skewness and kurtosis of that input; planted: "
            "log σ(3) − log σ(0), the bias alone, ignoring the input's spread",
        )
    )
    return rows


# --- S14: gradient clipping in a real RNN training run ---------------------------------


def _relu_rnn_loss(p, xs, y):
    def body(h, x):
        return jax.nn.relu(jnp.matmul(p["w"], h, precision=_HI) + p["u"] * x), None

    h, _ = jax.lax.scan(body, jnp.zeros(p["w"].shape[0], xs.dtype), xs)
    return (jnp.dot(p["v"], h, precision=_HI) - y) ** 2


def _train(key, clip_norm, n, t, steps, lr, batch, gain):
    """SGD on 'recall x_1 after t steps' with a ReLU RNN; clip_norm = inf means no clipping."""
    dt = _dt()
    kw, ku, kv, kd = jax.random.split(key, 4)
    p = {
        "w": recurrent_matrix(kw, n, gain=gain, dtype=dt),
        "u": jax.random.normal(ku, (n,), dt),
        "v": jax.random.normal(kv, (n,), dt) / math.sqrt(n),
    }
    opt = optax.chain(optax.clip_by_global_norm(clip_norm), optax.sgd(lr))
    state = opt.init(p)

    def loss(p, k):
        xs = jax.random.normal(k, (batch, t), dt)
        return jnp.mean(jax.vmap(lambda x: _relu_rnn_loss(p, x, x[0]))(xs))

    def body(carry, k):
        p, state = carry
        val, g = jax.value_and_grad(loss)(p, k)
        upd, state = opt.update(g, state, p)
        return (optax.apply_updates(p, upd), state), (val, optax.tree.norm(upd), optax.tree.norm(g))

    _, (vals, un, gn) = jax.lax.scan(body, (p, state), jax.random.split(kd, steps))
    return vals, un, gn


@claim(
    id="S14",
    title="Gradient clipping by global norm tames exploding RNN gradients",
    statement="Clipping the gradient to global norm c bounds every update by η c and keeps "
    "training of an RNN with exploding gradients from blowing up.",
    source="seeds (S14); Pascanu, Mikolov & Bengio (2013), Algorithm 1 (optax.clip_by_global_norm)",
    area="lyapunov",
)
def _s14(key, full):
    n, t, steps, lr, c, batch, seeds, gain = (
        (32, 30, 300, 0.01, 1.0, 32, 32, 1.5) if full else (16, 20, 60, 0.01, 1.0, 16, 12, 1.5)
    )
    dt = _dt()
    # one run per member (fold_in keys), clipped and unclipped from the same initialisation and batches
    clips = jnp.asarray([c, jnp.inf], dt)
    vals, upds, grads = member_values(
        lambda k: jax.vmap(lambda cn: _train(k, cn, n, t, steps, lr, batch, gain))(clips), key, seeds, full
    )
    (v_c, u_c, g_c), (v_u, g_u) = (vals[:, 0], upds[:, 0], grads[:, 0]), (vals[:, 1], grads[:, 1])
    desc = f"ReLU RNN N={n}, gain {gain}, T={t}, SGD η={lr}, {steps} steps, {seeds} runs"
    gmax = _f(jnp.nanmax(jnp.where(jnp.isfinite(g_u), g_u, jnp.nan)))
    rows = [
        Comparison(
            label=f"{desc}, clip c={c}: max update norm ‖Δθ‖",
            prediction=lr * c,
            estimate=jnp.max(u_c),
            se=0.0,
            n=seeds,
            kind="upper",
            planted=lr * c / 2,
            rtol=1e-6,
            note=f"bound η c (optax.clip_by_global_norm then sgd); pre-clip gradient norms reach "
            f"{_f(jnp.max(g_c)):.3g}, so clipping is active; planted: η c/2",
        )
    ]
    ok_c = jnp.all(jnp.isfinite(v_c), axis=1) & (jnp.max(v_c, axis=1) < jnp.inf)
    ok_u = jnp.all(jnp.isfinite(v_u), axis=1)
    pc = _f(jnp.mean(ok_c))
    fin_last = jnp.where(ok_c, jnp.log(jnp.mean(v_c[:, -10:], axis=1)), jnp.nan)
    rows.append(
        Comparison(
            label=f"{desc}: fraction of clipped runs whose training loss stays finite",
            prediction=1.0,
            estimate=pc,
            se=math.sqrt(pc * (1 - pc) / seeds),
            n=seeds,
            planted=_f(jnp.mean(ok_u)),
            note=f"measured: every step's mini-batch loss finite. Unclipped (same seeds, same "
            f"batches): {int(jnp.sum(~ok_u))}/{seeds} runs reach inf/NaN (largest finite "
            f"gradient norm {gmax:.3g}); clipped median final log-loss "
            f"{_f(jnp.nanmedian(fin_last)):.3g}. Planted: clipping changes nothing (the "
            "unclipped fraction)",
        )
    )
    return rows
