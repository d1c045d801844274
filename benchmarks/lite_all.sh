#!/usr/bin/env bash
# Issue 11's NAME-lite gallery: each style's CPU network distilled from its shipped full network, starting
# from INIT (a distilled mosaic-lite checkpoint), judged beside its teacher on 12 of the Kodak photos.
# QUEUES queues side by side (default 2), one core each. From the repository root, ../shared beside it:
#   bash benchmarks/lite_all.sh WORK INIT PLAIN_STEPS GRAM_STEPS STYLE...
set -euo pipefail
work=$1 init=$2 plain=$3 steps=$4
shift 4
queue() {
  for style in "$@"; do
    OMP_NUM_THREADS=1 python benchmarks/lite_gallery.py "$style" --shared ../shared --work "$work" \
      --plain-steps "$plain" --steps "$steps" --lr 0.001 --init "$init" --photos 12 --threads 1 \
      > "$work/$style.log" 2>&1 || echo "$style failed: see $work/$style.log" >&2
  done
}
styles=("$@")
queues=${QUEUES:-2}
per=$(( (${#styles[@]} + queues - 1) / queues ))
for ((q = 0; q < queues; q++)); do
  queue "${styles[@]:$((q * per)):$per}" &
done
wait
