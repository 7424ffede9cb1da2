"""vg.diagnose and `vgtheory diagnose`: numbers against direct jax.grad / jax.jacrev / dense
Hessians on a small model; the CLI on the example factories (linen, nnx, Flax LSTM) writes
diagnosis.json and report.html; factory errors exit non-zero with a clear message."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import vgtheory as vg

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Tiny(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = jnp.tanh(nn.Dense(6)(x))
        x = jnp.tanh(nn.Dense(5)(x))
        return nn.Dense(3)(x)


@pytest.fixture(scope="module")
def tiny():
    x = jax.random.normal(jax.random.key(1), (4, 3), jnp.float64)
    model = Tiny()
    init = lambda k: jax.tree.map(lambda a: a.astype(jnp.float64), model.init(k, x))
    problem = vg.Problem(model, x, init=init, name="tiny")
    key = jax.random.key(7)
    d = vg.diagnose(problem, key, members=3, hessian_members=1, hessian_k=2, train_steps=0, progress=False)
    yield model, x, init, key, d


def _loss(model, x):
    return lambda v: 0.5 * jnp.sum(model.apply(v, x) ** 2) / x.shape[0]


def test_gradient_norms_equal_jax_grad(tiny):
    model, x, init, key, d = tiny
    per_member = []
    for i in range(3):
        v = init(jax.random.fold_in(key, i))
        g = jax.grad(lambda p: _loss(model, x)({"params": p}))(v["params"])
        leaves = jax.tree_util.tree_flatten_with_path(g)[0]
        per_member.append([math.log(float(jnp.sum(a**2))) for _, a in leaves])
    want = np.mean(per_member, axis=0)
    assert d.measurements["leaves"] == [
        "Dense_0/bias",
        "Dense_0/kernel",
        "Dense_1/bias",
        "Dense_1/kernel",
        "Dense_2/bias",
        "Dense_2/kernel",
    ]
    np.testing.assert_allclose(d.measurements["params"]["mean"], want, rtol=1e-10, atol=1e-10)


def test_output_module_gradient_is_the_output(tiny):
    """L = ½‖y‖²/B: ∂L/∂y = y/B, so the last module's entry is log‖y‖² − 2 log B."""
    model, x, init, key, d = tiny
    want = np.mean(
        [
            math.log(float(jnp.sum(model.apply(init(jax.random.fold_in(key, i)), x) ** 2))) - 2 * math.log(x.shape[0])
            for i in range(3)
        ]
    )
    assert d.measurements["modules"][-1] == "Dense_2"
    assert d.measurements["activations"]["mean"][-1] == pytest.approx(want, rel=1e-10)


def test_jacobian_spectrum_equals_jacrev_svd(tiny):
    model, x, init, key, d = tiny
    logs = []
    for i in range(3):
        v = init(jax.random.fold_in(key, i))
        jac = jax.jacrev(lambda z: model.apply(v, z[None])[0])(x[0])
        logs.append(np.log(np.linalg.svd(np.asarray(jac), compute_uv=False)))
    np.testing.assert_allclose(d.measurements["jacobian"]["log_sv"]["mean"], np.mean(logs, axis=0), rtol=1e-8)
    assert d.measurements["jacobian"]["rank"]["mean"] == 3.0


def test_hessian_equals_dense(tiny):
    model, x, init, key, d = tiny
    v = init(jax.random.fold_in(key, 0))
    loss = lambda p: _loss(model, x)({"params": p})
    ev = np.linalg.eigvalsh(np.asarray(vg.dense_hessian(loss, v["params"])))
    h = d.measurements["hessian"]
    np.testing.assert_allclose(h["top"]["mean"], ev[::-1][:2], rtol=1e-6)
    np.testing.assert_allclose(h["bottom"]["mean"], ev[:2], rtol=1e-6, atol=1e-9)
    # Hutch++ (120 matvecs for 77 parameters: not exact) within 4 of its own standard errors
    se = h["trace_estimator_se"][0]
    assert 0 < se and abs(h["trace"]["mean"] - float(ev.sum())) <= 4 * se
    assert h["lr_max_gd"] == pytest.approx(2 / ev[-1], rel=1e-6)


def test_every_finding_has_a_number(tiny):
    *_, d = tiny
    assert d.findings
    for f in d.findings:
        assert any(ch.isdigit() for ch in f["text"]), f
        assert f["evidence"], f


def test_bad_problem_names_the_field():
    with pytest.raises(TypeError, match="^problem:"):
        vg.diagnose("not a problem", jax.random.key(0))
    with pytest.raises(TypeError, match="^init:"):
        vg.diagnose(vg.Problem(lambda p, x: x, jnp.ones(3)), jax.random.key(0))
    with pytest.raises(ValueError, match="^members:"):
        vg.diagnose(vg.Problem(Tiny(), jnp.ones((2, 3))), jax.random.key(0), members=1)


def _cli(*args, timeout=600):
    env = {**os.environ, "PYTHONPATH": ROOT}
    return subprocess.run(
        [sys.executable, "-m", "vgtheory", "diagnose", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=env,
    )


@pytest.mark.parametrize("factory", ["diagnose_linen_cnn", "diagnose_nnx_mlp", "diagnose_flax_lstm"])
def test_cli_writes_json_and_html(factory, tmp_path):
    out = tmp_path / factory
    r = _cli(f"examples/{factory}.py:make", "--out", str(out), "--smoke", "--members", "3", "--no-cache")
    assert r.returncode == 0, r.stderr[-3000:]
    data = json.loads((out / "diagnosis.json").read_text())
    assert data["config"]["smoke"] is True and data["config"]["members"] == 3
    assert data["environment"]["jax"] == jax.__version__
    assert data["findings"] and all(f["text"] for f in data["findings"])
    html = (out / "report.html").read_text()
    assert html.startswith("<!doctype html>") and "data:image/png;base64," in html
    assert "http://" not in html and "https://" not in html  # self-contained
    if factory == "diagnose_flax_lstm":
        assert "lyapunov" in data["measurements"]["recurrent"]
    if factory == "diagnose_nnx_mlp":
        assert data["measurements"]["mean_field"]["measured"] is not None
    shot = tmp_path / "shot.png"
    chromium = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
    if chromium:
        s = subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--window-size=1200,2400",
                f"--screenshot={shot}",
                "file://" + str(out / "report.html"),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert shot.is_file() and shot.stat().st_size > 10000, s.stderr[-2000:]


@pytest.mark.parametrize(
    "spec, message",
    [
        ("examples/nope.py:make", "not found"),
        ("examples/diagnose_linen_cnn.py:nope", "no callable 'nope'"),
        ("no_colon", "expected MODULE_OR_PATH:FACTORY"),
        ("{tmp}/bad.py:make", "returned int; expected a vg.Problem"),
        ("{tmp}/bad.py:broken", "calling {tmp}/bad.py:broken failed: ZeroDivisionError"),
    ],
)
def test_cli_factory_errors_exit_nonzero(spec, message, tmp_path):
    (tmp_path / "bad.py").write_text("def make(smoke=False):\n    return 3\n\ndef broken():\n    return 1 / 0\n")
    spec, message = spec.format(tmp=tmp_path), message.format(tmp=tmp_path)
    r = _cli(spec, "--out", str(tmp_path / "o"), "--smoke", timeout=120)
    assert r.returncode == 2
    assert message in r.stderr, r.stderr


# ----------------------------------------------------------------------------- verdicts that can fail
class Stack(nn.Module):
    """``depth`` × (Dense(width), activation), weights N(0, σ_w²/fan-in), biases N(0, σ_b²)."""

    depth: int
    width: int
    sigma_w2: float
    sigma_b2: float
    act: str = "tanh"
    dead: int = -1  # this layer's weights and bias are zero: no gradient reaches below it

    @nn.compact
    def __call__(self, x):
        for i in range(self.depth):
            zero = i == self.dead
            w = nn.initializers.zeros if zero else nn.initializers.variance_scaling(self.sigma_w2, "fan_in", "normal")
            b = (
                nn.initializers.zeros
                if zero or self.sigma_b2 == 0
                else nn.initializers.normal(math.sqrt(self.sigma_b2))
            )
            x = getattr(jax.nn, self.act)(nn.Dense(self.width, kernel_init=w, bias_init=b)(x))
        return x


def _stack_diagnosis(hint_sigma_w2=None, members=16, **stack):
    model = Stack(**stack)
    x = jax.random.normal(jax.random.key(1), (8, stack["width"]), jnp.float64)
    hint = None
    if hint_sigma_w2 is not None:  # skip the first 4 layers: the length map's transient to q*
        hint = vg.MeanFieldHint(
            stack.get("act", "tanh"),
            hint_sigma_w2,
            stack["sigma_b2"],
            width=stack["width"],
            modules=tuple(f"Dense_{i}" for i in range(4, stack["depth"])),
        )
    return vg.diagnose(
        vg.Problem(model, x, mean_field=hint),
        jax.random.key(0),
        members=members,
        hessian_members=2,
        hessian_k=1,
        train_steps=0,
        jacobian_max=stack["width"],
        progress=False,
    )


def _finding(d, topic):
    (f,) = [f for f in d.findings if f["topic"] == topic]
    return f


@pytest.mark.parametrize("hint, verdict", [(1.5, "consistent"), (2.0, "inconsistent"), (1.2, "inconsistent")])
def test_mean_field_row_accepts_the_truth_and_rejects_planted_hints(hint, verdict):
    """tanh, σ_w² = 1.5, σ_b² = 0.05, width 128, 16 layers, 16 inits: the measured per-layer
    rate (jackknife SE) against log χ₁ within 3·SE + 1/width. Hints of σ_w² = 2.0 or 1.2
    (χ₁ = 1.05 or 0.85 instead of 0.94) must be called inconsistent."""
    d = _stack_diagnosis(hint, depth=16, width=128, sigma_w2=1.5, sigma_b2=0.05)
    f = _finding(d, "mean field")
    assert f["verdict"] == verdict, f["text"]


@pytest.mark.parametrize(
    "act, sigma_w2, verdict", [("sigmoid", 1.0, "vanishing"), ("tanh", 1.0, "stable"), ("relu", 4.0, "exploding")]
)
def test_gradient_flow_verdicts(act, sigma_w2, verdict):
    """Per layer ‖∂L/∂z‖² changes by χ₁: sigmoid at σ_w² = 1 has χ₁ ≈ 0.06 (vanishing), tanh at
    the σ_b = 0 critical point χ₁ = 1 (stable over 12 layers), ReLU at σ_w² = 4 χ₁ = 2 (exploding)."""
    d = _stack_diagnosis(None, members=4, depth=12, width=64, sigma_w2=sigma_w2, sigma_b2=0.0, act=act)
    assert _finding(d, "gradient flow")["verdict"] == verdict, _finding(d, "gradient flow")["text"]
    assert d.nonfinite == 0


def test_dead_layer_is_a_finding_and_flagged():
    """A layer with zero weights (and bias) passes no gradient below it: log‖g‖² = −∞ there,
    reported as a "dead" finding naming the modules, and counted in ``nonfinite``. (tanh with
    biases, so that the layers above it still carry a signal and a gradient.)"""
    d = _stack_diagnosis(None, members=3, depth=6, width=16, sigma_w2=1.0, sigma_b2=0.05, dead=3)
    f = _finding(d, "gradient flow")
    assert f["verdict"] == "dead", f["text"]
    assert set(f["evidence"]["modules"]) == {"Dense_0", "Dense_1", "Dense_2"}
    assert d.nonfinite > 0
