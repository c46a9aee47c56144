#!/usr/bin/env bash
# CUDA check on a machine with an NVIDIA GPU; downloads nothing.
#
#   bench/cuda-check.sh [--libs DIR] [--out DIR] [--depths 0,4096] [--precision int4] [--decode-steps 1,32] [--attention gqa,ops]
#
# --libs DIR: a folder holding libonnxruntime_providers_{shared,cuda}.so, installed with
#             `gemma setup cuda --from DIR` (otherwise `gemma setup cuda` must have run).
# Steps: gemma doctor; the tiny binding model's logits on the CUDA EP against the CPU EP
# and the fp32 export, and 32 greedy tokens from one run of the decode loop on CUDA against
# the CPU EP's step by step, for both attention kernels (bench/cuda-logits.ts); gemma bench (pp512, tg128) and
# `gemma run -p hi` to the first byte on the 2B-shaped random model in each --precision, at
# each depth, one graph run per token and in runs of the decode loop (--decode-steps 32),
# which is issue #17's table (bench/throughput.ts), for each --attention kernel in turn (the fused
# GroupQueryAttention graph first, so that a call cut short still has its numbers). The KV cache crosses PCIe on every run,
# so tg at growing depth measures its cost. Prints markdown; logs go to --out. The defaults
# fit one device call of under 8 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
libs="" out="bench/out/cuda-check" depths="0,4096" precision="int4" steps="1,32" attention="gqa,ops"
while [ $# -gt 0 ]; do
  case "$1" in
    --libs) libs="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --depths) depths="$2"; shift 2 ;;
    --precision) precision="$2"; shift 2 ;;
    --decode-steps) steps="$2"; shift 2 ;;
    --attention) attention="$2"; shift 2 ;;
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
node dist/bench/throughput.js --shape 2b --precision "$precision" --attention "$attention" --ep cuda -r 3 --depth "$depths" --decode-steps "$steps" --dir "$out" || status=1
exit $status
