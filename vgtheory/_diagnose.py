"""A gradient-health report for a researcher's own model: ``vg.diagnose``.

"Does *my* model have vanishing or exploding gradients at initialisation, where, and what
does theory say?" :func:`diagnose` answers it from a :class:`Problem` (the user's model,
an example batch and optionally a loss, an optax optimiser, a recurrent cell and a
mean-field hint) with the toolkit's own pieces, over an ensemble of initialisations:

=====================  ===========================================  =====================
measurement            how                                          mean ± SE over
=====================  ===========================================  =====================
per-module ‖∂L/∂z‖²    :func:`module_gradient_flow` (log domain)    ``members`` inits
per-leaf ‖∂L/∂θ‖²      :func:`module_gradient_flow`                 ``members`` inits
Jacobian spectrum      dense ∂y/∂x of one example, SVD, numerical   ``members`` inits
                       rank above the rounding floor
Hessian top-k, trace   :func:`hessian_eigh` (both ends),            ``hessian_members``
                       :func:`hessian_trace`
sharpness in training  :func:`sharpness_trajectory` vs 2/η          one run
Lyapunov, BPTT         :func:`lyapunov_spectrum`,                   ``hessian_members``
                       :func:`bptt_gradient_norms`
mean field             :func:`theory.mean_field` vs the measured    —
                       per-layer rate (jackknife SE)
=====================  ===========================================  =====================

Every finding is a sentence with the number behind it (:attr:`Diagnosis.findings`);
:meth:`Diagnosis.save` writes ``diagnosis.json`` (every number, seed, configuration and
versions) and a self-contained ``report.html`` with figures.
"""

from __future__ import annotations

import math
import os
from typing import Any, Callable, NamedTuple

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np

from ._checks import ArgumentTypeError, ScopedPrecision, short_repr, check_callable, check_int, check_precision
from ._ensemble import ensemble
from ._module_flow import module_gradient_flow
from ._numerics import wide_dtype as _wide

PyTree = Any
LN10 = math.log(10.0)


class Recurrent(NamedTuple):
    """A recurrent cell to diagnose through time.

    Attributes:
      step: ``step(params, h, x) -> h_next`` (``x`` is None when ``inputs`` is None).
      init: ``init(key) -> params`` of ``step``.
      h0: initial state, any pytree (e.g. Flax's LSTM carry ``(c, h)``).
      inputs: inputs ``[T, ...]`` (pytree with leading axis T) or None.
      steps: T.
    """

    step: Callable
    init: Callable
    h0: PyTree
    inputs: PyTree = None
    steps: int = 100


class MeanFieldHint(NamedTuple):
    """Says that the model is an MLP-like stack of one activation, for the mean-field row.

    Attributes:
      activation: a name (``"tanh"``) or elementwise callable.
      sigma_w2, sigma_b2: the weight and bias variances (fan-in scaled) of the init.
      modules: module paths of the stack's layers in depth order (keys of
        :attr:`ModuleGradientFlow.activations`); default: every recorded module.
      width: the layer width, for the stated O(1/width) finite-width allowance.
    """

    activation: Any
    sigma_w2: float
    sigma_b2: float
    modules: tuple | None = None
    width: int | None = None


class Problem(NamedTuple):
    """What :func:`diagnose` needs; a factory ``make(smoke=False) -> Problem`` builds it.

    Attributes:
      model: a Flax linen module; a plain function ``model(params, x)`` (give ``init``); or
        None for an nnx model (``init`` returns the module).
      x: an example batch (any array or pytree the model takes).
      init: ``init(key)`` → linen variables (default ``model.init(key, x)``), the nnx module
        (e.g. ``lambda k: MyNet(rngs=nnx.Rngs(k))``) or the plain function's params.
      loss: ``loss(output) -> scalar`` (default ½‖output‖² / batch size).
      optimizer: an optax transformation for a short training run (optional).
      learning_rate: η of ``optimizer``, for the 2/η edge-of-stability line.
      recurrent: a :class:`Recurrent` cell (optional).
      mean_field: a :class:`MeanFieldHint` (optional).
      name: a label for the report.
    """

    model: Any
    x: PyTree
    init: Callable | None = None
    loss: Callable | None = None
    optimizer: Any = None
    learning_rate: float | None = None
    recurrent: Recurrent | None = None
    mean_field: MeanFieldHint | None = None
    name: str = "model"


class Diagnosis(NamedTuple):
    """The measurements (plain floats and lists), the findings and the configuration.

    Attributes:
      findings: list of dicts ``{topic, verdict, text, evidence}``.
      measurements: every number behind the findings (mean, SE, SD, n, nonfinite per quantity).
      config: the settings, the key data and the input shapes.
      nonfinite: how many numbers in ``measurements`` and ``findings`` are not finite. Each
        has a stated meaning, never a failed computation passed off as a value: −inf is the
        log of an exactly zero gradient (a dead module), NaN an undefined statistic (the SE
        or SD of fewer than two finite members; a mean with none), +inf the GD step bound
        2/λ_max when λ_max ≤ 0.
    """

    findings: list
    measurements: dict
    config: dict
    nonfinite: int = 0

    def save(self, out: str | os.PathLike) -> dict:
        """Writes ``out/diagnosis.json`` and ``out/report.html``; returns their paths."""
        from ._diagnose_report import write

        return write(self, os.fspath(out))


# ----------------------------------------------------------------------------- the model as functions
def _kind(problem: Problem) -> str:
    import flax.linen as nn

    if isinstance(problem.model, nn.Module):
        return "linen"
    if problem.model is None:
        if problem.init is None:
            raise ArgumentTypeError("init: with model=None (an nnx model), expected init(key) -> the module, got None.")
        return "nnx"
    if callable(problem.model):
        if problem.init is None:
            raise ArgumentTypeError("init: a plain-function model needs init(key) -> params, got None.")
        return "callable"
    raise ArgumentTypeError(
        f"model: expected a Flax linen module, a function model(params, x) or None "
        f"(nnx: init returns the module), got {short_repr(problem.model)}."
    )


def _functional(problem: Problem, kind: str, key):
    """``(model, variables, params, apply)`` for one initialisation drawn with ``key``:
    ``model``/``variables`` as :func:`module_gradient_flow` takes them, ``apply(params, x)``
    the output as a function of the differentiated parameters."""
    if kind == "linen":
        init = problem.init or (lambda k: problem.model.init(k, problem.x))
        variables = init(key)
        rest = {c: v for c, v in variables.items() if c != "params"}

        def apply(p, x):
            out = problem.model.apply({**rest, "params": p}, x, mutable=list(rest) or False)
            return out[0] if rest else out

        return problem.model, variables, variables["params"], apply
    if kind == "nnx":
        from flax import nnx

        assert problem.init is not None  # _kind checked it
        module = problem.init(key)
        if not isinstance(module, nnx.Module):
            raise ArgumentTypeError(
                f"init: with model=None, expected init(key) to return an nnx module, got {short_repr(module)}."
            )
        graphdef, params, rest = nnx.split(module, nnx.Param, ...)
        return module, None, params, lambda p, x: nnx.merge(graphdef, p, rest)(x)
    assert problem.init is not None  # _kind checked it
    params = problem.init(key)
    return problem.model, params, params, problem.model


def _default_loss(x):
    leaves = jax.tree_util.tree_leaves(x)
    batch = leaves[0].shape[0] if leaves and jnp.ndim(leaves[0]) > 0 else 1

    def loss(out):
        return 0.5 * sum(jnp.sum(jnp.square(a)) for a in jax.tree_util.tree_leaves(out)) / batch

    return loss


def _first_example(x):
    return jax.tree.map(lambda a: a[:1] if jnp.ndim(a) > 0 else a, x)


# ----------------------------------------------------------------------------- one member
def _member_fn(problem: Problem, kind: str, loss: Callable, jac_max: int, precision=None):
    """``fn(key) -> dict`` of one initialisation's log-domain measurements."""
    x1 = _first_example(problem.x)
    n_in = sum(int(np.prod(jnp.shape(a))) for a in jax.tree_util.tree_leaves(x1))

    def fn(key):
        model, variables, params, apply = _functional(problem, kind, key)
        flow = module_gradient_flow(model, problem.x, loss, variables, precision=precision)
        out = {
            "act": jnp.stack(list(flow.activations.values())) if flow.activations else jnp.zeros(0),
            "par": jnp.stack(list(flow.params.values())),
            "loss": flow.loss,
        }
        if flow.input is not None:
            out["input"] = flow.input
        flat_x, unravel = jax.flatten_util.ravel_pytree(x1)
        if jnp.issubdtype(flat_x.dtype, jnp.floating) and n_in <= jac_max:

            def f(v):
                return jax.flatten_util.ravel_pytree(apply(params, unravel(v)))[0]

            jac = jax.jacrev(f)(flat_x)
            if jac.shape[0] * jac.shape[1] <= jac_max * jac_max:
                s = jnp.linalg.svd(jac.astype(_wide(jac.dtype)), compute_uv=False)
                eps = jnp.finfo(jac.dtype).eps  # the model's own rounding: the floor of resolution
                floor = s[0] * eps * max(jac.shape)
                out["log_sv"] = jnp.log(jnp.maximum(s, jnp.finfo(s.dtype).tiny))
                out["resolved"] = (s > floor).astype(s.dtype)
                out["rank"] = jnp.sum(s > floor).astype(s.dtype)
        return out

    return fn


# ----------------------------------------------------------------------------- statistics helpers
def _stats(samples: np.ndarray) -> dict:
    """mean, SE and SD over axis 0 of finite members; counts non-finite ones."""
    samples = np.asarray(samples, np.float64)
    ok = np.isfinite(samples)
    n = ok.sum(axis=0)
    s = np.where(ok, samples, 0.0)
    mean = s.sum(axis=0) / np.maximum(n, 1)
    var = (np.where(ok, samples - mean, 0.0) ** 2).sum(axis=0) / np.maximum(n - 1, 1)
    mean = np.where(n > 0, mean, np.nan)
    sd = np.where(n > 1, np.sqrt(var), np.nan)
    return {
        "mean": mean.tolist(),
        "se": (sd / np.sqrt(np.maximum(n, 1))).tolist(),
        "sd": sd.tolist(),
        "n": n.tolist(),
        "nonfinite": (samples.shape[0] - n).tolist(),
    }


def _slope_jackknife(profile: np.ndarray) -> tuple[float, float]:
    """Least-squares slope of log E[g_l²] over layers l (members on axis 0), with its
    jackknife SE over members; log E is a log-sum-exp of the members' log values."""
    m, L = profile.shape
    depth = np.arange(L, dtype=np.float64)

    def slope(rows):
        top = rows.max(axis=0)
        log_mean = top + np.log(np.mean(np.exp(rows - top), axis=0))
        return np.polyfit(depth, log_mean, 1)[0]

    full = slope(profile)
    loo = np.array([slope(np.delete(profile, i, axis=0)) for i in range(m)])
    se = math.sqrt((m - 1) / m * np.sum((loo - loo.mean()) ** 2))
    return float(full), float(se)


def _unused_calls(modules: list, act) -> list:
    """Module calls whose output never reaches the loss: exactly zero gradient in every
    member while another call of the same module (``name:k``) is live. Flax's lifted
    transforms (``nn.scan``, ``nn.RNN``) trace their body once more to find shapes; that
    call is recorded but unused. A module dead in every member with no live sibling call
    stays (a dead layer is a finding)."""
    if act is None or not modules:
        return []
    act = np.asarray(act)
    base = [m.split(":")[0] for m in modules]
    zero = np.all(np.isneginf(act), axis=0)
    live = {b for b, z in zip(base, zero) if not z}
    return [m for m, b, z in zip(modules, base, zero) if z and b in live and base.count(b) > 1]


def _log10(x: float) -> float:
    return x / LN10


# ----------------------------------------------------------------------------- public
def diagnose(
    problem: Problem,
    key: jax.Array,
    *,
    members: int = 16,
    hessian_members: int = 2,
    hessian_k: int = 3,
    train_steps: int = 40,
    jacobian_max: int = 1024,
    progress: bool | None = None,
    checkpoint: str | None = None,
    precision: ScopedPrecision = "highest",
) -> Diagnosis:
    """Gradient health of a model at initialisation, with the evidence for every finding.

    Args:
      problem: a :class:`Problem` (the user's model, batch, optional loss, optimiser,
        recurrent cell and mean-field hint).
      key: PRNG key; member i is initialised with ``fold_in(key, i)`` (as in
        :func:`ensemble`).
      members: initialisations for the gradient-flow and Jacobian statistics (≥ 2).
      hessian_members: initialisations for the Hessian and recurrent measurements (≥ 1).
      hessian_k: eigenvalues at each end of the Hessian spectrum.
      train_steps: steps of the training run when ``problem.optimizer`` is given (0: none).
      jacobian_max: skip the dense input–output Jacobian when the example has more inputs
        than this.
      progress, checkpoint: passed to :func:`ensemble` (a progress bar; a resumable file).
      precision: default matmul precision while the model is traced for every measurement
        (``"highest"``: true float32 on GPUs, not TF32; any name
        ``jax.default_matmul_precision`` takes; None keeps JAX's default).

    Returns:
      :class:`Diagnosis`: ``findings`` (sentences, each with its number), ``measurements``
      (mean, SE and SD of every quantity, in log₁₀ where said), ``config``.

    Raises:
      TypeError, ValueError: a malformed ``problem`` (naming the field), bad counts.
    """
    if not isinstance(problem, Problem):
        raise ArgumentTypeError(f"problem: expected a vg.Problem, got {short_repr(problem)}.")
    members = check_int("members", members, lo=2)
    hessian_members = check_int("hessian_members", hessian_members, lo=1)
    hessian_k = check_int("hessian_k", hessian_k, lo=1)
    train_steps = check_int("train_steps", train_steps, lo=0)
    jacobian_max = check_int("jacobian_max", jacobian_max, lo=1)
    precision = check_precision(precision, scoped=True)
    with jax.default_matmul_precision(precision):
        return _diagnose(
            problem,
            key,
            members,
            hessian_members,
            hessian_k,
            train_steps,
            jacobian_max,
            progress,
            checkpoint,
            precision,
        )


def _diagnose(
    problem, key, members, hessian_members, hessian_k, train_steps, jacobian_max, progress, checkpoint, precision
) -> Diagnosis:
    kind = _kind(problem)
    loss = problem.loss if problem.loss is not None else _default_loss(problem.x)
    check_callable("loss", loss, "loss(output) -> scalar")
    if problem.optimizer is not None and problem.learning_rate is not None and not problem.learning_rate > 0:
        raise ValueError(f"learning_rate: expected a positive number, got {problem.learning_rate!r}.")

    # names (module paths, parameter leaves) from one abstract member
    def names(k):
        model, variables, _, _ = _functional(problem, kind, k)
        return module_gradient_flow(model, problem.x, loss, variables, precision=precision)

    flow0 = jax.eval_shape(names, key)
    modules, leaves = list(flow0.activations), list(flow0.params)

    res = ensemble(
        _member_fn(problem, kind, loss, jacobian_max, precision),
        key,
        members,
        keep_samples=True,
        progress=progress,
        checkpoint=checkpoint,
    )
    samples = jax.tree.map(np.asarray, res.samples)
    unused = _unused_calls(modules, samples.get("act"))
    if unused:
        keep = [i for i, m in enumerate(modules) if m not in unused]
        modules = [modules[i] for i in keep]
        samples["act"] = samples["act"][:, keep]
    meas: dict = {"modules": modules, "leaves": leaves, "members": members, "unused_calls": unused}
    meas["activations"] = _stats(samples["act"]) if modules else None
    meas["params"] = _stats(samples["par"])
    meas["loss"] = _stats(samples["loss"])
    if "input" in samples:
        meas["input"] = _stats(samples["input"])
    if "log_sv" in samples:
        meas["jacobian"] = {
            "log_sv": _stats(samples["log_sv"]),
            "resolved": _stats(samples["resolved"]),
            "rank": _stats(samples["rank"]),
            "size": int(samples["log_sv"].shape[1]),
        }
        cond = [
            float(ls[0] - ls[int(r) - 1]) if r >= 1 else math.nan for ls, r in zip(samples["log_sv"], samples["rank"])
        ]
        meas["jacobian"]["log_cond"] = _stats(np.asarray(cond))
    meas["hessian"] = _hessian(problem, kind, loss, key, hessian_members, hessian_k)
    if problem.optimizer is not None and train_steps > 0:
        meas["training"] = _training(problem, kind, loss, jax.random.fold_in(key, 0), train_steps)
    if problem.recurrent is not None:
        meas["recurrent"] = _recurrent(problem.recurrent, key, hessian_members)
    if problem.mean_field is not None:
        meas["mean_field"] = _mean_field(problem.mean_field, modules, samples.get("act"))
    config = {
        "name": problem.name,
        "kind": kind,
        "members": members,
        "hessian_members": hessian_members,
        "hessian_k": hessian_k,
        "train_steps": train_steps,
        "jacobian_max": jacobian_max,
        "precision": precision,
        "key": np.asarray(jax.random.key_data(key)).tolist(),
        "x_shapes": jax.tree.map(lambda a: list(jnp.shape(a)), problem.x),
        "learning_rate": problem.learning_rate,
        "mean_field": None
        if problem.mean_field is None
        else {**problem.mean_field._asdict(), "activation": str(problem.mean_field.activation)},
    }
    from ._diagnose_findings import findings

    found = findings(meas, config)
    return Diagnosis(found, meas, config, _count_nonfinite((meas, found)))


def _count_nonfinite(tree) -> int:
    if isinstance(tree, dict):
        return sum(_count_nonfinite(v) for v in tree.values())
    if isinstance(tree, (list, tuple)):
        return sum(_count_nonfinite(v) for v in tree)
    return int(isinstance(tree, float) and not math.isfinite(tree))


def _hessian(problem, kind, loss, key, count, k) -> dict:
    from ._lanczos import hessian_eigh
    from ._trace import hessian_trace

    _, _, params0, _ = _functional(problem, kind, key)
    d = jax.flatten_util.ravel_pytree(params0)[0].size
    if d < 2 * k + 2:
        return {"skipped": f"{d} parameters: too few for {k} eigenvalues at each end"}

    @jax.jit
    def one(key):  # traced once, run per member
        _, _, params, apply = _functional(problem, kind, key)

        def lf(p):
            return loss(apply(p, problem.x))

        kk = jax.random.fold_in(key, 1)
        hi = hessian_eigh(lf, params, k, kk, which="largest")
        lo = hessian_eigh(lf, params, k, kk, which="smallest")
        tr = hessian_trace(lf, params, kk, min(120, 3 * (d - 1)))  # Hutch++ sketch < d
        return hi.values, lo.values, tr.mean, tr.se

    got = [jax.tree.map(np.asarray, one(jax.random.fold_in(key, i))) for i in range(count)]
    top, bottom, trace, trace_se = (np.stack([g[j] for g in got]).astype(np.float64) for j in range(4))
    out = {
        "top": _stats(top),
        "bottom": _stats(bottom),
        "trace": _stats(trace),
        "top_members": top.tolist(),
        "trace_estimator_se": trace_se.tolist(),
        "members": count,
    }
    lam = out["top"]["mean"][0]
    out["lr_max_gd"] = 2.0 / lam if lam > 0 else math.inf
    return out


def _training(problem, kind, loss, key, steps) -> dict:
    """Trains the initialisation drawn with ``key`` (the Hessian's member 0)."""
    from ._landscape import sharpness_trajectory

    _, _, params, apply = _functional(problem, kind, key)
    every = max(1, steps // 10)
    steps = every * max(1, steps // every)
    tr = sharpness_trajectory(
        lambda p: loss(apply(p, problem.x)), params, problem.optimizer, steps, every, jax.random.fold_in(key, 2)
    )
    out = {
        "steps": np.asarray(tr.steps).tolist(),
        "sharpness": np.asarray(tr.sharpness, np.float64).tolist(),
        "loss": np.asarray(tr.losses, np.float64).tolist(),
    }
    if problem.learning_rate is not None:
        out["two_over_eta"] = 2.0 / float(problem.learning_rate)
    return out


def _recurrent(cell: Recurrent, key, count) -> dict:
    from ._bptt import bptt_gradient_norms
    from ._lyapunov import lyapunov_spectrum

    @jax.jit
    def one(key):  # traced once, run per member
        params = cell.init(key)
        ly = lyapunov_spectrum(cell.step, params, cell.h0, cell.inputs, steps=cell.steps)
        br = bptt_gradient_norms(cell.step, params, cell.h0, cell.inputs, steps=cell.steps)
        return ly.exponents, ly.se, ly.resolved, ly.status, br.log_sq_norms / 2  # log‖g‖: per step, comparable with λ₁

    got = [jax.tree.map(np.asarray, one(jax.random.fold_in(key, 1000 + i))) for i in range(count)]
    lyap, block_se, resolved, status, bptt = (np.stack([g[j] for g in got]) for j in range(5))
    bp = bptt.astype(np.float64)
    lag = np.arange(bp.shape[1])[::-1].astype(np.float64)  # T − t
    rates = [np.polyfit(lag, b, 1)[0] if np.all(np.isfinite(b)) else math.nan for b in bp]
    out = {
        "lyapunov": _stats(lyap),
        "resolved": _stats(resolved.astype(np.float64)),
        "status": status.tolist(),
        "bptt": _stats(bp),
        "lag": lag.tolist(),
        "bptt_rate": _stats(np.asarray(rates)),
        "members": count,
        "steps": cell.steps,
    }
    if count == 1:  # one initialisation: the time-block SE of its exponents (no SE over inits)
        out["lyapunov"]["se"] = block_se[0].astype(np.float64).tolist()
    return out


def _mean_field(hint: MeanFieldHint, modules, act) -> dict:
    from .theory import mean_field

    mf = mean_field(hint.activation, hint.sigma_w2, hint.sigma_b2)
    out: dict[str, Any] = {k: float(v) for k, v in mf._asdict().items()}
    out["log_chi1"] = math.log(out["chi1"]) if out["chi1"] > 0 else -math.inf
    chosen = list(hint.modules) if hint.modules else modules
    missing = [m for m in chosen if m not in modules]
    if missing:
        raise ValueError(f"mean_field.modules: {missing} are not modules of the model (recorded: {modules}).")
    if act is None or len(chosen) < 3:
        out["measured"] = None
        return out
    idx = [modules.index(m) for m in chosen]
    prof = np.asarray(act, np.float64)[:, idx][:, ::-1]  # output side first: depth counted backwards
    if not np.all(np.isfinite(prof)):
        out["measured"] = None
        out["note"] = "a member had an exactly zero gradient (dead layer): no rate"
        return out
    rate, se = _slope_jackknife(prof)
    bias = 1.0 / hint.width if hint.width else 0.0
    out["measured"] = {"rate": rate, "se": se, "bias": bias, "layers": len(chosen)}
    return out
