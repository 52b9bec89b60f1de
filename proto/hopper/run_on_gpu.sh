#!/usr/bin/env bash
# GPU run of the sm_90a attention prototype. Self-contained: needs CUDA (nvcc, ptxas,
# cuobjdump, compute-sanitizer) and an sm_90 GPU; no MLIR: run build.sh first on a machine
# with MLIR and carry proto/hopper/out/ (git-ignored) to the GPU machine.
#   bash proto/hopper/run_on_gpu.sh          (from the worktree root)
# Logs and artefacts go to $OUT (default /tmp/out); a summary table is printed at the end
# and written to $OUT/summary.txt. Every kernel runs in its own process under `timeout`,
# so a hang or a fault in one kernel does not stop the others. Expected wall time: 2-4 min.
set -u
HERE="$(cd "$(dirname "$0")" && pwd)"
OUT="${OUT:-/tmp/out}"
mkdir -p "$OUT"
cd "$HERE" || exit 2
T0=$(date +%s)
log() { echo "[$(( $(date +%s) - T0 ))s] $*"; }

PTX=out/attn_sm90a.ptx
TSV=out/kernels.tsv
KERNELS=$(grep -v '^#' "$TSV" | cut -f1)
CUDA_BIN="$(dirname "$(command -v nvcc 2>/dev/null || echo /usr/local/cuda/bin/nvcc)")"
export PATH="$PATH:$CUDA_BIN:/usr/local/cuda/bin"

{
  echo "date: $(date -u)"; echo "commit: $(git -C "$HERE" rev-parse HEAD 2>/dev/null)"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1
  nvcc --version 2>&1 | tail -2
} > "$OUT/env.txt"
cat "$OUT/env.txt"

# 1. Assemble the PTX here (same ptxas as the driver would JIT with, and it gives us SASS).
MODULE="$OUT/attn_sm90a.cubin"
log "ptxas -arch=sm_90a -v"
if ! ptxas -arch=sm_90a -v "$PTX" -o "$MODULE" 2> "$OUT/ptxas.txt"; then
  cat "$OUT/ptxas.txt"; log "ptxas failed: falling back to driver JIT of the PTX"; MODULE="$PTX"
fi
grep -E "Compiling|spill|Used|C75" "$OUT/ptxas.txt" | sed 's/^/  /'

# 2. Harness.
log "nvcc harness.cu"
if ! nvcc -O2 -std=c++17 -arch=sm_90a harness.cu -o "$OUT/harness" -lcuda > "$OUT/nvcc.txt" 2>&1; then
  cat "$OUT/nvcc.txt"; echo "FATAL: harness does not build"; exit 2
fi

# 3. SASS: wgmma (HGMMA), TMA loads (UTMALDG), local memory (LDL/STL), per kernel.
declare -A SASS
if [ "$MODULE" != "$PTX" ] && command -v cuobjdump > /dev/null; then
  log "cuobjdump --dump-sass"
  cuobjdump --dump-sass "$MODULE" > "$OUT/sass.txt" 2>&1
  while IFS=$'\t' read -r k hg tma ldl stl arrive setmax; do
    SASS[$k]="HGMMA=$hg UTMALDG=$tma LDL=$ldl STL=$stl WGARRIVE=$arrive SETMAXREG=$setmax"
  done < <(awk '
    /Function : / { k = $NF; names[k] = 1 }
    k != "" && /HGMMA/ { hg[k]++ }
    k != "" && /UTMALDG/ { tma[k]++ }
    k != "" && /[^A-Z]LDL[. ]/ { ldl[k]++ }
    k != "" && /[^A-Z]STL[. ]/ { stl[k]++ }
    k != "" && /WARPGROUP.ARRIVE/ { ar[k]++ }
    k != "" && /USETMAXREG/ { sm[k]++ }
    END { for (k in names) printf "%s\t%d\t%d\t%d\t%d\t%d\t%d\n", k, hg[k], tma[k], ldl[k], stl[k], ar[k], sm[k] }
  ' "$OUT/sass.txt")
fi

# 4. Correctness, then timing, one process per kernel and mode.
declare -A CHECK BENCH8 BENCH32 MEMCHK
for k in $KERNELS; do
  log "check $k"
  timeout 90 "$OUT/harness" "$MODULE" "$TSV" "$k" check > "$OUT/check_$k.log" 2>&1
  rc=$?
  grep -E "^kernel|RESULT|worst|mean" "$OUT/check_$k.log" | sed 's/^/  /'
  worst=$(grep RESULT "$OUT/check_$k.log" | sed -n 's/.*rel_err=\([^ ]*\).*/\1/p' | sort -g | tail -1)
  case $rc in
    0) CHECK[$k]="PASS(max_rel=$worst)" ;;
    1) CHECK[$k]="FAIL(max_rel=$worst)" ;;
    124|137) CHECK[$k]="TIMEOUT(hang?)" ;;
    *) CHECK[$k]="ERROR(rc=$rc:$(grep -m1 -o 'error [0-9]* ([^)]*)' "$OUT/check_$k.log"))" ;;
  esac
done
for k in $KERNELS; do
  if [[ $k == probe* ]]; then BENCH8[$k]="-"; BENCH32[$k]="-"; continue; fi
  if [[ "${CHECK[$k]}" != PASS* ]]; then BENCH8[$k]="skipped"; BENCH32[$k]="skipped"; continue; fi
  log "bench $k"
  timeout 150 "$OUT/harness" "$MODULE" "$TSV" "$k" bench > "$OUT/bench_$k.log" 2>&1
  rc=$?
  grep -E "RESULT|times|worst" "$OUT/bench_$k.log" | sed 's/^/  /'
  for L in 8192 32768; do
    line=$(grep "RESULT" "$OUT/bench_$k.log" | grep " L=$L ")
    if [ -n "$line" ]; then
      v="$(echo "$line" | sed -n 's/.* ms=\([^ ]*\) tflops=\([^ ]*\) status=\([A-Z]*\).*/\2TF \1ms \3/p')"
    else
      v="rc=$rc"
    fi
    if [ $L = 8192 ]; then BENCH8[$k]="$v"; else BENCH32[$k]="$v"; fi
  done
done

# 5. compute-sanitizer on small shapes (memcheck for three code paths, racecheck for one).
if command -v compute-sanitizer > /dev/null; then
  for k in attn_smemP_causal attn_regP_causal attn_regP_ovl_causal; do
    [[ "${CHECK[$k]:-}" == PASS* ]] || { MEMCHK[$k]="skipped"; continue; }
    log "compute-sanitizer memcheck $k"
    timeout 150 compute-sanitizer --tool memcheck --error-exitcode 99 "$OUT/harness" "$MODULE" "$TSV" "$k" sanitize \
      > "$OUT/memcheck_$k.log" 2>&1
    rc=$?
    MEMCHK[$k]="rc=$rc $(grep -m1 -E 'ERROR SUMMARY' "$OUT/memcheck_$k.log" | sed 's/=========//')"
    tail -3 "$OUT/memcheck_$k.log" | sed 's/^/  /'
  done
  k=attn_regP_ovl_causal
  if [[ "${CHECK[$k]:-}" == PASS* ]]; then
    log "compute-sanitizer racecheck $k"
    timeout 120 compute-sanitizer --tool racecheck --racecheck-report hazard "$OUT/harness" "$MODULE" "$TSV" "$k" sanitize \
      > "$OUT/racecheck_$k.log" 2>&1
    echo "  racecheck rc=$?: $(grep -m1 -E 'RACECHECK SUMMARY|ERROR SUMMARY' "$OUT/racecheck_$k.log")"
  fi
else
  log "compute-sanitizer not found: skipped"
fi

# 6. Summary.
{
  echo
  echo "=== sm_90a attention prototype: summary ($(grep -m1 -o 'NVIDIA[^,]*' "$OUT/env.txt")) ==="
  echo "useful TFLOP/s = 4*128*kept_pairs/time; B=1 H=16; dense kept = H*L^2, causal = H*L(L+1)/2"
  echo "check: B=2 H=3, L=128/1000/4096 + sharp L=1000, rel = ||o-ref||/||ref|| < 1e-2; probe_*: KV tile 0 only,"
  echo "raw S = QK^T and raw bf16(S)V vs host double (if attn_* fail but probes pass: softmax/mask/epilogue)"
  printf "%-22s %-24s %-24s %-24s %s\n" kernel "check (L=128,1000,4096)" "bench L=8192" "bench L=32768" "SASS / memcheck"
  for k in $KERNELS; do
    printf "%-22s %-24s %-24s %-24s %s %s\n" "$k" "${CHECK[$k]}" "${BENCH8[$k]}" "${BENCH32[$k]}" \
      "${SASS[$k]:-}" "${MEMCHK[$k]:+memcheck:${MEMCHK[$k]}}"
  done
  echo "logs: $OUT (check_*.log bench_*.log memcheck_*.log racecheck_*.log sass.txt ptxas.txt); total $(( $(date +%s) - T0 )) s"
} | tee "$OUT/summary.txt"
