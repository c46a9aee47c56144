#!/usr/bin/env bash
# CUDA check on a machine with an NVIDIA GPU; downloads nothing.
#
#   bench/cuda-check.sh [--libs DIR] [--out DIR] [--depths 0,1024,4096] [--precision int4,int8]
#
# --libs DIR: a folder holding libonnxruntime_providers_{shared,cuda}.so, installed with
#             `gemma setup cuda --from DIR` (otherwise `gemma setup cuda` must have run).
# Steps: gemma doctor; the tiny binding model's logits on the CUDA EP against the CPU EP
# and the fp32 export (bench/cuda-logits.ts); gemma bench on the 2B-shaped random model in
# each --precision, at each depth (bench/throughput.ts). The KV cache crosses PCIe on
# every run, so tg at growing depth measures its cost. Prints markdown; logs go to --out.
set -euo pipefail
cd "$(dirname "$0")/.."
libs="" out="bench/out/cuda-check" depths="0,1024,4096" precision="int4,int8"
while [ $# -gt 0 ]; do
  case "$1" in
    --libs) libs="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --depths) depths="$2"; shift 2 ;;
    --precision) precision="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$out"
export GEMMA_HOME="$PWD/$out/home"
gemma() { node bin/gemma "$@"; }

echo "## CUDA check, $(date -u +%Y-%m-%dT%H:%MZ)"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
if [ -n "$libs" ]; then gemma setup cuda --from "$libs"; fi
echo; echo '### gemma doctor'; echo '```'; gemma doctor; echo '```'

status=0
echo; echo '### Numerics (tiny binding model)'
node dist/bench/cuda-logits.js --dir "$out" || status=1

echo; echo '### Throughput (2B-shaped random checkpoint)'
node dist/bench/throughput.js --shape 2b --precision "$precision" --ep cuda -r 3 --depth "$depths" --dir "$out" || status=1
exit $status
