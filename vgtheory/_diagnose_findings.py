"""Plain-word findings of :func:`vgtheory.diagnose`, each with the number behind it.

Rules (stated here so that a finding can be checked against its evidence):

* **gradient flow**: r = log₁₀‖∂L/∂z_first‖² − log₁₀‖∂L/∂z_last‖² between the first and last
  recorded module, mean ± SE over initialisations. ``vanishing`` when r < −1 − 3·SE (the
  squared gradient falls by more than 10× towards the input), ``exploding`` when
  r > 1 + 3·SE, otherwise ``stable``.
* **spread**: the SD over initialisations of log₁₀‖g‖² at the first and last module; a
  growing spread is the finite-width signature (log-normal products).
* **Jacobian**: numerical rank = singular values above the model dtype's rounding floor
  σ_max·ε·max(m, n); log₁₀ condition number over the resolved values only.
* **Hessian**: λ_max, λ_min and trace at initialisation; GD on the loss is stable only for
  η < 2/λ_max.
* **training**: the largest sharpness reached against 2/η (edge of stability).
* **recurrent**: λ₁ per step; the BPTT slope of log‖∂L/∂h_t‖ against T − t.
* **mean field**: the measured per-layer rate against log χ₁ within 3·SE + stated bias.
"""

from __future__ import annotations

import math

LN10 = math.log(10.0)
K = 3.0


def _pm(x: float, se: float) -> str:
    """``x ± se``, or ``x`` alone when there is no SE (one initialisation)."""
    return _f(x) if se is None or se != se else f"{_f(x)} ± {_f(se, 2)}"


def _f(x: float, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "nan"
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    return f"{x:.{digits}g}"


def _finding(topic: str, verdict: str, text: str, **evidence) -> dict:
    return {"topic": topic, "verdict": verdict, "text": text, "evidence": evidence}


def _flow(meas) -> list:
    out = []
    act = meas.get("activations")
    mods = meas["modules"]
    if not act or len(mods) < 2:
        return out
    first, last = act["mean"][0], act["mean"][-1]
    se = math.hypot(act["se"][0], act["se"][-1])  # conservative: ignores their positive correlation
    if any(math.isinf(v) or math.isnan(v) for v in (first, last)) or any(act["nonfinite"]):
        dead = [m for m, c in zip(mods, act["nonfinite"]) if c]
        return [
            _finding(
                "gradient flow",
                "dead",
                f"{len(dead)} module(s) have an exactly zero (or non-finite) "
                f"gradient in some initialisations: {', '.join(dead[:5])}",
                modules=dead,
                counts=[c for c in act["nonfinite"] if c],
            )
        ]
    r = (first - last) / LN10
    r_se = se / LN10
    n = len(mods)
    if r < -1 - K * r_se:
        verdict, word = "vanishing", "falls"
    elif r > 1 + K * r_se:
        verdict, word = "exploding", "grows"
    else:
        verdict, word = "stable", "changes"
    out.append(
        _finding(
            "gradient flow",
            verdict,
            f"squared gradient norm {word} by 10^{_f(r)} ± {_f(r_se, 2)} from the last module ({mods[-1]}) to the "
            f"first ({mods[0]}) over {n} modules: {verdict}",
            log10_ratio=r,
            se=r_se,
            modules=n,
        )
    )
    sd0, sd1 = act["sd"][0] / LN10, act["sd"][-1] / LN10
    if sd0 == sd0 and sd1 == sd1:
        grow = sd0 > 2 * sd1 and sd0 > 0.1
        out.append(
            _finding(
                "spread",
                "growing" if grow else "flat",
                f"spread over initialisations of log10‖g‖²: {_f(sd1, 2)} at {mods[-1]}, {_f(sd0, 2)} at {mods[0]}"
                + (" — it grows towards the input (finite-width fluctuations compound with depth)" if grow else ""),
                sd_first=sd0,
                sd_last=sd1,
            )
        )
    return out


def _jacobian(meas) -> list:
    jac = meas.get("jacobian")
    if not jac:
        return []
    rank, rank_se, size = jac["rank"]["mean"], jac["rank"]["se"], jac["size"]
    cond = jac["log_cond"]["mean"] / LN10
    cond_se = jac["log_cond"]["se"] / LN10
    verdict = "full rank" if rank >= size - 0.5 else "rank deficient"
    return [
        _finding(
            "jacobian",
            verdict,
            f"input–output Jacobian has numerical rank {_f(rank)} ± {_f(rank_se, 2)} of {size} "
            f"(values above the rounding floor); condition number over the resolved values "
            f"10^{_f(cond)} ± {_f(cond_se, 2)}",
            rank=rank,
            rank_se=rank_se,
            size=size,
            log10_cond=cond,
            log10_cond_se=cond_se,
        )
    ]


def _hessian(meas, config) -> list:
    h = meas.get("hessian")
    if not h or "skipped" in h:
        return [_finding("hessian", "skipped", h["skipped"])] if h else []
    lmax, lmax_se = h["top"]["mean"][0], h["top"]["se"][0]
    lmin = h["bottom"]["mean"][0]
    tr, tr_se = h["trace"]["mean"], h["trace"]["se"]
    if h["members"] == 1:  # no spread over inits: the trace estimator's own SE
        tr_se = h["trace_estimator_se"][0]
    count = "one initialisation" if h["members"] == 1 else f"{h['members']} initialisations"
    text = (
        f"Hessian at initialisation: λ_max = {_pm(lmax, lmax_se)}, λ_min = {_f(lmin)}, "
        f"trace = {_pm(tr, tr_se)} ({count}); "
    )
    if lmax > 0:
        text += f"GD is stable for η < 2/λ_max = {_f(h['lr_max_gd'])}"
    else:
        text += "λ_max ≤ 0: no curvature bound on the GD step here (the loss is locally concave)"
    verdict = "ok"
    eta = config.get("learning_rate")
    if eta is not None and lmax > 0:
        if eta > h["lr_max_gd"]:
            verdict = "unstable step"
            text += f"; the given η = {_f(eta)} is above it (GD is unstable along the top direction at init: it diverges, or catapults to a flatter region)"
        else:
            text += f"; the given η = {_f(eta)} is below it"
    return [
        _finding(
            "hessian",
            verdict,
            text,
            lambda_max=lmax,
            lambda_max_se=lmax_se,
            lambda_min=lmin,
            trace=tr,
            trace_se=tr_se,
            lr_max_gd=h["lr_max_gd"],
        )
    ]


def _training(meas) -> list:
    t = meas.get("training")
    if not t:
        return []
    h = meas.get("hessian") or {}
    init = h["top_members"][0][0] if "top_members" in h else None  # the same initialisation, step 0
    peak = max(t["sharpness"])
    text = (
        f"training the first initialisation for {t['steps'][-1]} steps"
        + (f" from λ_max = {_f(init)} at step 0" if init is not None else "")
        + f": sharpness {_f(t['sharpness'][0])} after step {t['steps'][0]}, {_f(t['sharpness'][-1])} "
        f"after step {t['steps'][-1]}, peak {_f(peak)}; loss {_f(t['loss'][0])} → {_f(t['loss'][-1])}"
    )
    verdict = "tracked"
    if "two_over_eta" in t:
        edge = t["two_over_eta"]
        verdict = "edge of stability" if peak >= 0.9 * edge else "below edge"
        text += f"; 2/η = {_f(edge)} (peak/edge = {_f(peak / edge)})"
        if init is not None and init > edge > t["sharpness"][0]:
            verdict = "catapult"
            text += (
                "; λ_max started above 2/η and fell below it within the first steps (the catapult "
                "phase, Lewkowycz et al. 2020)"
            )
    return [
        _finding(
            "training",
            verdict,
            text,
            peak=peak,
            init=init,
            **({"two_over_eta": t["two_over_eta"]} if "two_over_eta" in t else {}),
        )
    ]


def _recurrent(meas) -> list:
    r = meas.get("recurrent")
    if not r:
        return []
    l1, se = r["lyapunov"]["mean"][0], r["lyapunov"]["se"][0]
    rate, rate_se = r["bptt_rate"]["mean"], r["bptt_rate"]["se"]
    unresolved = sum(1 for v in r["resolved"]["mean"] if v < 1.0)
    if se != se:
        verdict = "chaotic" if l1 > 0 else "contracting"
    else:
        verdict = "chaotic" if l1 > K * se else "contracting" if l1 < -K * se else "marginal"
    text = (
        f"largest Lyapunov exponent λ₁ = {_pm(l1, se)} per step ({verdict}); BPTT log‖∂L/∂h_t‖ "
        f"changes by {_pm(rate, rate_se)} per step of T − t, so over 100 steps the gradient "
        f"norm scales by 10^{_f(100 * rate / LN10)}"
    )
    if any(s != 0 for s in r["status"]):
        text += f"; Lyapunov status {r['status']} (not 0: see vg.lyapunov_spectrum's status text)"
    if unresolved:
        text += f"; {unresolved} exponent(s) sit at the rounding floor in some runs (not measurements)"
    return [
        _finding(
            "recurrent",
            verdict,
            text,
            lambda1=l1,
            lambda1_se=se,
            bptt_rate=rate,
            bptt_rate_se=rate_se,
            unresolved=unresolved,
        )
    ]


def _mean_field(meas) -> list:
    mf = meas.get("mean_field")
    if not mf:
        return []
    from .theory._meanfield import PHASES

    p = int(mf.get("phase", -1))
    phase = PHASES[p] if 0 <= p < len(PHASES) else "undetermined"
    text = (
        f"mean field: q* = {_f(mf['qstar'])}, χ₁ = {_f(mf['chi1'])} ({phase}), depth scales "
        f"ξ_q = {_f(mf['xi_q'])}, ξ_c = {_f(mf['xi_c'])} layers; predicted per-layer log rate "
        f"log χ₁ = {_f(mf['log_chi1'])}"
    )
    m = mf.get("measured")
    if not m:
        return [
            _finding(
                "mean field",
                "no measurement",
                text + (f"; {mf['note']}" if "note" in mf else ""),
                **{k: mf[k] for k in ("qstar", "chi1", "xi_q", "xi_c")},
            )
        ]
    dev = abs(m["rate"] - mf["log_chi1"])
    tol = K * m["se"] + m["bias"]
    verdict = "consistent" if dev <= tol else "inconsistent"
    text += (
        f"; measured {_f(m['rate'])} ± {_f(m['se'], 2)} over {m['layers']} layers: |Δ| = {_f(dev, 2)} "
        f"{'≤' if dev <= tol else '>'} 3·SE + bias {_f(tol, 2)} ({verdict})"
    )
    return [
        _finding(
            "mean field",
            verdict,
            text,
            predicted=mf["log_chi1"],
            measured=m["rate"],
            se=m["se"],
            bias=m["bias"],
            chi1=mf["chi1"],
            xi_q=mf["xi_q"],
            xi_c=mf["xi_c"],
            phase=phase,
        )
    ]


def findings(meas: dict, config: dict) -> list:
    """All findings, in report order."""
    return (
        _flow(meas) + _jacobian(meas) + _hessian(meas, config) + _training(meas) + _recurrent(meas) + _mean_field(meas)
    )
