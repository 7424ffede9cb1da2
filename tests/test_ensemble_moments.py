"""Streamed ensemble moments: stable variance (Chan/Pébay merges), skewness, kurtosis, tail values.

Issue 13 item 4: the variance was E[x²] − E[x]², which returned SE = 0 for 1e9 + N(0, 1). The
references here are NumPy/SciPy on the kept samples, in float64.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import vgtheory as vg
from vgtheory import _ensemble, _moments


@pytest.mark.parametrize("base,spread", [(1e9, 1.0), (1e5, 1e-5)])
def test_large_mean_small_spread_se(base, spread):
    """The 1e9 + N(0, 1) (and 1e5 + 1e-5 N(0, 1)) float64 ensemble, n = 1000: SE within 15 % of σ/√n."""
    n = 1000
    r = vg.ensemble(
        lambda k: base + spread * jax.random.normal(k, (), jnp.float64),
        jax.random.key(0),
        n,
        chunk_size=96,
        keep_samples=True,
    )
    assert abs(float(r.se) / (spread / np.sqrt(n)) - 1) < 0.15
    x = np.asarray(r.samples, np.float64)
    ref = np.std(x - base, ddof=1) / np.sqrt(n)  # shifted two-pass reference, no cancellation
    np.testing.assert_allclose(r.se, ref, rtol=1e-6)
    np.testing.assert_allclose(r.mean - base, np.mean(x - base), atol=4 * np.spacing(base))  # a few ulp of the mean


def test_merge_matches_one_pass_moments():
    """Merging chunk records in any split gives the moments of the whole sample."""
    rng = np.random.default_rng(0)
    x = 3.0 + rng.lognormal(0.0, 1.0, size=(257, 3))
    whole = _moments.partial_sums([x])[0]
    for cuts in ([1, 2, 100], [128], [7 * i for i in range(1, 36)]):
        sums = _moments.Sums()
        for part in np.split(x, cuts):
            sums.add([part])
        merged = sums.s[0]
        np.testing.assert_allclose(merged[:8], whole[:8], rtol=1e-10, atol=1e-12)
        np.testing.assert_array_equal(merged[8:], whole[8:])  # the largest |x|: exact
    d = x - x.mean(0)
    np.testing.assert_allclose(whole[1:4], [(d**2).sum(0), (d**3).sum(0), (d**4).sum(0)], rtol=1e-10)


def test_tail_diagnostics_match_scipy(key):
    def fn(k):
        return {"a": jax.random.normal(k), "b": jnp.exp(2.0 * jax.random.normal(k, (2,)))}

    r = vg.ensemble(fn, key, 300, chunk_size=7, keep_samples=True)
    for name in ("a", "b"):
        x = np.asarray(r.samples[name], np.float64)
        np.testing.assert_allclose(r.skewness[name], stats.skew(x), rtol=1e-9)
        np.testing.assert_allclose(r.kurtosis[name], stats.kurtosis(x, fisher=False), rtol=1e-9)
        top = -np.sort(-np.abs(x), axis=0)[: _ensemble.TOP]
        np.testing.assert_array_equal(r.top[name], np.moveaxis(top, 0, -1))
        np.testing.assert_allclose(r.top_share[name], top.sum(0) / np.abs(x).sum(0), rtol=1e-12)
    assert r.top["b"].shape == (2, _ensemble.TOP)


def test_constant_members_and_short_ensembles():
    r = vg.ensemble(lambda k: jnp.float32(2.5), jax.random.key(0), 5)
    assert float(r.se) == 0.0 and float(r.mean) == 2.5
    assert np.isnan(r.skewness) and np.isnan(r.kurtosis)  # undefined, not a number that looks fine
    assert float(r.top[-1]) == 0.0 and float(r.top[0]) == 2.5  # fewer members than TOP: 0-padded


def test_old_checkpoint_format_is_refused(tmp_path, key):
    path = tmp_path / "old.npz"
    np.savez(path, tag="x", n=10, chunks_done=1, leaf0=np.zeros((5,)))
    with pytest.raises(ValueError, match="checkpoint.*format 1"):
        vg.ensemble(lambda k: jax.random.normal(k), key, 20, chunk_size=10, checkpoint=str(path))
