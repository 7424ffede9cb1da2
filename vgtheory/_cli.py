"""Command line: ``vgtheory verify | list | figures | diagnose``."""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import platform
import sys
import time

from ._claims import claim_key as claim_key  # (its home is _claims; importable here as before)


def setup_jax(cache: bool, x64: bool = True):
    import jax

    jax.config.update("jax_enable_x64", x64)  # float64 references; library dtypes are explicit
    if cache:
        d = os.environ.get("VGTHEORY_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "vgtheory", "xla"))
        try:
            os.makedirs(d, exist_ok=True)
            jax.config.update("jax_compilation_cache_dir", d)
            jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
        except Exception:  # a read-only home must not stop a run
            pass
    return jax


def environment() -> dict:
    """Versions and device, recorded beside every result."""
    import flax
    import jax
    import jaxlib.version
    import numpy
    import optax

    from . import __version__

    devs = jax.devices()
    return {
        "vgtheory": __version__,
        "python": platform.python_version(),
        "jax": jax.__version__,
        "jaxlib": jaxlib.version.__version__,
        "flax": flax.__version__,
        "optax": optax.__version__,
        "numpy": numpy.__version__,
        "platform": platform.platform(),
        "backend": jax.default_backend(),
        "devices": [str(d) for d in devs],
        "device_kind": devs[0].device_kind,
        "x64": bool(jax.config.read("jax_enable_x64")),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def select(claims: dict, only: list[str] | None, full: bool) -> list:
    out = []
    for cid, c in claims.items():
        if only and not any(fnmatch.fnmatch(cid, p) or fnmatch.fnmatch(c.area, p) for p in only):
            continue
        if c.full_only and not full:
            continue
        out.append(c)
    return out


def _fmt(x: float) -> str:
    return "nan" if x != x else f"{x:.4g}"


def load_user_claims(args) -> list[str] | None:
    """Loads the installed packages' claims (entry points) and the ``--claims`` files/modules.

    Returns the ids of the ``--claims`` claims (in order), or None after printing why loading
    failed (file not found, import error with a brief traceback, duplicate id, no claims).
    """
    from ._claims import DuplicateClaimError
    from ._user_claims import ClaimsNotFoundError, NoClaimsError, brief_traceback, entry_point_claims, load_claims

    if not getattr(args, "no_entry_points", False):
        try:
            entry_point_claims()
        except ImportError as e:
            print(
                f"vgtheory: {e}\n{brief_traceback(e.__cause__ or e)}\n(--no-entry-points skips installed "
                "packages' claims)",
                file=sys.stderr,
            )
            return None
    ids: list[str] = []
    for src in getattr(args, "claims", None) or []:
        try:
            found = load_claims(src)
        except (ClaimsNotFoundError, NoClaimsError, DuplicateClaimError) as e:
            print(f"--claims {src}: {str(e).removeprefix('source: ')}", file=sys.stderr)
            return None
        except Exception as e:  # the user's file raised while it was imported: show where
            print(f"--claims {src}: importing it failed:\n{brief_traceback(e)}", file=sys.stderr)
            return None
        ids += [c.id for c in found if c.id not in ids]
    return ids


def result_rows(results, k):
    rows = []
    for r in results:
        if r.error:
            rows.append(
                [
                    r.claim.id,
                    r.claim.source[:28],
                    "—",
                    "error: " + r.error[:60],
                    "—",
                    "—",
                    "inconclusive",
                    f"{r.seconds:.1f}s",
                ]
            )
        for c in r.comparisons:
            z = c.z()
            rows.append(
                [
                    r.claim.id,
                    c.label[:58],
                    _fmt(c.prediction),
                    f"{_fmt(c.estimate)} ± {_fmt(c.se)}",
                    str(c.n),
                    _fmt(z) if abs(z) != float("inf") else ("exact" if c.se == 0 else "inf"),
                    c.verdict(k),
                    f"{r.seconds:.1f}s",
                ]
            )
    return rows


def print_table(results, k, out=None):
    out = out or sys.stdout
    head = ["claim", "comparison", "prediction", "estimate ± SE", "n", "z", "verdict", "time"]
    rows = result_rows(results, k)
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)]
    line = lambda r: "  ".join(s.ljust(w) for s, w in zip(r, widths))
    print(line(head), file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for r in rows:
        print(line(r), file=out)
    print(file=out)
    print(f"{'claim':28s} {'expected':9s} {'verdict':13s} as expected", file=out)
    for r in results:
        exp = "holds" if r.claim.expected else "fails"
        print(f"{r.claim.id:28s} {exp:9s} {r.verdict_at(k):13s} {'yes' if r.as_expected_at(k) else 'NO'}", file=out)


def results_json(results, k, args, env) -> dict:
    claims = [r.with_k(k).as_dict() for r in results]
    return {
        "config": {
            "seed": args.seed,
            "full": args.full,
            "only": args.only,
            "alpha": args.alpha,
            "k": k,
            "claims": getattr(args, "claims", None),
            "entry_points": not getattr(args, "no_entry_points", False),
            "argv": sys.argv,
        },
        "environment": env,
        "claims": claims,
    }


def cmd_verify(args) -> int:
    setup_jax(not args.no_cache)
    from ._claims import all_claims, family_k, run_claim

    user = load_user_claims(args)
    if user is None:
        return 2
    registry = all_claims()
    pool = {cid: registry[cid] for cid in user} if user and not args.only else registry
    chosen = select(pool, args.only, args.full)
    if not chosen:
        if user and not args.only:
            print(f"--claims: every loaded claim is full_only ({', '.join(user)}); add --full.", file=sys.stderr)
        else:
            print(
                f"--only: no registered claim matches {args.only!r}; see `vgtheory list"
                + (" --claims ...`" if user else "`")
                + ".",
                file=sys.stderr,
            )
        return 2
    env = environment()
    print(
        f"vgtheory verify: {len(chosen)} claims, seed {args.seed}, {'full' if args.full else 'quick'} settings, "
        f"{env['backend']} ({env['device_kind']}), jax {env['jax']}",
        file=sys.stderr,
    )
    results, t0 = [], time.perf_counter()
    for i, c in enumerate(chosen):
        print(f"[{i + 1}/{len(chosen)}] {c.id}: {c.title} ...", end="", file=sys.stderr, flush=True)
        r = run_claim(c, claim_key(args.seed, c.id), args.full)
        results.append(r)
        print(f" {r.seconds:.1f}s" + (f"  ERROR {r.error}" if r.error else ""), file=sys.stderr, flush=True)
        if args.json:  # nothing is lost: partial results are on disk as they come
            _write_json(args.json, results_json(results, family_k(results, args.alpha), args, env))
    k = family_k(results, args.alpha)
    results = [r.with_k(k) for r in results]  # every verdict at the family-wise threshold of this run
    print_table(results, k)
    m = sum(len(r.comparisons) for r in results)
    bad = [r.claim.id for r in results if not r.as_expected]
    print(
        f"\n{m} comparisons, Bonferroni k = {k:.2f} (family-wise α = {args.alpha}); "
        f"total {time.perf_counter() - t0:.1f}s; "
        + ("all claims as expected." if not bad else f"NOT as expected: {', '.join(bad)}")
    )
    if args.json:
        _write_json(args.json, results_json(results, k, args, env))
        print(f"results written to {args.json}")
    if args.report:
        from ._report import write_report

        path = write_report(args.report, results_json(results, k, args, env))
        print(f"report written to {path}")
    return 1 if bad else 0


def _write_json(path, obj):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1, ensure_ascii=False, default=float)
    os.replace(tmp, path)


def cmd_list(args) -> int:
    from ._claims import all_claims, origin

    user = load_user_claims(args)
    if user is None:
        return 2
    for c in all_claims().values():
        flag = "" if c.expected else "  [expected to be refuted]"
        builtin = (getattr(c.run, "__module__", None) or "").startswith("vgtheory.claims.")
        where = "" if builtin else f"\n{'':28s} defined in: {origin(c)}"
        print(f"{c.id:28s} [{c.area}] {c.title}{flag}\n{'':28s} source: {c.source}{where}")
    return 0


def cmd_figures(args) -> int:
    setup_jax(not args.no_cache)
    from ._figures import run_figures

    return run_figures(out=args.out, smoke=args.smoke, only=args.only)


def _user_claim_args(p):
    p.add_argument(
        "--claims",
        action="append",
        metavar="PATH_OR_MODULE",
        help="also load a user's claims (@vg.claim) from a .py file or an importable module; "
        "repeatable. Without --only, verify runs only these claims; with --only, the patterns "
        "select among the built-in and the user's claims",
    )
    p.add_argument(
        "--no-entry-points",
        action="store_true",
        help="do not load the claims of installed packages (entry-point group vgtheory.claims), "
        "which are otherwise registered beside the built-in claims",
    )


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="vgtheory", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    v = sub.add_parser("verify", help="run the registered claims and print verdicts")
    v.add_argument("--full", action="store_true", help="large ensembles (a GPU makes them fast)")
    v.add_argument("--only", nargs="+", metavar="PATTERN", help="claim ids or areas (glob patterns)")
    v.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    v.add_argument("--report", metavar="DIR", help="write a self-contained HTML report")
    v.add_argument("--seed", type=int, default=0)
    v.add_argument("--alpha", type=float, default=0.01, help="family-wise false-alarm rate (Bonferroni)")
    v.add_argument("--no-cache", action="store_true", help="no persistent XLA compilation cache")
    _user_claim_args(v)
    v.set_defaults(fn=cmd_verify)
    l = sub.add_parser("list", help="list the registered claims")
    _user_claim_args(l)
    l.set_defaults(fn=cmd_list)
    f = sub.add_parser("figures", help="regenerate the paper figures")
    f.add_argument("--smoke", action="store_true", help="tiny sizes (seconds), as the tests run them")
    f.add_argument("--out", default="figures_out")
    f.add_argument("--only", nargs="+", metavar="NAME")
    f.add_argument("--no-cache", action="store_true")
    f.set_defaults(fn=cmd_figures)
    from ._diagnose_cli import add_parser as add_diagnose

    add_diagnose(sub)
    args = p.parse_args(argv)
    if getattr(args, "alpha", 0.5) is not None and not 0 < getattr(args, "alpha", 0.5) < 1:
        p.error(f"--alpha: expected a probability in (0, 1), got {args.alpha}")
    try:
        return args.fn(args)
    except BrokenPipeError:  # `vgtheory list | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
