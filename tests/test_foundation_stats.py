"""Statistics, verdict rules, streaming ensembles (chunking, sharding, resume)."""

import dataclasses
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import vgtheory as vg
from vgtheory import _ensemble
from vgtheory._claims import Comparison


def test_estimate_matches_numpy():
    x = np.random.default_rng(0).normal(size=(100, 3))
    e = vg.estimate(x)
    np.testing.assert_allclose(e.mean, x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(e.se, x.std(0, ddof=1) / 10, rtol=1e-12)


def test_variance_estimate_se_is_calibrated():
    """The SE of the sample variance matches its spread over repeated experiments."""
    rng = np.random.default_rng(1)
    reps = np.array([[*vg.variance_estimate(rng.exponential(size=400))[:2]] for _ in range(400)])
    assert abs(reps[:, 1].mean() / reps[:, 0].std() - 1) < 0.15


def test_bonferroni_k():
    assert abs(vg.bonferroni_k(0.05, 1) - 1.959964) < 1e-5
    assert 3.70 < vg.bonferroni_k(0.01, 50) < 3.74


def test_verdicts():
    c = Comparison(label="x", prediction=1.0, estimate=1.1, se=0.05, n=100, planted=1.5)
    assert c.verdict(4.0) == "confirmed" and c.planted_rejected(4.0)
    assert Comparison(label="x", prediction=1.0, estimate=1.5, se=0.05, n=100, planted=1.1).verdict(4.0) == "refuted"
    assert (
        Comparison(label="x", prediction=1.0, estimate=1.1, se=0.05, n=100, planted=1.2).verdict(4.0) == "inconclusive"
    )  # no power
    assert (
        Comparison(label="x", prediction=0.0, estimate=-3.0, se=0.0, n=1, planted=-4.0, kind="upper").verdict(4.0)
        == "confirmed"
    )
    assert (
        Comparison(label="x", prediction=0.0, estimate=0.5, se=0.0, n=1, planted=1.0, kind="upper").verdict(4.0)
        == "refuted"
    )
    assert (
        Comparison(label="x", prediction=1.0, estimate=float("nan"), se=0.1, n=10, planted=2.0).verdict(4.0)
        == "inconclusive"
    )
    with pytest.raises(ValueError, match="kind"):
        Comparison(label="x", prediction=1.0, estimate=1.0, se=0.1, n=10, planted=2.0, kind="two-sided")


def test_comparison_is_keyword_only():
    # thirteen fields in a fixed order: a positional call could swap se and n without any error
    with pytest.raises(TypeError):
        Comparison("x", 1.0, 1.1, 0.05, 100, 1.5)  # pyright: ignore[reportCallIssue]
    with pytest.raises(TypeError):
        Comparison("x", prediction=1.0, estimate=1.1, se=0.05, n=100, planted=1.5)  # pyright: ignore[reportCallIssue]
    c = Comparison(label="x", prediction=1.0, estimate=1.1, se=0.05, n=100, planted=1.5)
    assert dataclasses.replace(c, estimate=1.0).estimate == 1.0 and dataclasses.replace(c, estimate=1.0).label == "x"


def _fn(k):
    return {"a": jax.random.normal(k), "b": jnp.exp(jax.random.normal(k, (2,)))}


def test_ensemble_statistics_and_chunk_invariance(key):
    r1 = vg.ensemble(_fn, key, 300, chunk_size=7, keep_samples=True)
    r2 = vg.ensemble(_fn, key, 300, chunk_size=300)
    np.testing.assert_allclose(r1.mean["b"], r2.mean["b"], rtol=1e-13)  # same keys whatever the chunking
    np.testing.assert_allclose(r1.se["a"], np.std(r1.samples["a"], ddof=1) / np.sqrt(300), rtol=1e-9)
    np.testing.assert_allclose(r1.log_mean["b"], np.log(r1.samples["b"]).mean(0), rtol=1e-9)
    assert r1.n == 300
    assert abs(r1.mean["a"]) < 4 * r1.se["a"]


def test_ensemble_resumes_after_interruption(key, tmp_path, monkeypatch):
    path = str(tmp_path / "ck.npz")
    full = vg.ensemble(_fn, key, 100, chunk_size=10)
    calls = {"n": 0}
    real_add = _ensemble._Sums.add

    def flaky_add(self, chunk):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return real_add(self, chunk)

    monkeypatch.setattr(_ensemble._Sums, "add", flaky_add)
    with pytest.raises(KeyboardInterrupt):
        vg.ensemble(_fn, key, 100, chunk_size=10, checkpoint=path)
    monkeypatch.setattr(_ensemble._Sums, "add", real_add)
    assert os.path.exists(path)
    resumed = vg.ensemble(_fn, key, 100, chunk_size=10, checkpoint=path)
    np.testing.assert_allclose(resumed.mean["b"], full.mean["b"], rtol=1e-12)
    assert resumed.n == 100
    with pytest.raises(ValueError, match="checkpoint"):
        vg.ensemble(_fn, key, 90, chunk_size=10, checkpoint=path)


def test_sharded_ensemble_identical_to_single_device(tmp_path):
    """8 CPU devices give the same numbers as 1 (same keys, float64 host accumulation)."""
    script = textwrap.dedent("""
        import jax, numpy as np, vgtheory as vg
        jax.config.update("jax_enable_x64", True)
        def fn(k):
            p = vg.init_mlp(k, [16] * 5, sigma_w2=1.5)
            x = jax.numpy.ones(16, jax.numpy.float32)
            return vg.gradient_flow(p, x, "tanh", x / 4.0).log_sq_norms
        r = vg.ensemble(fn, jax.random.key(3), 100, chunk_size=24)
        print(jax.local_device_count(), repr(np.asarray(r.mean).tolist()), repr(np.asarray(r.se).tolist()))
    """)
    outs = []
    for ndev in (1, 8):
        env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={ndev}", JAX_PLATFORMS="cpu")
        res = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stderr[-2000:]
        outs.append(res.stdout.split(" ", 1))
    assert outs[0][0] == "1" and outs[1][0] == "8"
    assert outs[0][1] == outs[1][1]


def test_auto_chunk_fits_budget_and_streams_large_ensembles(key):
    """An ensemble 100× larger than the memory budget allows at once runs in bounded chunks."""
    n = 64

    def fn(k):
        m = jax.random.normal(k, (n, n), jnp.float32)
        return jnp.linalg.norm(jnp.matmul(m, m, precision="highest"))

    per_member = 3 * n * n * 4
    budget = 40 * per_member
    chunk = _ensemble.auto_chunk_size(fn, key, 10**6, budget)
    assert 8 <= chunk <= 60, chunk
    r = vg.ensemble(fn, key, 100 * chunk, chunk_size="auto", memory_budget=budget)
    assert r.n == 100 * chunk and np.isfinite(r.mean)
    with pytest.raises(ValueError, match="memory_budget"):
        _ensemble.auto_chunk_size(fn, key, 10, -1)
