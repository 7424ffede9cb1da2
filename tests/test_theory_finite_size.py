"""Finite-size corrections (issue 9): closed forms against the exact Beta law and simulation."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vgtheory import theory
from vgtheory._activations import activation
from vgtheory._norm import norm_mlp_apply
from vgtheory.claims._common import mlp_and_inputs
from vgtheory.theory._mechanisms import gauss_expectation


def test_h2_is_the_beta_law_slope():
    """The 1/B term of the exact Beta law is −h''(1)/B (the identity the derivation uses)."""
    f = activation("tanh").deriv
    h2 = 0.25 * gauss_expectation(lambda z: f(z) * (z**4 - 6 * z * z + 3))
    ef = gauss_expectation(f)
    # centring removes one dimension: B − 1 effective samples; Richardson over two sizes
    s = [(theory.standardized_expectation(f, b) - ef) * (b - 1) for b in (400, 800)]
    assert 2 * s[1] - s[0] == pytest.approx(-h2, rel=2e-3)


def test_first_layer_and_isotropic_limit():
    r = theory.bn_saturation_derivative("tanh", 128, 64, 12)
    assert r.kappa[0] == 1.0 and r.nu[0] == 2.0
    assert r.isotropic == pytest.approx(theory.standardized_expectation(activation("tanh").deriv, 64))
    # layer 1: κ − ν/2 = 0, no correction; then κ grows towards 1/(1 − χ_c²)
    assert r.mean[0] == pytest.approx(r.isotropic, abs=1e-15)
    assert np.all(np.diff(r.kappa) > 0) and r.kappa[-1] < 1 / (1 - 0.931**2)
    # the correction is O(1/n)
    r2 = theory.bn_saturation_derivative("tanh", 256, 64, 12)
    assert (r2.mean[-1] - r2.isotropic) / (r.mean[-1] - r.isotropic) == pytest.approx(0.5, abs=0.06)


@pytest.mark.parametrize("bad", [dict(n=1), dict(batch=2), dict(depth=0), dict(n=3.0)])
def test_bad_sizes(bad):
    kw = dict(n=64, batch=16, depth=3) | bad
    with pytest.raises(ValueError, match=next(iter(bad))):
        theory.bn_saturation_derivative("tanh", **kw)


def test_not_odd_rejected():
    with pytest.raises(ValueError, match="act"):
        theory.bn_saturation_derivative("relu", 64, 16, 3)


def test_against_simulation():
    """Mean tanh'(â) over layers 5–8 of a BN MLP, n = 64, B = 32 (32 draws): the derived
    value is within 4 SE + the stated allowance, the plain Beta law is not."""
    act, n, b, depth, m = activation("tanh"), 64, 32, 8, 32

    def draw(k):
        p, x = mlp_and_inputs(k, n, depth, 16.0, b)
        pre = norm_mlp_apply(p, x, act, norm="batch", eps=0.0).preacts
        return jnp.mean(act.deriv(pre[depth // 2 :]))

    s = np.asarray(jax.jit(jax.vmap(draw))(jax.random.split(jax.random.key(3), m)), np.float64)
    mean, se = s.mean(), s.std(ddof=1) / math.sqrt(m)
    r = theory.bn_saturation_derivative(act, n, b, depth)
    layers = slice(depth // 2, depth)
    pred = float(np.mean(r.mean[layers]))
    bias = theory.bn_saturation_bias(r, layers)
    assert abs(mean - pred) <= 4 * se + bias
    assert abs(mean - r.isotropic) > 4 * se + bias
