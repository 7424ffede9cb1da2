"""Runs every benchmark script in one go, each under its own time limit, appending to RESULTS.md.

    python benchmarks/run_all.py --quick              # CPU smoke: every script at small sizes
    python benchmarks/run_all.py --record             # the device run: full sizes, tables recorded
    python benchmarks/run_all.py --only spectra lyapunov --timeout 120

A script that fails or runs past its limit is reported and the others still run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = ["spectra", "lyapunov", "hessian", "scaling", "tcmatmul"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--record", action="store_true")
    ap.add_argument("--only", nargs="+", choices=SCRIPTS)
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per script")
    a = ap.parse_args()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(HERE), env.get("PYTHONPATH", "")])
    status = {}
    for name in a.only or SCRIPTS:
        path = os.path.join(HERE, f"bench_{name}.py")
        if not os.path.exists(path):
            status[name] = "missing"
            continue
        cmd = [sys.executable, path] + (["--quick"] if a.quick else []) + (["--record"] if a.record else [])
        print(f"\n=== {name}: {' '.join(cmd[1:])}", flush=True)
        t0 = time.perf_counter()
        try:
            rc = subprocess.run(cmd, env=env, timeout=a.timeout).returncode
            status[name] = f"rc={rc}, {time.perf_counter() - t0:.0f}s"
        except subprocess.TimeoutExpired:
            status[name] = f"timed out after {a.timeout:.0f}s"
    print("\n" + "\n".join(f"{k}: {v}" for k, v in status.items()))
    return 0 if all(v.startswith("rc=0") for v in status.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
