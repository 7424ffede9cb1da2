"""Recording module outputs while a model runs: linen interception, nnx wrappers, ``vg.tap``.

A :class:`Recorder` on a thread-local stack sees every submodule output (and every
:func:`tap`) in call order. In its discovery pass it records their shapes; in the
differentiated pass it adds a zero perturbation to each, so that the gradient with respect
to the perturbation is the gradient with respect to the output
(:func:`vgtheory.module_gradient_flow`). Outside a recording everything is the identity.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from contextlib import contextmanager
from typing import Any, Mapping

import jax
import jax.numpy as jnp

from ._checks import ArgumentTypeError, short_repr

PyTree = Any


# ----------------------------------------------------------------------------- recording
class Recorder:
    """Collects module outputs: ``perts is None`` records their shapes (discovery pass);
    otherwise adds ``perts[key]`` (zeros, differentiated) to each output's floating leaves."""

    def __init__(self, perts=None):
        self.perts = perts
        self.shapes: OrderedDict = OrderedDict()
        self.counts: dict = {}
        self.paths: dict = {}  # nnx: id(module copy) → path
        self.active: set = set()  # modules inside their own __call__ (a super().__call__ is not a new call)

    def call(self, name: str, fn, *args, **kwargs):
        """Runs a module's ``fn(*args, **kwargs)`` and records its output under ``name``."""
        if name in self.active:
            return fn(*args, **kwargs)
        key = self.enter(name)
        self.active.add(name)
        try:
            out = fn(*args, **kwargs)
        finally:
            self.active.discard(name)
        return self.add(key, out)

    def enter(self, name: str) -> str:
        k = self.counts.get(name, 0)
        self.counts[name] = k + 1
        key = name if k == 0 else f"{name}:{k}"
        if self.perts is None:
            self.shapes[key] = ()  # reserve the slot: call (entry) order
        return key

    def add(self, key: str, value):
        leaves, treedef = jax.tree_util.tree_flatten(value)
        floats = [i for i, v in enumerate(leaves) if is_float(v)]
        if self.perts is None:
            self.shapes[key] = tuple(
                jax.ShapeDtypeStruct(jnp.shape(leaves[i]), jnp.result_type(leaves[i])) for i in floats
            )
            return value
        for i, d in zip(floats, self.perts[key]):
            leaves[i] = leaves[i] + d
        return jax.tree_util.tree_unflatten(treedef, leaves)


def is_float(v) -> bool:
    try:
        return jnp.issubdtype(jnp.result_type(v), jnp.floating)
    except TypeError:
        return False


_STACK = threading.local()


def _active() -> Recorder | None:
    stack = getattr(_STACK, "stack", None)
    return stack[-1] if stack else None


@contextmanager
def recording(rec: Recorder):
    stack = _STACK.__dict__.setdefault("stack", [])
    stack.append(rec)
    try:
        yield rec
    finally:
        stack.pop()


def tap(x: PyTree, name: str) -> PyTree:
    """Marks ``x`` as an activation named ``name`` for :func:`module_gradient_flow`.

    The identity (no cost, no effect) except while :func:`module_gradient_flow` traces the
    function, which then reports log‖∂L/∂x‖² under ``name`` (a second tap with the same name
    in one call is reported as ``"name:1"``, and so on).

    Args:
      x: any array or pytree of arrays (the floating leaves are tracked).
      name: the key in ``ModuleGradientFlow.activations``.

    Returns:
      ``x``.

    Example:
      >>> import jax.numpy as jnp
      >>> from vgtheory import module_gradient_flow
      >>> def f(w, x):
      ...     h = tap(jnp.tanh(w * x), "hidden")
      ...     return 2.0 * h
      >>> r = module_gradient_flow(f, jnp.ones(3), variables=jnp.zeros(3))
      >>> list(r.activations), float(r.activations["hidden"])   # ∂L/∂h = 2·(2h) = 0
      (['hidden'], -inf)
    """
    if not isinstance(name, str) or not name:
        raise ArgumentTypeError(f"name: expected a non-empty string, got {short_repr(name)}.")
    rec = _active()
    if rec is None:
        return x
    return rec.add(rec.enter(name), x)


# ----------------------------------------------------------------------------- model kinds
def model_kind(model) -> str:
    try:
        import flax.linen as nn
        from flax import nnx
    except ImportError:  # pragma: no cover - flax is a dependency
        nn = nnx = None
    if nn is not None and isinstance(model, nn.Module):
        return "linen"
    if nnx is not None and isinstance(model, nnx.Module):
        return "nnx"
    if callable(model):
        return "callable"
    raise ArgumentTypeError(
        f"model: expected a Flax linen module, an nnx module or a callable, got {short_repr(model)}."
    )


def _linen_interceptor(next_fun, args, kwargs, context):
    rec = _active()
    path = context.module.path if context.method_name == "__call__" else ()
    if rec is None or not path:  # the root module's output is the model output itself
        return next_fun(*args, **kwargs)
    return rec.call("/".join(str(p) for p in path), next_fun, *args, **kwargs)


_NNX_WRAPPERS: dict = {}


def _nnx_wrapper(cls):
    """A subclass of ``cls`` whose ``__call__`` records its output (cached per class)."""
    if cls not in _NNX_WRAPPERS:
        orig = cls.__call__

        def __call__(self, *args, **kwargs):
            rec = _active()
            path = rec.paths.get(id(self)) if rec is not None else None
            if rec is None or path is None:
                return orig(self, *args, **kwargs)
            return rec.call(path, orig, self, *args, **kwargs)

        _NNX_WRAPPERS[cls] = type(cls)(cls.__name__, (cls,), {"__call__": __call__, "__module__": cls.__module__})
    return _NNX_WRAPPERS[cls]


def _path_str(path) -> str:
    parts = []
    for k in path:
        for attr in ("key", "name", "idx"):  # DictKey, GetAttrKey, SequenceKey
            if hasattr(k, attr):
                k = getattr(k, attr)
                break
        parts.append(str(k))
    return "/".join(parts) or "params"


def split_model(model, kind, variables):
    """``(static, params, rest)``: the hashable part of the model, the differentiated
    parameters and the other (traced, not differentiated) state."""
    if kind == "linen":
        if not isinstance(variables, Mapping):
            raise ArgumentTypeError(
                f"variables: expected the linen module's variables (a dict from model.init), got {short_repr(variables)}."
            )
        rest = {c: v for c, v in variables.items() if c != "params"}
        return model, variables.get("params", {}), rest
    if kind == "nnx":
        from flax import nnx

        if variables is not None:
            raise ArgumentTypeError(
                f"variables: an nnx module carries its own state; expected None, got {short_repr(variables)}."
            )
        return nnx.split(model, nnx.Param, ...)
    return model, ({} if variables is None else variables), None


def make_run(kind, static, rest):
    """``run(params, x) -> output`` with every submodule output recorded."""
    if kind == "linen":
        import flax.linen as nn

        mutable = list(rest) or False  # mutable=[] would still return (out, {})

        def run(params, x):
            with nn.intercept_methods(_linen_interceptor):
                out = static.apply({**rest, "params": params}, x, mutable=mutable)
            return out[0] if mutable else out

        return run
    if kind == "nnx":
        from flax import nnx

        def run(params, x):
            m = nnx.merge(static, params, rest)
            rec = _active()
            assert rec is not None  # run is only called under the flow's recorder
            for path, sub in nnx.iter_modules(m):
                if path and callable(sub):
                    rec.paths[id(sub)] = "/".join(str(p) for p in path)
                    sub.__class__ = _nnx_wrapper(type(sub))
            return m(x)

        return run
    if kind == "fn":
        return lambda params, x: static(x)
    return lambda params, x: static(params, x)


def named_leaves(tree, kind) -> list:
    """``[(path, leaf)]`` in flattening order; an nnx ``State`` leaf's trailing ``.value`` is dropped."""
    out = []
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        if kind == "nnx" and path and getattr(path[-1], "name", None) == "value":
            path = path[:-1]
        out.append((_path_str(path), leaf))
    return out
