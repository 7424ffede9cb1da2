"""Calibration of the claim verdicts: false-alarm rate and power, over many seeds.

Question answered: when a registered claim is run with ``vgtheory verify`` (quick
settings, default family-wise α = 0.01), how often does a claim that holds get refuted
(false alarm), and how often would a wrong prediction be caught (power)?

For each selected claim the script runs ``claim.run(claim_key(seed, id), full=False)`` for
``--seeds`` independent seeds (the keys a user gets from ``vgtheory verify --seed s``),
and judges every row with the *same* Bonferroni threshold as a full default run:
``k = bonferroni_k(alpha, m)`` with ``m`` the number of comparison rows of every
non-``full_only`` claim (obtained from one timing pass over all of them, or ``--m``).

Reported per claim:

* **false alarms**: the fraction of seeds whose claim verdict is *refuted* (for a claim
  registered with ``expected=False``: the fraction of seeds where it is *not* refuted,
  i.e. a miss), with a Clopper–Pearson 95 % interval, against the **nominal** rate: the
  sum over its Monte Carlo rows (se > 0) of the per-row Gaussian tail at ``k``
  (``2(1 − Φ(k))`` for two-sided rows, ``1 − Φ(k)`` for bounds). Rows with se = 0 are
  exact: a false alarm there is impossible by construction (any refutation is a bug) and
  their power is deterministic. ``p(≥x)`` is the binomial probability of seeing at least
  the observed number of false alarms at the nominal rate; below 0.05 the claim is
  flagged **exceeds nominal**.
* **scatter/SE**: the largest ratio, among two-sided Monte Carlo rows, of the standard
  deviation over seeds of the estimate to the root-mean-square reported SE. Honest standard
  errors give ≈ 1; a value well above 1 means the reported SE understates the seed-to-seed
  scatter (the false-alarm rate at k ≈ 4 is then far above nominal even if 50 seeds show
  none). *z mean* (detail table) is the average (estimate − prediction)/SE: a systematic
  offset, which only the stated bias may cover.
* **power** at planted relative errors e ∈ {1 %, 5 %, 20 %}: each row's prediction p is
  replaced by a wrong one carrying a relative error e *in the compared quantity*:
  ``p·(1 ± e)`` for a plain quantity; ``p ± e·|planted − p|`` when p is near 0 (|p| below
  the claim's own planted offset, which then sets the scale); and ``p + log(1 ± e)`` when
  the row compares a logarithm (its label says ``log``; ``log10`` likewise; not for
  slopes, variances or shifts of logs, which are plain numbers), i.e. the error is planted
  in the underlying moment — 1 % of a log-moment would be a much larger error.
  Two-sided rows are tried with both signs; ``upper`` bounds only with the tighter bound
  and ``lower`` bounds likewise (a looser bound is still true). *claim power* = fraction
  of (seed, sign) pairs where the claim with every row perturbed is refuted; *weakest row*
  = the smallest per-row rejection rate among its Monte Carlo rows.

Usage::

    nice -n 10 python benchmarks/calibrate.py --seeds 50 --max-seconds 3 --out docs/CALIBRATION.md
    python benchmarks/calibrate.py --only S4 L1 --seeds 50 --m 97     # a selection, known m
    python benchmarks/calibrate.py --from-json cal.json --out docs/CALIBRATION.md  # re-render
    python benchmarks/calibrate.py --battery --seeds 200 --out docs/CALIBRATION.md  # known-mean battery

Rows are judged by ``vgtheory.Comparison`` itself (:func:`comparison` rebuilds one from each
JSON row), so the calibrated rule is the registry's, skewness widening and CLT check included.
``--battery`` runs ``benchmarks/calibrate_battery.py``: heavy-tailed, skewed, discrete and
near-deterministic quantities with known means through ``Comparison.from_ensemble``.

Per-seed results stream to ``--json`` (default ``calibration.json`` beside ``--out``) as
they finish; a rerun with the same file skips the claims/seeds it already holds.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

ERRORS = (0.01, 0.05, 0.20)


# ----------------------------------------------------------------------------- statistics
def normal_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def row_nominal(kind: str, se: float, k: float) -> float:
    """Per-row false-alarm rate at threshold k for an unbiased Gaussian estimate."""
    if se <= 0:
        return 0.0
    return normal_sf(k) * (2.0 if kind == "equal" else 1.0)


def clopper_pearson(x: int, n: int, level: float = 0.95) -> tuple[float, float]:
    from scipy.stats import beta

    a = 1.0 - level
    lo = 0.0 if x == 0 else float(beta.ppf(a / 2, x, n - x + 1))
    hi = 1.0 if x == n else float(beta.ppf(1 - a / 2, x + 1, n - x))
    return lo, hi


def binom_tail(x: int, n: int, p: float) -> float:
    """P(X ≥ x) for X ~ Binomial(n, p)."""
    from scipy.stats import binom

    return 1.0 if x <= 0 else float(binom.sf(x - 1, n, p))


_LOG = re.compile(r"(^|[^a-z])log(?!10)", re.IGNORECASE)
_NOT_LOG = re.compile(r"slope|\bVar\b|shift", re.IGNORECASE)


def log_scale(label: str) -> str:
    """'log10', 'log' or '' — whether a row compares a logarithm (read from its label)."""
    if _NOT_LOG.search(label):  # slopes, variances and shifts of logs are plain numbers
        return ""
    if "log10" in label:
        return "log10"
    return "log" if _LOG.search(label) else ""


def planted_values(row: dict, e: float) -> list[float]:
    """Predictions carrying a planted relative error e (see the module docstring)."""
    p = row["prediction"]
    scale = log_scale(row["label"])
    if scale:  # a log-moment: the error is planted in the underlying quantity, p + log(1 ± e)
        f = math.log10 if scale == "log10" else math.log
        up, down = p + f(1 + e), p + f(1 - e)
    else:
        delta = e * max(abs(p), abs(row["planted"] - p))
        up, down = p + delta, p - delta
    if row["kind"] == "upper":
        return [down]
    if row["kind"] == "lower":
        return [up]
    return [up, down]


def comparison(row: dict):
    """The row as a ``vgtheory.Comparison``: the verdict rule is the registry's own, never a copy."""
    import dataclasses

    from vgtheory._claims import Comparison

    names = {f.name for f in dataclasses.fields(Comparison)}
    return Comparison(**{k: v for k, v in row.items() if k in names})


def holds(row: dict, k: float, value: float) -> bool:
    """``Comparison.holds`` of the row (including its skewness widening, when it has one)."""
    return comparison(row).holds(k, value)


def row_verdict(row: dict, k: float) -> str:
    """``Comparison.verdict`` of the row (inconclusive where its normal approximation is untrusted)."""
    return comparison(row).verdict(k)


def claim_verdict(rows: list[dict], error: str | None, k: float) -> str:
    if error is not None or not rows:
        return "inconclusive"
    v = [row_verdict(r, k) for r in rows]
    return "refuted" if "refuted" in v else ("inconclusive" if "inconclusive" in v else "confirmed")


# ----------------------------------------------------------------------------- running
def _rows(result) -> list[dict]:
    return [
        dict(
            label=c.label,
            prediction=c.prediction,
            estimate=c.estimate,
            se=c.se,
            n=c.n,
            planted=c.planted,
            bias=c.bias,
            rtol=c.rtol,
            kind=c.kind,
            skewness=c.skewness,
            caveat=c.caveat,
            kurtosis=c.kurtosis,
        )
        for c in result.comparisons
    ]


def _save(path, state):
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(state, f, indent=0, ensure_ascii=False)
    os.replace(tmp, path)


def collect(args) -> dict:
    from vgtheory._claims import all_claims, run_claim
    from vgtheory._cli import setup_jax, claim_key, environment, select

    setup_jax(cache=True)
    state = {"claims": {}, "timing": {}}
    if os.path.exists(args.json):
        with open(args.json) as f:
            state = json.load(f)
        state.setdefault("claims", {})
        state.setdefault("timing", {})
    state["environment"] = environment()
    state["environment"]["commit"] = _commit()
    state["alpha"] = args.alpha
    claims = all_claims()
    default = select(claims, None, False)
    chosen = select(claims, args.only, False)

    # timing pass: seeds 0 (cold, compiles) and 1 (warm) of every claim whose rows count toward m
    need_timing = default if args.m is None else chosen
    for c in need_timing:
        if c.id in state["timing"]:
            continue
        t = []
        for seed in (0, 1):
            r = run_claim(c, claim_key(seed, c.id), False)
            t.append(r.seconds)
            if seed == 0:
                state["claims"].setdefault(c.id, {"seeds": {}})["seeds"]["0"] = {"rows": _rows(r), "error": r.error}
                rows0 = len(r.comparisons)
            else:
                state["claims"][c.id]["seeds"]["1"] = {"rows": _rows(r), "error": r.error}
        state["timing"][c.id] = {"cold_s": t[0], "warm_s": t[1], "rows": rows0}
        print(f"timing {c.id}: cold {t[0]:.1f}s, warm {t[1]:.1f}s, {rows0} rows", file=sys.stderr, flush=True)
        _save(args.json, state)
    m = args.m if args.m is not None else sum(state["timing"][c.id]["rows"] for c in default)
    state["m"] = m
    state["k"] = _k(args.alpha, m)
    state["n_seeds"] = args.seeds
    state["max_seconds"] = args.max_seconds
    _save(args.json, state)

    for c in chosen:
        warm = state["timing"].get(c.id, {}).get("warm_s")
        entry = state["claims"].setdefault(c.id, {"seeds": {}})
        entry.update(expected=c.expected, title=c.title, area=c.area)
        if warm is not None and warm > args.max_seconds:
            entry["skipped"] = f"{warm:.1f} s per seed in quick mode on this CPU (> {args.max_seconds:g} s)"
            _save(args.json, state)
            print(f"skip {c.id}: {entry['skipped']}", file=sys.stderr, flush=True)
            continue
        entry.pop("skipped", None)
        t0 = time.perf_counter()
        for seed in range(args.seeds):
            if str(seed) in entry["seeds"]:
                continue
            r = run_claim(c, claim_key(seed, c.id), False)
            entry["seeds"][str(seed)] = {"rows": _rows(r), "error": r.error}
            _save(args.json, state)
        print(f"calibrated {c.id}: {args.seeds} seeds in {time.perf_counter() - t0:.0f}s", file=sys.stderr, flush=True)
    return state


def _commit() -> str:
    import subprocess

    try:
        root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
        h = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "vgtheory"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
        return h + ("+uncommitted changes in vgtheory/" if dirty else "")
    except OSError:
        return "unknown"


def _k(alpha, m):
    from vgtheory._stats import bonferroni_k

    return bonferroni_k(alpha, m)


# ----------------------------------------------------------------------------- analysis
def _usage(r: dict, k: float) -> float:
    """|violation| / tolerance: ≤ 1 holds; for bounds only the violating direction counts."""
    d = r["estimate"] - r["prediction"]
    tol = comparison(r).tolerance(k, side=1 if d > 0 else -1)
    d = abs(d) if r["kind"] == "equal" else (max(d, 0.0) if r["kind"] == "upper" else max(-d, 0.0))
    return 0.0 if d == 0 else (d / tol if tol > 0 else math.inf)


def analyse(cid: str, entry: dict, k: float, n_seeds: int) -> dict:
    seeds = [entry["seeds"][s] for s in sorted(entry["seeds"], key=int)][:n_seeds]
    expected = entry.get("expected", True)
    n = len(seeds)
    verdicts = [claim_verdict(s["rows"], s["error"], k) for s in seeds]
    errors = sum(s["error"] is not None for s in seeds)
    bad = sum(v == "refuted" for v in verdicts) if expected else sum(v != "refuted" for v in verdicts)
    inconc = sum(v == "inconclusive" for v in verdicts)
    nrows = len(seeds[0]["rows"]) if seeds else 0
    rows = seeds[0]["rows"] if seeds else []
    mc = [i for i, r in enumerate(rows) if r["se"] > 0]
    nominal = sum(row_nominal(rows[i]["kind"], rows[i]["se"], k) for i in mc)
    out = dict(
        id=cid,
        n=n,
        expected=expected,
        bad=bad,
        inconclusive=inconc,
        errors=errors,
        rows=nrows,
        mc_rows=len(mc),
        nominal=nominal,
        ci=clopper_pearson(bad, n) if n else (0, 1),
        p_tail=binom_tail(bad, n, nominal) if (n and expected) else float("nan"),
        row_nominal=row_nominal("equal", 1.0, k),
    )
    # per-row statistics (rows are matched by position; labels are checked)
    per_row = []
    for i, r0 in enumerate(rows):
        same = [s["rows"][i] for s in seeds if len(s["rows"]) == nrows and s["rows"][i]["label"] == r0["label"]]
        z = [(r["estimate"] - r["prediction"]) / r["se"] for r in same if r["se"] > 0 and math.isfinite(r["estimate"])]
        usage = [_usage(r, k) for r in same if math.isfinite(r["estimate"])]
        refuted = sum(not holds(r, k, r["prediction"]) for r in same)
        power = {}
        for e in ERRORS:
            trials = [(not holds(r, k, v)) for r in same for v in planted_values(r, e)]
            power[e] = sum(trials) / max(len(trials), 1)
        zm = sum(z) / len(z) if z else float("nan")
        # scatter ratio: sd over seeds of the estimate / rms of the reported SE (≈ 1 when the SE
        # is honest); unlike sd(z) it is not inflated by a constant offset times a noisy SE
        est = [r["estimate"] for r in same if r["se"] > 0 and math.isfinite(r["estimate"])]
        se2 = [r["se"] ** 2 for r in same if r["se"] > 0 and math.isfinite(r["estimate"])]
        if len(est) > 1:
            em = sum(est) / len(est)
            zsd = math.sqrt(sum((x - em) ** 2 for x in est) / (len(est) - 1)) / math.sqrt(sum(se2) / len(se2))
        else:
            zsd = float("nan")
        per_row.append(
            dict(
                label=r0["label"],
                kind=r0["kind"],
                scale=log_scale(r0["label"]) or "lin",
                exact=r0["se"] == 0,
                refuted=refuted,
                n=len(same),
                z_mean=zm,
                z_sd=zsd,
                max_usage=max(usage) if usage else float("nan"),
                power=power,
                planted_rejected=sum(not holds(r, k, r["planted"]) for r in same) / max(len(same), 1),
            )
        )
    out["per_row"] = per_row
    # claim-level power: every row perturbed (same sign for all two-sided rows)
    out["power"] = {}
    for e in ERRORS:
        hits, trials = 0, 0
        for s in seeds:
            if s["error"] is not None or len(s["rows"]) != nrows:
                continue
            for sign in (0, 1):
                rej = False
                for r in s["rows"]:
                    vs = planted_values(r, e)
                    v = vs[min(sign, len(vs) - 1)]
                    rej |= not holds(r, k, v)
                hits += rej
                trials += 1
        out["power"][e] = hits / max(trials, 1)
    mcr = [p for p in per_row if not p["exact"]]
    out["weakest"] = {e: min((p["power"][e] for p in mcr), default=float("nan")) for e in ERRORS}
    # z spread only where it means something: two-sided rows (a bound far from tight has a huge z)
    out["z_sd_max"] = max(
        (p["z_sd"] for p in mcr if p["kind"] == "equal" and math.isfinite(p["z_sd"])), default=float("nan")
    )
    out["usage_max"] = max((p["max_usage"] for p in mcr if math.isfinite(p["max_usage"])), default=float("nan"))
    out["exceeds"] = bool(expected and n and out["p_tail"] < 0.05)
    return out


def _f(x, d=2):
    if x != x:
        return "—"
    return f"{x:.{d}f}"


def _sci(x):
    return "0" if x == 0 else f"{x:.1e}"


def render(state: dict) -> str:
    env = state["environment"]
    k, m, n_seeds = state["k"], state["m"], state["n_seeds"]
    lines = [
        "# Calibration of the claim verdicts",
        "",
        f"Generated by `benchmarks/calibrate.py` on {env['date']} — device: {env['backend']} "
        f"({env['device_kind']}), {env['platform']}; vgtheory {env['vgtheory']}, jax {env['jax']}, "
        f"jaxlib {env['jaxlib']}, flax {env['flax']}, optax {env['optax']}, numpy {env['numpy']}, "
        f"Python {env['python']}; commit {env.get('commit', 'unknown')}.",
        "",
        f"Quick settings (`full=False`), seeds 0…{n_seeds - 1} via `claim_key(seed, id)`. Threshold: "
        f"k = bonferroni_k({state['alpha']}, m = {m}) = **{k:.3f}** (m = rows of a full default "
        f"`vgtheory verify` run), per-row nominal false-alarm rate 2(1 − Φ(k)) = {_sci(2 * normal_sf(k))} "
        f"(two-sided; half that for bounds). How each column is computed is in the docstring of "
        f"`benchmarks/calibrate.py`; in short:",
        "",
        "- *false alarms*: seeds whose claim verdict is **refuted** (for claims registered as expected to "
        "fail: seeds where it is *not* refuted), with a Clopper–Pearson 95 % interval; *nominal* = Σ over the "
        "claim's Monte Carlo rows of the per-row rate (exact rows, se = 0, contribute 0: a false alarm there "
        "is impossible by construction, and their power is deterministic); *p(≥x)* = binomial probability of "
        "at least that many false alarms at the nominal rate (< 0.05: **exceeds**).",
        "- *scatter/SE*: largest ratio, over the claim's two-sided Monte Carlo rows, of the seed-to-seed standard "
        "deviation of the estimate to the rms reported SE (≈ 1 when SEs are honest; 95 % range for 50 seeds "
        "≈ 0.8–1.2). *z mean* (detail table): mean (estimate − prediction)/SE, a systematic offset. *tol. used*: largest |estimate − prediction| / tolerance "
        "seen (> 1 is a refutation).",
        "- *power e*: the claim run against wrong predictions, all rows at once: p(1 ± e); p ± e·|planted − p| "
        "when p is near 0; p + log(1 ± e) when the row compares a logarithm (the error is planted in the "
        "underlying moment; column *error scale* of the detail table); bounds only in the tightening direction. "
        "*weakest row*: smallest per-row rejection rate among Monte Carlo rows.",
        "",
        "| claim | expected | seeds | rows (MC) | false alarms | 95 % CI | nominal | p(≥x) | inconcl. | scatter/SE | "
        "tol. used | power 1 % | power 5 % | power 20 % | weakest row 1/5/20 % | s/seed |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    details, exceed, skipped, exact = [], [], [], []
    for cid, entry in state["claims"].items():
        timing = state["timing"].get(cid, {})
        warm = timing.get("warm_s", float("nan"))
        if "expected" not in entry:
            continue
        exp = "holds" if entry["expected"] else "fails"
        if not entry.get("skipped") and not entry.get("seeds"):
            entry = dict(entry, skipped=f"{warm:.1f} s per seed in quick mode on this CPU")
        if entry.get("skipped"):
            skipped.append(cid)
            lines.append(
                f"| {cid} | {exp} | — | {timing.get('rows', '—')} | not calibrated here: "
                f"{entry['skipped']} | | | | | | | | | | | {_f(warm, 1)} |"
            )
            continue
        a = analyse(cid, entry, k, n_seeds)
        if a["n"] == 0:
            continue
        if a["exceeds"]:
            exceed.append(cid)
        fa = f"{a['bad']}/{a['n']}" + (" **exceeds**" if a["exceeds"] else "")
        if a["errors"]:
            fa += f" ({a['errors']} errors)"
        nom = _sci(a["nominal"]) if a["mc_rows"] else "0 (exact)"
        w = a["weakest"]
        lines.append(
            f"| {cid} | {exp} | {a['n']} | {a['rows']} ({a['mc_rows']}) | {fa} | [{a['ci'][0]:.3f}, {a['ci'][1]:.3f}] | "
            f"{nom} | {_f(a['p_tail'], 3)} | {a['inconclusive']} | {_f(a['z_sd_max'])} | {_f(a['usage_max'])} | "
            + " | ".join(_f(a["power"][e]) for e in ERRORS)
            + f" | {'/'.join(_f(w[e]) for e in ERRORS) if a['mc_rows'] else 'exact'} | {_f(warm, 1)} |"
        )
        details.append((cid, a))
        if a["mc_rows"] == 0:
            exact.append(cid)
    lines += [
        "",
        f"{len(details)} claims calibrated, {len(skipped)} not calibrated here"
        + (
            f" ({', '.join(skipped)}: too slow for this shared CPU in quick mode; the lead may run "
            f"`python benchmarks/calibrate.py --only {' '.join(skipped)} --m {m}` on a GPU)"
            if skipped
            else ""
        )
        + "."
        + (f" Exceeding nominal: {', '.join(exceed)}." if exceed else " None exceeds its nominal rate.")
        + (
            f" Claims whose rows are all exact (se = 0): {', '.join(exact)} — a false alarm there is "
            "impossible by construction (a refutation would be a bug, not chance) and their power is "
            "deterministic."
            if exact
            else ""
        ),
        "",
        "## Per-row detail",
        "",
        "| claim | row | kind | error scale | refuted | z mean | scatter/SE | tol. used | planted rejected | power 1 % | 5 % | 20 % |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for cid, a in details:
        for p in a["per_row"]:
            lab = p["label"].replace("|", "\\|")
            lines.append(
                f"| {cid} | {lab} | {p['kind']}{' (exact)' if p['exact'] else ''} | {p['scale']} | {p['refuted']}/{p['n']} | "
                f"{_f(p['z_mean'])} | {_f(p['z_sd'])} | {_f(p['max_usage'])} | {_f(p['planted_rejected'])} | "
                + " | ".join(_f(p["power"][e]) for e in ERRORS)
                + " |"
            )
    if state.get("notes"):
        lines += ["", state["notes"].rstrip()]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--battery" in argv:  # known-mean quantities through Comparison.from_ensemble (calibrate_battery.py)
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import calibrate_battery

        return calibrate_battery.main([a for a in argv if a != "--battery"])
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=50, help="independent seeds per claim (≥ 50 for the table)")
    p.add_argument("--only", nargs="+", metavar="PATTERN", help="claim ids or areas (glob), as `verify --only`")
    p.add_argument("--out", default="docs/CALIBRATION.md", help="markdown table to write")
    p.add_argument("--json", help="per-seed results (default: calibration.json beside --out; resumable)")
    p.add_argument("--alpha", type=float, default=0.01, help="family-wise α of the default verify run")
    p.add_argument("--m", type=int, help="rows of a full default run (skips timing the unselected claims)")
    p.add_argument(
        "--max-seconds",
        type=float,
        default=3.0,
        help="skip claims whose warm quick-mode run takes longer than this per seed",
    )
    p.add_argument("--from-json", help="only re-render the markdown from an existing JSON")
    p.add_argument("--notes", help="a markdown file appended to the table (diagnoses, runs elsewhere)")
    args = p.parse_args(argv)
    if args.seeds < 2:
        p.error(f"--seeds: expected at least 2, got {args.seeds}")
    if args.json is None:
        args.json = os.path.join(os.path.dirname(os.path.abspath(args.out)), "calibration.json")
    if args.from_json:
        with open(args.from_json) as f:
            state = json.load(f)
    else:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        state = collect(args)
    if args.notes:
        with open(args.notes) as f:
            state["notes"] = f.read()
    md = render(state)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
