// Host harness for the sm_90a attention prototype (proto/hopper/attn_sm90a.mlir).
//
// Loads the module (cubin from ptxas, or PTX for the driver JIT), builds the TMA tensor
// maps with cuTensorMapEncodeTiled, launches one kernel, checks it against an fp32
// reference kernel and/or times it.
//
//   harness MODULE KERNELS_TSV KERNEL MODE
//     MODE = check    : B=2 H=3, L = 128, 1000, 4096 (+ a sharp-softmax case), all rows
//            bench    : B=1 H=16, L = 8192, 32768: median of 30 timed launches after 5 warm-up,
//                       plus a sampled-row check (512 rows) of the timed output
//            sanitize : B=1 H=2, L = 128 and 1000 (for compute-sanitizer)
//
// Output: human-readable lines plus one "RESULT ..." line per case (parsed by run_on_gpu.sh).
// Exit status: 0 all cases passed, 1 a check failed, 2 a CUDA error.
//
// Build (on the GPU machine): nvcc -O2 -std=c++17 -arch=sm_90a harness.cu -o harness -lcuda
#include <cuda.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#define CU(x)                                                                          \
  do {                                                                                 \
    CUresult r_ = (x);                                                                 \
    if (r_ != CUDA_SUCCESS) {                                                          \
      const char *s_ = nullptr;                                                        \
      cuGetErrorString(r_, &s_);                                                       \
      fprintf(stderr, "CUDA driver error %d (%s) at %s:%d: %s\n", (int)r_,            \
              s_ ? s_ : "?", __FILE__, __LINE__, #x);                                  \
      exit(2);                                                                         \
    }                                                                                  \
  } while (0)
#define RT(x)                                                                          \
  do {                                                                                 \
    cudaError_t e_ = (x);                                                              \
    if (e_ != cudaSuccess) {                                                           \
      fprintf(stderr, "CUDA runtime error %d (%s) at %s:%d: %s\n", (int)e_,           \
              cudaGetErrorString(e_), __FILE__, __LINE__, #x);                         \
      exit(2);                                                                         \
    }                                                                                  \
  } while (0)

static constexpr int D = 128;
static constexpr int BM = 128;
static constexpr int THREADS = 384;

struct KernelInfo {
  std::string name, pmode, sched, tma;
  bool causal = false;
  int smem = 0, threads = 0;
};

static KernelInfo findKernel(const char *tsv, const char *name) {
  std::ifstream in(tsv);
  if (!in) { fprintf(stderr, "cannot open %s\n", tsv); exit(2); }
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ss(line);
    KernelInfo k;
    int causal;
    ss >> k.name >> k.pmode >> k.sched >> causal >> k.tma >> k.smem >> k.threads;
    k.causal = causal != 0;
    if (k.name == name) return k;
  }
  fprintf(stderr, "kernel %s not in %s\n", name, tsv);
  exit(2);
}

// ---------------------------------------------------------------------------------
// fp32 reference: one block (128 threads) per checked query row.
// rows == nullptr: every row, r -> (bh = r / L, q = r % L); else rows[r] = bh * L + q.
// ---------------------------------------------------------------------------------
__global__ void refAttention(const __nv_bfloat16 *Q, const __nv_bfloat16 *K,
                             const __nv_bfloat16 *V, int L, float scale, int causal,
                             const int *rows, float *Oref, float *LSEref) {
  extern __shared__ float sm[];
  float *qs = sm;        // [128]
  float *sc = sm + D;    // [L]
  __shared__ float red[32];
  int r = blockIdx.x;
  long long gr = rows ? rows[r] : r;
  long long bh = gr / L;
  int q = (int)(gr % L);
  const __nv_bfloat16 *qp = Q + gr * D;
  const __nv_bfloat16 *kb = K + bh * (long long)L * D;
  const __nv_bfloat16 *vb = V + bh * (long long)L * D;
  int tid = threadIdx.x;
  qs[tid] = __bfloat162float(qp[tid]);
  __syncthreads();
  int kend = causal ? q + 1 : L;
  // scores: one warp per key, each lane 4 of the 128 dims (coalesced 256-B row reads)
  int warp = tid >> 5, lane = tid & 31, nwarps = blockDim.x >> 5;
  float q0 = qs[4 * lane], q1 = qs[4 * lane + 1], q2 = qs[4 * lane + 2], q3 = qs[4 * lane + 3];
  float mx = -INFINITY;
  for (int j = warp; j < kend; j += nwarps) {
    const __nv_bfloat162 *kr = reinterpret_cast<const __nv_bfloat162 *>(kb + (long long)j * D) + 2 * lane;
    float2 a = __bfloat1622float2(kr[0]), c = __bfloat1622float2(kr[1]);
    float s = q0 * a.x + q1 * a.y + q2 * c.x + q3 * c.y;
    for (int o = 16; o; o >>= 1) s += __shfl_xor_sync(~0u, s, o);
    s *= scale;
    if (lane == 0) sc[j] = s;
    mx = fmaxf(mx, s);
  }
  __syncthreads();
  for (int o = 16; o; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(~0u, mx, o));
  if ((tid & 31) == 0) red[tid >> 5] = mx;
  __syncthreads();
  mx = red[0];
  for (int w = 1; w < (int)(blockDim.x >> 5); ++w) mx = fmaxf(mx, red[w]);
  __syncthreads();
  float sum = 0.f;
  for (int j = tid; j < kend; j += blockDim.x) {
    float p = expf(sc[j] - mx);
    sc[j] = p;
    sum += p;
  }
  for (int o = 16; o; o >>= 1) sum += __shfl_xor_sync(~0u, sum, o);
  if ((tid & 31) == 0) red[tid >> 5] = sum;
  __syncthreads();
  sum = 0.f;
  for (int w = 0; w < (int)(blockDim.x >> 5); ++w) sum += red[w];
  float acc = 0.f;
  for (int j = 0; j < kend; ++j) acc += sc[j] * __bfloat162float(vb[(long long)j * D + tid]);
  Oref[(long long)r * D + tid] = kend > 0 ? acc / sum : 0.f;
  if (tid == 0) LSEref[r] = kend > 0 ? mx + logf(sum) : -INFINITY;
}

// ---------------------------------------------------------------------------------
static uint16_t f2bf(float f) {  // round to nearest even
  uint32_t u;
  memcpy(&u, &f, 4);
  u += 0x7FFF + ((u >> 16) & 1);
  return (uint16_t)(u >> 16);
}
static float bf2f(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
}

// [B*H, L, 128] bf16 view, box = 64 columns x 128 rows x 1, 128-byte swizzle.
// Out-of-bounds rows (L not a multiple of 128) are filled with zeros.
static CUtensorMap makeMap(void *base, int L, int BH) {
  CUtensorMap m;
  cuuint64_t dims[3] = {(cuuint64_t)D, (cuuint64_t)L, (cuuint64_t)BH};
  cuuint64_t strides[2] = {(cuuint64_t)D * 2, (cuuint64_t)L * D * 2};  // bytes, dims 1..2
  cuuint32_t box[3] = {64, BM, 1};
  cuuint32_t estr[3] = {1, 1, 1};
  CU(cuTensorMapEncodeTiled(&m, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 3, base, dims, strides, box, estr,
            CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
            CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE));
  return m;
}

struct Runner {
  KernelInfo info;
  CUmodule mod;
  CUfunction fn;

  Runner(const char *module, const KernelInfo &k) : info(k) {
    std::ifstream in(module, std::ios::binary);
    if (!in) { fprintf(stderr, "cannot open %s\n", module); exit(2); }
    std::string img((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    img.push_back('\0');  // PTX must be NUL-terminated; harmless for a cubin
    char log[8192] = {0}, elog[8192] = {0};
    CUjit_option opts[] = {CU_JIT_INFO_LOG_BUFFER, CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES,
                           CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
    void *vals[] = {log, (void *)(uintptr_t)sizeof(log), elog, (void *)(uintptr_t)sizeof(elog)};
    CUresult r = cuModuleLoadDataEx(&mod, img.data(), 4, opts, vals);
    if (r != CUDA_SUCCESS) {
      fprintf(stderr, "cuModuleLoadDataEx failed (%d): %s\n%s\n", (int)r, elog, log);
      exit(2);
    }
    CU(cuModuleGetFunction(&fn, mod, k.name.c_str()));
    CU(cuFuncSetAttribute(fn, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, k.smem));
    int regs, lmem, maxt, occ;
    CU(cuFuncGetAttribute(&regs, CU_FUNC_ATTRIBUTE_NUM_REGS, fn));
    CU(cuFuncGetAttribute(&lmem, CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES, fn));
    CU(cuFuncGetAttribute(&maxt, CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, fn));
    CU(cuOccupancyMaxActiveBlocksPerMultiprocessor(&occ, fn, THREADS, k.smem));
    printf("kernel %s: pmode=%s sched=%s causal=%d tma=%s smem=%d regs(entry)=%d local=%d "
           "maxThreads=%d blocks/SM=%d\n",
           k.name.c_str(), k.pmode.c_str(), k.sched.c_str(), (int)k.causal, k.tma.c_str(),
           k.smem, regs, lmem, maxt, occ);
    if (maxt < THREADS || occ < 1) {
      fprintf(stderr, "kernel cannot launch with %d threads / %d B smem\n", THREADS, k.smem);
      exit(2);
    }
  }

  // One launch. Tensor maps: in device memory (tma=global) or by value (tma=param).
  void launch(const CUtensorMap maps[3], CUdeviceptr dmaps, CUdeviceptr O, CUdeviceptr LSE,
              int B, int H, int L, float scaleLog2, cudaStream_t st) {
    CUdeviceptr pQ = dmaps, pK = dmaps + 128, pV = dmaps + 256;
    void *args[7];
    if (info.tma == "param") {
      args[0] = (void *)&maps[0];
      args[1] = (void *)&maps[1];
      args[2] = (void *)&maps[2];
    } else {
      args[0] = &pQ;
      args[1] = &pK;
      args[2] = &pV;
    }
    args[3] = &O;
    args[4] = &LSE;
    args[5] = &L;
    args[6] = &scaleLog2;
    unsigned gx = (unsigned)((L + BM - 1) / BM);
    CU(cuLaunchKernel(fn, gx, (unsigned)H, (unsigned)B, THREADS, 1, 1, (unsigned)info.smem,
                      (CUstream)st, args, nullptr));
  }
};

struct Case {
  int B, H, L;
  float qmul;  // > 1: sharper softmax (larger score range)
  const char *tag;
};

struct Buffers {
  int B, H, L;
  size_t n;  // elements of Q/K/V/O
  __nv_bfloat16 *Q, *K, *V, *O;
  float *LSE;
  CUdeviceptr dmaps;
  CUtensorMap maps[3];
  static constexpr size_t kPadO = (size_t)BM * D;  // canary elements after O
  static constexpr size_t kPadL = BM;              // canary floats after LSE

  Buffers(int B_, int H_, int L_, float qmul, uint64_t seed) : B(B_), H(H_), L(L_) {
    n = (size_t)B * H * L * D;
    std::vector<uint16_t> h(n);
    // fast approximately-normal values: Irwin-Hall sum of 4 uniforms, mean 0, variance 1
    uint64_t st = seed * 0x9E3779B97F4A7C15ull + 1;
    auto nd = [&st]() {
      float acc = 0.f;
      for (int i = 0; i < 4; ++i) {
        uint64_t z = (st += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        acc += (float)(z >> 40) * (1.0f / 16777216.0f);
      }
      return (acc - 2.f) * 1.7320508f;
    };
    RT(cudaMalloc(&Q, n * 2));
    RT(cudaMalloc(&K, n * 2));
    RT(cudaMalloc(&V, n * 2));
    RT(cudaMalloc(&O, (n + kPadO) * 2));
    RT(cudaMalloc(&LSE, ((size_t)B * H * L + kPadL) * 4));
    for (int t = 0; t < 3; ++t) {
      float mul = t == 0 ? qmul : 1.f;
      for (size_t i = 0; i < n; ++i) h[i] = f2bf(nd() * mul);
      RT(cudaMemcpy(t == 0 ? (void *)Q : t == 1 ? (void *)K : (void *)V, h.data(), n * 2,
                    cudaMemcpyHostToDevice));
    }
    maps[0] = makeMap(Q, L, B * H);
    maps[1] = makeMap(K, L, B * H);
    maps[2] = makeMap(V, L, B * H);
    RT(cudaMalloc((void **)&dmaps, 3 * 128));  // cudaMalloc is 256-B aligned (>= 64 needed)
    RT(cudaMemcpy((void *)dmaps, maps, 3 * 128, cudaMemcpyHostToDevice));
  }
  ~Buffers() {
    cudaFree(Q); cudaFree(K); cudaFree(V); cudaFree(O); cudaFree(LSE); cudaFree((void *)dmaps);
  }
  void poison() {  // bf16 0xFFFF and f32 0xFFFFFFFF are NaN
    RT(cudaMemset(O, 0xFF, (n + kPadO) * 2));
    RT(cudaMemset(LSE, 0xFF, ((size_t)B * H * L + kPadL) * 4));
  }
};

struct CheckResult {
  double rel = 0, maxAbs = 0, lseMax = 0;
  long nanO = 0, nanLse = 0, canary = 0, rows = 0;
  bool pass = false;
};

// Compare rows (all when rows is empty) against the fp32 reference.
static CheckResult check(Buffers &b, bool causal, float scale, const std::vector<int> &rows) {
  CheckResult r;
  long nrows = rows.empty() ? (long)b.B * b.H * b.L : (long)rows.size();
  r.rows = nrows;
  float *Oref, *Lref;
  int *drows = nullptr;
  RT(cudaMalloc(&Oref, (size_t)nrows * D * 4));
  RT(cudaMalloc(&Lref, (size_t)nrows * 4));
  if (!rows.empty()) {
    RT(cudaMalloc(&drows, rows.size() * 4));
    RT(cudaMemcpy(drows, rows.data(), rows.size() * 4, cudaMemcpyHostToDevice));
  }
  size_t sm = (size_t)(D + b.L) * 4;
  if (sm > 48 * 1024)
    RT(cudaFuncSetAttribute(refAttention, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)sm));
  refAttention<<<(unsigned)nrows, D, sm>>>(b.Q, b.K, b.V, b.L, scale, causal ? 1 : 0, drows,
                                            Oref, Lref);
  RT(cudaGetLastError());
  RT(cudaDeviceSynchronize());
  std::vector<float> oref((size_t)nrows * D), lref(nrows);
  std::vector<uint16_t> o(b.n + Buffers::kPadO);
  std::vector<float> lse((size_t)b.B * b.H * b.L + Buffers::kPadL);
  RT(cudaMemcpy(oref.data(), Oref, oref.size() * 4, cudaMemcpyDeviceToHost));
  RT(cudaMemcpy(lref.data(), Lref, lref.size() * 4, cudaMemcpyDeviceToHost));
  RT(cudaMemcpy(o.data(), b.O, o.size() * 2, cudaMemcpyDeviceToHost));
  RT(cudaMemcpy(lse.data(), b.LSE, lse.size() * 4, cudaMemcpyDeviceToHost));
  double num = 0, den = 0;
  long worstRow = -1;
  double worst = 0;
  for (long i = 0; i < nrows; ++i) {
    long gr = rows.empty() ? i : rows[i];
    double rowErr = 0;
    for (int d = 0; d < D; ++d) {
      float v = bf2f(o[(size_t)gr * D + d]);
      float ref = oref[(size_t)i * D + d];
      if (std::isnan(v)) { ++r.nanO; continue; }
      double e = (double)v - ref;
      num += e * e;
      den += (double)ref * ref;
      rowErr = std::max(rowErr, std::fabs(e));
    }
    r.maxAbs = std::max(r.maxAbs, rowErr);
    if (rowErr > worst) { worst = rowErr; worstRow = gr; }
    float l = lse[gr];
    if (std::isnan(l)) ++r.nanLse;
    else r.lseMax = std::max(r.lseMax, (double)std::fabs(l - lref[i]));
  }
  if (rows.empty()) {  // canaries after the last row must still hold the poison
    for (size_t i = b.n; i < b.n + Buffers::kPadO; ++i) r.canary += o[i] != 0xFFFF;
    for (size_t i = (size_t)b.B * b.H * b.L; i < lse.size(); ++i) r.canary += !std::isnan(lse[i]);
  }
  r.rel = den > 0 ? std::sqrt(num / den) : 0;
  r.pass = r.nanO == 0 && r.nanLse == 0 && r.canary == 0 && r.rel < 1e-2 && r.lseMax < 1e-2;
  if (!r.pass && worstRow >= 0) {
    long bh = worstRow / b.L, q = worstRow % b.L;
    printf("  worst row bh=%ld q=%ld (q%%128=%ld, wg=%ld, warp=%ld) max|err|=%.4g; first cols:",
           bh, q, q % 128, (q % 128) / 64, (q % 64) / 16, worst);
    long i = rows.empty() ? worstRow : (long)(std::find(rows.begin(), rows.end(), (int)worstRow) - rows.begin());
    for (int d = 0; d < 8; ++d)
      printf(" %.3f/%.3f", bf2f(o[(size_t)worstRow * D + d]), oref[(size_t)i * D + d]);
    printf("\n");
    // error by 64-column half and by column pair position: layout bugs show up here
    double eh[2] = {0, 0};
    for (long i2 = 0; i2 < nrows; ++i2) {
      long gr = rows.empty() ? i2 : rows[i2];
      for (int d = 0; d < D; ++d) {
        float v = bf2f(o[(size_t)gr * D + d]);
        if (!std::isnan(v)) eh[d / 64] += std::fabs(v - oref[(size_t)i2 * D + d]);
      }
    }
    printf("  mean |err| cols 0-63: %.4g, cols 64-127: %.4g\n", eh[0] / (nrows * 64.0),
           eh[1] / (nrows * 64.0));
  }
  cudaFree(Oref); cudaFree(Lref);
  if (drows) cudaFree(drows);
  return r;
}

// Probe kernels (KV tile 0 only): S = Q K_0^T (f32, written through the LSE pointer) and
// O = bf16(S) V_0 (f32, through the O pointer), both [B*H, L, 128]. S is checked against
// a double-precision host product; O against bf16(kernel S) V_0, so the PV path is tested
// independently of the S path.
static bool runProbe(Runner &run, int B, int H, int L, uint64_t seed) {
  Buffers b(B, H, L, 1.f, seed);
  size_t n = b.n;
  float *S, *Of;
  RT(cudaMalloc(&S, n * 4));
  RT(cudaMalloc(&Of, n * 4));
  RT(cudaMemset(S, 0xFF, n * 4));
  RT(cudaMemset(Of, 0xFF, n * 4));
  run.launch(b.maps, b.dmaps, (CUdeviceptr)Of, (CUdeviceptr)S, B, H, L, 1.f, 0);
  RT(cudaGetLastError());
  RT(cudaDeviceSynchronize());
  std::vector<uint16_t> q(n), k(n), v(n);
  std::vector<float> s(n), o(n);
  RT(cudaMemcpy(q.data(), b.Q, n * 2, cudaMemcpyDeviceToHost));
  RT(cudaMemcpy(k.data(), b.K, n * 2, cudaMemcpyDeviceToHost));
  RT(cudaMemcpy(v.data(), b.V, n * 2, cudaMemcpyDeviceToHost));
  RT(cudaMemcpy(s.data(), S, n * 4, cudaMemcpyDeviceToHost));
  RT(cudaMemcpy(o.data(), Of, n * 4, cudaMemcpyDeviceToHost));
  cudaFree(S); cudaFree(Of);
  double sn = 0, sd = 0, on = 0, od = 0, sh[2][2] = {{0, 0}, {0, 0}}, oh[2][2] = {{0, 0}, {0, 0}};
  long nanS = 0, nanO = 0, firstS = -1, firstO = -1;
  for (long bh = 0; bh < (long)B * H; ++bh)
    for (int r = 0; r < L; ++r) {
      size_t row = (size_t)(bh * L + r) * D;
      for (int c = 0; c < D; ++c) {  // c = key (S) or d (O)
        double ref = 0;
        for (int d = 0; d < D; ++d)
          ref += (double)bf2f(q[row + d]) * bf2f(k[(size_t)bh * L * D + (size_t)c * D + d]);
        float got = s[row + c];
        if (std::isnan(got)) { ++nanS; continue; }
        double e = got - ref;
        sn += e * e; sd += ref * ref;
        sh[(r % 128) / 64][c / 64] += std::fabs(e);
        if (firstS < 0 && std::fabs(e) > 1e-2 * (1 + std::fabs(ref))) {
          firstS = (long)row + c;
          printf("  first S mismatch: bh=%ld q=%d key=%d got %.4f want %.4f\n", bh, r, c, got, ref);
        }
      }
      for (int d = 0; d < D; ++d) {
        double ref = 0;
        for (int j = 0; j < D; ++j)
          ref += (double)bf2f(f2bf(s[row + j])) * bf2f(v[(size_t)bh * L * D + (size_t)j * D + d]);
        float got = o[row + d];
        if (std::isnan(got)) { ++nanO; continue; }
        double e = got - ref;
        on += e * e; od += ref * ref;
        oh[(r % 128) / 64][d / 64] += std::fabs(e);
        if (firstO < 0 && std::fabs(e) > 1e-2 * (1 + std::fabs(ref))) {
          firstO = (long)row + d;
          printf("  first O mismatch: bh=%ld q=%d d=%d got %.4f want %.4f\n", bh, r, d, got, ref);
        }
      }
    }
  double rs = sd > 0 ? std::sqrt(sn / sd) : 0, ro = od > 0 ? std::sqrt(on / od) : 0;
  bool ok = nanS == 0 && nanO == 0 && rs < 1e-3 && ro < 1e-3;
  printf("  sum|err| by (query rows 0-63|64-127) x (cols 0-63|64-127): S %.3g %.3g %.3g %.3g  O %.3g %.3g %.3g %.3g\n",
         sh[0][0], sh[0][1], sh[1][0], sh[1][1], oh[0][0], oh[0][1], oh[1][0], oh[1][1]);
  printf("RESULT mode=probe kernel=%s B=%d H=%d L=%d case=probe rows=%ld rel_err=%.3e s_rel=%.3e "
         "o_rel=%.3e nan_s=%ld nan_o=%ld status=%s\n",
         run.info.name.c_str(), B, H, L, (long)B * H * L, std::max(rs, ro), rs, ro, nanS, nanO,
         ok ? "PASS" : "FAIL");
  fflush(stdout);
  return ok;
}

static void printResult(const char *mode, const KernelInfo &k, const Buffers &b, const char *tag,
                        const CheckResult &r, double ms, double tflops) {
  printf("RESULT mode=%s kernel=%s B=%d H=%d L=%d case=%s rows=%ld rel_err=%.3e max_abs=%.3e "
         "lse_err=%.3e nan_o=%ld nan_lse=%ld canary=%ld ms=%.4f tflops=%.1f status=%s\n",
         mode, k.name.c_str(), b.B, b.H, b.L, tag, r.rows, r.rel, r.maxAbs, r.lseMax, r.nanO,
         r.nanLse, r.canary, ms, tflops, r.pass ? "PASS" : "FAIL");
  fflush(stdout);
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: %s MODULE(.cubin|.ptx) KERNELS_TSV KERNEL check|bench|sanitize\n", argv[0]);
    return 2;
  }
  const char *mode = argv[4];
  KernelInfo k = findKernel(argv[2], argv[3]);
  RT(cudaSetDevice(0));
  RT(cudaFree(0));  // primary context, shared by the driver-API calls below
  cudaDeviceProp prop;
  RT(cudaGetDeviceProperties(&prop, 0));
  printf("device: %s (sm_%d%d, %d SMs)\n", prop.name, prop.major, prop.minor, prop.multiProcessorCount);
  Runner run(argv[1], k);
  const float scale = 1.0f / std::sqrt((float)D);
  const float scaleLog2 = scale * 1.4426950408889634f;
  uint64_t seed0 = getenv("SEED") ? strtoull(getenv("SEED"), nullptr, 10) : 20261203ull;
  bool allPass = true;

  if (k.name.rfind("probe", 0) == 0) {
    if (strcmp(mode, "check")) { fprintf(stderr, "probe kernels run in check mode only\n"); return 2; }
    bool ok = runProbe(run, 2, 3, 128, seed0 + 1);
    ok &= runProbe(run, 2, 3, 1000, seed0 + 2);
    CU(cuModuleUnload(run.mod));
    return ok ? 0 : 1;
  }

  std::vector<Case> cases;
  if (!strcmp(mode, "check"))
    cases = {{2, 3, 128, 1.f, "plain"}, {2, 3, 1000, 1.f, "plain"}, {2, 3, 4096, 1.f, "plain"},
             {2, 3, 1000, 4.f, "sharp"}};
  else if (!strcmp(mode, "sanitize"))
    cases = {{1, 2, 128, 1.f, "plain"}, {1, 2, 1000, 1.f, "plain"}};
  else if (!strcmp(mode, "bench"))
    cases = {{1, 16, 8192, 1.f, "bench"}, {1, 16, 32768, 1.f, "bench"}};
  else {
    fprintf(stderr, "unknown mode %s\n", mode);
    return 2;
  }

  for (size_t ci = 0; ci < cases.size(); ++ci) {
    const Case &c = cases[ci];
    Buffers b(c.B, c.H, c.L, c.qmul, seed0 + 7919 * ci + c.L);
    b.poison();
    if (strcmp(mode, "bench")) {
      run.launch(b.maps, b.dmaps, (CUdeviceptr)b.O, (CUdeviceptr)b.LSE, c.B, c.H, c.L, scaleLog2, 0);
      RT(cudaGetLastError());
      RT(cudaDeviceSynchronize());
      CheckResult r = check(b, k.causal, scale, {});
      printResult(mode, k, b, c.tag, r, 0, 0);
      allPass &= r.pass;
      continue;
    }
    // bench: warm-up, then 30 individually timed launches; report the median.
    cudaStream_t st;
    RT(cudaStreamCreate(&st));
    for (int i = 0; i < 5; ++i)
      run.launch(b.maps, b.dmaps, (CUdeviceptr)b.O, (CUdeviceptr)b.LSE, c.B, c.H, c.L, scaleLog2, st);
    RT(cudaStreamSynchronize(st));
    const int iters = 30;
    std::vector<cudaEvent_t> ev(iters + 1);
    for (auto &e : ev) RT(cudaEventCreate(&e));
    b.poison();
    RT(cudaEventRecord(ev[0], st));
    for (int i = 0; i < iters; ++i) {
      run.launch(b.maps, b.dmaps, (CUdeviceptr)b.O, (CUdeviceptr)b.LSE, c.B, c.H, c.L, scaleLog2, st);
      RT(cudaEventRecord(ev[i + 1], st));
    }
    RT(cudaStreamSynchronize(st));
    RT(cudaGetLastError());
    std::vector<float> t(iters);
    for (int i = 0; i < iters; ++i) RT(cudaEventElapsedTime(&t[i], ev[i], ev[i + 1]));
    std::sort(t.begin(), t.end());
    double ms = t[iters / 2];
    double pairs = k.causal ? (double)c.B * c.H * c.L * (c.L + 1.0) / 2.0
                            : (double)c.B * c.H * (double)c.L * c.L;
    double tflops = 4.0 * D * pairs / (ms * 1e-3) / 1e12;
    printf("  times ms: min %.4f median %.4f max %.4f\n", t.front(), ms, t.back());
    // sampled check of the timed output: first and last rows of each head, diagonal-tile
    // rows, and random rows
    std::vector<int> rows;
    std::mt19937 rng(1234 + c.L);
    for (int h = 0; h < c.B * c.H; h += 5) {
      for (int q : {0, 1, 127, 128, c.L - 129, c.L - 1}) rows.push_back(h * c.L + q);
    }
    while (rows.size() < 512) rows.push_back((int)(rng() % (uint32_t)(c.B * c.H * c.L)));
    CheckResult r = check(b, k.causal, scale, rows);
    printResult(mode, k, b, c.tag, r, ms, tflops);
    allPass &= r.pass;
    for (auto &e : ev) cudaEventDestroy(e);
    cudaStreamDestroy(st);
  }
  CU(cuModuleUnload(run.mod));
  return allPass ? 0 : 1;
}
