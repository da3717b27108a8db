#!/usr/bin/env bash
# Train the benchmark committee (committee.yaml) with training seeds 0 1 2 (one after another),
# into runs/calibration_committee (seed 0) and runs/calibration_committee_s1, _s2.
# Usage (repository root): OMP_NUM_THREADS=1 nice -n 10 bash benchmarks/calibration/train_seeds.sh [SEEDS...]
set -euo pipefail
seeds=("${@:-0 1 2}")
for seed in ${seeds[@]}; do
  out=runs/calibration_committee$([ "$seed" = 0 ] || echo "_s$seed")
  cfg=runs/calibration_committee_seed$seed.yaml
  sed -e "s/^  seed: 0/  seed: $seed/" -e "s#^output: runs/calibration_committee#output: $out#" \
      benchmarks/calibration/committee.yaml > "$cfg"
  .venv/bin/mlip train "$cfg"
done
