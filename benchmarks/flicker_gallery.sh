#!/usr/bin/env bash
# Flicker of the gallery: warping error of each shipped style that has an anchor, beside that anchor.
# 60 frames of office.mp4 and traffic.mp4 at 480 px, the raw networks (no --stabilize). Style losses come
# from benchmarks/styles/NAME.json (benchmarks/gallery.py). Run from the repository root, ../shared beside it:
#   bash benchmarks/flicker_gallery.sh
# Writes benchmarks/results/flicker_gallery_{office,traffic}.json; the tables go to stdout.
set -euo pipefail
R=${REALTIME:-realtime}
S=../shared/anchors
declare -A ANCHOR=([mosaic]=pytorch_examples_nc16_mosaic [candy]=pytorch_examples_nc16_candy
                   [udnie]=pytorch_examples_nc16_udnie [the_scream]=lengstrom_scream [wave]=lengstrom_wave
                   [shipwreck]=lengstrom_wreck)
MODELS=()
for name in mosaic candy udnie the_scream wave shipwreck; do
  if [ -f "models/$name.onnx" ]; then MODELS+=("models/$name.onnx" "$S/${ANCHOR[$name]}.onnx"); fi
done
for clip in office traffic; do
  $R evaluate "${MODELS[@]}" --clip ../shared/data/video/$clip.mp4 --max-frames 60 --clip-size 480 \
    --device cpu --json benchmarks/results/flicker_gallery_$clip.json
done
