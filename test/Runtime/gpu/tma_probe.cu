// tma_probe.cu - a kernel with exactly the parameter list of an sm_90a
// ("wgmma") kernel of docs/KERNEL_ABI.md (one runtime table, then the Q, K
// and V tensor maps) that loads its tiles through those maps, so that a GPU
// test can check the maps libsattn_runtime encodes before sattn-compile emits
// real Hopper kernels: the driver must accept them, and every box must hold
// the rows, heads and batches the kernel asks for, with rows past Lq or Lk
// read as zeros.
//
// Block (m, h, b) loads, per 64-column slice of D, the Q box at
// {col, m * BLOCK_M, h, b} and the K and V boxes at
// {col, m * BLOCK_M + Lk - Lq, h / GROUP, b} (128-byte swizzle) and writes
//   O[b, h, i, :]  = Q[b, h, i, :] + K[b, h / GROUP, i + Lk - Lq, :] + V[same]
//                    + table_0[b, i + Lk - Lq]
//   LSE[b, h, i]   = the number of non-zero elements the block found in box
//                    rows past the end of Q, K or V (0 expected)

#include <cuda.h>
#include <cuda/barrier>
#include <stdint.h>

#if HALF
#include <cuda_fp16.h>
typedef __half elem;
#define TO_FLOAT __half2float
#define FROM_FLOAT __float2half
#else
#include <cuda_bf16.h>
typedef __nv_bfloat16 elem;
#define TO_FLOAT __bfloat162float
#define FROM_FLOAT __float2bfloat16
#endif

#ifndef GROUP
#define GROUP 2
#endif
#ifndef HEAD_DIM
#define HEAD_DIM 128
#endif
#ifndef BLOCK_M
#define BLOCK_M 64
#endif
#ifndef BLOCK_N
#define BLOCK_N 128
#endif

static_assert(BLOCK_N >= BLOCK_M, "O rows read the first BLOCK_M rows of the K/V boxes");

namespace cde = cuda::device::experimental;
using barrier = cuda::barrier<cuda::thread_scope_block>;
// The barrier is initialised by thread 0 below, as the CUDA guide does.
#pragma nv_diag_suppress static_var_with_dynamic_init

// Element (row, col) of a box of 64 two-byte columns loaded with the 128-byte
// swizzle: the 16-byte chunks of row r are permuted by r % 8.
__device__ float at(const char *box, int row, int col) {
  int byte = col * 2;
  int chunk = (byte / 16) ^ (row % 8);
  return TO_FLOAT(*reinterpret_cast<const elem *>(box + row * 128 + chunk * 16 + byte % 16));
}

extern "C" __global__ void sattn_tma_probe(
    const elem *q, const elem *k, const elem *v, elem *o, float *lse, int64_t q_sb,
    int64_t q_sh, int64_t q_ss, int64_t k_sb, int64_t k_sh, int64_t k_ss, int64_t v_sb,
    int64_t v_sh, int64_t v_ss, int64_t o_sb, int64_t o_sh, int64_t o_ss, int64_t lse_sb,
    int64_t lse_sh, int64_t lq, int64_t lk, const int64_t *segments, const int64_t *offsets,
    const int64_t *class_index, int64_t num_query_tiles, const int64_t *table_0,
    const __grid_constant__ CUtensorMap tma_q, const __grid_constant__ CUtensorMap tma_k,
    const __grid_constant__ CUtensorMap tma_v) {
  __shared__ alignas(1024) char sq[BLOCK_M * 128];
  __shared__ alignas(1024) char sk[BLOCK_N * 128];
  __shared__ alignas(1024) char sv[BLOCK_N * 128];
  __shared__ barrier bar;
  __shared__ int outside;
  if (threadIdx.x == 0) {
    init(&bar, blockDim.x);
    cde::fence_proxy_async_shared_cta();
    outside = 0;
  }
  __syncthreads();

  const int m = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
  const int row0 = m * BLOCK_M, key0 = row0 + (int)(lk - lq);
  for (int col = 0; col < HEAD_DIM; col += 64) {
    barrier::arrival_token token;
    if (threadIdx.x == 0) {
      cde::cp_async_bulk_tensor_4d_global_to_shared(sq, &tma_q, col, row0, h, b, bar);
      cde::cp_async_bulk_tensor_4d_global_to_shared(sk, &tma_k, col, key0, h / GROUP, b, bar);
      cde::cp_async_bulk_tensor_4d_global_to_shared(sv, &tma_v, col, key0, h / GROUP, b, bar);
      token = cuda::device::barrier_arrive_tx(bar, 1, sizeof sq + sizeof sk + sizeof sv);
    } else {
      token = bar.arrive();
    }
    bar.wait(std::move(token));

    for (int idx = threadIdx.x; idx < BLOCK_N * 64; idx += blockDim.x) {
      int r = idx / 64, c = idx % 64;
      bool pastQ = r < BLOCK_M && row0 + r >= lq, pastKV = key0 + r >= lk;
      if ((pastQ && at(sq, r, c) != 0.0f) || (pastKV && (at(sk, r, c) != 0.0f ||
                                                         at(sv, r, c) != 0.0f)))
        atomicAdd(&outside, 1);
      if (r >= BLOCK_M || row0 + r >= lq)
        continue;
      float sum = at(sq, r, c) + at(sk, r, c) + at(sv, r, c) +
                  (float)table_0[b * lk + key0 + r];
      o[b * o_sb + h * o_sh + (row0 + r) * o_ss + col + c] = FROM_FLOAT(sum);
    }
    __syncthreads(); // the boxes are reloaded for the next slice
  }
  for (int r = threadIdx.x; r < BLOCK_M; r += blockDim.x)
    if (lse && row0 + r < lq)
      lse[b * lse_sb + h * lse_sh + row0 + r] = (float)outside;
}
