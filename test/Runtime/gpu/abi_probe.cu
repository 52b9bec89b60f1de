// abi_probe.cu - a kernel with exactly the parameter list of
// docs/KERNEL_ABI.md (one runtime table) that reports what it received, so
// that a GPU test can check libsattn_runtime's launch end to end before
// sattn-compile emits real kernels: strides, lengths, grid mapping, plan and
// table pointers, the dynamic shared memory size and the LSE pointer.
//
// O[b, h, i, :] = Q[b, h, i, :] + K[b, h / GROUP, i + Lk - Lq, :] + V[same]
// LSE[b, h, i]  = table_0[b, i + Lk - Lq] + 1000 * class_index[b, h]
//                 + 100 * offsets[blockIdx.x] + 10 * segments[0] + num_query_tiles
//                 (or -1 when the dynamic shared memory is not SMEM_BYTES)

#include <cuda_bf16.h>
#include <stdint.h>

#ifndef GROUP
#define GROUP 2
#endif
#ifndef HEAD_DIM
#define HEAD_DIM 64
#endif
#ifndef BLOCK_M
#define BLOCK_M 64
#endif
#ifndef SMEM_BYTES
#define SMEM_BYTES 102400
#endif

extern "C" __global__ void sattn_abi_probe(
    const __nv_bfloat16 *q, const __nv_bfloat16 *k, const __nv_bfloat16 *v,
    __nv_bfloat16 *o, float *lse, int64_t q_sb, int64_t q_sh, int64_t q_ss,
    int64_t k_sb, int64_t k_sh, int64_t k_ss, int64_t v_sb, int64_t v_sh,
    int64_t v_ss, int64_t o_sb, int64_t o_sh, int64_t o_ss, int64_t lse_sb,
    int64_t lse_sh, int64_t lq, int64_t lk, const int64_t *segments,
    const int64_t *offsets, const int64_t *class_index, int64_t num_query_tiles,
    const int64_t *table_0) {
  extern __shared__ float smem[];
  unsigned smem_bytes;
  asm("mov.u32 %0, %%dynamic_smem_size;" : "=r"(smem_bytes));
  // Touch the last word: faults unless the launch really got SMEM_BYTES.
  if (threadIdx.x == 0)
    smem[smem_bytes / 4 - 1] = 1.0f;
  __syncthreads();

  int64_t m = blockIdx.x, h = blockIdx.y, b = blockIdx.z, heads = gridDim.y;
  int64_t kvh = h / GROUP;
  for (int64_t idx = threadIdx.x; idx < BLOCK_M * HEAD_DIM; idx += blockDim.x) {
    int64_t row = m * BLOCK_M + idx / HEAD_DIM, d = idx % HEAD_DIM;
    if (row >= lq)
      continue;
    int64_t key = row + lk - lq;
    float sum = __bfloat162float(q[b * q_sb + h * q_sh + row * q_ss + d]) +
                __bfloat162float(k[b * k_sb + kvh * k_sh + key * k_ss + d]) +
                __bfloat162float(v[b * v_sb + kvh * v_sh + key * v_ss + d]);
    o[b * o_sb + h * o_sh + row * o_ss + d] = __float2bfloat16(sum);
  }
  for (int64_t r = threadIdx.x; r < BLOCK_M; r += blockDim.x) {
    int64_t row = m * BLOCK_M + r;
    if (row >= lq || !lse)
      continue;
    float value = (float)(table_0[b * lk + row + lk - lq] + 1000 * class_index[b * heads + h] +
                          100 * offsets[m] + 10 * segments[0] + num_query_tiles);
    if (smem_bytes != SMEM_BYTES)
      value = -1.0f;
    lse[b * lse_sb + h * lse_sh + row] = value;
  }
}
