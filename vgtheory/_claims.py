"""The claim registry: each claim is a prediction, a simulation and a tolerance rule.

A claim's ``run(key, full)`` returns :class:`Comparison` rows. Each row compares a
prediction with an estimate (± standard error) under the rule

    tolerance = k · SE + bias + rtol · |prediction|,

where k is the Bonferroni-corrected z threshold for all rows of the run, ``bias`` is a
stated finite-size allowance and ``rtol`` the numerical tolerance of an exact quantity.
Every row also carries a *planted* wrong prediction that the same rule must reject: a
check that cannot tell the truth from the planted error has no power and is reported as
inconclusive, never as confirmed.
"""
from __future__ import annotations

import dataclasses
import math
import time
from typing import Callable, Literal

import jax

from ._stats import bonferroni_k, to_float

Kind = Literal["equal", "upper", "lower"]
Verdict = Literal["confirmed", "refuted", "inconclusive"]


@dataclasses.dataclass(frozen=True)
class Comparison:
    """One prediction against one estimate.

    Attributes:
      label: what is compared, e.g. ``"L=10, σ²=0.8: log E‖g₀‖²"``.
      prediction: the theory value (or bound).
      estimate: the simulated value.
      se: its standard error (0 for an exact, deterministic quantity).
      n: number of independent samples behind ``estimate`` (1 when exact).
      planted: a wrong prediction (or bound) that the check must reject.
      bias: stated finite-size/finite-width allowance, absolute, same units.
      rtol: numerical tolerance relative to ``|prediction|`` (exact quantities).
      kind: ``"equal"`` (two-sided), ``"upper"`` (claim: estimate ≤ prediction) or
        ``"lower"`` (claim: estimate ≥ prediction).
      note: free text shown in reports (e.g. the bias's origin).
    """

    label: str
    prediction: float
    estimate: float
    se: float
    n: int
    planted: float
    bias: float = 0.0
    rtol: float = 0.0
    kind: Kind = "equal"
    note: str = ""

    def __post_init__(self):
        for name in ("prediction", "estimate", "se", "planted", "bias", "rtol"):
            object.__setattr__(self, name, to_float(getattr(self, name)))
        object.__setattr__(self, "n", int(self.n))
        if self.kind not in ("equal", "upper", "lower"):
            raise ValueError(f"kind: expected 'equal', 'upper' or 'lower', got {self.kind!r}.")
        if self.se < 0 or self.bias < 0 or self.rtol < 0:
            raise ValueError(
                f"se, bias, rtol: expected non-negative, got {self.se}, {self.bias}, {self.rtol}."
            )

    def tolerance(self, k: float, against: float | None = None) -> float:
        ref = self.prediction if against is None else against
        return k * self.se + self.bias + self.rtol * abs(ref)

    def z(self) -> float:
        d = self.estimate - self.prediction
        return d / self.se if self.se > 0 else (0.0 if d == 0 else math.copysign(math.inf, d))

    def holds(self, k: float, value: float | None = None) -> bool:
        """Whether the estimate is consistent with ``value`` (default: the prediction)."""
        v = self.prediction if value is None else value
        if not (math.isfinite(self.estimate) and math.isfinite(v)):
            return False
        tol = self.tolerance(k, v)
        d = self.estimate - v
        if self.kind == "equal":
            return abs(d) <= tol
        if self.kind == "upper":
            return d <= tol
        return d >= -tol

    def verdict(self, k: float) -> Verdict:
        if not math.isfinite(self.estimate) or not math.isfinite(self.se):
            return "inconclusive"
        if not self.holds(k):
            return "refuted"
        if self.holds(k, self.planted):
            return "inconclusive"  # cannot tell the prediction from the planted error
        return "confirmed"

    def planted_rejected(self, k: float) -> bool:
        return not self.holds(k, self.planted)


@dataclasses.dataclass(frozen=True)
class Claim:
    """A registered claim.

    Attributes:
      id: SPEC id (``"S4"``, ``"L1"``) or a derived one (``"S3.corrected"``).
      title: a few words.
      statement: the claim as its source states it (or the corrected statement).
      source: where it comes from (seed file and section, or paper and equation).
      run: ``run(key, full) -> list[Comparison]``; ``full`` selects large ensembles.
      expected: whether the statement is expected to hold. A textbook statement that the
        simulation refutes is registered with ``expected=False`` beside its corrected twin.
      area: which part of the toolkit it exercises (for ``--only`` and reports).
      full_only: run only under ``--full``.
    """

    id: str
    title: str
    statement: str
    source: str
    run: Callable[[jax.Array, bool], list[Comparison]]
    expected: bool = True
    area: str = "foundation"
    full_only: bool = False


_REGISTRY: dict[str, Claim] = {}


def register(claim: Claim) -> Claim:
    """Adds ``claim`` to the registry (ids are unique)."""
    if not isinstance(claim, Claim):
        raise TypeError(f"claim: expected a vgtheory.Claim, got {type(claim).__name__}.")
    if claim.id in _REGISTRY and _REGISTRY[claim.id] is not claim:
        raise ValueError(f"claim.id: {claim.id!r} is already registered.")
    _REGISTRY[claim.id] = claim
    return claim


def claim(**fields) -> Callable[[Callable], Claim]:
    """Decorator form: ``@claim(id="S4", title=..., statement=..., source=...)``."""

    def wrap(run: Callable) -> Claim:
        return register(Claim(run=run, **fields))

    return wrap


def all_claims() -> dict[str, Claim]:
    """Every registered claim, in registration order (loads the built-in claim modules)."""
    from . import claims as _  # noqa: F401  (populates the registry)

    return dict(_REGISTRY)


@dataclasses.dataclass
class ClaimResult:
    """The outcome of one claim: its rows, verdicts and timing."""

    claim: Claim
    comparisons: list[Comparison]
    seconds: float
    error: str | None = None

    def verdicts(self, k: float) -> list[Verdict]:
        return [c.verdict(k) for c in self.comparisons]

    def verdict(self, k: float) -> Verdict:
        if self.error is not None or not self.comparisons:
            return "inconclusive"
        v = self.verdicts(k)
        if "refuted" in v:
            return "refuted"
        if "inconclusive" in v:
            return "inconclusive"
        return "confirmed"

    def as_expected(self, k: float) -> bool:
        """Confirmed if expected to hold; refuted if registered as expected to fail."""
        want = "confirmed" if self.claim.expected else "refuted"
        return self.verdict(k) == want


def run_claim(c: Claim, key: jax.Array, full: bool) -> ClaimResult:
    """Runs one claim, timing it; an exception becomes an inconclusive result."""
    t0 = time.perf_counter()
    try:
        rows = list(c.run(key, full))
        err = None
    except Exception as e:  # reported, never swallowed silently
        rows, err = [], f"{type(e).__name__}: {e}"
    return ClaimResult(c, rows, time.perf_counter() - t0, err)


def family_k(results: list[ClaimResult], alpha: float) -> float:
    """Bonferroni z threshold over every comparison row of a run."""
    m = max(1, sum(len(r.comparisons) for r in results))
    return bonferroni_k(alpha, m)
