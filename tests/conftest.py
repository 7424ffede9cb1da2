"""Test configuration: float64 available, strict rank promotion, runtime type checks, and a
seeded key fixture that reports its seed.

Runtime type checks (issue 16): every function in ``vgtheory`` is imported under
``jaxtyping.install_import_hook("vgtheory", TYPECHECKER)`` (beartype, reading ``float`` as PEP 484
does: an int is accepted), so each call checks its
arguments and return value against the jaxtyping annotations (``Float[Array, "n n"]``).
A wrong annotation fails whichever test calls the function. The library's own argument
checks come first: when a call fails its type check, it is run again with type checks off,
and if the library rejects the input itself, its error (``"name: expected …, got …"``, which
the bad-input tests assert) is what the test sees, chained from the type-check error. If the
library accepts the input, the type-check error stands. ``VGTHEORY_TYPECHECK=0`` turns the
checks off (the suite then runs as a user's code would).
"""

import functools
import importlib.util
import inspect
import os
import pkgutil
import sys

import jax
import pytest

jax.config.update("jax_enable_x64", True)
# Implicit rank promotion (adding [n] to [m, n] without saying so) is an error in the tests:
# the library broadcasts explicitly (x[..., None], jnp.broadcast_to).
jax.config.update("jax_numpy_rank_promotion", "raise")

SEED = int(os.environ.get("VGTHEORY_TEST_SEED", "0"))


def _library_errors_first(jaxtyped):
    """Wrap ``jaxtyping.jaxtyped`` so that a function's own argument errors win over the
    type check (the check is read at call time through ``jaxtyping.config``)."""
    from jaxtyping import TypeCheckError, config

    def first(checked, plain):
        @functools.wraps(plain)
        def call(*args, **kwargs):
            __tracebackhide__ = True
            try:
                return checked(*args, **kwargs)
            except TypeCheckError:
                if config.jaxtyping_disable:
                    raise
                config.update("jaxtyping_disable", True)
                try:
                    plain(*args, **kwargs)  # the library's own checks; their error propagates
                finally:
                    config.update("jaxtyping_disable", False)
                raise  # the library accepted the input: the annotation (or the call) is wrong

        return call

    def decorate(fn=None, *, typechecker=None):
        if fn is None:
            return functools.partial(decorate, typechecker=typechecker)
        if inspect.isclass(fn):  # a dataclass: jaxtyping checks its generated __init__
            init = fn.__init__
            cls = jaxtyped(fn, typechecker=typechecker)
            if cls.__init__ is not init:
                cls.__init__ = first(cls.__init__, init)
            return cls
        if not inspect.isfunction(fn):
            return jaxtyped(fn, typechecker=typechecker)
        return first(jaxtyped(fn, typechecker=typechecker), fn)

    return decorate


# beartype reads `x: float` as PEP 484 does (an int is a float), as basedpyright does.
TYPECHECKER = "beartype.beartype(conf=beartype.BeartypeConf(is_pep484_tower=True))"


# Modules left out of the runtime checks (none: Comparison's numeric fields are annotated as
# accepted at runtime, any real scalar, and as stored for type checkers, float; see _claims.py).
UNCHECKED: set[str] = set()


def _checked_modules():
    """Every module of the package but UNCHECKED (the hook matches by name and prefix)."""
    spec = importlib.util.find_spec("vgtheory")  # locates the package without importing it
    assert spec is not None and spec.submodule_search_locations is not None
    names = ["vgtheory." + m.name for m in pkgutil.iter_modules(spec.submodule_search_locations)]
    return [n for n in names if n not in UNCHECKED]


TYPECHECK = os.environ.get("VGTHEORY_TYPECHECK", "1") != "0"
if TYPECHECK:
    import jaxtyping

    assert not any(m == "vgtheory" or m.startswith("vgtheory.") for m in sys.modules), "imported before the hook"
    jaxtyping.jaxtyped = _library_errors_first(jaxtyping.jaxtyped)  # the hook decorates with jaxtyping.jaxtyped
    jaxtyping.install_import_hook(_checked_modules(), TYPECHECKER)


def pytest_configure(config):
    # beartype warns about typing.Callable/Tuple hints (PEP 585); they are checked all the same.
    config.addinivalue_line("filterwarnings", "ignore::beartype.roar.BeartypeDecorHintPep585DeprecationWarning")


@pytest.fixture
def key(request):
    """A PRNG key; the seed is printed so that a failure can be reproduced."""
    print(f"[{request.node.name}] VGTHEORY_TEST_SEED={SEED}")
    return jax.random.key(SEED)
