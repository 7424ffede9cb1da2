"""Closed forms (``vg.theory``): each function cites its source in its docstring."""

# --- foundation: seeds S1–S4, mean field L1 (lead) ---------------------------------

# --- spectra: random-matrix laws L4, L5, S5, L2 (issue 3) ----------------------------

# --- lyapunov: L3, L7, S6, S17 (issue 4) -------------------------------------------

# --- hessian: S7, S15, L8 (issue 5) ------------------------------------------------

# --- mechanisms: S8–S13, S16, L6, L9, L10 (issue 6) ---------------------------------
