#!/usr/bin/env bash
# Issue 6's CPU-network figures: speed of the lite network beside the full one at 640x480 (`realtime
# bench`), and their style/content losses on the 24 evaluation photos (`realtime evaluate`), at the same
# training budget (500 steps, 160 px crops, batch 4, CPU). Run from the repository root, ../shared beside it:
#   bash benchmarks/lite.sh
# Models (benchmarks/models/): mosaic-full500 (width 16, the shipped mosaic's run at step 500),
# mosaic-lite500 (lite as in realtime/transformer.py) and its int8 copy (export --int8), and a candidate
# that lost: mosaic-lite-skips500 (the same with additive encoder->decoder skips).
set -euo pipefail
R=${REALTIME:-realtime}
S=../shared
M=benchmarks/models
$R bench --style models/mosaic.onnx --style $M/mosaic-lite500.onnx \
  --sizes 640x480 --device cpu --runs 10 --seconds 6 --no-pytorch --json benchmarks/results/lite_bench_cpu.json
$R webcam --style $M/mosaic-lite500.onnx --source $S/data/video/office.mp4 --width 640 --height 480 \
  --no-display --max-frames 150 --device cpu
$R evaluate $M/mosaic-full500.onnx $M/mosaic-lite500.onnx $M/mosaic-lite-skips500.onnx \
  --style-image $S/data/styles/mosaic.jpg --photos $S/data/eval --size 256 --device cpu \
  --json benchmarks/results/lite_photos.json --sheet benchmarks/results/lite_photos_sheet.png
