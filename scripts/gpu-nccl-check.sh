#!/usr/bin/env bash
# Issue 18's one-card check on the lent GPU: paper_ppl_smoke on cuda, once as a plain run and once
# as one NCCL rank under `seer launch --nproc 1`; the two runs' gates must be byte-identical and
# their sweep tables equal. Run after `scripts/gpu-run.sh prep` (build-gpu/seer built, model
# assembled by a `main` call). Writes $OUT/nccl_check.md and the two logs.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-build-gpu/out}
mkdir -p "$OUT"
SEER=build-gpu/seer
ARGS=(paper_ppl_smoke model.device=cuda model.dtype=bfloat16 train.device=cuda 'stages=[capture,distill,calibrate,sweep]')
"$SEER" run "${ARGS[@]}" +run.name=plain > "$OUT/nccl_plain.log" 2>&1
plain_rc=$?
"$SEER" launch --nproc 1 run "${ARGS[@]}" +run.name=nccl1 > "$OUT/nccl_launch.log" 2>&1
launch_rc=$?
a=runs/paper_ppl_smoke/plain b=runs/paper_ppl_smoke/nccl1
{
  echo "# seer launch --nproc 1 (NCCL) against a plain run: paper_ppl_smoke on cuda"
  nvidia-smi --query-gpu=name --format=csv,noheader
  echo "exit: plain $plain_rc, launch $launch_rc"
  grep -m1 -i "nccl\|backend" "$OUT/nccl_launch.log" || echo "(the launch log names no backend)"
  for f in $(cd "$a" && find distill/gates -type f | sort); do
    if cmp -s "$a/$f" "$b/$f"; then echo "identical: $f"; else echo "DIFFERENT: $f"; fi
  done
  if diff -q "$a/sweep/table.md" "$b/sweep/table.md" >/dev/null; then echo "identical: sweep/table.md"
  else echo "DIFFERENT: sweep/table.md"; diff "$a/sweep/table.md" "$b/sweep/table.md" | head -20; fi
  grep -h '"loss"' "$a"/distill/metrics.jsonl 2>/dev/null | tail -1 | cut -c1-120
  grep -h '"loss"' "$b"/distill/metrics.jsonl 2>/dev/null | tail -1 | cut -c1-120
} > "$OUT/nccl_check.md" 2>&1
cat "$OUT/nccl_check.md"
