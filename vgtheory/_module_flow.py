"""Per-module gradient flow of any Flax model or JAX function, without changing its code.

For a loss L(y) of a model's output y, :func:`module_gradient_flow` returns, for every
submodule m, log‖∂L/∂z_m‖² where z_m is m's output, and for every parameter leaf θ,
log‖∂L/∂θ‖². How: every submodule output is replaced by ``z_m + δ_m`` with δ_m = 0, and
one reverse pass differentiates L with respect to the parameters and the δ's together:
∂L/∂δ_m = ∂L/∂z_m (the ``perturb`` trick of Flax's ``Module.perturb``, applied from the
outside). The outputs are found

- **linen**: by a method interceptor (``flax.linen.intercept_methods``) around every
  submodule's ``__call__``; the key is the module path (``"Dense_0"``, ``"blocks_1/attn"``);
- **nnx**: on a copy made by ``nnx.split``/``nnx.merge`` whose submodules (from
  ``nnx.iter_modules``) get a ``__call__`` wrapper; the key is the attribute path
  (``"layers/0"``); the user's module is never touched;
- **plain JAX functions**: at markers the user places, ``vg.tap(z, "name")`` (the identity
  outside :func:`module_gradient_flow`, so the function runs unchanged elsewhere). Taps work
  inside linen and nnx modules too.

A module called twice gets a second key ``"name:1"``. A submodule inside a lifted loop
(``nn.scan``, ``lax.scan``) is traced once, so its entry is the gradient summed over the
iterations. Everything is one forward and one backward pass: jit- and vmap-able, so
:func:`vgtheory.ensemble` gives the mean and standard error over initialisations.
"""

from __future__ import annotations

import functools
import weakref
from collections import OrderedDict
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._checks import ArgumentTypeError, short_repr, check_callable, check_precision, ScopedPrecision, check_real_or_int
from ._intercept import Recorder, is_float, model_kind, make_run, named_leaves, recording, split_model
from ._intercept import tap as tap

PyTree = Any


class ModuleGradientFlow(NamedTuple):
    """Per-module and per-parameter gradient norms, in log domain (log of squared norms).

    Attributes:
      activations: ``OrderedDict`` module path → log‖∂L/∂(that module's output)‖², in call
        order (the order the modules were entered: a parent before its children, as in
        ``nn.tabulate``); the root module is left out (its output is the model output).
      params: ``OrderedDict`` parameter path (``"Dense_0/kernel"``) → log‖∂L/∂θ‖²_F.
      input: log‖∂L/∂x‖² (None when ``x`` has integer leaves, e.g. token ids).
      loss: the loss value L.
      finite: whether every number above is finite; False flags an exactly zero gradient
        (log −inf: a dead ReLU layer, or an underflow in the model's dtype) or a NaN/inf.
    """

    activations: dict
    params: dict
    input: Float[Array, ""] | None
    loss: Float[Array, ""]
    finite: Array


# ----------------------------------------------------------------------------- norms
def log_sq_norm(tree: PyTree) -> Float[Array, ""]:
    """log‖tree‖² over all leaves, scaled by the largest |entry| so that squares never
    underflow or overflow; exactly −inf for an all-zero tree, NaN if an entry is NaN/inf."""
    leaves = [jnp.ravel(a) for a in jax.tree_util.tree_leaves(tree) if jnp.size(a)]
    if not leaves:
        return jnp.asarray(-jnp.inf)
    v = jnp.concatenate([a.astype(jnp.result_type(*leaves)) for a in leaves])
    m = jnp.max(jnp.abs(v))
    safe = jnp.where(m == 0, jnp.ones_like(m), m)  # NaN/inf stay: they must show
    s = jnp.sum(jnp.square(v / safe))
    return jnp.where(m == 0, -jnp.inf, 2 * jnp.log(safe) + jnp.log(s))


def _half_sq(y):
    return 0.5 * sum(jnp.sum(jnp.square(a)) for a in jax.tree_util.tree_leaves(y))


# ----------------------------------------------------------------------------- public
def module_gradient_flow(
    model, x: PyTree, loss: Callable | None = None, variables: PyTree = None, *, precision: ScopedPrecision = "highest"
) -> ModuleGradientFlow:
    """log‖∂L/∂z_m‖² for every submodule output z_m and log‖∂L/∂θ‖² for every parameter leaf.

    Args:
      model: a Flax linen module (give its ``variables``), an nnx module, or a JAX callable
        ``model(x)`` (or ``model(variables, x)`` when ``variables`` is given) with
        :func:`tap` markers on the activations to follow.
      x: the model input, any array or pytree (one example or a batch, as the model takes).
      loss: ``loss(output) -> scalar``; default L = ½‖output‖² (so ∂L/∂output = output).
      variables: linen: the variables from ``model.init`` (the ``"params"`` collection is
        differentiated, others such as ``"batch_stats"`` are applied as mutable and left
        alone); nnx: None (the module's ``nnx.Param`` state is differentiated); callable:
        the parameter pytree passed as first argument, or None.
      precision: default matmul precision while tracing the model (``"highest"``: true
        float32 on GPUs, not TF32; any name ``jax.default_matmul_precision`` takes).

    Returns:
      :class:`ModuleGradientFlow`.

    Raises:
      TypeError: a model that is neither a Flax module nor callable, missing linen
        ``variables``, a loss that is not a real scalar, complex ``x``.
      ValueError: the model cannot be applied to ``x``; unknown ``precision``.

    Compilation: the flow is jitted and cached per (model, loss, precision) — a linen module
    or an nnx graph by value, a function by identity — so a second call with the same shapes
    does not retrace. As with ``jax.jit``, arrays that ``loss`` or a function model read from
    an enclosing scope are frozen into that compiled trace: pass what changes through ``x``
    or ``variables``, or a new ``loss`` closure (a function without ``variables`` is traced
    anew on every call for this reason).

    Math: with δ_m = 0 added to z_m, ∂L/∂δ_m = ∂L/∂z_m, so one reverse pass gives all
    activation and parameter gradients. log‖g‖² = 2 log max|g| + log Σ (g/max|g|)²,
    −inf exactly when g = 0.

    Example:
      >>> import jax, jax.numpy as jnp, flax.linen as nn
      >>> model = nn.Sequential([nn.Dense(8), nn.relu, nn.Dense(2)])
      >>> x = jnp.ones(3)
      >>> v = model.init(jax.random.key(0), x)
      >>> r = module_gradient_flow(model, x, variables=v)
      >>> list(r.activations), list(r.params)[:2]
      (['layers_0', 'layers_2'], ['layers_0/bias', 'layers_0/kernel'])
      >>> y = model.apply(v, x)   # L = ½‖y‖²: ∂L/∂y = y
      >>> bool(jnp.isclose(r.activations["layers_2"], jnp.log(jnp.sum(y**2))))
      True
    """
    kind = model_kind(model)
    precision = check_precision(precision, scoped=True)
    if kind == "linen" and variables is None:
        raise ArgumentTypeError("variables: expected the linen module's variables (from model.init), got None.")
    if loss is None:
        loss = _half_sq
    check_callable("loss", loss, "loss(output) -> scalar")
    leaves = jax.tree_util.tree_leaves(x)
    if not leaves:
        raise ValueError("x: expected an array or a pytree of arrays, got an empty pytree.")
    for leaf in leaves:
        check_real_or_int("x", leaf)
    static, params, rest = split_model(model, kind, variables)
    if kind == "callable":
        kind = "fn" if variables is None else "fn_params"
    return _compiled(kind, static, loss, precision)(params, rest, x)


_JITTED = jax.jit(
    lambda kind, static, loss, precision, params, rest, x: _flow(kind, static, loss, precision, params, rest, x),
    static_argnums=(0, 1, 2, 3),
)
_BY_ID: dict = {}  # id(model) → (weakref to it, {(kind, loss, precision): jitted flow})


def _per_model(static) -> dict:
    """The cache of an unhashable model, kept while the model lives (weakly, by identity)."""
    i = id(static)
    entry = _BY_ID.get(i)
    if entry is None or entry[0]() is not static:
        ref = weakref.ref(static, lambda _, i=i: _BY_ID.pop(i, None))
        entry = _BY_ID[i] = (ref, {})
    return entry[1]


def _compiled(kind, static, loss, precision):
    """The flow as a compiled function of ``(params, rest, x)``, cached so that a second eager
    call with the same model, loss and shapes does not retrace: by value when the model (a
    linen module, an nnx graphdef, a function) and the loss hash, else weakly by the model's
    identity. Not for a function without ``variables`` (its parameters can only be closed
    over or global, and a cached trace would freeze them), nor when nothing hashes."""
    statics = (kind, static, loss, precision)
    if kind == "fn":
        return functools.partial(_flow, *statics)
    try:
        hash(statics)
        return functools.partial(_JITTED, *statics)
    except TypeError:  # e.g. nn.Sequential([...]) holds a list
        pass
    try:
        key = (kind, loss, precision)
        hash(key)
        per_model = _per_model(static)
    except TypeError:  # an unhashable loss, or a model that is not weak-referenceable
        return functools.partial(_flow, *statics)
    if key not in per_model:
        ref = weakref.ref(static)  # the cache must not keep the model alive
        per_model[key] = jax.jit(lambda params, rest, x: _flow(kind, ref(), loss, precision, params, rest, x))
    return per_model[key]


def _flow(kind, static, loss, precision, params, rest, x) -> ModuleGradientFlow:
    run_model = make_run(kind, static, rest)

    def run(params, x):
        with jax.default_matmul_precision(precision):
            return run_model(params, x)

    def discover(params, x):
        with recording(Recorder()) as rec:
            out = run(params, x)
        return out, rec.shapes

    try:
        rec_shapes = {}
        out_shape = jax.eval_shape(lambda p, x: _store(rec_shapes, discover(p, x)), params, x)
    except Exception as e:  # noqa: BLE001 - Flax's errors (e.g. ScopeParamShapeError) are plain Exceptions
        raise ValueError(
            f"x: applying the model to x (shapes {jax.tree.map(jnp.shape, x)}) failed: {type(e).__name__}: {e}"
        ) from e
    shapes = rec_shapes["shapes"]
    _check_loss(loss, out_shape)
    perts = OrderedDict((k, tuple(jnp.zeros(s.shape, s.dtype) for s in v)) for k, v in shapes.items())
    x_float = all(is_float(a) for a in jax.tree_util.tree_leaves(x))

    def total(params, perts, x):
        with recording(Recorder(perts)):
            out = run(params, x)
        return loss(out)

    if x_float:
        value, (gp, ga, gx) = jax.value_and_grad(total, argnums=(0, 1, 2))(params, perts, x)
        g_in = log_sq_norm(gx)
    else:
        value, (gp, ga) = jax.value_and_grad(total, argnums=(0, 1))(params, perts, x)
        g_in = None
    acts = OrderedDict((k, log_sq_norm(g)) for k, g in ga.items())
    pars = OrderedDict((n, log_sq_norm(g)) for n, g in named_leaves(gp, kind))
    everything = list(acts.values()) + list(pars.values()) + [value] + ([g_in] if g_in is not None else [])
    finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(v)) for v in everything]))
    return ModuleGradientFlow(acts, pars, g_in, value, finite)


def _store(box, result):
    out, shapes = result
    box["shapes"] = shapes
    return out


def _check_loss(loss, out_shape):
    try:
        val = jax.eval_shape(loss, out_shape)
    except (TypeError, ValueError) as e:
        raise ValueError(f"loss: calling loss(output) failed: {e}") from e
    if not isinstance(val, jax.ShapeDtypeStruct) or val.shape != () or not jnp.issubdtype(val.dtype, jnp.floating):
        got = f"{val.shape} {val.dtype}" if isinstance(val, jax.ShapeDtypeStruct) else short_repr(val)
        raise ArgumentTypeError(f"loss: expected loss(output) to return a real floating scalar, got {got}.")
