#!/usr/bin/env bash
# Issue 5's figures: style/content losses on the 24 evaluation photos and the temporal warping error on
# office.mp4 and traffic.mp4, for our per-frame and stability-trained networks, each also with
# --stabilize, beside the anchors. Run from the repository root with ../shared beside it:
#   bash benchmarks/flicker.sh
# Writes benchmarks/results/flicker_{photos,office,traffic}.json and flicker_photos_sheet.png; the tables
# go to stdout. Models: benchmarks/models/mosaic-perframe.onnx is the shipped mosaic's checkpoint trained
# 200 more steps without the stability term; models/mosaic.onnx the same 200 steps with it.
set -euo pipefail
R=${REALTIME:-realtime}
S=../shared
OURS="benchmarks/models/mosaic-perframe.onnx models/mosaic.onnx"
ANCHORS=$(ls $S/anchors/*.onnx)
$R evaluate $OURS $S/anchors/pytorch_examples_nc16_mosaic.onnx --style-image $S/data/styles/mosaic.jpg \
  --photos $S/data/eval --size 256 --device cpu \
  --json benchmarks/results/flicker_photos.json --sheet benchmarks/results/flicker_photos_sheet.png
for clip in office traffic; do
  $R evaluate $OURS $ANCHORS --clip $S/data/video/$clip.mp4 --max-frames 60 --clip-size 480 --stabilize 0.7 \
    --device cpu --json benchmarks/results/flicker_$clip.json
done
