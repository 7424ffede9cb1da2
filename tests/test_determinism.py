"""Same key → bit-identical results on the same device, for the main entry points.

Each entry point is run twice from the same key and compared with ``assert_array_equal``; a different key must change the result (the key is really used).
Also: the calibration script's verdict rule is the registry's rule (benchmarks/calibrate.py
rebuilds a ``Comparison`` from each JSON row, skewness and caveat included).
"""

from __future__ import annotations

import functools
import importlib.util
import json
import math
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import vgtheory as vg
from vgtheory._claims import Comparison

F32 = jnp.float32


def _leaves_equal(a, b):
    la, lb = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    assert len(la) == len(lb)
    for x, y in zip(la, lb):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def _differs(a, b) -> bool:
    return any(
        not np.array_equal(np.asarray(x), np.asarray(y), equal_nan=True)
        for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b))
    )


def _mlp_flow(key):
    kw, kx, kg = jax.random.split(key, 3)
    p = vg.init_mlp(kw, [8] * 7, init="gaussian", sigma_w2=1.7, sigma_b2=0.1, dtype=F32)
    x = jax.random.normal(kx, (8,), F32)
    g = jax.random.normal(kg, (8,), F32)
    return p, vg.gradient_flow(p, x, "tanh", g), vg.mlp_jacobian(p, x, "tanh"), vg.layer_jacobians(p, x, "relu")


def _ensemble(key):
    def member(k):
        p = vg.init_mlp(k, [6] * 5, sigma_w2=2.0, dtype=F32)
        return jnp.exp(vg.gradient_flow(p, jnp.ones(6, F32), "relu", jnp.ones(6, F32)).log_sq_norms)

    r = vg.ensemble(member, key, 12, chunk_size=4)
    return r.mean, r.se, r.log_mean, r.n


def _lyapunov(key):
    p = vg.init_rnn(key, 6, gain=1.5, dtype=F32)
    return vg.lyapunov_spectrum(vg.rnn_step, p, 0.1 * jnp.ones(6, F32), steps=60, warmup=10, blocks=4)


def _bptt(key):
    p = vg.init_lstm(key, 4, dtype=F32)
    h0 = vg.initial_state("lstm", 4, F32)
    xs = jax.random.normal(jax.random.fold_in(key, 1), (12, 1), F32)
    return vg.bptt_gradient_norms(vg.lstm_step, p, h0, xs, steps=12)


def _quantum(key):
    return vg.random_circuit_gradients(key, 3, 2, 8)


def _resnet(key):
    p = vg.init_resnet(key, 6, 5)
    x = jnp.linspace(-1.0, 1.0, 6, dtype=F32)
    return vg.resnet_log_gain(p, x, jnp.full(6, 6.0**-0.5, F32), 0.5)


def _attention(key):
    p = vg.init_attention(key, 4, 3)
    x = jax.random.normal(jax.random.fold_in(key, 7), (5, 4), F32)
    return vg.attention_residuals(p, x, "pure")


ENTRY_POINTS = {
    "init_mlp/gradient_flow/mlp_jacobian/layer_jacobians": _mlp_flow,
    "ensemble": _ensemble,
    "lyapunov_spectrum": _lyapunov,
    "bptt_gradient_norms": _bptt,
    "random_circuit_gradients": _quantum,
    "resnet_log_gain": _resnet,
    "attention_residuals": _attention,
}


@pytest.mark.parametrize("name", list(ENTRY_POINTS))
def test_same_key_same_bits(name):
    fn = ENTRY_POINTS[name]
    k = jax.random.key(1234)
    a, b = fn(k), fn(k)
    _leaves_equal(a, b)
    assert _differs(a, fn(jax.random.key(1235))), f"{name}: the key does not change the result"


def test_jit_twice_same_bits():
    """A jitted function called twice returns the same bits (no nondeterministic reductions)."""
    f = jax.jit(lambda k: _mlp_flow(k)[1:])
    k = jax.random.key(5)
    _leaves_equal(f(k), f(k))


@pytest.mark.parametrize("cid", ["S1", "S13.corrected"])
def test_claim_same_seed_same_rows(cid):
    """A (cheap) registered claim gives identical rows for the same seed."""
    from vgtheory._cli import claim_key

    c = vg.all_claims()[cid]
    r1 = c.run(claim_key(3, cid), False)
    r2 = c.run(claim_key(3, cid), False)
    assert [(x.label, x.prediction, x.estimate, x.se) for x in r1] == [
        (x.label, x.prediction, x.estimate, x.se) for x in r2
    ]


# ----------------------------------------------------------------------------- calibrate.py rule
@functools.lru_cache(maxsize=1)
def _calibrate():
    path = pathlib.Path(__file__).parents[1] / "benchmarks" / "calibrate.py"
    spec = importlib.util.spec_from_file_location("vg_calibrate", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


_finite = st.floats(-1e3, 1e3, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(
    pred=_finite,
    est=st.one_of(_finite, st.just(math.nan), st.just(math.inf)),
    planted=_finite,
    se=st.one_of(st.just(0.0), st.floats(1e-6, 10.0)),
    bias=st.floats(0.0, 1.0),
    rtol=st.floats(0.0, 0.1),
    kind=st.sampled_from(["equal", "upper", "lower"]),
    k=st.floats(1.0, 6.0),
    skew=st.one_of(st.just(0.0), st.floats(-30.0, 30.0)),
    n=st.integers(2, 10**5),
    kurt=st.one_of(st.just(0.0), st.floats(1.0, 1e4)),
)
def test_calibrate_rule_matches_registry(pred, est, planted, se, bias, rtol, kind, k, skew, n, kurt):
    cal = _calibrate()
    c = Comparison(
        label="x",
        prediction=pred,
        estimate=est,
        se=se,
        n=n,
        planted=planted,
        bias=bias,
        rtol=rtol,
        kind=kind,
        skewness=skew,
        kurtosis=kurt,
    )
    row = json.loads(
        json.dumps(
            dict(
                label="x",
                prediction=c.prediction,
                estimate=c.estimate,
                se=c.se,
                n=n,
                planted=c.planted,
                bias=c.bias,
                rtol=c.rtol,
                kind=kind,
                skewness=skew,
                caveat="",
                kurtosis=kurt,
            )
        )
    )  # through JSON, as calibrate.py stores rows
    assert cal.holds(row, k, row["prediction"]) == c.holds(k)
    assert cal.row_verdict(row, k) == c.verdict(k)


def test_calibrate_planted_errors_and_intervals():
    cal = _calibrate()
    row = dict(label="log E‖g‖²", prediction=-2.0, planted=-2.5, kind="equal")
    assert cal.planted_values(row, 0.2) == pytest.approx([-2.0 + math.log(1.2), -2.0 + math.log(0.8)])
    row = dict(label="q*", prediction=2.0, planted=2.2, kind="equal")
    assert cal.planted_values(row, 0.05) == pytest.approx([2.1, 1.9])
    row = dict(label="E[J]", prediction=0.0, planted=0.3, kind="equal")  # near 0: planted offset scale
    assert cal.planted_values(row, 0.2) == pytest.approx([0.06, -0.06])
    row = dict(label="bound", prediction=1.0, planted=0.9, kind="upper")  # only the tighter bound
    assert cal.planted_values(row, 0.2) == pytest.approx([0.8])
    lo, hi = cal.clopper_pearson(0, 50)
    assert lo == 0.0 and hi == pytest.approx(1 - 0.025 ** (1 / 50))
    assert cal.binom_tail(0, 50, 1e-4) == 1.0
    assert cal.binom_tail(1, 50, 1e-4) == pytest.approx(1 - (1 - 1e-4) ** 50)
    assert cal.row_nominal("equal", 1.0, 1.959963985) == pytest.approx(0.05, rel=1e-6)
    assert cal.row_nominal("upper", 0.0, 2.0) == 0.0
