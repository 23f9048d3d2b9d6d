#!/usr/bin/env bash
# The GPU suite (issue 16): every GPU check of the package in one command, at most 6 minutes of wall time on one H200.
#
#   bash bench/gpu_suite.sh OUTDIR              on the GPU machine: installs bench/wheels, runs the checks, one JSON each in OUTDIR
#   bash bench/gpu_suite.sh --smoke OUTDIR      the same checks with tiny shapes on a CPU (tests/test_gpu_suite.py)
#   bash bench/gpu_suite.sh --fetch-wheels      here, once: the wheels the GPU machine lacks, into bench/wheels (~42 MiB)
#   bash bench/gpu_suite.sh --prepare           here, once: bench/gpu_data (384 real captions, MiniLM's tokenizer; ~1 MiB)
#   options: --only llama8b,llava7b,encoders,notebooks (env always runs)   --budget SECONDS (default 345; smoke 900)
#
# Checks (each a process under a time cap; its JSON is written after every phase, so a failure or a kill loses nothing
# before it; the shell marks a killed or crashed check in its JSON):
#   env.json        device, versions, a measured bf16 matmul rate (the ceiling next to the 790 TFLOP/s MFU is read against)
#   llama8b.json    check 1: LLaMA-3-8B shapes, bf16 and NF4: load, scoring at batch 1/16/64 + MFU + profile, QLoRA/LoRA steps
#   llava7b.json    check 2: LLaVA-1.5-7B shapes, bf16 and NF4: LoRA steps, three-label scoring with 336-px images
#   encoders.json   check 3: MiniLM- and ModernBERT-base-shaped encoders, length-sorted batches vs one caption at a time
#   notebooks.json  check 4: the code of every `#| gpu` notebook cell, after the cells it depends on
#   suite.log       everything the checks printed
# stdout: one summary line per check, then a last line `suite: ...`. Exit status 0 when every check is ok.
# On the lent device (the run tool): command `bash bench/gpu_suite.sh "$OUT"`, carry ["bench/wheels", "bench/gpu_data"],
# timeout_s 420. See bench/README.md, "The GPU suite".

set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
PY=${PYTHON:-python3}
WHEELS="bitsandbytes==0.50.2 fastcore==2.2.41"   # what the GPU machine lacks (it has torch, transformers, peft, accelerate, pandas)

SMOKE=0; ONLY=all; BUDGET=""; OUTDIR=""
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) SMOKE=1 ;;
    --only) ONLY=$2; shift ;;
    --budget) BUDGET=$2; shift ;;
    --fetch-wheels)
      mkdir -p bench/wheels
      # shellcheck disable=SC2086
      $PY -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_24_x86_64 --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 -d bench/wheels $WHEELS || exit 1
      du -ch bench/wheels/*.whl; exit 0 ;;
    --prepare) shift; exec $PY bench/gpu_common.py prepare "$@" ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    -*) echo "gpu_suite.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) OUTDIR=$1 ;;
  esac
  shift
done
[ -n "$OUTDIR" ] || { echo "gpu_suite.sh: give an output folder (see --help)" >&2; exit 2; }
mkdir -p "$OUTDIR"; OUTDIR=$(cd "$OUTDIR" && pwd)
LOG="$OUTDIR/suite.log"; : > "$LOG"
START=$SECONDS
if [ $SMOKE = 1 ]; then BUDGET=${BUDGET:-900}; else BUDGET=${BUDGET:-345}; fi

export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1 HF_HUB_DISABLE_PROGRESS_BARS=1
export PYTORCH_CUDA_ALLOC_CONF=${PYTORCH_CUDA_ALLOC_CONF:-expandable_segments:True}
if [ $SMOKE = 0 ]; then
  if ! $PY -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>>"$LOG"; then
    echo "gpu_suite.sh: no CUDA GPU here; the full shapes need one (use --smoke on a CPU)"; exit 2
  fi
  # the GPU machine has no network: install the carried wheels into a folder of their own, first on the path
  SITE=/tmp/gpu_suite_site
  if ls bench/wheels/*.whl >/dev/null 2>&1; then
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" bench/wheels/*.whl >>"$LOG" 2>&1 \
      && echo "installed: $(cd bench/wheels && ls *.whl | tr '\n' ' ')" | tee -a "$LOG" \
      || echo "wheel install failed (see suite.log)" | tee -a "$LOG"
    export PYTHONPATH="$SITE:$ROOT${PYTHONPATH:+:$PYTHONPATH}"
  else
    echo "no bench/wheels/*.whl: bitsandbytes and fastcore must already be installed (carry bench/wheels)" | tee -a "$LOG"
    export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
  fi
  [ -f bench/gpu_data/captions.jsonl ] || echo "bench/gpu_data/captions.jsonl is missing: run --prepare here and carry bench/gpu_data" | tee -a "$LOG"
else
  export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
fi

wanted() { [ "$ONLY" = all ] || [[ ",$ONLY," == *",$1,"* ]]; }
NOK=0; NBAD=0
run_check() {   # run_check NAME CAP_SECONDS command...
  local name=$1 cap=$2; shift 2
  local json="$OUTDIR/$name.json" left=$(( BUDGET - (SECONDS - START) )) rc
  if [ $left -lt 20 ]; then
    $PY -c "import json,sys; json.dump(dict(check='$name', status='skipped', summary='no time left in the suite budget', errors={}, phases={}), open(sys.argv[1], 'w'))" "$json"
    rc=0
  else
    [ $SMOKE = 1 ] && cap=$(( cap * 4 ))          # a shared CPU: the caps are sized for the H200
    [ "$cap" -gt "$left" ] && cap=$left
    echo "=== $name: cap ${cap} s, at $(( SECONDS - START )) s: $*" >>"$LOG"
    timeout -k 10 "$cap" "$@" >>"$LOG" 2>&1; rc=$?
  fi
  $PY bench/gpu_common.py close "$json" "$name" "$rc" "$LOG"
  local line; line=$($PY bench/gpu_common.py summary "$json")
  echo "$line"; echo "$line" >>"$LOG"
  if [[ "$line" == "$name: ok "* ]]; then NOK=$((NOK + 1)); else NBAD=$((NBAD + 1)); fi
}
left() { echo $(( BUDGET - (SECONDS - START) )); }

SM=(); [ $SMOKE = 1 ] && SM=(--smoke)
CAPTIONS=(); [ -f bench/gpu_data/captions.jsonl ] && CAPTIONS=(--captions bench/gpu_data/captions.jsonl)
run_check env 60 $PY bench/gpu_common.py env "$OUTDIR/env.json"
wanted llama8b && run_check llama8b 150 $PY bench/gpu_check_llama8b.py ${SM[@]+"${SM[@]}"} --out "$OUTDIR/llama8b.json"
wanted llava7b && run_check llava7b 100 $PY bench/gpu_check_llava7b.py ${SM[@]+"${SM[@]}"} --out "$OUTDIR/llava7b.json"
if wanted encoders; then
  if [ $SMOKE = 1 ]; then DEV=(--device cpu); else DEV=(--device cuda --n 256); fi
  run_check encoders 60 $PY bench/bench_batching.py ${SM[@]+"${SM[@]}"} ${DEV[@]+"${DEV[@]}"} --random-shape minilm,modernbert-base ${CAPTIONS[@]+"${CAPTIONS[@]}"} \
    --json "$OUTDIR/encoders.json"
fi
if wanted notebooks; then
  NB=$(( $(left) - 15 )); [ $NB -lt 30 ] && NB=30
  run_check notebooks $(( NB + 12 )) $PY bench/gpu_notebook_cells.py --out "$OUTDIR/notebooks.json" --budget "$NB"
fi
echo "suite: $NOK ok, $NBAD not ok, $(( SECONDS - START )) s, JSON in $OUTDIR" | tee -a "$LOG"
[ $NBAD = 0 ]
