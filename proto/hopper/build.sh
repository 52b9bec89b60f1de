#!/usr/bin/env bash
# Builds the sm_90a attention prototype here (no GPU needed):
#   gen_attn.py -> attn_sm90a.mlir -> mlir-opt pipeline -> out/attn_sm90a.ptx -> ptxas -v
# Fails if ptxas spills, warns about wgmma serialisation (C75xx) or ignores setmaxnreg.
# Usage: proto/hopper/build.sh            (from anywhere; outputs in proto/hopper/out/)
# Env:   MLIR_OPT (default /usr/lib/llvm-22/bin/mlir-opt), PTXAS (default ptxas on PATH or
#        /usr/local/cuda/bin/ptxas), PYTHON (default python3).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
OUTD="${PROTO_OUT_DIR:-$HERE/out}"   # PROTO_OUT_DIR: where a test wants the outputs
MLIR_OPT="${MLIR_OPT:-/usr/lib/llvm-22/bin/mlir-opt}"
PTXAS="${PTXAS:-$(command -v ptxas || echo /usr/local/cuda/bin/ptxas)}"
PYTHON="${PYTHON:-python3}"
mkdir -p "$OUTD"

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# 0. Layout model: TMA swizzle vs wgmma descriptors, stmatrix vs P descriptor.
"$PYTHON" "$HERE/layout_check.py"

# 1. The MLIR (generated; the generator's structure is the C++ builder's).
t0=$(now)
"$PYTHON" "$HERE/gen_attn.py" "$OUTD/attn_sm90a.mlir"
mv "$OUTD/attn_sm90a.mlir.kernels.tsv" "$OUTD/kernels.tsv"
t1=$(now)

# 2. MLIR -> PTX. The project's GPUPipeline.cpp order, with two changes for these ops:
#    - convert-nvvm-to-llvm after convert-gpu-to-nvvm: nvvm.wgmma.mma_async (and the
#      predicated/PTX-builder forms of other nvvm ops) have no LLVM intrinsic; this pass
#      turns them into llvm.inline_asm. Without it translation fails:
#      "LLVM Translation failed for operation: nvvm.wgmma.mma_async".
#    - upstream convert-nvgpu-to-nvvm / the project's sattn-nvgpu-to-nvvm are not needed
#      (the kernels use no nvgpu ops and no memrefs; all indices are i32 already).
#    --nvptx-short-ptr = the project's useShortNVPTXPointers(): 32-bit shared addresses.
PIPELINE='builtin.module(gpu.module(canonicalize,cse,arith-expand,convert-scf-to-cf,convert-gpu-to-nvvm{index-bitwidth=32 use-bare-ptr-memref-call-conv=1},convert-nvvm-to-llvm,convert-math-to-llvm,reconcile-unrealized-casts,canonicalize,cse),nvvm-attach-target{chip=sm_90a features=+ptx80 O=3},gpu-module-to-binary{format=isa})'
"$MLIR_OPT" --nvptx-short-ptr "$OUTD/attn_sm90a.mlir" --pass-pipeline="$PIPELINE" -o "$OUTD/attn_sm90a.binary.mlir"
t2=$(now)

# 3. Pull the PTX text out of #gpu.object<..., assembly = "...">.
"$PYTHON" - "$OUTD/attn_sm90a.binary.mlir" "$OUTD/attn_sm90a.ptx" <<'EOF'
import re, sys
s = open(sys.argv[1]).read()
m = re.search(r'assembly = "(.*?)"\s*[,>]', s, re.S)
if not m:
    sys.exit("no PTX assembly found in " + sys.argv[1])
ptx = re.sub(r'\\([0-9A-Fa-f]{2})', lambda x: chr(int(x.group(1), 16)), m.group(1))
open(sys.argv[2], "w").write(ptx)
EOF
rm -f "$OUTD/attn_sm90a.binary.mlir"
t3=$(now)

# 4. ptxas -v
"$PTXAS" -arch=sm_90a -v "$OUTD/attn_sm90a.ptx" -o "$OUTD/attn_sm90a.cubin" 2> "$OUTD/ptxas.txt" || {
  cat "$OUTD/ptxas.txt"; echo "build.sh: ptxas failed" >&2; exit 1; }
t4=$(now)
rm -f "$OUTD/attn_sm90a.cubin"   # the GPU machine assembles its own (run_on_gpu.sh)

{
  echo "# build.sh $(date -u +%Y-%m-%dT%H:%MZ)  $("$MLIR_OPT" --version | grep -m1 -o 'LLVM version [0-9.]*')  $("$PTXAS" --version | grep -o 'V[0-9][0-9.]*' | head -1)"
  echo "# times: generate $(secs $t0 $t1) s, mlir-opt (MLIR -> PTX, all kernels) $(secs $t1 $t2) s, extract $(secs $t2 $t3) s, ptxas (all kernels) $(secs $t3 $t4) s"
  printf "%-24s %6s %10s %10s %8s %10s\n" kernel regs spill_st spill_ld bars ptxas_ms
  awk '
    /Compiling entry function/ { match($0, /'"'"'[^'"'"']*'"'"'/); k = substr($0, RSTART + 1, RLENGTH - 2) }
    /spill stores/ { st[k] = $5; ld[k] = $9 }
    /Used [0-9]+ registers/ { match($0, /Used [0-9]+ registers/); r[k] = substr($0, RSTART + 5, RLENGTH - 15) + 0;
                             match($0, /used [0-9]+ barriers/); b[k] = substr($0, RSTART + 5, RLENGTH - 14) + 0 }
    /Compile time/ { t[k] = $(NF - 1); order[++n] = k }
    END { for (i = n; i >= 1; i--) { k = order[i]; printf "%-24s %6d %10d %10d %8d %10s\n", k, r[k], st[k], ld[k], b[k], t[k] } }
  ' "$OUTD/ptxas.txt"
  echo "# registers: ptxas reports the allocation at kernel entry (the .maxntid 384 / .minnctapersm 1 cap = 168);"
  echo "# setmaxnreg then moves the producer to $(grep -o 'PRODUCER_REGS = [0-9]*' "$HERE/gen_attn.py" | grep -o '[0-9]*$') and the consumers to $(grep -o 'CONSUMER_REGS = [0-9]*' "$HERE/gen_attn.py" | grep -o '[0-9]*$')."
} > "$OUTD/build_report.txt"
cat "$OUTD/build_report.txt"

status=0
if grep -q "spill" "$OUTD/ptxas.txt" && grep "spill" "$OUTD/ptxas.txt" | grep -qv " 0 bytes spill stores, 0 bytes spill loads"; then
  echo "build.sh: FAIL: ptxas spills" >&2; status=1
fi
if grep -Eq "C75[0-9][0-9]|setmaxnreg" "$OUTD/ptxas.txt"; then
  grep -E "C75[0-9][0-9]|setmaxnreg" "$OUTD/ptxas.txt" >&2
  echo "build.sh: FAIL: ptxas serialises wgmma / ignores setmaxnreg (see above)" >&2; status=1
fi
if grep -q "C7519" "$OUTD/ptxas.txt"; then
  echo "build.sh: note: ptxas injected warpgroup.arrive (C7519)" >&2
fi
exit $status
