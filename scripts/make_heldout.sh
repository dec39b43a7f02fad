#!/usr/bin/env bash
# The held-out evaluation sets of the bundled model (docs/model-card.md): photos, panorama
# views, scenes and GoPro frames the training never used (see configs/bundled/). Run from the
# repository root; writes to ${1:-heldout}/.
set -euo pipefail
out=${1:-heldout}
mkdir -p "$out"
blur2video synth rotation --source skimage:chelsea,coffee --kind photo --fov 60 --max-angle 1 --size 192 --samples 48 --frames 7 --seed 101 --out "$out/photo-1deg"
blur2video synth rotation --source skimage:chelsea,coffee --kind photo --fov 60 --max-angle 2 --size 192 --samples 48 --frames 7 --seed 102 --out "$out/photo-2deg"
# up to 3 degrees (issue 24); 192 px is the largest view chelsea (451x300) allows at that angle
blur2video synth rotation --source skimage:chelsea,coffee --kind photo --fov 60 --max-angle 3 --size 192 --samples 48 --frames 7 --seed 108 --out "$out/photo-3deg"
blur2video synth rotation --source ../shared/data/panoramas/street.jpg --kind panorama --fov 60 --max-angle 1 --size 192 --samples 32 --frames 7 --seed 103 --out "$out/pano-1deg"
blur2video synth rotation --source ../shared/data/panoramas/street.jpg --kind panorama --fov 60 --max-angle 2 --size 192 --samples 32 --frames 7 --seed 104 --out "$out/pano-2deg"
blur2video synth scenes --textures skimage:chelsea,coffee --size 192 --samples 32 --frames 7 --seed 105 --max-camera-shift 6 --max-object-shift 10 --out "$out/scenes"
blur2video synth video --source ../shared/data/gopro --first 14 --stride 1 --size 192 --crops-per-window 24 --frames 7 --seed 106 --out "$out/gopro"
# Real dynamic blur, whole 1280x720 photos: the GoPro window of frames 15-21, the training's data.val_real
blur2video synth video --source ../shared/data/gopro --first 14 --stride 1 --size 0 --frames 7 --seed 107 --out "$out/gopro-full"
