#!/usr/bin/env bash
# The gpu profile end to end on one GPU, and its figures table (the last line is the headline).
#
#   bash benchmarks/gpu.sh                       # one seed of the gpu profile, about 5 minutes on one H200
#   TASK=countdown bash benchmarks/gpu.sh        # Countdown, which the gpu profile plays with 4 numbers (countdown4)
#   PROFILE=quick SEEDS="0" bash benchmarks/gpu.sh   # the same script on a CPU in a minute
#   REUSE=1 ...                                  # keep the stages a run in OUT_ROOT finished (the test reads
#                                                # the quick run the test session already made)
#
# PYTHON picks the interpreter (default: .venv/bin/python if there is one, else python3),
# OUT_ROOT where the run folders go, JSON where every seed's results are written.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}
PROFILE=${PROFILE:-gpu}
SEEDS=${SEEDS:-0}
TASK=${TASK:-sums}
OUT_ROOT=${OUT_ROOT:-runs/bench}
JSON=${JSON:-$OUT_ROOT/$([ "$TASK" = sums ] || echo "$TASK-")$PROFILE.json}
mkdir -p "$OUT_ROOT"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # labkit from this checkout, installed or not
"$PYTHON" -m labkit.cli info
# shellcheck disable=SC2086  # SEEDS is a list
"$PYTHON" benchmarks/profile_run.py --task "$TASK" --profile "$PROFILE" --seeds $SEEDS --out-root "$OUT_ROOT" --json "$JSON" ${REUSE:+--reuse}
