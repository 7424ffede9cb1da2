"""Bad input never crashes deep inside XLA and never comes back as a silent NaN.

A registry (``REGISTRY``) holds, for every public function of ``vgtheory`` (every
non-class callable in ``dir(vgtheory)``; a test fails when a new one appears without an
entry), a valid call and its invalid variants. A variant passes when the call either

* raises ``ValueError``/``TypeError`` whose message leads with the offending argument, or
* returns a *flagged* result: a ``finite``/``status``/``converged``/``nonfinite`` field
  saying that something went wrong (value-dependent failures inside jit).

It fails when the call raises anything else (an XLA or NumPy error from deep inside),
raises without leading with the argument, or returns a result with a NaN/inf and no flag, or
silently accepts it. Integer arrays (``mode="int"``) may also be accepted when the result
is finite floating point (an integer has an exact float value). Hypothesis then draws
random wrong shapes, dtypes and hyper-parameter values for the array and scalar slots of
the registry (derandomized so that CI is reproducible; set ``derandomize=False`` locally to explore).

"Leads with the argument" is anchored: by the library's convention a message *starts* with the
argument's name and a colon (``"members: expected an int ≥ 2, got 1."``), or with a
comma-separated list of names when two arguments disagree (``"y, z: expected ..."``); the
variant's argument must be one of those leading names, compared exactly.
"""

from __future__ import annotations

import inspect
import math
from typing import Any, Callable, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vgtheory as vg

F32 = jnp.float32
KEY = jax.random.key(0)
NAN = float("nan")


class Slot(NamedTuple):
    """An array argument for hypothesis: its valid value, the axes whose size is fixed by
    the other arguments (other axes, e.g. a batch or sequence axis, are free) and whether
    its number of dimensions is fixed."""

    valid: Any
    fixed: tuple = (-1,)
    strict_ndim: bool = True


class Case(NamedTuple):
    """A valid call ``call(**{})`` and its overridable arguments.

    call: ``call(**overrides)`` calls the function with valid defaults replaced by
      ``overrides``.
    bad: variant label → (overrides, argument the error must lead with — alternatives as "a|b" —, mode); mode
      "raise" (error or flag) or "int" (error, flag, or a finite float result).
    arrays: argument name → :class:`Slot` (for hypothesis: wrong shapes and dtypes).
    scalars: argument name → kind ("pos", "nonneg", "int_pos", "prob", "real").
    """

    call: Callable[..., Any]
    bad: dict
    arrays: dict = {}
    scalars: dict = {}


def _with(_fn, /, **base):
    """``call(**o)`` = ``_fn(**{**base, **o})``: the valid call with some arguments replaced."""
    return lambda **o: _fn(**{**base, **o})


# ----------------------------------------------------------------------------- fixtures (small)
N = 4
MLP = vg.init_mlp(KEY, [N] * 4, dtype=F32)
X = jnp.linspace(-1.0, 1.0, N, dtype=F32)
G = jnp.ones(N, F32)
XB = jnp.reshape(jnp.linspace(-1.0, 1.0, 3 * N, dtype=F32), (3, N))
RNN = vg.init_rnn(KEY, N, dtype=F32)
LSTM = vg.init_lstm(KEY, N, dtype=F32)
GRU = vg.init_gru(KEY, N, dtype=F32)
RES = vg.init_resnet(KEY, N, 3)
ATT = vg.init_attention(KEY, N, 2)
XT = jnp.reshape(jnp.linspace(-1.0, 1.0, 3 * N, dtype=F32), (3, N))
THETAS = jnp.full((2, 2, 2), 0.3, F32)
STATE = vg.circuit_state(THETAS)
A = jnp.array([[-1.0, 0.5], [0.0, -2.0]], F32)
Y0 = jnp.ones(2, F32)
BLOCK = lambda p, x: x + jnp.tanh(jnp.matmul(p, x, precision="highest"))
BPARAMS = jnp.stack([0.5 * jnp.eye(N, dtype=F32)] * 3)
FLAX = nn.Sequential([nn.Dense(N), jnp.tanh, nn.Dense(2)])
FLAX_VARS = FLAX.init(KEY, X)
ENS = vg.ensemble(lambda k: jax.random.exponential(k, (2,), F32), KEY, 64)
LYA = vg.lyapunov_spectrum(vg.rnn_step, RNN, 0.1 * jnp.ones(N, F32), steps=8, blocks=2)


def _lin_step(y):
    return jnp.matmul(A, y, precision="highest")


SYM = jnp.array(
    [
        [2.0, 0.5, 0.0, 0.1, 0.0, 0.0],
        [0.5, 1.0, 0.2, 0.0, 0.0, 0.0],
        [0.0, 0.2, -1.0, 0.0, 0.3, 0.0],
        [0.1, 0.0, 0.0, 0.5, 0.0, 0.1],
        [0.0, 0.0, 0.3, 0.0, 3.0, 0.0],
        [0.0, 0.0, 0.0, 0.1, 0.0, -2.0],
    ],
    F32,
)
MV = lambda v: jnp.matmul(SYM, v, precision="highest")
V0 = jnp.linspace(0.5, 1.5, 6, dtype=F32)
P3 = jnp.array([1.0, -0.5, 0.25], F32)
LOSS = lambda p: 0.5 * jnp.sum(jnp.array([1.0, 3.0, 0.5], F32) * p**2) + 0.1 * jnp.sum(p**4)
VEC_LOSS = lambda p: p**2
SQ5 = jnp.reshape(jnp.sin(jnp.arange(25.0, dtype=F32)), (5, 5))
TRAJ = jnp.reshape(jnp.linspace(1.0, 0.1, 12, dtype=F32), (4, 3))


REGISTRY: dict[str, Case] = {
    "activation": Case(
        _with(vg.activation, name="leaky_relu", alpha=0.1),
        {
            "unknown name": (dict(name="swish"), "name", "raise"),
            "name not a string": (dict(name=3), "name", "raise"),
            "alpha nan": (dict(alpha=NAN), "alpha", "raise"),
            "alpha negative": (dict(alpha=-0.5), "alpha", "raise"),
            "name not elementwise": (dict(name=jax.nn.softmax), "name", "raise"),
            "name changes the shape": (dict(name=lambda a: jnp.sum(a)), "name", "raise"),
            "params with a callable": (dict(name=jnp.tanh), "params", "raise"),
        },
        scalars={"alpha": "nonneg"},
    ),
    "all_claims": Case(_with(vg.all_claims), {}),
    "attention_block": Case(
        _with(vg.attention_block, p=(ATT.wq[0], ATT.wk[0], ATT.wv[0]), x=XT, variant="skip"),
        {
            "unknown variant": (dict(variant="nope"), "variant", "raise"),
            "x wrong width": (dict(x=jnp.ones((3, N + 1), F32)), "x", "raise"),
            "x 1-D": (dict(x=jnp.ones(N, F32)), "x", "raise"),
            "x complex": (dict(x=XT.astype(jnp.complex64)), "x", "raise"),
        },
        arrays={"x": Slot(XT)},
    ),
    "attention_residuals": Case(
        _with(vg.attention_residuals, params=ATT, x=XT, variant="pure"),
        {
            "unknown variant": (dict(variant="nope"), "variant", "raise"),
            "x wrong width": (dict(x=jnp.ones((3, N + 1), F32)), "x", "raise"),
            "x 1-D": (dict(x=jnp.ones(N, F32)), "x", "raise"),
            "params not Attention": (dict(params=(1, 2, 3)), "params", "raise"),
        },
        arrays={"x": Slot(XT)},
    ),
    "autodiff_logit_grad": Case(
        _with(vg.autodiff_logit_grad, loss="mse", z=X, y=jnp.full(N, 0.5, F32)),
        {
            "unknown loss": (dict(loss="hinge"), "loss", "raise"),
            "shape mismatch": (dict(y=jnp.ones(N + 1, F32)), "y", "raise"),
            "z int": (dict(z=jnp.arange(N)), "z", "int"),
            "z complex": (dict(z=X.astype(jnp.complex64)), "z", "raise"),
        },
        arrays={"z": Slot(X, strict_ndim=False)},
    ),
    "batch_norm": Case(
        _with(vg.batch_norm, h=XB),
        {
            "h 1-D": (dict(h=X), "h", "raise"),
            "eps negative": (dict(eps=-1.0), "eps", "raise"),
            "eps nan": (dict(eps=NAN), "eps", "raise"),
            "batch of one": (dict(h=XB[:1]), "h", "raise"),
            "h complex": (dict(h=XB.astype(jnp.complex64)), "h", "raise"),
        },
        arrays={"h": Slot(XB, fixed=())},
        scalars={"eps": "nonneg"},
    ),
    "bonferroni_k": Case(
        _with(vg.bonferroni_k, alpha=0.01, m=10),
        {
            "alpha 0": (dict(alpha=0.0), "alpha", "raise"),
            "alpha > 1": (dict(alpha=1.5), "alpha", "raise"),
            "alpha nan": (dict(alpha=NAN), "alpha", "raise"),
            "m 0": (dict(m=0), "m", "raise"),
            "m negative": (dict(m=-3), "m", "raise"),
        },
        scalars={"alpha": "prob", "m": "int_pos"},
    ),
    "bptt_gradient_norms": Case(
        _with(vg.bptt_gradient_norms, step=vg.rnn_step, params=RNN, h0=0.1 * jnp.ones(N, F32), steps=5),
        {
            "steps 0": (dict(steps=0), "steps", "raise"),
            "steps negative": (dict(steps=-2), "steps", "raise"),
            "step not callable": (dict(step=3), "step", "raise"),
            "cotangent wrong shape": (dict(cotangent=jnp.ones(N + 1, F32)), "cotangent", "raise"),
            "h0 wrong shape": (dict(h0=jnp.ones(N + 1, F32)), "h0", "raise"),
            "h0 complex": (dict(h0=jnp.ones(N, jnp.complex64)), "h0", "raise"),
            "h0 nan": (dict(h0=jnp.full(N, NAN, F32)), "h0", "raise"),
            "h0 empty pytree": (dict(h0=()), "h0", "raise"),
            "cotangent pytree unlike h0": (dict(cotangent=(jnp.ones(N, F32),)), "cotangent", "raise"),
            "inputs pytree leaf without time axis": (dict(inputs={"x": jnp.ones((4, 1), F32)}), "inputs", "raise"),
        },
        arrays={"h0": Slot(0.1 * jnp.ones(N, F32))},
        scalars={"steps": "int_pos"},
    ),
    "circuit_energy": Case(
        _with(vg.circuit_energy, thetas=THETAS),
        {
            "thetas wrong last axis": (dict(thetas=jnp.ones((2, 2, 3), F32)), "thetas", "raise"),
            "thetas 2-D": (dict(thetas=jnp.ones((2, 2), F32)), "thetas", "raise"),
            "unknown pauli": (dict(pauli="ZQ"), "pauli", "raise"),
            "pauli wrong length": (dict(pauli="ZZZ"), "pauli", "raise"),
            "thetas complex": (dict(thetas=THETAS.astype(jnp.complex64)), "thetas", "raise"),
        },
        arrays={"thetas": Slot(THETAS)},
    ),
    "circuit_state": Case(
        _with(vg.circuit_state, thetas=THETAS),
        {
            "thetas wrong last axis": (dict(thetas=jnp.ones((2, 2, 3), F32)), "thetas", "raise"),
            "too many qubits": (dict(thetas=jnp.ones((1, 13, 2), F32)), "thetas|n_qubits", "raise"),
            "thetas int": (dict(thetas=jnp.ones((2, 2, 2), jnp.int32)), "thetas", "int"),
        },
        arrays={"thetas": Slot(THETAS)},
    ),
    "claim": Case(
        _with(vg.claim, id="FUZZ1", title="t", statement="s", source="src"),
        {  # checks, registers nothing
            "id empty": (dict(id=""), "id", "raise"),
            "id with spaces": (dict(id="MY 1"), "id", "raise"),
            "id not a string": (dict(id=1), "id", "raise"),
            "title not a string": (dict(title=None), "title", "raise"),
            "expected not a bool": (dict(expected="yes"), "expected", "raise"),
            "full_only not a bool": (dict(full_only=1), "full_only", "raise"),
        },
    ),
    "claim_key": Case(
        lambda **o: jax.random.key_data(vg.claim_key(**({"seed": 0, "claim_id": "S1"} | o))),
        {
            "seed float": (dict(seed=0.5), "seed", "raise"),
            "claim_id empty": (dict(claim_id=""), "claim_id", "raise"),
            "claim_id not a string": (dict(claim_id=3), "claim_id", "raise"),
        },
    ),
    "ensemble": Case(
        _with(vg.ensemble, fn=lambda k: jnp.exp(jax.random.normal(k, (), F32)), key=KEY, n=8),
        {
            "empty ensemble": (dict(n=0), "n", "raise"),
            "one member": (dict(n=1), "n", "raise"),
            "n float": (dict(n=2.5), "n", "raise"),
            "chunk_size 0": (dict(chunk_size=0), "chunk_size", "raise"),
            "fn not callable": (dict(fn=None), "fn", "raise"),
            "key not a key": (dict(key="seed"), "key", "raise"),
        },
        scalars={"n": "int_pos"},
    ),
    "estimate": Case(
        _with(vg.estimate, samples=jnp.arange(5.0)),
        {
            "one sample": (dict(samples=jnp.ones(1)), "samples", "raise"),
            "empty": (dict(samples=jnp.ones(0)), "samples", "raise"),
            "axis out of range": (dict(axis=3), "axis", "raise"),
            "complex": (dict(samples=jnp.ones(5, jnp.complex64)), "samples", "raise"),
        },
    ),
    "log_mean_estimate": Case(
        _with(vg.log_mean_estimate, samples=jnp.arange(1.0, 6.0)),
        {
            "one sample": (dict(samples=jnp.ones(1)), "samples", "raise"),
            "mean not positive": (dict(samples=-jnp.arange(1.0, 6.0)), "samples", "raise"),
            "axis out of range": (dict(axis=3), "axis", "raise"),
            "complex": (dict(samples=jnp.ones(5, jnp.complex64)), "samples", "raise"),
        },
    ),
    "Comparison.from_ensemble": Case(
        _with(vg.Comparison.from_ensemble, result=ENS, prediction=1.0, planted=1.2, label="E x", leaf=0),
        {
            "result not an ensemble": (dict(result={"mean": 1.0}), "result", "raise"),
            "leaf out of range": (dict(leaf=5), "leaf", "raise"),
            "leaf selects a vector": (dict(leaf=None), "leaf", "raise"),
            "unknown kind": (dict(kind="both"), "kind", "raise"),
            "negative bias": (dict(bias=-1.0), "bias", "raise"),
            "NaN rtol": (dict(rtol=NAN), "rtol", "raise"),
        },
        scalars={"bias": "nonneg", "rtol": "nonneg"},
    ),
    "euler_errors": Case(
        _with(vg.euler_errors, a=A, y0=Y0, h=0.1, steps=5),
        {
            "a non-square": (dict(a=jnp.ones((2, 3), F32)), "a", "raise"),
            "y0 mismatch": (dict(y0=jnp.ones(3, F32)), "y0", "raise"),
            "steps 0": (dict(steps=0), "steps", "raise"),
            "h nan": (dict(h=NAN), "h", "raise"),
            "a complex": (dict(a=A.astype(jnp.complex64)), "a", "raise"),
        },
        arrays={"a": Slot(A, fixed=(0, 1)), "y0": Slot(Y0)},
        scalars={"h": "real", "steps": "int_pos"},
    ),
    "euler_flow": Case(
        _with(vg.euler_flow, step_fn=_lin_step, y0=Y0, h=0.1, steps=5),
        {
            "steps 0": (dict(steps=0), "steps", "raise"),
            "step_fn not callable": (dict(step_fn=1.0), "step_fn", "raise"),
            "h nan": (dict(h=NAN), "h", "raise"),
        },
        scalars={"h": "real", "steps": "int_pos"},
    ),
    "gradient_flow": Case(
        _with(vg.gradient_flow, params=MLP, x=X, act="tanh", cotangent=G),
        {
            "x wrong length": (dict(x=jnp.ones(N + 1, F32)), "x", "raise"),
            "x batched": (dict(x=XB), "x", "raise"),
            "cotangent wrong length": (dict(cotangent=jnp.ones(N - 1, F32)), "cotangent", "raise"),
            "unknown act": (dict(act="swish"), "act", "raise"),
            "x int": (dict(x=jnp.arange(N)), "x", "int"),
            "x complex": (dict(x=X.astype(jnp.complex64)), "x", "raise"),
            "x nan": (dict(x=jnp.full(N, NAN, F32)), "x", "raise"),
            "params not MLP": (dict(params={"w": 1}), "params", "raise"),
            "precision unknown": (dict(precision="extreme"), "precision", "raise"),
        },
        arrays={"x": Slot(X), "cotangent": Slot(G)},
    ),
    "gru_step": Case(
        _with(vg.gru_step, params=GRU, h=jnp.zeros(N, F32), x=jnp.ones(1, F32)),
        {
            "h wrong length": (dict(h=jnp.zeros(N + 1, F32)), "h", "raise"),
            "x wrong length": (dict(x=jnp.ones(3, F32)), "x", "raise"),
            "h complex": (dict(h=jnp.zeros(N, jnp.complex64)), "h", "raise"),
        },
        arrays={"h": Slot(jnp.zeros(N, F32))},
    ),
    "init_attention": Case(
        _with(vg.init_attention, key=KEY, dim=N, depth=2),
        {
            "dim 0": (dict(dim=0), "dim", "raise"),
            "depth negative": (dict(depth=-1), "depth", "raise"),
            "dim float": (dict(dim=2.5), "dim", "raise"),
            "dtype int": (dict(dtype=jnp.int32), "dtype", "raise"),
        },
        scalars={"dim": "int_pos", "depth": "int_pos"},
    ),
    "init_gru": Case(
        _with(vg.init_gru, key=KEY, n=N),
        {
            "n 0": (dict(n=0), "n", "raise"),
            "gain negative": (dict(gain=-1.0), "gain", "raise"),
            "gain nan": (dict(gain=NAN), "gain", "raise"),
            "unknown init": (dict(init="he"), "init", "raise"),
        },
        scalars={"n": "int_pos", "gain": "nonneg"},
    ),
    "init_lstm": Case(
        _with(vg.init_lstm, key=KEY, n=N),
        {
            "n 0": (dict(n=0), "n", "raise"),
            "gain nan": (dict(gain=NAN), "gain", "raise"),
            "forget_bias nan": (dict(forget_bias=NAN), "forget_bias", "raise"),
            "n_in 0": (dict(n_in=0), "n_in", "raise"),
        },
        scalars={"n": "int_pos", "gain": "nonneg", "forget_bias": "real"},
    ),
    "init_mlp": Case(
        _with(vg.init_mlp, key=KEY, widths=[N] * 3),
        {
            "width 0": (dict(widths=[N, 0, N]), "widths", "raise"),
            "depth 0": (dict(widths=[N]), "widths", "raise"),
            "sigma_w2 negative": (dict(sigma_w2=-1.0), "sigma_w2", "raise"),
            "sigma_w2 nan": (dict(sigma_w2=NAN), "sigma_w2", "raise"),
            "sigma_b2 inf": (dict(sigma_b2=math.inf), "sigma_b2", "raise"),
            "unknown init": (dict(init="lecun"), "init", "raise"),
            "dtype int": (dict(dtype=jnp.int32), "dtype", "raise"),
            "eps nan": (dict(init="identity", eps=NAN), "eps", "raise"),
        },
        scalars={"sigma_w2": "nonneg", "sigma_b2": "nonneg"},
    ),
    "init_resnet": Case(
        _with(vg.init_resnet, key=KEY, width=N, depth=3),
        {
            "width 0": (dict(width=0), "width", "raise"),
            "depth 0": (dict(depth=0), "depth", "raise"),
            "sigma_w2_1 negative": (dict(sigma_w2_1=-2.0), "sigma_w2_1", "raise"),
            "sigma_w2_2 nan": (dict(sigma_w2_2=NAN), "sigma_w2_2", "raise"),
        },
        scalars={"width": "int_pos", "depth": "int_pos", "sigma_w2_1": "nonneg"},
    ),
    "init_rnn": Case(
        _with(vg.init_rnn, key=KEY, n=N),
        {
            "n 0": (dict(n=0), "n", "raise"),
            "gain negative": (dict(gain=-1.0), "gain", "raise"),
            "gain nan": (dict(gain=NAN), "gain", "raise"),
            "bias_std negative": (dict(bias_std=-0.1), "bias_std", "raise"),
            "unknown init": (dict(init="xavier_uniform"), "init", "raise"),
        },
        scalars={"n": "int_pos", "gain": "nonneg", "bias_std": "nonneg", "input_gain": "nonneg"},
    ),
    "initial_state": Case(
        _with(vg.initial_state, cell="lstm", n=N),
        {
            "unknown cell": (dict(cell="transformer"), "cell", "raise"),
            "n 0": (dict(n=0), "n", "raise"),
        },
        scalars={"n": "int_pos"},
    ),
    "input_jacobian": Case(
        _with(vg.input_jacobian, f=jnp.tanh, x=X),
        {  # x: any shape or pytree
            "unknown mode": (dict(mode="central"), "mode", "raise"),
            "f not callable": (dict(f=2), "f", "raise"),
            "x int": (dict(x=jnp.arange(N)), "x", "raise"),
            "x complex": (dict(x=X.astype(jnp.complex64)), "x", "raise"),
            "x empty pytree": (dict(x={}), "x", "raise"),
            "x pytree with an int leaf": (dict(x={"a": X, "b": jnp.arange(N)}), "x", "raise"),
            "f(x) integer": (dict(f=lambda x: jnp.round(x).astype(jnp.int32)), "f", "raise"),
            "f fails on x": (dict(f=lambda x: jnp.matmul(jnp.ones((3, N + 1), F32), x)), "f", "raise"),
        },
        arrays={"x": Slot(X, fixed=(), strict_ndim=False)},
    ),
    "jacobian_operator": Case(
        _with(vg.jacobian_operator, f=jnp.tanh, x=X),
        {
            "f not callable": (dict(f=2), "f", "raise"),
            "x complex": (dict(x=X.astype(jnp.complex64)), "x", "raise"),
            "x empty pytree": (dict(x=()), "x", "raise"),
            "f(x) integer": (dict(f=lambda x: jnp.round(x).astype(jnp.int32)), "f", "raise"),
        },
        arrays={"x": Slot(X, fixed=(), strict_ndim=False)},
    ),
    "layer_jacobians": Case(
        _with(vg.layer_jacobians, params=MLP, x=X, act="relu"),
        {
            "x wrong length": (dict(x=jnp.ones(N + 2, F32)), "x", "raise"),
            "unknown act": (dict(act="swish"), "act", "raise"),
            "x complex": (dict(x=X.astype(jnp.complex64)), "x", "raise"),
        },
        arrays={"x": Slot(X)},
    ),
    "layer_norm": Case(
        _with(vg.layer_norm, h=XB),
        {
            "eps negative": (dict(eps=-1.0), "eps", "raise"),
            "eps nan": (dict(eps=NAN), "eps", "raise"),
            "h scalar": (dict(h=jnp.float32(1.0)), "h", "raise"),
            "h complex": (dict(h=XB.astype(jnp.complex64)), "h", "raise"),
        },
        arrays={"h": Slot(XB, fixed=(), strict_ndim=False)},
        scalars={"eps": "nonneg"},
    ),
    "log_volume_growth": Case(
        _with(vg.log_volume_growth, result=LYA),
        {
            "not a result": (dict(result=jnp.ones(3)), "result", "raise"),
        },
    ),
    "logit_grad": Case(
        _with(vg.logit_grad, loss="bce", z=X, y=jnp.full(N, 0.5, F32)),
        {
            "unknown loss": (dict(loss="hinge"), "loss", "raise"),
            "shape mismatch": (dict(y=jnp.ones(N + 1, F32)), "y", "raise"),
            "z int": (dict(z=jnp.arange(N)), "z", "raise"),
            "z complex": (dict(z=X.astype(jnp.complex64)), "z", "raise"),
        },
        arrays={"z": Slot(X, strict_ndim=False)},
    ),
    "lstm_forget_gate": Case(
        _with(vg.lstm_forget_gate, params=LSTM, h=jnp.zeros(2 * N, F32), x=jnp.ones(1, F32)),
        {
            "h wrong length": (dict(h=jnp.zeros(N, F32)), "h", "raise"),
            "params not a cell": (dict(params=RNN), "params", "raise"),
        },
        arrays={"h": Slot(jnp.zeros(2 * N, F32))},
    ),
    "lstm_step": Case(
        _with(vg.lstm_step, params=LSTM, h=jnp.zeros(2 * N, F32), x=jnp.ones(1, F32)),
        {
            "h wrong length": (dict(h=jnp.zeros(N, F32)), "h", "raise"),
            "x wrong length": (dict(x=jnp.ones(2, F32)), "x", "raise"),
            "h complex": (dict(h=jnp.zeros(2 * N, jnp.complex64)), "h", "raise"),
        },
        arrays={"h": Slot(jnp.zeros(2 * N, F32))},
    ),
    "lyapunov_spectrum": Case(
        _with(vg.lyapunov_spectrum, step=vg.rnn_step, params=RNN, h0=0.1 * jnp.ones(N, F32), steps=8, blocks=2),
        {
            "k 0": (dict(k=0), "k", "raise"),
            "k > n": (dict(k=N + 1), "k", "raise"),
            "steps 0": (dict(steps=0), "steps", "raise"),
            "reortho 0": (dict(reortho=0), "reortho", "raise"),
            "blocks 0": (dict(blocks=0), "blocks", "raise"),
            "warmup negative": (dict(warmup=-1), "warmup", "raise"),
            "unknown method": (dict(method="svd"), "method", "raise"),
            "h0 2-D": (dict(h0=jnp.ones((2, N), F32)), "h0", "raise"),
            "h0 nan": (dict(h0=jnp.full(N, NAN, F32)), "h0", "raise"),
            "h0 complex": (dict(h0=jnp.ones(N, jnp.complex64)), "h0", "raise"),
            "frame0 wrong shape": (dict(frame0=jnp.ones((N + 1, N), F32)), "frame0", "raise"),
            "method not a string": (dict(method=3), "method", "raise"),
            "h0 empty pytree": (dict(h0=()), "h0", "raise"),
            "h0 pytree of mixed dtypes": (dict(h0=(jnp.ones(2, F32), jnp.ones(2, jnp.float64))), "h0", "raise"),
            "h0 pytree the step cannot take": (dict(h0=(jnp.ones(N, F32), jnp.ones(N, F32))), "h0", "raise"),
            "inputs pytree leaf without time axis": (dict(inputs={"x": jnp.ones((7, 1), F32)}), "inputs", "raise"),
            "h0 overflowing (inf)": (dict(h0=jnp.full(N, jnp.inf, F32)), "h0", "raise"),
        },
        arrays={"h0": Slot(0.1 * jnp.ones(N, F32))},
        scalars={"steps": "int_pos", "blocks": "int_pos", "reortho": "int_pos"},
    ),
    "mlp_apply": Case(
        _with(vg.mlp_apply, params=MLP, x=XB, act="gelu"),
        {
            "x wrong width": (dict(x=jnp.ones((3, N + 1), F32)), "x", "raise"),
            "unknown act": (dict(act="swish"), "act", "raise"),
            "act not elementwise": (dict(act=jax.nn.softmax), "act", "raise"),
            "act not an activation": (dict(act=3), "act", "raise"),
            "unknown precision": (dict(precision="extreme"), "precision", "raise"),
            "x complex": (dict(x=XB.astype(jnp.complex64)), "x", "raise"),
            "x int": (dict(x=jnp.ones((3, N), jnp.int32)), "x", "int"),
        },
        arrays={"x": Slot(XB, strict_ndim=False)},
    ),
    "module_gradient_flow": Case(
        _with(vg.module_gradient_flow, model=FLAX, x=X, variables=FLAX_VARS),
        {
            "model not callable": (dict(model=3), "model", "raise"),
            "linen without variables": (dict(variables=None), "variables", "raise"),
            "variables not a dict": (dict(variables=X), "variables", "raise"),
            "loss not callable": (dict(loss=2.0), "loss", "raise"),
            "loss not scalar": (dict(loss=lambda y: y), "loss", "raise"),
            "x wrong width": (dict(x=jnp.ones(N + 1, F32)), "x", "raise"),
            "x complex": (dict(x=X.astype(jnp.complex64)), "x", "raise"),
            "x empty pytree": (dict(x={}), "x", "raise"),
            "unknown precision": (dict(precision="extreme"), "precision", "raise"),
        },
        arrays={"x": Slot(X, strict_ndim=False)},
    ),
    "mlp_jacobian": Case(
        _with(vg.mlp_jacobian, params=MLP, x=X, act="tanh"),
        {
            "x wrong length": (dict(x=jnp.ones(N + 1, F32)), "x", "raise"),
            "x batched": (dict(x=XB), "x", "raise"),
            "unknown act": (dict(act="swish"), "act", "raise"),
            "x complex": (dict(x=X.astype(jnp.complex64)), "x", "raise"),
            "order unknown": (dict(order="random"), "order", "raise"),
        },
        arrays={"x": Slot(X)},
    ),
    "chain_product": Case(
        _with(vg.chain_product, mats=BPARAMS),
        {
            "mats 2-D": (dict(mats=BPARAMS[0]), "mats", "raise"),
            "mats non-square": (dict(mats=BPARAMS[:, :, :2]), "mats", "raise"),
            "mats empty": (dict(mats=BPARAMS[:0]), "mats", "raise"),
            "mats complex": (dict(mats=BPARAMS.astype(jnp.complex64)), "mats", "raise"),
            "order unknown": (dict(order="random"), "order", "raise"),
        },
        arrays={"mats": Slot(BPARAMS, fixed=(-2, -1))},
    ),
    "norm_mlp_apply": Case(
        _with(vg.norm_mlp_apply, params=MLP, x=XB, act="tanh"),
        {
            "unknown norm": (dict(norm="group"), "norm", "raise"),
            "x 1-D": (dict(x=X), "x", "raise"),
            "batch of one": (dict(x=XB[:1]), "x", "raise"),
            "eps negative": (dict(eps=-1.0), "eps", "raise"),
            "eps nan": (dict(eps=NAN), "eps", "raise"),
        },
        arrays={"x": Slot(XB)},
        scalars={"eps": "nonneg"},
    ),
    "norm_mlp_gradient_flow": Case(
        _with(vg.norm_mlp_gradient_flow, params=MLP, x=XB, act="tanh", cotangent=jnp.ones_like(XB)),
        {
            "cotangent mismatch": (dict(cotangent=jnp.ones((3, N + 1), F32)), "cotangent", "raise"),
            "unknown norm": (dict(norm="group"), "norm", "raise"),
            "x 1-D": (dict(x=X), "x", "raise"),
            "eps nan": (dict(eps=NAN), "eps", "raise"),
        },
        arrays={"x": Slot(XB, fixed=(0, 1)), "cotangent": Slot(jnp.ones_like(XB), fixed=(0, 1))},
    ),
    "pauli_expectation": Case(
        _with(vg.pauli_expectation, state=STATE, pauli="ZZ"),
        {
            "pauli wrong length": (dict(pauli="Z"), "pauli", "raise"),
            "unknown letter": (dict(pauli="ZA"), "pauli", "raise"),
            "state not a power of 2": (dict(state=jnp.ones(3, jnp.complex64)), "state", "raise"),
        },
    ),
    "preactivations": Case(
        _with(vg.preactivations, params=MLP, x=X, act="tanh"),
        {
            "x wrong length": (dict(x=jnp.ones(N + 1, F32)), "x", "raise"),
            "unknown act": (dict(act="swish"), "act", "raise"),
            "x complex": (dict(x=X.astype(jnp.complex64)), "x", "raise"),
        },
        arrays={"x": Slot(X, strict_ndim=False)},
    ),
    "random_circuit_gradients": Case(
        _with(vg.random_circuit_gradients, key=KEY, n_qubits=2, depth=2, samples=3),
        {
            "n_qubits 0": (dict(n_qubits=0), "n_qubits", "raise"),
            "n_qubits 13": (dict(n_qubits=13), "n_qubits", "raise"),
            "samples 0": (dict(samples=0), "samples", "raise"),
            "depth 0": (dict(depth=0), "depth", "raise"),
            "index out of range": (dict(index=(5, 0, 0)), "index", "raise"),
            "dtype int": (dict(dtype=jnp.int32), "dtype", "raise"),
        },
        scalars={"n_qubits": "int_pos", "depth": "int_pos", "samples": "int_pos"},
    ),
    "rank_one_residual": Case(
        _with(vg.rank_one_residual, x=XT),
        {
            "x 1-D": (dict(x=X), "x", "raise"),
            "x complex": (dict(x=XT.astype(jnp.complex64)), "x", "raise"),
            "x zero": (dict(x=jnp.zeros((3, N), F32)), "x", "raise"),
        },
        arrays={"x": Slot(XT, fixed=(), strict_ndim=False)},
    ),
    "ratio_estimate": Case(
        _with(vg.ratio_estimate, num=jnp.arange(1.0, 6.0), den=jnp.arange(2.0, 7.0)),
        {
            "length mismatch": (dict(den=jnp.arange(1.0, 5.0)), "den", "raise"),
            "one sample": (dict(num=jnp.ones(1), den=jnp.ones(1)), "num", "raise"),
            "den mean 0": (dict(den=jnp.array([1.0, -1.0, 1.0, -1.0, 0.0])), "den", "raise"),
        },
    ),
    "recurrent_matrix": Case(
        _with(vg.recurrent_matrix, key=KEY, n=N),
        {
            "n 0": (dict(n=0), "n", "raise"),
            "gain nan": (dict(gain=NAN), "gain", "raise"),
            "gain negative": (dict(gain=-1.0), "gain", "raise"),
            "unknown init": (dict(init="he"), "init", "raise"),
        },
        scalars={"n": "int_pos", "gain": "nonneg"},
    ),
    "load_claims": Case(
        _with(vg.load_claims, source="vgtheory.claims.foundation"),
        {  # imported: not re-run
            "source not a path": (dict(source=3), "source", "raise"),
            "missing file": (dict(source="/nonexistent/my_claims.py"), "source", "raise"),
            "missing module": (dict(source="no_such_module_for_vgtheory"), "source", "raise"),
            "module without claims": (dict(source="vgtheory._stats"), "source", "raise"),
        },
    ),
    "register": Case(
        lambda **o: vg.register(**({"claim": vg.all_claims()["S1"]} | o)),
        {
            "not a Claim": (dict(claim="S1"), "claim", "raise"),
            "duplicate id": (
                dict(claim=vg.Claim(id="S1", title="", statement="", source="", run=lambda k, f: [])),
                "claim.id",
                "raise",
            ),
        },
    ),
    "reortho_for_spread": Case(
        _with(vg.reortho_for_spread, spread_per_step=1.0),
        {
            "spread negative": (dict(spread_per_step=-1.0), "spread_per_step", "raise"),
            "spread nan": (dict(spread_per_step=NAN), "spread_per_step", "raise"),
            "safety > 1": (dict(safety=2.0), "safety", "raise"),
            "max_interval 0": (dict(max_interval=0), "max_interval", "raise"),
            "unknown method": (dict(method="svd"), "method", "raise"),
        },
        scalars={"spread_per_step": "nonneg", "safety": "prob", "max_interval": "int_pos"},
    ),
    "residual_block": Case(
        _with(vg.residual_block, p=jax.tree_util.tree_map(lambda a: a[0], RES), x=X, alpha=0.5),
        {
            "x wrong length": (dict(x=jnp.ones(N + 1, F32)), "x", "raise"),
            "alpha nan": (dict(alpha=NAN), "alpha", "raise"),
            "x complex": (dict(x=X.astype(jnp.complex64)), "x", "raise"),
        },
        arrays={"x": Slot(X, strict_ndim=False)},
    ),
    "resnet_apply": Case(
        _with(vg.resnet_apply, params=RES, x=XB, alpha=0.5),
        {
            "x wrong width": (dict(x=jnp.ones((3, N + 1), F32)), "x", "raise"),
            "params not ResNet": (dict(params=MLP), "params", "raise"),
            "alpha nan": (dict(alpha=NAN), "alpha", "raise"),
            "x complex": (dict(x=XB.astype(jnp.complex64)), "x", "raise"),
        },
        arrays={"x": Slot(XB, strict_ndim=False)},
    ),
    "resnet_log_gain": Case(
        _with(vg.resnet_log_gain, params=RES, x=X, v=G, alpha=0.5),
        {
            "v wrong length": (dict(v=jnp.ones(N + 1, F32)), "v", "raise"),
            "v float64 with float32 params": (dict(v=jnp.ones(N, jnp.float64)), "v", "raise"),
            "x 2-D": (dict(x=XB), "x", "raise"),
            "alpha nan": (dict(alpha=NAN), "alpha", "raise"),
            "v zero": (dict(v=jnp.zeros(N, F32)), "v", "raise"),
        },
        arrays={"x": Slot(X), "v": Slot(G)},
    ),
    "rnn_step": Case(
        _with(vg.rnn_step, params=RNN, h=jnp.zeros(N, F32), x=jnp.ones(1, F32)),
        {
            "h wrong length": (dict(h=jnp.zeros(N + 1, F32)), "h", "raise"),
            "unknown activation": (dict(activation="swish"), "activation", "raise"),
            "activation not elementwise": (dict(activation=jax.nn.softmax), "activation", "raise"),
            "x wrong length": (dict(x=jnp.ones(3, F32)), "x", "raise"),
            "h complex": (dict(h=jnp.zeros(N, jnp.complex64)), "h", "raise"),
        },
        arrays={"h": Slot(jnp.zeros(N, F32))},
    ),
    "run_claim": Case(
        lambda **o: vg.run_claim(**({"c": vg.all_claims()["S1"], "key": KEY, "full": False} | o)),
        {
            "c not a Claim": (dict(c="S13"), "c", "raise"),
            "key not a key": (dict(key=3.5), "key", "raise"),
            "full not a bool": (dict(full="yes"), "full", "raise"),
            "alpha 0": (dict(alpha=0.0), "alpha", "raise"),
            "alpha nan": (dict(alpha=NAN), "alpha", "raise"),
        },
        scalars={"alpha": "prob"},
    ),
    "self_attention": Case(
        _with(vg.self_attention, wq=ATT.wq[0], wk=ATT.wk[0], wv=ATT.wv[0], x=XT),
        {
            "x wrong width": (dict(x=jnp.ones((3, N + 1), F32)), "x", "raise"),
            "wq non-square": (dict(wq=jnp.ones((N, N + 1), F32)), "wq", "raise"),
            "x complex": (dict(x=XT.astype(jnp.complex64)), "x", "raise"),
        },
        arrays={"x": Slot(XT)},
    ),
    "sigmoid_bce": Case(
        _with(vg.sigmoid_bce, z=X, y=jnp.full(N, 0.5, F32)),
        {
            "shape mismatch": (dict(y=jnp.ones(N + 1, F32)), "y", "raise"),
            "z complex": (dict(z=X.astype(jnp.complex64)), "z", "raise"),
            "y out of [0, 1]": (dict(y=jnp.full(N, 2.0, F32)), "y", "raise"),
        },
        arrays={"z": Slot(X, strict_ndim=False)},
    ),
    "sigmoid_mse": Case(
        _with(vg.sigmoid_mse, z=X, y=jnp.full(N, 0.5, F32)),
        {
            "shape mismatch": (dict(y=jnp.ones(N + 1, F32)), "y", "raise"),
            "z complex": (dict(z=X.astype(jnp.complex64)), "z", "raise"),
        },
        arrays={"z": Slot(X, strict_ndim=False)},
    ),
    "spread_budget": Case(
        _with(vg.spread_budget, dtype=F32),
        {
            "dtype int": (dict(dtype=jnp.int32), "dtype", "raise"),
            "unknown method": (dict(method="svd"), "method", "raise"),
            "method None": (dict(method=None), "method", "raise"),
        },
    ),
    "stack_gradient_flow": Case(
        _with(vg.stack_gradient_flow, block=BLOCK, params=BPARAMS, x=X, cotangent=G),
        {
            "cotangent wrong length": (dict(cotangent=jnp.ones(N + 1, F32)), "cotangent", "raise"),
            "block not callable": (dict(block=None), "block", "raise"),
            "cotangent zero": (dict(cotangent=jnp.zeros(N, F32)), "cotangent", "raise"),
            "x complex": (dict(x=X.astype(jnp.complex64)), "x", "raise"),
            "full_output not a bool": (dict(full_output="yes"), "full_output", "raise"),
            "dead block, full_output": (dict(block=lambda p, x: 0.0 * x, full_output=True), "finite", "raise"),
        },
        arrays={"cotangent": Slot(G)},
    ),
    "stack_tangent_flow": Case(
        _with(vg.stack_tangent_flow, block=BLOCK, params=BPARAMS, x=X, v=G),
        {
            "v wrong length": (dict(v=jnp.ones(N + 1, F32)), "v", "raise"),
            "block not callable": (dict(block=None), "block", "raise"),
            "v zero": (dict(v=jnp.zeros(N, F32)), "v", "raise"),
            "full_output not a bool": (dict(full_output=1), "full_output", "raise"),
            "dead block, full_output": (dict(block=lambda p, x: 0.0 * x, full_output=True), "finite", "raise"),
        },
        arrays={"v": Slot(G)},
    ),
    "underflow_step": Case(
        _with(vg.underflow_step, dtype="float32", mode="numpy"),
        {
            "unknown dtype": (dict(dtype="float8"), "dtype", "raise"),
            "dtype int": (dict(dtype="int32"), "dtype", "raise"),
            "unknown mode": (dict(mode="gpu"), "mode", "raise"),
            "factor 1.5": (dict(factor=1.5), "factor", "raise"),
            "factor nan": (dict(factor=NAN), "factor", "raise"),
            "factor 0": (dict(factor=0.0), "factor", "raise"),
        },
        scalars={"factor": "prob"},
    ),
    "variance_estimate": Case(
        _with(vg.variance_estimate, samples=jnp.arange(6.0)),
        {
            "three samples": (dict(samples=jnp.ones(3)), "samples", "raise"),
            "complex": (dict(samples=jnp.ones(6, jnp.complex64)), "samples", "raise"),
        },
    ),
    "condition_number": Case(
        _with(vg.condition_number, a=SQ5),
        {
            "a 1-D": (dict(a=SQ5[0]), "a", "raise"),
            "a int": (dict(a=jnp.ones((5, 5), jnp.int32)), "a", "raise"),
            "a complex": (dict(a=SQ5.astype(jnp.complex64)), "a", "raise"),
            "unknown method": (dict(method="qr"), "method", "raise"),
        },
        arrays={"a": Slot(SQ5, fixed=(), strict_ndim=False)},
    ),
    "dense_hessian": Case(
        _with(vg.dense_hessian, loss_fn=LOSS, params=P3),
        {
            "max_dim too small": (dict(max_dim=1), "max_dim", "raise"),
            "vector loss": (dict(loss_fn=VEC_LOSS), "loss_fn", "raise"),
        },
    ),
    "diagnose": Case(
        _with(
            vg.diagnose,
            problem=vg.Problem(
                lambda p, x: jnp.tanh(p * x), X, init=lambda k: 0.3 + 0.01 * jax.random.normal(k, (N,), F32)
            ),
            key=KEY,
            members=2,
            hessian_members=2,
            hessian_k=1,
            train_steps=0,
            progress=False,
        ),
        {
            "problem not a Problem": (dict(problem=(MLP, X)), "problem", "raise"),
            "plain model without init": (dict(problem=vg.Problem(lambda p, x: x, X)), "init", "raise"),
            "model not callable": (dict(problem=vg.Problem(3, X, init=lambda k: 1.0)), "model", "raise"),
            "members 1": (dict(members=1), "members", "raise"),
            "hessian_k 0": (dict(hessian_k=0), "hessian_k", "raise"),
            "train_steps negative": (dict(train_steps=-1), "train_steps", "raise"),
        },
    ),
    "direction_rate": Case(
        _with(vg.direction_rate, traj=TRAJ, direction=jnp.ones(3, F32)),
        {
            "direction wrong length": (dict(direction=jnp.ones(4, F32)), "direction", "raise"),
            "traj 1-D": (dict(traj=TRAJ[0]), "traj", "raise"),
            "direction zero": (dict(direction=jnp.zeros(3, F32)), "direction", "raise"),
        },
        arrays={"direction": Slot(jnp.ones(3, F32))},
    ),
    "gd_quadratic": Case(
        _with(vg.gd_quadratic, hessian=SYM, x0=V0, eta=0.1, num_steps=5),
        {
            "hessian non-square": (dict(hessian=jnp.ones((6, 5), F32)), "hessian", "raise"),
            "x0 mismatch": (dict(x0=jnp.ones(5, F32)), "x0", "raise"),
            "num_steps 0": (dict(num_steps=0), "num_steps", "raise"),
            "eta nan": (dict(eta=NAN), "eta", "raise"),
        },
        arrays={"x0": Slot(V0)},
        scalars={"eta": "pos", "num_steps": "int_pos"},
    ),
    "gd_train": Case(
        _with(vg.gd_train, loss_fn=LOSS, params=P3, eta=0.1, num_steps=5),
        {
            "num_steps 0": (dict(num_steps=0), "num_steps", "raise"),
            "eta nan": (dict(eta=NAN), "eta", "raise"),
            "vector loss": (dict(loss_fn=VEC_LOSS), "loss_fn", "raise"),
        },
        scalars={"eta": "pos", "num_steps": "int_pos"},
    ),
    "hessian_eigh": Case(
        _with(vg.hessian_eigh, loss_fn=LOSS, params=P3, k=1, key=KEY, num_iters=3),
        {
            "k 0": (dict(k=0), "k", "raise"),
            "k > dim": (dict(k=4), "k", "raise"),
            "unknown which": (dict(which="middle"), "which", "raise"),
        },
        scalars={"k": "int_pos"},
    ),
    "hessian_operator": Case(
        _with(vg.hessian_operator, loss_fn=LOSS, params=P3),
        {
            "vector loss": (dict(loss_fn=VEC_LOSS), "loss_fn", "raise"),
            "mask mismatch": (dict(mask=jnp.ones(4, bool)), "mask", "raise"),
        },
    ),
    "hessian_slq": Case(
        _with(vg.hessian_slq, loss_fn=LOSS, params=P3, key=KEY, num_probes=2, num_iters=3),
        {
            "num_probes 0": (dict(num_probes=0), "num_probes", "raise"),
            "num_iters 0": (dict(num_iters=0), "num_iters", "raise"),
        },
        scalars={"num_probes": "int_pos", "num_iters": "int_pos"},
    ),
    "hessian_trace": Case(
        _with(vg.hessian_trace, loss_fn=LOSS, params=P3, key=KEY, num_matvecs=6),
        {
            "num_matvecs 0": (dict(num_matvecs=0), "num_matvecs", "raise"),
            "unknown method": (dict(method="exact"), "method", "raise"),
        },
        scalars={"num_matvecs": "int_pos"},
    ),
    "hutchinson": Case(
        _with(vg.hutchinson, matvec=MV, dim=6, key=KEY, num_samples=4),
        {
            "dim 0": (dict(dim=0), "dim", "raise"),
            "num_samples 0": (dict(num_samples=0), "num_samples", "raise"),
            "matvec not callable": (dict(matvec=SYM), "matvec", "raise"),
        },
        scalars={"dim": "int_pos", "num_samples": "int_pos"},
    ),
    "hutchpp": Case(
        _with(vg.hutchpp, matvec=MV, dim=6, key=KEY, num_matvecs=6),
        {
            "dim 0": (dict(dim=0), "dim", "raise"),
            "num_matvecs 0": (dict(num_matvecs=0), "num_matvecs", "raise"),
            "sketch_size 0": (dict(sketch_size=0), "sketch_size", "raise"),
        },
        scalars={"dim": "int_pos", "num_matvecs": "int_pos"},
    ),
    "hvp": Case(
        _with(vg.hvp, loss_fn=LOSS, params=P3, v=jnp.ones(3, F32)),
        {
            "v mismatch": (dict(v=jnp.ones(4, F32)), "v", "raise"),
            "vector loss": (dict(loss_fn=VEC_LOSS), "loss_fn", "raise"),
            "v complex": (dict(v=jnp.ones(3, jnp.complex64)), "v", "raise"),
        },
        arrays={"v": Slot(jnp.ones(3, F32))},
    ),
    "jjt_moments": Case(
        _with(vg.jjt_moments, j=SQ5, k=2),
        {
            "k 0": (dict(k=0), "k", "raise"),
            "j 1-D": (dict(j=SQ5[0]), "j", "raise"),
            "unknown method": (dict(method="qr"), "method", "raise"),
            "j int": (dict(j=jnp.ones((5, 5), jnp.int32)), "j", "int"),
        },
        scalars={"k": "int_pos"},
    ),
    "lanczos_eigh": Case(
        _with(vg.lanczos_eigh, matvec=MV, v0=V0, k=2, num_iters=6),
        {
            "k 0": (dict(k=0), "k", "raise"),
            "k >= d": (dict(k=6), "k", "raise"),
            "unknown which": (dict(which="middle"), "which", "raise"),
            "num_iters > d": (dict(num_iters=7), "num_iters", "raise"),
            "v0 2-D": (dict(v0=jnp.ones((2, 6), F32)), "v0", "raise"),
            "v0 zero": (dict(v0=jnp.zeros(6, F32)), "v0", "raise"),
        },
        scalars={"k": "int_pos"},
    ),
    "lanczos_svd": Case(
        _with(vg.lanczos_svd, operator=vg.matrix_operator(SQ5), k=2, key=KEY, num_iters=4),
        {
            "k 0": (dict(k=0), "k", "raise"),
            "k >= n": (dict(k=5), "k", "raise"),
            "num_iters > n": (dict(num_iters=6), "num_iters", "raise"),
            "operator an array": (dict(operator=SQ5), "operator", "raise"),
            "operator a plain callable": (dict(operator=MV), "operator", "raise"),
            "no rmatvec": (dict(operator=vg.LinearOperator(MV, None, (6, 6), F32)), "operator", "raise"),
            "tol nan": (dict(tol=NAN), "tol", "raise"),
            "dtype int": (dict(dtype=jnp.int32), "dtype", "raise"),
        },
        scalars={"k": "int_pos"},
    ),
    "as_operator": Case(
        _with(vg.as_operator, operator=vg.hessian_operator(LOSS, P3)),
        {
            "plain callable": (dict(operator=MV), "operator", "raise"),
            "an array": (dict(operator=SYM), "operator", "raise"),
        },
    ),
    "matrix_operator": Case(
        _with(vg.matrix_operator, a=SQ5),
        {
            "a 1-D": (dict(a=SQ5[0]), "a", "raise"),
            "a complex": (dict(a=SQ5.astype(jnp.complex64)), "a", "raise"),
            "symmetric but not square": (dict(a=jnp.ones((2, 3), F32), symmetric=True), "a", "raise"),
        },
        arrays={"a": Slot(SQ5, fixed=())},
    ),
    "lanczos_tridiag": Case(
        _with(vg.lanczos_tridiag, matvec=MV, v0=V0, num_iters=4),
        {
            "num_iters 0": (dict(num_iters=0), "num_iters", "raise"),
            "num_iters > d": (dict(num_iters=7), "num_iters", "raise"),
            "v0 zero": (dict(v0=jnp.zeros(6, F32)), "v0", "raise"),
        },
        scalars={"num_iters": "int_pos"},
    ),
    "log_singular_values": Case(
        _with(vg.log_singular_values, factors=jnp.stack([SQ5, SQ5.T])),
        {
            "factors 2-D": (dict(factors=SQ5), "factors", "raise"),
            "factors non-square": (dict(factors=jnp.ones((2, 5, 4), F32)), "factors", "raise"),
            "factors int": (dict(factors=jnp.ones((2, 5, 5), jnp.int32)), "factors", "raise"),
            "no factors": (dict(factors=jnp.ones((0, 5, 5), F32)), "factors", "raise"),
            "factors complex": (dict(factors=jnp.ones((2, 5, 5), jnp.complex64)), "factors", "raise"),
        },
        arrays={"factors": Slot(jnp.stack([SQ5, SQ5.T]), fixed=(1, 2))},
    ),
    "log_singular_values_scan": Case(
        _with(vg.log_singular_values_scan, step=lambda c, x: (c, SQ5), init=0, length=3),
        {
            "length 0": (dict(length=0), "length", "raise"),
            "non-square factor": (dict(step=lambda c, x: (c, SQ5[:4])), "step", "raise"),
        },
    ),
    "newton_vs_gd": Case(
        _with(vg.newton_vs_gd, loss_fn=LOSS, params=P3, eta=0.1),
        {
            "eta nan": (dict(eta=NAN), "eta", "raise"),
            "vector loss": (dict(loss_fn=VEC_LOSS), "loss_fn", "raise"),
        },
        scalars={"eta": "pos"},
    ),
    "optimizer_steps": Case(
        _with(vg.optimizer_steps, optimizer=__import__("optax").sgd(0.1), grads=TRAJ, params0=P3),
        {
            "grads 1-D": (dict(grads=P3), "grads", "raise"),
            "params0 mismatch": (dict(params0=jnp.ones(4, F32)), "params0", "raise"),
            "optimizer not optax": (dict(optimizer="adam"), "optimizer", "raise"),
        },
        arrays={"params0": Slot(P3)},
    ),
    "perturbation_rate": Case(
        _with(
            vg.perturbation_rate, loss_fn=LOSS, params=P3, direction=jnp.ones(3, F32), eta=0.1, eps=1e-3, num_steps=4
        ),
        {
            "num_steps 0": (dict(num_steps=0), "num_steps", "raise"),
            "eps 0": (dict(eps=0.0), "eps", "raise"),
            "direction mismatch": (dict(direction=jnp.ones(4, F32)), "direction", "raise"),
            "eta nan": (dict(eta=NAN), "eta", "raise"),
        },
        scalars={"eps": "pos", "eta": "pos", "num_steps": "int_pos"},
    ),
    "power_iteration": Case(
        _with(vg.power_iteration, matvec=MV, v0=V0, num_iters=5),
        {
            "num_iters 0": (dict(num_iters=0), "num_iters", "raise"),
            "v0 zero": (dict(v0=jnp.zeros(6, F32)), "v0", "raise"),
            "v0 2-D": (dict(v0=jnp.ones((2, 6), F32)), "v0", "raise"),
        },
        scalars={"num_iters": "int_pos"},
    ),
    "sharpness_trajectory": Case(
        _with(
            vg.sharpness_trajectory,
            loss_fn=LOSS,
            params=P3,
            optimizer=__import__("optax").sgd(0.1),
            num_steps=4,
            every=2,
            key=KEY,
            lanczos_iters=2,
        ),
        {
            "every 0": (dict(every=0), "every", "raise"),
            "num_steps 0": (dict(num_steps=0), "num_steps", "raise"),
            "lanczos_iters 0": (dict(lanczos_iters=0), "lanczos_iters", "raise"),
        },
        scalars={"every": "int_pos", "num_steps": "int_pos"},
    ),
    "singular_values": Case(
        _with(vg.singular_values, a=SQ5),
        {
            "a 1-D": (dict(a=SQ5[0]), "a", "raise"),
            "a int": (dict(a=jnp.ones((5, 5), jnp.int32)), "a", "raise"),
            "a complex": (dict(a=SQ5.astype(jnp.complex64)), "a", "raise"),
            "unknown method": (dict(method="qr"), "method", "raise"),
            "max_sweeps 0": (dict(max_sweeps=0), "max_sweeps", "raise"),
        },
        arrays={"a": Slot(SQ5, fixed=(), strict_ndim=False)},
    ),
    "slq": Case(
        _with(vg.slq, matvec=MV, dim=6, key=KEY, num_probes=2, num_iters=4),
        {
            "dim 0": (dict(dim=0), "dim", "raise"),
            "num_probes 0": (dict(num_probes=0), "num_probes", "raise"),
            "num_iters 0": (dict(num_iters=0), "num_iters", "raise"),
            "num_iters > dim": (dict(num_iters=7), "num_iters", "raise"),
        },
        scalars={"dim": "int_pos", "num_probes": "int_pos", "num_iters": "int_pos"},
    ),
    "slq_density": Case(
        _with(
            vg.slq_density,
            measure=vg.slq(MV, 6, KEY, num_probes=2, num_iters=4),
            grid=jnp.linspace(-3.0, 3.0, 7),
            sigma=0.3,
        ),
        {
            "sigma 0": (dict(sigma=0.0), "sigma", "raise"),
            "sigma negative": (dict(sigma=-0.1), "sigma", "raise"),
            "sigma nan": (dict(sigma=NAN), "sigma", "raise"),
            "grid 2-D": (dict(grid=jnp.ones((2, 3))), "grid", "raise"),
        },
        scalars={"sigma": "pos"},
    ),
    "spectral_density": Case(
        _with(vg.spectral_density, values=jnp.linspace(0.0, 1.0, 20), bins=5),
        {
            "bins 0": (dict(bins=0), "bins", "raise"),
            "value_range reversed": (dict(value_range=(1.0, 0.0)), "value_range", "raise"),
            "values empty": (dict(values=jnp.ones(0)), "values", "raise"),
            "values complex": (dict(values=jnp.ones(4, jnp.complex64)), "values", "raise"),
        },
        scalars={"bins": "int_pos"},
    ),
    "spectrum": Case(
        _with(vg.spectrum, a=SQ5),
        {
            "a 1-D": (dict(a=SQ5[0]), "a", "raise"),
            "unknown method": (dict(method="qr"), "method", "raise"),
            "a complex": (dict(a=SQ5.astype(jnp.complex64)), "a", "raise"),
        },
    ),
    "train_to_minimum": Case(
        _with(vg.train_to_minimum, loss_fn=LOSS, params=P3, eta=0.1, num_gd=3, num_newton=2),
        {
            "num_gd negative": (dict(num_gd=-1), "num_gd", "raise"),
            "eta nan": (dict(eta=NAN), "eta", "raise"),
            "max_step 0": (dict(max_step=0.0), "max_step", "raise"),
        },
        scalars={"eta": "pos"},
    ),
    "tap": Case(
        _with(vg.tap, x=X, name="h"),
        {
            "name not a string": (dict(name=3), "name", "raise"),
            "name empty": (dict(name=""), "name", "raise"),
        },
    ),
    "tridiag_eigh": Case(
        _with(vg.tridiag_eigh, alpha=jnp.ones(4), beta=jnp.full(4, 0.5)),
        {
            "length mismatch": (dict(beta=jnp.ones(7)), "beta", "raise"),
            "alpha 2-D": (dict(alpha=jnp.ones((2, 4))), "alpha", "raise"),
        },
    ),
}

# Found by enumerating every registry slot with the hypothesis value pools (2026-11-27), all
# fixed since: (function, variant, overrides, argument, mode), kept as regression variants.
ENUMERATED = [
    ("batch_norm", "eps=inf (enumerated)", {"eps": math.inf}, "eps", "raise"),
    ("bonferroni_k", "m=2.5 (enumerated)", {"m": 2.5}, "m", "raise"),
    ("bonferroni_k", "m='3' (enumerated)", {"m": "3"}, "m", "raise"),
    ("bonferroni_k", "m=None (enumerated)", {"m": None}, "m", "raise"),
    ("hessian_slq", "num_iters='3' (enumerated)", {"num_iters": "3"}, "num_iters", "raise"),
    ("hessian_slq", "num_iters=None (enumerated)", {"num_iters": None}, "num_iters", "raise"),
    ("init_mlp", "sigma_w2=inf (enumerated)", {"sigma_w2": math.inf}, "sigma_w2", "raise"),
    ("init_resnet", "sigma_w2_1=inf (enumerated)", {"sigma_w2_1": math.inf}, "sigma_w2_1", "raise"),
    ("init_rnn", "input_gain=-0.001 (enumerated)", {"input_gain": -0.001}, "input_gain", "raise"),
    ("init_rnn", "input_gain=-1.0 (enumerated)", {"input_gain": -1.0}, "input_gain", "raise"),
    ("init_rnn", "input_gain=nan (enumerated)", {"input_gain": NAN}, "input_gain", "raise"),
    ("init_rnn", "input_gain=inf (enumerated)", {"input_gain": math.inf}, "input_gain", "raise"),
    ("layer_norm", "eps=inf (enumerated)", {"eps": math.inf}, "eps", "raise"),
    ("norm_mlp_apply", "eps=inf (enumerated)", {"eps": math.inf}, "eps", "raise"),
    ("spectral_density", "bins=None (enumerated)", {"bins": None}, "bins", "raise"),
    (
        "attention_residuals",
        "x int32 (enumerated)",
        {"x": REGISTRY["attention_residuals"].arrays["x"].valid.astype(jnp.int32)},
        "x",
        "int",
    ),
    (
        "attention_residuals",
        "x complex64 (enumerated)",
        {"x": REGISTRY["attention_residuals"].arrays["x"].valid.astype(jnp.complex64)},
        "x",
        "raise",
    ),
    (
        "circuit_state",
        "thetas complex64 (enumerated)",
        {"thetas": REGISTRY["circuit_state"].arrays["thetas"].valid.astype(jnp.complex64)},
        "thetas",
        "raise",
    ),
    (
        "euler_errors",
        "y0 complex64 (enumerated)",
        {"y0": REGISTRY["euler_errors"].arrays["y0"].valid.astype(jnp.complex64)},
        "y0",
        "raise",
    ),
    (
        "gd_quadratic",
        "x0 int32 (enumerated)",
        {"x0": REGISTRY["gd_quadratic"].arrays["x0"].valid.astype(jnp.int32)},
        "x0",
        "int",
    ),
    (
        "gd_quadratic",
        "x0 complex64 (enumerated)",
        {"x0": REGISTRY["gd_quadratic"].arrays["x0"].valid.astype(jnp.complex64)},
        "x0",
        "raise",
    ),
    (
        "gradient_flow",
        "cotangent complex64 (enumerated)",
        {"cotangent": REGISTRY["gradient_flow"].arrays["cotangent"].valid.astype(jnp.complex64)},
        "cotangent",
        "raise",
    ),
    (
        "lstm_forget_gate",
        "h drop dim (enumerated)",
        {"h": REGISTRY["lstm_forget_gate"].arrays["h"].valid[0]},
        "h",
        "raise",
    ),
    (
        "lstm_forget_gate",
        "h complex64 (enumerated)",
        {"h": REGISTRY["lstm_forget_gate"].arrays["h"].valid.astype(jnp.complex64)},
        "h",
        "raise",
    ),
    (
        "lyapunov_spectrum",
        "h0 size ax0+1 (enumerated)",
        {"h0": jnp.ones(REGISTRY["lyapunov_spectrum"].arrays["h0"].valid.shape[0] + 1, F32)},
        "h0",
        "raise",
    ),
    (
        "norm_mlp_apply",
        "x int32 (enumerated)",
        {"x": REGISTRY["norm_mlp_apply"].arrays["x"].valid.astype(jnp.int32)},
        "x",
        "int",
    ),
    (
        "norm_mlp_apply",
        "x complex64 (enumerated)",
        {"x": REGISTRY["norm_mlp_apply"].arrays["x"].valid.astype(jnp.complex64)},
        "x",
        "raise",
    ),
    (
        "norm_mlp_gradient_flow",
        "x int32 (enumerated)",
        {"x": REGISTRY["norm_mlp_gradient_flow"].arrays["x"].valid.astype(jnp.int32)},
        "x",
        "int",
    ),
    (
        "norm_mlp_gradient_flow",
        "cotangent int32 (enumerated)",
        {"cotangent": REGISTRY["norm_mlp_gradient_flow"].arrays["cotangent"].valid.astype(jnp.int32)},
        "cotangent",
        "int",
    ),
    (
        "norm_mlp_gradient_flow",
        "cotangent complex64 (enumerated)",
        {"cotangent": REGISTRY["norm_mlp_gradient_flow"].arrays["cotangent"].valid.astype(jnp.complex64)},
        "cotangent",
        "raise",
    ),
]
for _n, _lab, _ov, _arg, _mode in ENUMERATED:
    REGISTRY[_n].bad[_lab] = (_ov, _arg, _mode)

# Every public function with a ``precision=`` argument checks it up front (one validator,
# vgtheory._checks.check_precision); the five that set it as jax.default_matmul_precision
# while tracing a user's function also refuse what only jnp.matmul takes (a pair).
PRECISION_TAKERS = (
    "bptt_gradient_norms",
    "chain_product",
    "diagnose",
    "gradient_flow",
    "input_jacobian",
    "jacobian_operator",
    "layer_jacobians",
    "log_singular_values",
    "log_singular_values_scan",
    "lyapunov_spectrum",
    "mlp_apply",
    "mlp_jacobian",
    "module_gradient_flow",
    "preactivations",
)
SCOPED_PRECISION = (
    "bptt_gradient_norms",
    "diagnose",
    "input_jacobian",
    "jacobian_operator",
    "lyapunov_spectrum",
    "module_gradient_flow",
)
for _n in PRECISION_TAKERS:
    REGISTRY[_n].bad["precision bogus"] = (dict(precision="fastest-ish"), "precision", "raise")
    REGISTRY[_n].bad["precision a float"] = (dict(precision=3.7), "precision", "raise")
    REGISTRY[_n].bad["precision a 1-tuple"] = (dict(precision=("highest",)), "precision", "raise")
for _n in SCOPED_PRECISION:
    REGISTRY[_n].bad["precision pair (scoped default)"] = (dict(precision=("highest", "default")), "precision", "raise")


# ----------------------------------------------------------------------------- checking
FLAG_FIELDS = ("finite", "status", "converged", "nonfinite", "error", "state_finite")


def _leaves(out):
    if hasattr(out, "__dataclass_fields__"):
        out = [getattr(out, f) for f in out.__dataclass_fields__]
    return [
        x
        for x in jax.tree_util.tree_leaves(out)
        if isinstance(x, (jax.Array, np.ndarray, float, complex, np.floating, np.complexfloating))
    ]


def _flagged(out) -> bool:
    for f in FLAG_FIELDS:
        v = getattr(out, f, None)
        if v is None:
            continue
        if f == "error":
            return True
        v = np.asarray(v)
        if f in ("finite", "state_finite") and not v.all():
            return True
        if f == "status" and (v != 0).any():
            return True
        if f == "converged" and not v.all():
            return True
        if f == "nonfinite" and (v > 0).any():
            return True
    return False


def _all_finite(out) -> bool:
    for x in _leaves(out):
        a = np.asarray(x)
        if a.dtype.kind in "fc" and not np.isfinite(a).all():
            return False
    return True


def leading_names(msg: str) -> list[str]:
    """The argument names an error message leads with, by the library's convention
    ``"name: expected ..."`` or ``"a, b: expected ..."``; [] when there is no ``:``."""
    head, sep, _ = msg.partition(":")
    return [n.strip() for n in head.split(", ")] if sep else []


def outcome(thunk, arg: str, mode: str) -> str | None:
    """None when the bad input was handled well, else what went wrong."""
    try:
        out = jax.block_until_ready(thunk())
    except (ValueError, TypeError) as e:
        msg = str(e)
        if set(arg.split("|")) & set(leading_names(msg)):
            return None
        return f"{type(e).__name__} does not lead with {arg!r}: {msg[:160]}"
    except Exception as e:  # XLA, NumPy, ZeroDivision, ...
        return f"crash: {type(e).__name__}: {str(e)[:160]}"
    if _flagged(out):
        return None
    if not _all_finite(out):
        return "silent NaN/inf: result not finite and not flagged"
    if mode == "int":  # an integer array has exact float values: a finite result is fine
        return None
    return "accepted silently: returned a finite result for an invalid input"


def _exported(name: str) -> bool:
    """Whether ``vgtheory.<name>`` exists; a dotted name is a public method (``Comparison.from_ensemble``)."""
    obj = vg
    for part in name.split("."):
        if not hasattr(obj, part):
            return False
        obj = getattr(obj, part)
    return True


def test_outcome_wants_the_argument_leading_the_message():
    def raising(msg):
        def thunk():
            raise ValueError(msg)

        return thunk

    assert outcome(raising("x: expected a vector, got shape (2, 3)."), "x", "raise") is None
    assert outcome(raising("y, x: expected y's shape to broadcast to x's (4,), got (5,)."), "x", "raise") is None
    assert outcome(raising("n_qubits: expected an int in [1, 12], got 13."), "thetas|n_qubits", "raise") is None
    # the name elsewhere in the message, another case, or no leading name at all: not enough
    assert outcome(raising("wq: expected shape (5, 5) to match x's width, got (4, 4)."), "x", "raise")
    assert outcome(raising("X: expected a vector."), "x", "raise")
    assert outcome(raising("expected x to be a vector."), "x", "raise")
    assert outcome(raising("dtype argument to `normal` must be a float dtype, got int32"), "dtype", "raise")
    assert (
        outcome(lambda: jnp.ones(3), "x", "raise") == "accepted silently: returned a finite result for an invalid input"
    )


def test_registry_covers_every_public_function():
    public = sorted(
        n for n in dir(vg) if not n.startswith("_") and callable(getattr(vg, n)) and not inspect.isclass(getattr(vg, n))
    )
    missing = [n for n in public if n not in REGISTRY]
    assert not missing, f"public functions without a fuzz entry in tests/test_fuzz.py: {missing}"
    stale = [n for n in REGISTRY if not _exported(n)]
    assert not stale, f"fuzz entries for functions vgtheory no longer exports: {stale}"


def test_precision_takers_are_listed():
    takers = sorted(
        n
        for n in dir(vg)
        if not n.startswith("_")
        and callable(getattr(vg, n))
        and not inspect.isclass(getattr(vg, n))
        and "precision" in inspect.signature(getattr(vg, n)).parameters
    )
    assert takers == sorted(PRECISION_TAKERS), "update PRECISION_TAKERS in tests/test_fuzz.py"


@pytest.mark.parametrize("precision", [jax.lax.Precision.HIGHEST, "float32", None])
@pytest.mark.parametrize("name", PRECISION_TAKERS)
def test_precision_accepts_what_jax_takes(name, precision):
    out = REGISTRY[name].call(precision=precision)
    assert _all_finite(out) and not _flagged(out), f"{name}(precision={precision!r})"


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_valid_call_is_finite_or_flagged(name):
    out = REGISTRY[name].call()
    assert _all_finite(out) or _flagged(out), f"{name}: the valid call returned non-finite values"


BAD = [pytest.param(n, lab, id=f"{n}[{lab}]") for n, c in sorted(REGISTRY.items()) for lab in c.bad]


@pytest.mark.parametrize("name,label", BAD)
def test_bad_input_is_rejected(name, label):
    overrides, arg, mode = REGISTRY[name].bad[label]
    problem = outcome(lambda: REGISTRY[name].call(**overrides), arg, mode)
    assert problem is None, f"vgtheory.{name} with {label}: {problem}"


# ----------------------------------------------------------------------------- hypothesis
ARRAY_SLOTS = [(n, a) for n, c in sorted(REGISTRY.items()) for a in c.arrays]
SCALAR_SLOTS = [(n, a) for n, c in sorted(REGISTRY.items()) for a in c.scalars]
BAD_SCALARS = {
    "pos": [0.0, -1.0, NAN, math.inf, -math.inf],
    "nonneg": [-1e-3, -1.0, NAN, math.inf],
    "prob": [0.0, 1.0, -0.5, 1.5, NAN],
    "real": [NAN, math.inf, -math.inf],
    "int_pos": [0, -1, 2.5, "3", None],
}


@st.composite
def wrong_array(draw, slot):
    valid = slot.valid
    shape = list(valid.shape)
    fixed = sorted({ax % len(shape) for ax in slot.fixed}) if shape else []
    hows = (["size"] if fixed else []) + (["ndim"] if slot.strict_ndim else []) + ["dtype"]
    how = draw(st.sampled_from(hows))
    if how == "size":
        ax = draw(st.sampled_from(fixed))
        shape[ax] = draw(st.integers(1, 9).filter(lambda s: s != valid.shape[ax]))
        return jnp.ones(shape, valid.dtype), "raise"
    if how == "ndim":
        extra = draw(st.sampled_from(["drop", "add"])) if shape else "add"
        shape = shape[1:] if extra == "drop" else [2] + shape
        return jnp.ones(shape, valid.dtype), "raise"
    dtype = draw(st.sampled_from([jnp.int32, jnp.complex64]))
    return jnp.ones(valid.shape, dtype), "int" if dtype == jnp.int32 else "raise"


def _check_slot(name, arg, value, mode):
    problem = outcome(lambda: REGISTRY[name].call(**{arg: value}), arg, mode)
    assert problem is None, (
        f"vgtheory.{name}({arg}={getattr(value, 'shape', value)} {getattr(value, 'dtype', '')}): {problem}"
    )


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_hypothesis_wrong_arrays(data):
    name, arg = data.draw(st.sampled_from(ARRAY_SLOTS))
    value, mode = data.draw(wrong_array(REGISTRY[name].arrays[arg]))
    _check_slot(name, arg, value, mode)


@settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_hypothesis_bad_hyperparameters(data):
    name, arg = data.draw(st.sampled_from(SCALAR_SLOTS))
    value = data.draw(st.sampled_from(BAD_SCALARS[REGISTRY[name].scalars[arg]]))
    _check_slot(name, arg, value, "raise")
