"""``vgtheory diagnose MODULE_OR_PATH:FACTORY --out DIR [--smoke] [--members N]``."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys
import time


class FactoryError(ValueError):
    """The factory could not be found, imported, called, or returned no vg.Problem."""


def load_factory(spec: str):
    """``"pkg.mod:make"`` or ``"path/to/file.py:make"`` → the callable ``make``."""
    if ":" not in spec:
        raise FactoryError(
            f"factory: expected MODULE_OR_PATH:FACTORY (e.g. examples/diagnose_linen_cnn.py:make), got {spec!r}."
        )
    where, name = spec.rsplit(":", 1)
    if where.endswith(".py") or os.sep in where:
        if not os.path.isfile(where):
            raise FactoryError(f"factory: file {where!r} not found.")
        mod_name = "vgtheory_factory_" + os.path.splitext(os.path.basename(where))[0]
        loc = importlib.util.spec_from_file_location(mod_name, where)
        if loc is None or loc.loader is None:
            raise FactoryError(f"factory: cannot load {where!r} as a Python module.")
        module = importlib.util.module_from_spec(loc)
        sys.modules[mod_name] = module
        try:
            loc.loader.exec_module(module)
        except Exception as e:
            raise FactoryError(f"factory: importing {where!r} failed: {type(e).__name__}: {e}") from e
    else:
        try:
            module = importlib.import_module(where)
        except Exception as e:
            raise FactoryError(f"factory: importing module {where!r} failed: {type(e).__name__}: {e}") from e
    fn = getattr(module, name, None)
    if not callable(fn):
        raise FactoryError(f"factory: {where!r} has no callable {name!r}.")
    return fn


def build(spec: str, smoke: bool):
    """Calls the factory (with ``smoke=`` when it takes it) and checks it returns a vg.Problem."""
    from ._diagnose import Problem

    fn = load_factory(spec)
    try:
        takes_smoke = "smoke" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        takes_smoke = False
    try:
        problem = fn(smoke=smoke) if takes_smoke else fn()
    except Exception as e:
        raise FactoryError(f"factory: calling {spec} failed: {type(e).__name__}: {e}") from e
    if not isinstance(problem, Problem):
        raise FactoryError(f"factory: {spec} returned {type(problem).__name__}; expected a vg.Problem.")
    return problem


def add_parser(sub) -> None:
    d = sub.add_parser("diagnose", help="gradient health of your own model at initialisation (JSON + HTML report)")
    d.add_argument(
        "factory",
        metavar="MODULE_OR_PATH:FACTORY",
        help="a function returning vg.Problem, e.g. examples/diagnose_linen_cnn.py:make",
    )
    d.add_argument("--out", required=True, metavar="DIR", help="writes DIR/diagnosis.json and DIR/report.html")
    d.add_argument("--smoke", action="store_true", help="small sizes (the factory gets smoke=True; ≤ 60 s on CPU)")
    d.add_argument("--members", type=int, default=None, help="initialisations (default 16; 4 with --smoke)")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--x64", action="store_true", help="enable float64 (jax_enable_x64) before building the model")
    d.add_argument("--no-cache", action="store_true", help="no persistent XLA compilation cache")
    d.set_defaults(fn=cmd_diagnose)


def cmd_diagnose(args) -> int:
    from ._cli import setup_jax

    # The user's model runs as it would in their own session: float32 unless it asks for more.
    jax = setup_jax(cache=not args.no_cache, x64=args.x64)
    from ._diagnose import diagnose

    t0 = time.time()
    try:
        problem = build(args.factory, args.smoke)
    except FactoryError as e:
        print(f"vgtheory diagnose: {e}", file=sys.stderr)
        return 2
    members = args.members if args.members is not None else (4 if args.smoke else 16)
    if members < 2:
        print(f"vgtheory diagnose: --members: expected at least 2, got {members}", file=sys.stderr)
        return 2
    diag = diagnose(
        problem,
        jax.random.key(args.seed),
        progress=None,
        members=members,
        hessian_members=1 if args.smoke else 2,
        train_steps=10 if args.smoke else 40,
    )
    diag.config.update(seed=args.seed, factory=args.factory, smoke=args.smoke, seconds=round(time.time() - t0, 1))
    paths = diag.save(args.out)
    for f in diag.findings:
        print(f"[{f['topic']}: {f['verdict']}] {f['text']}")
    print(f"wrote {paths['json']} and {paths['html']} ({time.time() - t0:.1f} s)")
    return 0
