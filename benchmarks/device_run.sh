#!/usr/bin/env bash
# The whole GPU measurement in one call (what `device` runs): the float32-vs-float64 and TF32
# precision tests on the accelerator, then every benchmark at full size, recorded.
#   OUT=/some/dir bash benchmarks/device_run.sh
# RESULTS.md (with the new tables appended) is copied to $OUT every 10 s and at the end, so a
# run stopped at its time limit still returns what it measured.
set -u
export PYTHONPATH=.${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/vgtheory-device}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,memory.used --format=csv,noheader 2>/dev/null
python -c "import jax, sys; print('jax', jax.__version__, 'python', sys.version.split()[0], jax.devices())"
timeout 120 python -m pytest -q -p no:cacheprovider tests/test_precision.py -k "f32_vs_f64 or tf32" 2>&1 | tail -4
python benchmarks/run_all.py --record --timeout "${BENCH_TIMEOUT:-200}" --only ${BENCH_ONLY:-spectra scaling hessian lyapunov tcmatmul} &
pid=$!
while kill -0 "$pid" 2>/dev/null; do sleep 10; cp benchmarks/RESULTS.md "$OUT/"; done
wait "$pid"; rc=$?
cp benchmarks/RESULTS.md "$OUT/"
exit $rc
