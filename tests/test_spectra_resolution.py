"""Resolution flags of log-domain spectra (issue 13 item 3): values at the accumulated
rounding floor of an exactly rank-deficient product are flagged, not reported as spectrum.

References are independent: mpmath at 200 digits on the very factors the algorithm sees
(their exact product), analytic values for orthogonal × scale products.
"""

import math

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp
import mpmath as mp
import numpy as np
import pytest

import vgtheory as vg

_jit_lsv = jax.jit(vg.log_singular_values)


def mp_log_sv(factors, dps=200):
    """log σ_i of the exact product of the given (float) factors; −inf-like values for zeros."""
    with mp.workdps(dps):
        P = mp.eye(factors.shape[1])
        for f in factors:
            P = mp.matrix(np.asarray(f, np.float64).tolist()) * P
        s = mp.svd_r(P, compute_uv=False)
        return np.array(sorted((float(mp.log(v)) if v > 0 else -np.inf for v in s), reverse=True))


def _rank_deficient(rng, L, n):
    f = rng.standard_normal((L, n, n)) / np.sqrt(n)
    for m in f:
        m[rng.integers(n)] = 0.0  # one zeroed row: rank n − 1, and so is the product
    return f


def _check_resolved_match(r, ref, tol, L):
    """Every resolved value equals the reference within tol + L·e^{−margin}.

    margin = log_sv − log_floor ≥ min over steps of log(|R_l,ii|/φ_l,i), and a per-step
    relative error ≤ e^{−m} moves the log by ≲ e^{−m}: at most L·e^{−margin} in all.
    """
    ls = np.asarray(r.log_sv, np.float64)
    res = np.asarray(r.resolved)
    margin = ls - np.asarray(r.log_floor, np.float64)
    assert np.all(margin[res] > 0)
    err = np.abs(ls - ref)[res]
    bound = tol + L * np.exp(-margin[res])
    assert np.all(err <= bound), (err, bound)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("L", [1, 2, 3])
def test_rank_deficient_products_are_flagged(L, dtype):
    n = 6
    rng = np.random.default_rng(100 + L)
    f = _rank_deficient(rng, L, n).astype(dtype)
    ref = mp_log_sv(f)  # exact product of these factors: σ_n = 0
    r = _jit_lsv(jnp.asarray(f))
    res = np.asarray(r.resolved)
    assert res.tolist() == [True] * (n - 1) + [False], (np.asarray(r.log_sv), np.asarray(r.log_floor))
    assert ref[-1] < -300  # the true bottom value: the computed one is rounding
    assert float(r.log_sv[-1]) <= float(r.log_floor[-1])
    _check_resolved_match(r, ref, 2e-4 if dtype == np.float32 else 1e-11, L)
    # planted: the same factors without zeroed rows are resolved everywhere (flags not always on)
    g = rng.standard_normal((L, n, n)) / np.sqrt(n)
    r2 = _jit_lsv(jnp.asarray(g.astype(dtype)))
    assert np.asarray(r2.resolved).all()
    _check_resolved_match(r2, mp_log_sv(g.astype(dtype)), 2e-4 if dtype == np.float32 else 1e-11, L)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_deep_orthogonal_products_have_no_false_flags(dtype):
    n, L = 8, 1000
    rng = np.random.default_rng(5)
    q = np.linalg.qr(rng.standard_normal((L, n, n)))[0]
    s = np.exp(rng.uniform(-0.5, 0.6, L))
    f = (q * s[:, None, None]).astype(dtype)
    r = _jit_lsv(jnp.asarray(f))
    assert np.asarray(r.resolved).all() and bool(r.finite)
    want = np.sum(np.log(s.astype(dtype).astype(np.float64)))  # every σ is Π s_l exactly
    np.testing.assert_allclose(np.asarray(r.log_sv, np.float64), want, atol=2e-3 if dtype == np.float32 else 1e-9)
    # margin: −log(2ε√n) per factor at worst, so ≈ 14 nats in float32, ≈ 34 in float64
    margin = np.asarray(r.log_sv - r.log_floor)
    assert margin.min() > (10 if dtype == np.float32 else 30)


def _pre_ln_block(p, x):
    """Pre-LN attention block without the skip: SA(LN(X)) (LN removes each token's mean)."""
    return vg.self_attention(p[0], p[1], p[2], vg.layer_norm(x))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pre_ln_attention_block_without_skip_is_flagged(dtype):
    T, d, L = 3, 4, 2
    params = vg.init_attention(jax.random.key(3), d, L, dtype=jnp.float64)
    x = jax.random.normal(jax.random.key(4), (T, d), jnp.float64)
    jacs = []
    for l in range(L):
        p = tuple(w[l] for w in params)
        f = lambda z: _pre_ln_block(p, z.reshape(T, d)).reshape(-1)
        jacs.append(np.asarray(jax.jacfwd(f)(x.reshape(-1))))
        x = _pre_ln_block(p, x)
    f = np.stack(jacs).astype(dtype)
    r = _jit_lsv(jnp.asarray(f))
    res = np.asarray(r.resolved)
    # each token's all-ones direction is an exact null direction of LN: at least T values
    # at the floor (the given factors are rounded, so mpmath sees ~ε-sized values there)
    assert (~res).sum() >= T and not res[-T:].any()
    assert res[: T * d - 2 * T].all()  # the LN radial direction (stretch ~eps_LN) may go either way
    _check_resolved_match(r, mp_log_sv(f), 2e-4 if dtype == np.float32 else 1e-10, L)


def test_scan_form_carries_the_same_flags():
    rng = np.random.default_rng(9)
    f = jnp.asarray(_rank_deficient(rng, 3, 5))
    _, r = jax.jit(lambda f: vg.log_singular_values_scan(lambda c, m: (c, m), 0, f))(f)
    r2 = _jit_lsv(f)
    assert np.asarray(r.resolved).tolist() == np.asarray(r2.resolved).tolist() == [True] * 4 + [False]
    np.testing.assert_allclose(np.asarray(r.log_floor), np.asarray(r2.log_floor), rtol=1e-12)


def test_one_singular_factor_inside_a_long_product():
    """A single rank-deficient factor among 200 healthy ones: the per-step test catches it
    (a scalar floor Σ log(ε‖M_l‖) would not: the bottom value sits far above it)."""
    n, L = 4, 200
    rng = np.random.default_rng(2)
    q = np.linalg.qr(rng.standard_normal((L, n, n)))[0] * 1.1
    q[100] = _rank_deficient(rng, 1, n)[0]
    r = _jit_lsv(jnp.asarray(q))
    assert np.asarray(r.resolved).tolist() == [True] * (n - 1) + [False]
    assert float(r.log_sv[-1]) > L * math.log(2.2e-16)  # above the product of per-factor floors
    _check_resolved_match(r, mp_log_sv(q), 1e-9, L)
