#!/usr/bin/env python3
"""Emits proto/hopper/attn_sm90a.mlir: FlashAttention-3 style forward kernels for sm_90a.

The generator mirrors what a C++ builder will do: every op it prints has a C++
builder in MLIR 22 (gpu, scf, arith, llvm, nvvm). The 64-register wgmma
accumulators are unrolled here exactly as a builder would unroll them in a C++
loop. Read the printed .mlir for the op sequence; read this file for the
structure (one function per phase) and NOTES.md for the facts behind it.

Kernel variants (all bf16, head_dim 128, BM = BN = 128, 2 KV stages,
3 warpgroups: producer + 2 consumers):

  pmode  = "smem": P goes registers -> stmatrix -> swizzled smem -> wgmma A descriptor
  pmode  = "reg" : P stays in registers, register-A wgmma through llvm.inline_asm
  sched  = "serial" : S = QK^T, softmax, O += PV, one after the other
  sched  = "overlap": FA3 intra-warpgroup overlap: issue S(n) = QK_n^T and
                      O += P(n-1) V(n-1), then softmax(S(n)) while PV runs
  causal : skip KV tiles past the diagonal, element-mask the diagonal tile
  tma    = "global": CUtensorMap in device global memory, kernel gets a pointer
                     (gpu.func, bare pointers: the project's kernel ABI style)
           "param" : CUtensorMap by value, .param with nvvm.grid_constant
                     (only possible on an llvm.func kernel in MLIR 22)

Usage: gen_attn.py OUT.mlir   (writes the .mlir and OUT.mlir.kernels.tsv)
"""

import sys

# --------------------------------------------------------------------------
# Fixed configuration
# --------------------------------------------------------------------------
D = 128            # head dim
BM = 128           # query rows per CTA (2 consumer warpgroups x 64 rows)
BN = 128           # keys per KV tile
STAGES = 2         # K/V ring depth
NTHREADS = 384     # 3 warpgroups
PRODUCER_REGS = 24
CONSUMER_REGS = 240

# Shared memory map (byte offsets from the 1024-aligned base).
HALF = BN * 128                   # one TMA box: 128 rows x 64 bf16 (128 B) = 16 KiB
TILE = 2 * HALF                   # 128 x 128 bf16 = 32 KiB (two 64-column halves)
OFF_Q = 0
OFF_K = OFF_Q + TILE                        # K stage s at OFF_K + s*TILE
OFF_V = OFF_K + STAGES * TILE               # V stage s at OFF_V + s*TILE
OFF_P = OFF_V + STAGES * TILE               # P (smem variant): 2 x 16 KiB
P_BYTES = 64 * BN * 2                       # 64 rows x 128 keys bf16 per consumer
OFF_BAR = OFF_P + 2 * P_BYTES
# mbarriers, 8 bytes each
BAR_FULLQ = 0
BAR_FULLK = 8                               # + 8*s
BAR_FULLV = BAR_FULLK + 8 * STAGES
BAR_EMPTYK = BAR_FULLV + 8 * STAGES
BAR_EMPTYV = BAR_EMPTYK + 8 * STAGES
BAR_BYTES = BAR_EMPTYV + 8 * STAGES
SMEM_USED = OFF_BAR + BAR_BYTES
SMEM_BYTES = SMEM_USED + 1024               # + slack for aligning the base to 1024
TX_TILE = TILE                              # bytes one K (or V, or Q) tile lands: 2 boxes x 16 KiB

LOG2E = 1.4426950408889634
LN2 = 0.6931471805599453

ACC_T = "!acc"     # !llvm.struct<(64 x f32)>
P_T = "!pfrag"     # !llvm.struct<(32 x i32)>: bf16x2 A fragments of P


def f32_lit(x):
    if x == float("-inf"):
        return "0xFF800000"
    return repr(float(x))


class Kernel:
    """Prints one kernel. SSA names are %v<N>; constants live in the entry block."""

    def __init__(self, name, pmode, sched, causal, tma, probe=False):
        assert pmode in ("smem", "reg") and sched in ("serial", "overlap")
        assert not probe or (sched == "serial" and not causal and tma == "global")
        # probe: diagnostic kernel, KV tile 0 only; writes raw S = Q K_0^T (f32) to the LSE
        # pointer and raw O = bf16(S) V_0 (f32) to the O pointer, both [B*H, L, 128]
        self.probe = probe
        assert not (pmode == "smem" and sched == "overlap"), "overlap is register-P only"
        self.name, self.pmode, self.sched, self.causal, self.tma = name, pmode, sched, causal, tma
        self.lines = []
        self.consts = {}
        self.const_lines = []
        self.n = 0
        self.ind = 2

    # ---- printing helpers -------------------------------------------------
    def emit(self, s):
        self.lines.append("  " * self.ind + s)

    def comment(self, s):
        self.emit("// " + s)

    def new(self, hint="v"):
        self.n += 1
        return f"%{hint}{self.n}"

    def op(self, rhs, hint="v"):
        v = self.new(hint)
        self.emit(f"{v} = {rhs}")
        return v

    def ci(self, x, ty="i32"):
        key = (ty, x)
        if key not in self.consts:
            name = f"%c{'m' if x < 0 else ''}{abs(x)}_{ty}"
            self.consts[key] = name
            self.const_lines.append(f"{name} = arith.constant {x} : {ty}")
        return self.consts[key]

    def cf(self, x):
        key = ("f32", x)
        if key not in self.consts:
            name = f"%cf{len(self.consts)}"
            self.consts[key] = name
            self.const_lines.append(f"{name} = arith.constant {f32_lit(x)} : f32")
        return self.consts[key]

    # ---- arithmetic ---------------------------------------------------------
    def add(self, a, b, ty="i32"):
        return self.op(f"arith.addi {a}, {b} : {ty}")

    def sub(self, a, b, ty="i32"):
        return self.op(f"arith.subi {a}, {b} : {ty}")

    def mul(self, a, b, ty="i32"):
        return self.op(f"arith.muli {a}, {b} : {ty}")

    def band(self, a, b, ty="i32"):
        return self.op(f"arith.andi {a}, {b} : {ty}")

    def bxor(self, a, b, ty="i32"):
        return self.op(f"arith.xori {a}, {b} : {ty}")

    def shr(self, a, b, ty="i32"):
        return self.op(f"arith.shrui {a}, {b} : {ty}")

    def shl(self, a, b, ty="i32"):
        return self.op(f"arith.shli {a}, {b} : {ty}")

    def cmp(self, pred, a, b, ty="i32"):
        return self.op(f"arith.cmpi {pred}, {a}, {b} : {ty}")

    def sel(self, c, a, b, ty):
        return self.op(f"arith.select {c}, {a}, {b} : {ty}")

    def zext64(self, a):
        return self.op(f"arith.extui {a} : i32 to i64")

    def fadd(self, a, b):
        return self.op(f"arith.addf {a}, {b} : f32")

    def fmul(self, a, b):
        return self.op(f"arith.mulf {a}, {b} : f32")

    def fmax(self, a, b):
        return self.op(f"arith.maxnumf {a}, {b} : f32")

    def fma(self, a, b, c):
        return self.op(f"llvm.intr.fma({a}, {b}, {c}) : (f32, f32, f32) -> f32")

    def ex2(self, x):
        # ex2.approx.ftz.f32; ex2(-inf) = +0
        return self.op(f'llvm.call_intrinsic "llvm.nvvm.ex2.approx.ftz.f"({x}) : (f32) -> f32')

    def lg2(self, x):
        return self.op(f'llvm.call_intrinsic "llvm.nvvm.lg2.approx.f"({x}) : (f32) -> f32')

    def shfl_bfly(self, x, off):
        return self.op(f"nvvm.shfl.sync bfly {self.ci(-1)}, {x}, {self.ci(off)}, {self.ci(31)} : f32 -> f32")

    def gep(self, base, off, ptr_ty="!llvm.ptr<3>"):
        if isinstance(off, int):
            return self.op(f"llvm.getelementptr {base}[{off}] : ({ptr_ty}) -> {ptr_ty}, i8")
        ity = "i64" if ptr_ty == "!llvm.ptr" else "i32"
        return self.op(f"llvm.getelementptr {base}[{off}] : ({ptr_ty}, {ity}) -> {ptr_ty}, i8")

    def tree(self, vals, fn):
        vals = list(vals)
        while len(vals) > 1:
            nxt = [fn(vals[i], vals[i + 1]) for i in range(0, len(vals) - 1, 2)]
            if len(vals) % 2:
                nxt.append(vals[-1])
            vals = nxt
        return vals[0]

    # ---- struct helpers -----------------------------------------------------
    def extract_all(self, st, n, ty):
        return [self.op(f"llvm.extractvalue {st}[{i}] : {ty}") for i in range(n)]

    def build_struct(self, vals, ty):
        st = self.op(f"llvm.mlir.poison : {ty}")
        for i, v in enumerate(vals):
            st = self.op(f"llvm.insertvalue {v}, {st}[{i}] : {ty}")
        return st

    def pin(self, vals, reg):
        """Empty side-effecting asm that takes and returns `vals` in registers.

        It is CUTLASS's warpgroup_fence_operand: values computed before it stay
        before it, uses after it stay after it, and both orders are kept
        relative to the wgmma fence / wait intrinsics (all have side effects).
        Emits no PTX instruction."""
        n = len(vals)
        ty = "f32" if reg == "f" else "i32"
        st_ty = ACC_T if reg == "f" else P_T
        cons = ",".join([f"={reg}"] * n + [str(i) for i in range(n)])
        st = self.op(f'llvm.inline_asm has_side_effects asm_dialect = att "", "{cons}" '
                     f'{", ".join(vals)} : ({", ".join([ty] * n)}) -> {st_ty}')
        return self.extract_all(st, n, st_ty)

    # ---- control flow helpers ----------------------------------------------
    def if_(self, cond):
        self.emit(f"scf.if {cond} {{")
        self.ind += 1

    def else_(self):
        self.ind -= 1
        self.emit("} else {")
        self.ind += 1

    def end(self):
        self.ind -= 1
        self.emit("}")

    # ---- synchronisation ------------------------------------------------------
    def bar_ptr(self, off, idx=None):
        """mbarrier at OFF_BAR + off (+ 8*idx for a dynamic stage)."""
        if idx is None:
            return self.gep(self.sm, OFF_BAR + off)
        p = self.gep(self.sm, OFF_BAR + off)
        return self.gep(p, self.mul(idx, self.ci(8)))

    def wait(self, bar, parity):
        """Spin on mbarrier.try_wait.parity (suspending try, no time hint) until
        the phase with this parity has completed."""
        self.emit(f"scf.while : () -> () {{")
        self.ind += 1
        ok = self.op(f"nvvm.mbarrier.try_wait {bar}, {parity} : !llvm.ptr<3>, i32 -> i1")
        notok = self.op(f"arith.xori {ok}, {self.true} : i1")
        self.emit(f"scf.condition({notok})")
        self.ind -= 1
        self.emit("} do {")
        self.ind += 1
        self.emit("scf.yield")
        self.ind -= 1
        self.emit("}")

    # ---- descriptors ----------------------------------------------------------
    def desc(self, smem_ptr, lbo, sbo):
        """wgmma matrix descriptor, 128-byte swizzle:
        bits 0-13 start>>4, 16-29 LBO>>4, 32-45 SBO>>4, 49-51 base offset (0),
        62-63 layout (1 = 128B swizzle)."""
        a = self.op(f"llvm.ptrtoint {smem_ptr} : !llvm.ptr<3> to i32")
        a = self.shr(a, self.ci(4))
        a = self.band(a, self.ci(0x3FFF))
        a64 = self.zext64(a)
        hi = (1 << 62) | ((sbo >> 4) << 32) | ((lbo >> 4) << 16)
        return self.op(f"arith.ori {a64}, {self.ci(hi, 'i64')} : i64")

    def desc_plus(self, d, delta_bytes):
        """Advance the start address field by delta_bytes (stays inside 14 bits)."""
        if delta_bytes == 0:
            return d
        assert delta_bytes % 16 == 0
        return self.op(f"arith.addi {d}, {self.ci(delta_bytes >> 4, 'i64')} : i64")

    # ---- TMA -------------------------------------------------------------------
    def tma_tile(self, tmap, dst_off_val, bar, row, bh):
        """One 128 x 128 bf16 tile = two boxes of 128 rows x 64 columns (128B swizzle).
        Box c (0/1) lands at dst + c*16 KiB; coordinates are {column, row, b*H+h}."""
        for c in range(2):
            dst = self.gep(self.sm, dst_off_val)
            if c:
                dst = self.gep(dst, HALF)
            dst7 = self.op(f"llvm.addrspacecast {dst} : !llvm.ptr<3> to !llvm.ptr<7>")
            self.emit(f"nvvm.cp.async.bulk.tensor.shared.cluster.global {dst7}, {tmap}, {bar}, "
                      f"box[{self.ci(64 * c)}, {row}, {bh}] : !llvm.ptr<7>, !llvm.ptr")

    # ---- wgmma -----------------------------------------------------------------
    def wgmma_ss(self, acc, da, db, scale_d, trans_b):
        lay_b = "row" if trans_b else "col"
        return self.op(
            f"nvvm.wgmma.mma_async {da}, {db}, {acc}, #nvvm.shape<m = 64, n = 128, k = 16>, "
            f"D [<f32>, #nvvm.wgmma_scale_out<{scale_d}>], "
            f"A [<bf16>, #nvvm.wgmma_scale_in<one>, <row>], "
            f"B [<bf16>, #nvvm.wgmma_scale_in<one>, <{lay_b}>] : {ACC_T} -> {ACC_T}")

    def wgmma_rs(self, acc_vals, a4, db):
        """O += A(regs) * B(smem, N-major => imm-trans-b = 1), m64n128k16 bf16 -> f32.
        Operands: $0-$63 accumulators (tied to inputs 69..132), $64-$67 A regs, $68 desc."""
        d_list = ", ".join(f"${i}" for i in range(64))
        ptx = ("{\\0A.reg .pred p;\\0Asetp.ne.b32 p, 1, 0;\\0A"
               f"wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {{{d_list}}}, "
               "{$64, $65, $66, $67}, $68, p, 1, 1, 1;\\0A}")
        cons = ",".join(["=f"] * 64 + ["r"] * 4 + ["l"] + [str(i) for i in range(64)])
        args = list(a4) + [db] + list(acc_vals)
        tys = ["i32"] * 4 + ["i64"] + ["f32"] * 64
        st = self.op(f'llvm.inline_asm has_side_effects asm_dialect = att "{ptx}", "{cons}" '
                     f'{", ".join(args)} : ({", ".join(tys)}) -> {ACC_T}')
        return self.extract_all(st, 64, ACC_T)

    # ---- kernel pieces -----------------------------------------------------------
    def header(self):
        kname = self.name
        if self.tma == "global":
            self.emit(f"gpu.func @{kname}(%tmQ: !llvm.ptr, %tmK: !llvm.ptr, %tmV: !llvm.ptr, "
                      f"%O: !llvm.ptr, %LSE: !llvm.ptr, %L: i32, %scale_log2: f32) kernel attributes "
                      f"{{nvvm.maxntid = array<i32: {NTHREADS}, 1, 1>, nvvm.minctasm = 1 : i32}} {{")
        else:
            tm = "!llvm.ptr {llvm.byval = !llvm.array<128 x i8>, llvm.align = 64 : i64, nvvm.grid_constant}"
            self.emit(f"llvm.func @{kname}(%tmQ: {tm}, %tmK: {tm}, %tmV: {tm}, "
                      f"%O: !llvm.ptr, %LSE: !llvm.ptr, %L: i32, %scale_log2: f32) attributes "
                      f"{{nvvm.kernel, nvvm.maxntid = array<i32: {NTHREADS}, 1, 1>, nvvm.minctasm = 1 : i32}} {{")

    def build(self):
        self.ind = 2
        self.header()
        self.ind = 3
        body_start = len(self.lines)
        self.true = "%true"
        self.const_lines.append("%true = arith.constant true")
        self.const_lines.append("%ninf = arith.constant 0xFF800000 : f32")
        self.const_lines.append("%zf = arith.constant 0.0 : f32")
        self.ninf, self.zf = "%ninf", "%zf"

        self.comment("---- setup: ids, tile coordinates, shared memory ----")
        tid = self.op("nvvm.read.ptx.sreg.tid.x : i32", "tid")
        bx = self.op("nvvm.read.ptx.sreg.ctaid.x : i32")
        by = self.op("nvvm.read.ptx.sreg.ctaid.y : i32")
        bz = self.op("nvvm.read.ptx.sreg.ctaid.z : i32")
        nbx = self.op("nvvm.read.ptx.sreg.nctaid.x : i32")
        nby = self.op("nvvm.read.ptx.sreg.nctaid.y : i32")
        self.comment("grid (ceil(L/128), H, B); bh = b*H + h indexes the [B*H, L, 128] view")
        bh = self.add(self.mul(bz, nby), by)
        if self.causal:
            self.comment("causal: longest query tiles (largest m) start first")
            mblk = self.sub(self.sub(nbx, self.ci(1)), bx)
        else:
            mblk = bx
        nkv = self.op(f"arith.divui {self.add('%L', self.ci(BN - 1))}, {self.ci(BN)} : i32")
        if self.causal:
            self.comment("KV tiles 0..m: tile m is the diagonal one (BM == BN)")
            nT = self.op(f"arith.minui {self.add(mblk, self.ci(1))}, {nkv} : i32", "nT")
        else:
            nT = nkv
        if self.probe:
            self.comment("probe: exactly one KV tile")
            nT = self.ci(1)
        wg = self.shr(tid, self.ci(7))
        self.comment("dynamic smem, base rounded up to 1024 B (128B-swizzle atoms are 8 x 128 B)")
        sraw = self.op("llvm.mlir.addressof @smem : !llvm.ptr<3>")
        sint = self.op(f"llvm.ptrtoint {sraw} : !llvm.ptr<3> to i32")
        al = self.band(self.add(sint, self.ci(1023)), self.ci(-1024))
        self.sm = self.gep(sraw, self.sub(al, sint))

        self.comment("---- mbarrier init (thread 0), fence, CTA barrier ----")
        is_t0 = self.cmp("eq", tid, self.ci(0))
        self.if_(is_t0)
        self.emit(f"nvvm.mbarrier.init {self.bar_ptr(BAR_FULLQ)}, {self.ci(1)} : !llvm.ptr<3>, i32")
        for s in range(STAGES):
            self.emit(f"nvvm.mbarrier.init {self.bar_ptr(BAR_FULLK + 8 * s)}, {self.ci(1)} : !llvm.ptr<3>, i32")
            self.emit(f"nvvm.mbarrier.init {self.bar_ptr(BAR_FULLV + 8 * s)}, {self.ci(1)} : !llvm.ptr<3>, i32")
            self.comment("empty barriers: one arrival per consumer warpgroup")
            self.emit(f"nvvm.mbarrier.init {self.bar_ptr(BAR_EMPTYK + 8 * s)}, {self.ci(2)} : !llvm.ptr<3>, i32")
            self.emit(f"nvvm.mbarrier.init {self.bar_ptr(BAR_EMPTYV + 8 * s)}, {self.ci(2)} : !llvm.ptr<3>, i32")
        self.emit("nvvm.fence.mbarrier.init")
        self.end()
        self.emit("nvvm.barrier0")

        self.comment("---- warp specialisation: warpgroup 0 produces, 1 and 2 consume ----")
        is_prod = self.cmp("eq", wg, self.ci(0))
        self.if_(is_prod)
        self.producer(tid, mblk, bh, nT)
        self.else_()
        self.consumer(tid, wg, mblk, bh, nT)
        self.end()
        self.emit("gpu.return" if self.tma == "global" else "llvm.return")
        self.ind = 2
        self.emit("}")
        # splice constants at the top of the body
        consts = ["      " + c for c in self.const_lines]
        self.lines[body_start:body_start] = consts
        return "\n".join(self.lines)

    # ---- producer --------------------------------------------------------------
    def producer(self, tid, mblk, bh, nT):
        self.comment("producer warpgroup: give registers back, one elected thread issues TMA")
        self.emit(f"nvvm.setmaxregister decrease {PRODUCER_REGS}")
        warp = self.shr(tid, self.ci(5))
        self.if_(self.cmp("eq", warp, self.ci(0)))
        el = self.op("nvvm.elect.sync -> i1")
        self.if_(el)
        for t in ("%tmQ", "%tmK", "%tmV"):
            self.emit(f"nvvm.prefetch tensormap, {t} : !llvm.ptr")
        self.comment(f"Q tile once: expect {TX_TILE} bytes (2 boxes x 128 rows x 128 B)")
        fq = self.bar_ptr(BAR_FULLQ)
        self.emit(f"nvvm.mbarrier.arrive.expect_tx {fq}, {self.ci(TX_TILE)} : !llvm.ptr<3>, i32")
        qrow = self.mul(mblk, self.ci(BM))
        self.tma_tile("%tmQ", OFF_Q, fq, qrow, bh)
        self.comment("K/V ring: stage s = n % STAGES, use u = n / STAGES; wait 'empty' with parity (u & 1) ^ 1")
        self.comment("(a fresh barrier counts as having completed the phase before phase 0)")
        self.emit(f"scf.for %pn = {self.ci(0)} to {nT} step {self.ci(1)} : i32 {{")
        self.ind += 1
        s = self.op(f"arith.remui %pn, {self.ci(STAGES)} : i32")
        ph = self.band(self.op(f"arith.divui %pn, {self.ci(STAGES)} : i32"), self.ci(1))
        phe = self.bxor(ph, self.ci(1))
        krow = self.mul("%pn", self.ci(BN))
        soff = self.mul(s, self.ci(TILE))
        ek = self.bar_ptr(BAR_EMPTYK, s)
        self.wait(ek, phe)
        fk = self.bar_ptr(BAR_FULLK, s)
        self.emit(f"nvvm.mbarrier.arrive.expect_tx {fk}, {self.ci(TX_TILE)} : !llvm.ptr<3>, i32")
        self.tma_tile("%tmK", self.add(soff, self.ci(OFF_K)), fk, krow, bh)
        ev = self.bar_ptr(BAR_EMPTYV, s)
        self.wait(ev, phe)
        fv = self.bar_ptr(BAR_FULLV, s)
        self.emit(f"nvvm.mbarrier.arrive.expect_tx {fv}, {self.ci(TX_TILE)} : !llvm.ptr<3>, i32")
        self.tma_tile("%tmV", self.add(soff, self.ci(OFF_V)), fv, krow, bh)
        self.ind -= 1
        self.emit("}")
        self.end()  # elect
        self.end()  # warp 0

    # ---- consumer pieces ---------------------------------------------------------
    def s_gemm(self, dq, dk_stage):
        """S = Q K^T: 8 x m64n128k16, K-major A and B. First k-step overwrites (scale-d 0)."""
        acc = self.op(f"llvm.mlir.poison : {ACC_T}")
        for kk in range(D // 16):
            delta = (kk // 4) * HALF + (kk % 4) * 32
            da = self.desc_plus(dq, delta)
            db = self.desc_plus(dk_stage, delta)
            acc = self.wgmma_ss(acc, da, db, "zero" if kk == 0 else "one", trans_b=False)
        return acc

    def pv_gemm_ss(self, o_vals, dp, dv_stage):
        """O += P V with P from smem (K-major A) and V N-major (imm-trans-b = 1)."""
        acc = self.build_struct(o_vals, ACC_T)
        for kk in range(BN // 16):
            da = self.desc_plus(dp, (kk // 4) * (P_BYTES // 2) + (kk % 4) * 32)
            db = self.desc_plus(dv_stage, kk * 16 * 128)
            acc = self.wgmma_ss(acc, da, db, "one", trans_b=True)
        return acc

    def pv_gemm_rs(self, o_vals, p_vals, dv_stage):
        for kk in range(BN // 16):
            db = self.desc_plus(dv_stage, kk * 16 * 128)
            o_vals = self.wgmma_rs(o_vals, p_vals[4 * kk:4 * kk + 4], db)
        return o_vals

    def mask(self, s_vals, n, lim0, lim1):
        """Element mask of one tile: keep key < lim_i, lim = L (dense) or min(L, q+1) (causal).
        Register 4j + 2i + e holds (row g + 8i, key n*128 + 8j + 2t + e)."""
        kbase = self.add(self.mul(n, self.ci(BN)), self.t2)
        rem = [self.sub(lim0, kbase), self.sub(lim1, kbase)]
        out = []
        for idx, v in enumerate(s_vals):
            j, i, e = idx // 4, (idx // 2) % 2, idx % 2
            keep = self.cmp("slt", self.ci(8 * j + e), rem[i])
            out.append(self.sel(keep, v, self.ninf, "f32"))
        return out

    def masked(self, s_vals, n, nT, lim0, lim1):
        """The last visited tile (diagonal or ragged end) gets the element mask."""
        last = self.cmp("eq", n, self.sub(nT, self.ci(1)))
        st = self.build_struct(s_vals, ACC_T)
        r = self.new()
        self.emit(f"{r} = scf.if {last} -> ({ACC_T}) {{")
        self.ind += 1
        mv = self.mask(s_vals, n, lim0, lim1)
        self.emit(f"scf.yield {self.build_struct(mv, ACC_T)} : {ACC_T}")
        self.ind -= 1
        self.emit("} else {")
        self.ind += 1
        self.emit(f"scf.yield {st} : {ACC_T}")
        self.ind -= 1
        self.emit("}")
        return self.extract_all(r, 64, ACC_T)

    def softmax(self, s_vals, m_old, l_old):
        """Online softmax over one tile, 2 rows per thread (i = 0: row g, i = 1: row g+8).
        m is kept in the log2 domain (scores * scale * log2 e). Returns
        (m_new[2], l_new[2], alpha[2], p_vals[64])."""
        m_new, l_new, alpha, p = [None, None], [None, None], [None, None], [None] * 64
        sc = "%scale_log2"
        for i in range(2):
            idxs = [4 * j + 2 * i + e for j in range(16) for e in range(2)]
            mx = self.tree([s_vals[k] for k in idxs], self.fmax)
            mx = self.fmax(mx, self.shfl_bfly(mx, 1))
            mx = self.fmax(mx, self.shfl_bfly(mx, 2))
            mn = self.fmax(m_old[i], self.fmul(mx, sc))
            isinf = self.op(f"arith.cmpf oeq, {mn}, {self.ninf} : f32")
            muse = self.sel(isinf, self.zf, mn, "f32")
            alpha[i] = self.ex2(self.op(f"arith.subf {m_old[i]}, {muse} : f32"))
            nm = self.op(f"arith.negf {muse} : f32")
            for k in idxs:
                p[k] = self.ex2(self.fma(s_vals[k], sc, nm))
            rs = self.tree([p[k] for k in idxs], self.fadd)
            l_new[i] = self.fma(l_old[i], alpha[i], rs)
            m_new[i] = mn
        return m_new, l_new, alpha, p

    def pack_p(self, p):
        """P register r = bf16x2(p[2r], p[2r+1]) (low half = lower column).
        For k-step kk, P[4kk..4kk+3] is exactly the m64k16 A fragment."""
        out = []
        for r in range(32):
            v = self.op("llvm.mlir.poison : vector<2xf32>")
            v = self.op(f"llvm.insertelement {p[2 * r]}, {v}[{self.ci(0)} : i32] : vector<2xf32>")
            v = self.op(f"llvm.insertelement {p[2 * r + 1]}, {v}[{self.ci(1)} : i32] : vector<2xf32>")
            b = self.op(f"llvm.fptrunc {v} : vector<2xf32> to vector<2xbf16>")
            out.append(self.op(f"llvm.bitcast {b} : vector<2xbf16> to i32"))
        return out

    def rescale(self, o_vals, alpha):
        return [self.fmul(v, alpha[(idx // 2) % 2]) for idx, v in enumerate(o_vals)]

    def store_p_smem(self, pregs, p_addr):
        """stmatrix x4 per k-step: matrices (rows 0-7|8-15) x (cols 16kk+0..7|+8..15)
        = P[4kk..4kk+3]; lane l addresses row l%8 of matrix l/8 in the swizzled buffer."""
        for kk in range(BN // 16):
            ptr = self.gep(self.sm, p_addr[kk % 4])
            if kk // 4:
                ptr = self.gep(ptr, P_BYTES // 2)
            self.emit(f"nvvm.stmatrix {ptr}, {', '.join(pregs[4 * kk:4 * kk + 4])} "
                      "{layout = #nvvm.mma_layout<row>, shape = #nvvm.ld_st_matrix_shape<m = 8, n = 8>, "
                      "eltType = #nvvm.ld_st_matrix_elt_type<b16>} : !llvm.ptr<3>, i32, i32, i32, i32")

    # ---- consumer ------------------------------------------------------------------
    def consumer(self, tid, wg, mblk, bh, nT):
        self.comment(f"consumer warpgroup: take registers ({CONSUMER_REGS})")
        self.emit(f"nvvm.setmaxregister increase {CONSUMER_REGS}")
        cw = self.sub(wg, self.ci(1))
        tw = self.band(tid, self.ci(127))
        w = self.shr(tw, self.ci(5))
        lane = self.band(tid, self.ci(31))
        g = self.shr(lane, self.ci(2))
        t = self.band(lane, self.ci(3))
        self.t2 = self.shl(t, self.ci(1))
        leader = self.cmp("eq", tw, self.ci(0))
        self.comment("this thread's rows: q0 = m*128 + cw*64 + 16w + g, q1 = q0 + 8")
        rloc = self.add(self.add(self.mul(cw, self.ci(64)), self.mul(w, self.ci(16))), g)
        q0 = self.add(self.mul(mblk, self.ci(BM)), rloc)
        q1 = self.add(q0, self.ci(8))
        self.q0, self.q1, self.bh = q0, q1, bh
        if self.causal:
            lim0 = self.op(f"arith.minsi %L, {self.add(q0, self.ci(1))} : i32")
            lim1 = self.op(f"arith.minsi %L, {self.add(q1, self.ci(1))} : i32")
        else:
            lim0 = lim1 = "%L"

        self.comment("wgmma descriptors (128B swizzle). K-major: LBO unused (16), SBO = 1024 (8 rows x 128 B)")
        dq = self.desc(self.gep(self.gep(self.sm, OFF_Q), self.mul(cw, self.ci(64 * 128))), 16, 1024)
        dk0 = self.desc(self.gep(self.sm, OFF_K), 16, 1024)
        self.comment("V is N-major (d contiguous): LBO = 16384 (next 64-column box), SBO = 1024 (next 8 keys)")
        dv0 = self.desc(self.gep(self.sm, OFF_V), HALF, 1024)
        if self.pmode == "smem":
            pbase = self.add(self.ci(OFF_P), self.mul(cw, self.ci(P_BYTES)))
            dp = self.desc(self.gep(self.sm, pbase), 16, 1024)
            self.comment("stmatrix row addresses: row = 16w + 8*(mi%2) + l%8, 16-B chunk (2*(kk%4) + mi/2) ^ (l%8)")
            mi = self.shr(lane, self.ci(3))
            rr = self.band(lane, self.ci(7))
            prow = self.add(self.add(self.mul(w, self.ci(16)), self.mul(self.band(mi, self.ci(1)), self.ci(8))), rr)
            rowoff = self.add(pbase, self.mul(prow, self.ci(128)))
            mhi = self.shr(mi, self.ci(1))
            p_addr = []
            for k4 in range(4):
                chunk = self.bxor(self.add(self.ci(2 * k4), mhi), rr)
                p_addr.append(self.add(rowoff, self.shl(chunk, self.ci(4))))
        else:
            dp = p_addr = None

        def stage_descs(n):
            s = self.op(f"arith.remui {n}, {self.ci(STAGES)} : i32")
            ph = self.band(self.op(f"arith.divui {n}, {self.ci(STAGES)} : i32"), self.ci(1))
            s64 = self.zext64(self.mul(s, self.ci(TILE >> 4)))
            dk = self.op(f"arith.addi {dk0}, {s64} : i64")
            dv = self.op(f"arith.addi {dv0}, {s64} : i64")
            return s, ph, dk, dv

        self.comment("wait for Q (phase 0 of fullQ)")
        self.wait(self.bar_ptr(BAR_FULLQ), self.ci(0))

        if self.sched == "serial":
            o_fin, m_fin, l_fin = self.serial_loop(nT, dq, stage_descs, dp, p_addr, leader, lim0, lim1, cw)
        else:
            o_fin, m_fin, l_fin = self.overlap_loop(nT, dq, stage_descs, leader, lim0, lim1)
        if self.probe:
            self.comment("probe: raw O = bf16(S) V_0 as f32")
            self.store_rows_f32("%O", o_fin, q0, q1, bh)
        else:
            self.epilogue(o_fin, m_fin, l_fin, q0, q1, bh, t)

    def store_rows_f32(self, base_ptr, vals, q0, q1, bh):
        """Store a 64 x 128 fragment as f32 rows of a [B*H, L, 128] buffer (rows < L only)."""
        for i, q in enumerate((q0, q1)):
            self.if_(self.cmp("slt", q, "%L"))
            grow = self.add(self.mul(bh, "%L"), q)
            off = self.op(f"arith.muli {self.zext64(grow)}, {self.ci(D * 4, 'i64')} : i64")
            rowp = self.gep(base_ptr, off, "!llvm.ptr")
            rowp = self.gep(rowp, self.zext64(self.shl(self.t2, self.ci(2))), "!llvm.ptr")
            for j in range(16):
                for e in range(2):
                    ptr = self.gep(rowp, 32 * j + 4 * e, "!llvm.ptr")
                    self.emit(f"llvm.store {vals[4 * j + 2 * i + e]}, {ptr} : f32, !llvm.ptr")
            self.end()

    def serial_loop(self, nT, dq, stage_descs, dp, p_addr, leader, lim0, lim1, cw):
        zeros = self.build_struct([self.zf] * 64, ACC_T)
        self.comment("KV loop: iter_args (m0, m1, l0, l1, O)")
        res = self.new("loop")
        self.emit(f"{res}:5 = scf.for %n = {self.ci(0)} to {nT} step {self.ci(1)} iter_args("
                  f"%m0 = {self.ninf}, %m1 = {self.ninf}, %l0 = {self.zf}, %l1 = {self.zf}, %o = {zeros}) "
                  f"-> (f32, f32, f32, f32, {ACC_T}) : i32 {{")
        self.ind += 1
        s, ph, dk, dv = stage_descs("%n")
        self.comment("S = Q K^T")
        self.wait(self.bar_ptr(BAR_FULLK, s), ph)
        self.emit("nvvm.wgmma.fence.aligned")
        sacc = self.s_gemm(dq, dk)
        self.emit("nvvm.wgmma.commit.group.sync.aligned")
        self.emit("nvvm.wgmma.wait.group.sync.aligned 0")
        svals = self.pin(self.extract_all(sacc, 64, ACC_T), "f")
        self.comment("K stage consumed: one arrival per warpgroup")
        self.if_(leader)
        self.emit(f"nvvm.mbarrier.arrive {self.bar_ptr(BAR_EMPTYK, s)} : !llvm.ptr<3>")
        self.end()
        if self.probe:
            self.comment("probe: raw S out, P = bf16(S) without softmax")
            self.store_rows_f32("%LSE", svals, self.q0, self.q1, self.bh)
            m_new, l_new, alpha, p = ["%m0", "%m1"], ["%l0", "%l1"], [self.cf(1.0)] * 2, svals
        else:
            svals = self.masked(svals, "%n", nT, lim0, lim1)
            self.comment("online softmax")
            m_new, l_new, alpha, p = self.softmax(svals, ["%m0", "%m1"], ["%l0", "%l1"])
        pregs = self.pack_p(p)
        o_vals = self.rescale(self.extract_all("%o", 64, ACC_T), alpha)
        self.comment("O += P V")
        self.wait(self.bar_ptr(BAR_FULLV, s), ph)
        if self.pmode == "smem":
            self.store_p_smem(pregs, p_addr)
            self.comment("generic-proxy stores -> async-proxy (wgmma) reads: proxy fence, then warpgroup barrier")
            self.emit("nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>, space = #nvvm.shared_space<cta>}")
            bid = self.add(cw, self.ci(1))
            self.emit(f"nvvm.barrier id = {bid} number_of_threads = {self.ci(128)}")
            o_vals = self.pin(o_vals, "f")
            self.emit("nvvm.wgmma.fence.aligned")
            oacc = self.pv_gemm_ss(o_vals, dp, dv)
            self.emit("nvvm.wgmma.commit.group.sync.aligned")
            self.emit("nvvm.wgmma.wait.group.sync.aligned 0")
            o_vals = self.pin(self.extract_all(oacc, 64, ACC_T), "f")
        else:
            o_vals = self.pin(o_vals, "f")
            pregs = self.pin(pregs, "r")
            self.emit("nvvm.wgmma.fence.aligned")
            o_vals = self.pv_gemm_rs(o_vals, pregs, dv)
            self.emit("nvvm.wgmma.commit.group.sync.aligned")
            self.emit("nvvm.wgmma.wait.group.sync.aligned 0")
            o_vals = self.pin(o_vals, "f")
        self.comment("V stage consumed")
        self.if_(leader)
        self.emit(f"nvvm.mbarrier.arrive {self.bar_ptr(BAR_EMPTYV, s)} : !llvm.ptr<3>")
        self.end()
        ost = self.build_struct(o_vals, ACC_T)
        self.emit(f"scf.yield {m_new[0]}, {m_new[1]}, {l_new[0]}, {l_new[1]}, {ost} : f32, f32, f32, f32, {ACC_T}")
        self.ind -= 1
        self.emit("}")
        return (self.extract_all(f"{res}#4", 64, ACC_T), [f"{res}#0", f"{res}#1"], [f"{res}#2", f"{res}#3"])

    def overlap_loop(self, nT, dq, stage_descs, leader, lim0, lim1):
        self.comment("prologue: S(0), softmax(0); O starts at 0 so needs no rescale")
        s, ph, dk, dv = stage_descs(self.ci(0))
        self.wait(self.bar_ptr(BAR_FULLK, s), ph)
        self.emit("nvvm.wgmma.fence.aligned")
        sacc = self.s_gemm(dq, dk)
        self.emit("nvvm.wgmma.commit.group.sync.aligned")
        self.emit("nvvm.wgmma.wait.group.sync.aligned 0")
        svals = self.pin(self.extract_all(sacc, 64, ACC_T), "f")
        self.if_(leader)
        self.emit(f"nvvm.mbarrier.arrive {self.bar_ptr(BAR_EMPTYK, s)} : !llvm.ptr<3>")
        self.end()
        svals = self.masked(svals, self.ci(0), nT, lim0, lim1)
        m_new, l_new, _, p = self.softmax(svals, [self.ninf, self.ninf], [self.zf, self.zf])
        pst = self.build_struct(self.pack_p(p), P_T)
        zeros = self.build_struct([self.zf] * 64, ACC_T)

        self.comment("steady state n = 1 .. nT-1: iter_args (m0, m1, l0, l1, O, P(n-1))")
        res = self.new("loop")
        self.emit(f"{res}:6 = scf.for %n = {self.ci(1)} to {nT} step {self.ci(1)} iter_args("
                  f"%m0 = {m_new[0]}, %m1 = {m_new[1]}, %l0 = {l_new[0]}, %l1 = {l_new[1]}, %o = {zeros}, %pp = {pst}) "
                  f"-> (f32, f32, f32, f32, {ACC_T}, {P_T}) : i32 {{")
        self.ind += 1
        s, ph, dk, _ = stage_descs("%n")
        nprev = self.sub("%n", self.ci(1))
        sp, php, _, dvp = stage_descs(nprev)
        self.comment("both waits before the fence: a wait loop between the two wgmma batches")
        self.comment("makes ptxas inject a warpgroup.arrive (C7519)")
        self.wait(self.bar_ptr(BAR_FULLK, s), ph)
        self.wait(self.bar_ptr(BAR_FULLV, sp), php)
        o_vals = self.pin(self.extract_all("%o", 64, ACC_T), "f")
        pregs = self.pin(self.extract_all("%pp", 32, P_T), "r")
        self.emit("nvvm.wgmma.fence.aligned")
        self.comment("issue S(n) = Q K_n^T (group 1)")
        sacc = self.s_gemm(dq, dk)
        self.emit("nvvm.wgmma.commit.group.sync.aligned")
        self.comment("issue O += P(n-1) V(n-1) (group 2)")
        o_vals = self.pv_gemm_rs(o_vals, pregs, dvp)
        self.emit("nvvm.wgmma.commit.group.sync.aligned")
        self.comment("wait for S(n) only; PV keeps running during the softmax")
        self.emit("nvvm.wgmma.wait.group.sync.aligned 1")
        svals = self.pin(self.extract_all(sacc, 64, ACC_T), "f")
        self.if_(leader)
        self.emit(f"nvvm.mbarrier.arrive {self.bar_ptr(BAR_EMPTYK, s)} : !llvm.ptr<3>")
        self.end()
        svals = self.masked(svals, "%n", nT, lim0, lim1)
        m_new, l_new, alpha, p = self.softmax(svals, ["%m0", "%m1"], ["%l0", "%l1"])
        pnew = self.pack_p(p)
        self.comment("PV(n-1) done: release V(n-1), rescale O by alpha(n)")
        self.emit("nvvm.wgmma.wait.group.sync.aligned 0")
        o_vals = self.pin(o_vals, "f")
        self.if_(leader)
        self.emit(f"nvvm.mbarrier.arrive {self.bar_ptr(BAR_EMPTYV, sp)} : !llvm.ptr<3>")
        self.end()
        o_vals = self.rescale(o_vals, alpha)
        ost = self.build_struct(o_vals, ACC_T)
        pst2 = self.build_struct(pnew, P_T)
        self.emit(f"scf.yield {m_new[0]}, {m_new[1]}, {l_new[0]}, {l_new[1]}, {ost}, {pst2} : "
                  f"f32, f32, f32, f32, {ACC_T}, {P_T}")
        self.ind -= 1
        self.emit("}")

        self.comment("tail: O += P(nT-1) V(nT-1)")
        nlast = self.sub(nT, self.ci(1))
        sl, phl, _, dvl = stage_descs(nlast)
        self.wait(self.bar_ptr(BAR_FULLV, sl), phl)
        o_vals = self.pin(self.extract_all(f"{res}#4", 64, ACC_T), "f")
        pregs = self.pin(self.extract_all(f"{res}#5", 32, P_T), "r")
        self.emit("nvvm.wgmma.fence.aligned")
        o_vals = self.pv_gemm_rs(o_vals, pregs, dvl)
        self.emit("nvvm.wgmma.commit.group.sync.aligned")
        self.emit("nvvm.wgmma.wait.group.sync.aligned 0")
        o_vals = self.pin(o_vals, "f")
        self.if_(leader)
        self.emit(f"nvvm.mbarrier.arrive {self.bar_ptr(BAR_EMPTYV, sl)} : !llvm.ptr<3>")
        self.end()
        return o_vals, [f"{res}#0", f"{res}#1"], [f"{res}#2", f"{res}#3"]

    def epilogue(self, o_vals, m, l, q0, q1, bh, t):
        self.comment("---- epilogue: quad-reduce l, O / l -> bf16 -> global; LSE = (m + log2 l) * ln 2 ----")
        inv, lse = [None, None], [None, None]
        for i in range(2):
            lt = self.fadd(l[i], self.shfl_bfly(l[i], 1))
            lt = self.fadd(lt, self.shfl_bfly(lt, 2))
            pos = self.op(f"arith.cmpf ogt, {lt}, {self.zf} : f32")
            r = self.op(f"arith.divf {self.cf(1.0)}, {lt} : f32")
            inv[i] = self.sel(pos, r, self.zf, "f32")
            lv = self.fmul(self.fadd(m[i], self.lg2(lt)), self.cf(LN2))
            lse[i] = self.sel(pos, lv, self.ninf, "f32")
        for i, q in enumerate((q0, q1)):
            self.if_(self.cmp("slt", q, "%L"))
            grow = self.add(self.mul(bh, "%L"), q)
            base = self.op(f"arith.muli {self.zext64(grow)}, {self.ci(D * 2, 'i64')} : i64")
            rowp = self.gep("%O", base, "!llvm.ptr")
            rowp = self.gep(rowp, self.zext64(self.shl(self.t2, self.ci(1))), "!llvm.ptr")
            for j in range(16):
                a = self.fmul(o_vals[4 * j + 2 * i], inv[i])
                b = self.fmul(o_vals[4 * j + 2 * i + 1], inv[i])
                v = self.op("llvm.mlir.poison : vector<2xf32>")
                v = self.op(f"llvm.insertelement {a}, {v}[{self.ci(0)} : i32] : vector<2xf32>")
                v = self.op(f"llvm.insertelement {b}, {v}[{self.ci(1)} : i32] : vector<2xf32>")
                bv = self.op(f"llvm.fptrunc {v} : vector<2xf32> to vector<2xbf16>")
                pk = self.op(f"llvm.bitcast {bv} : vector<2xbf16> to i32")
                ptr = self.gep(rowp, 16 * j, "!llvm.ptr")
                self.emit(f"llvm.store {pk}, {ptr} : i32, !llvm.ptr")
            self.comment("LSE: lane t == 0 of each quad, only if the LSE pointer is non-null")
            lse_i = self.op(f"llvm.ptrtoint %LSE : !llvm.ptr to i64")
            has = self.op(f"arith.cmpi ne, {lse_i}, {self.ci(0, 'i64')} : i64")
            t0 = self.cmp("eq", t, self.ci(0))
            self.if_(self.op(f"arith.andi {has}, {t0} : i1"))
            lp = self.gep("%LSE", self.mul(self.zext64(grow), self.ci(4, "i64"), "i64"), "!llvm.ptr")
            self.emit(f"llvm.store {lse[i]}, {lp} : f32, !llvm.ptr")
            self.end()
            self.end()


VARIANTS = [
    # name, pmode, sched, causal, tma
    ("attn_smemP", "smem", "serial", False, "global"),
    ("attn_smemP_causal", "smem", "serial", True, "global"),
    ("attn_regP", "reg", "serial", False, "global"),
    ("attn_regP_causal", "reg", "serial", True, "global"),
    ("attn_regP_ovl", "reg", "overlap", False, "global"),
    ("attn_regP_ovl_causal", "reg", "overlap", True, "global"),
    ("attn_regP_ovl_gc", "reg", "overlap", False, "param"),
]
PROBES = [
    ("probe_smemP", "smem", "serial", False, "global"),
    ("probe_regP", "reg", "serial", False, "global"),
]


def main():
    out = sys.argv[1]
    acc = "!llvm.struct<(" + ", ".join(["f32"] * 64) + ")>"
    pfr = "!llvm.struct<(" + ", ".join(["i32"] * 32) + ")>"
    parts = [
        "// GENERATED by proto/hopper/gen_attn.py -- do not edit; edit the generator.",
        "// FlashAttention-3 style forward attention for sm_90a (bf16, d = 128, BM = BN = 128,",
        f"// {STAGES}-stage TMA ring, 1 producer + 2 consumer warpgroups). Dynamic smem: {SMEM_BYTES} bytes.",
        f"// smem map (from the 1024-aligned base): Q @{OFF_Q}, K[s] @{OFF_K}+s*{TILE}, V[s] @{OFF_V}+s*{TILE},",
        f"// P[cw] @{OFF_P}+cw*{P_BYTES} (smem-P kernels), mbarriers @{OFF_BAR}: fullQ +{BAR_FULLQ}, "
        f"fullK[s] +{BAR_FULLK}, fullV[s] +{BAR_FULLV}, emptyK[s] +{BAR_EMPTYK}, emptyV[s] +{BAR_EMPTYV}",
        f"!acc = {acc}",
        f"!pfrag = {pfr}",
        "module attributes {gpu.container_module} {",
        "  gpu.module @attn_sm90a {",
        "    llvm.mlir.global external @smem() {addr_space = 3 : i32, alignment = 1024 : i64} : !llvm.array<0 x i8>",
    ]
    tsv = ["# name\tpmode\tsched\tcausal\ttma\tsmem_bytes\tthreads"]
    for name, pmode, sched, causal, tma in VARIANTS + PROBES:
        k = Kernel(name, pmode, sched, causal, tma, probe=name.startswith("probe"))
        parts.append(f"    // ===== {name}: P via {pmode}, {sched} schedule, "
                     f"{'causal' if causal else 'dense'}, tensor maps {'by value (grid_constant)' if tma == 'param' else 'in global memory'} =====")
        parts.append(k.build())
        tsv.append(f"{name}\t{pmode}\t{sched}\t{int(causal)}\t{tma}\t{SMEM_BYTES}\t{NTHREADS}")
    parts.append("  }")
    parts.append("}")
    with open(out, "w") as f:
        f.write("\n".join(parts) + "\n")
    with open(out + ".kernels.tsv", "w") as f:
        f.write("\n".join(tsv) + "\n")


if __name__ == "__main__":
    main()
