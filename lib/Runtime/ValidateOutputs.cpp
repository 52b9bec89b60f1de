//===- ValidateOutputs.cpp - checks of what training-side calls write -----===//
//
// The tensors a backward launch writes (dQ, dK, dV: f32, or int64 fixed-point
// sums in the deterministic form) and those a block_max kernel writes
// (row_max, block_max): none of them has strides in the kernel's ABI, so
// each must be row-major contiguous in the shape the call implies, and the
// messages say which dimension breaks it.
//
//===----------------------------------------------------------------------===//

#include "Checker.h"

namespace sattn::rt::check {

sattn_status Checker::rowMajor(const Role &r, const sattn_tensor &t, const char *writer) {
  int64_t expected = 1;
  for (int d = r.rank - 1; d >= 0; --d) {
    if (t.shape[d] > 1 && t.strides[d] != expected)
      return fail(SATTN_ERROR_STRIDE, dimName(r, d) + " has stride " + str(t.strides[d]) +
                                          ", expected " + str(expected) + ": the " + writer +
                                          " writes " + r.name + " row-major contiguous");
    expected *= t.shape[d];
  }
  return SATTN_OK;
}

/// The forward's checks with LSE required, then dO like O (the kernel's
/// dtype, q's shape, any strides the forward's O could have, 16-byte
/// alignment), then dQ, dK and dV: f32 with the shapes of Q, K and V,
/// row-major contiguous (the kernel takes no strides for them) and 16-byte
/// aligned. Every slice fits the kernel's 32-bit offsets, as for a launch.
sattn_status Checker::backward(const BackwardArgs &a, LaunchShape &shape) {
  const LaunchArgs &f = a.forward;
  const sattn_tensor *grads[] = {a.dO, a.dQ, a.dK, a.dV};
  const Role *roles[] = {&kDO, &kDQ, &kDK, &kDV};
  if (!f.lse)
    return fail(SATTN_ERROR_NULL_POINTER,
                "lse is NULL; the backward pass of kernel '" + m.name +
                    "' needs the forward's log-sum-exp (B, H, Lq) float32");
  for (int i = 0; i < 4; ++i)
    if (!grads[i])
      return fail(SATTN_ERROR_NULL_POINTER,
                  std::string(roles[i]->name) + " is NULL (a tensor descriptor is required)");
  SATTN_TRY(run(f, shape));

  std::string kernelDtype = std::string("(the dtype of kernel '") + m.name + "')";
  SATTN_TRY(dtype(kDO, *a.dO, m.dtype, kernelDtype.c_str()));
  SATTN_TRY(dtype(kDQ, *a.dQ, SATTN_DTYPE_F32, "(gradients are float32)"));
  for (int i = 2; i < 4; ++i)
    SATTN_TRY(a.dkvScales ? dtype(*roles[i], *grads[i], SATTN_DTYPE_I64,
                                  "(the deterministic backward's fixed-point sums)")
                          : dtype(*roles[i], *grads[i], SATTN_DTYPE_F32,
                                  "(gradients are float32)"));
  if (a.dkvScales) {
    const sattn_tensor &s = *a.dkvScales;
    SATTN_TRY(dtype(kDkvScales, s, SATTN_DTYPE_F32, "(the scales of dK and dV)"));
    SATTN_TRY(rank(kDkvScales, s));
    SATTN_TRY(extent(kDkvScales, s, 0, 2, "(the scales of dK and dV)"));
    if (!s.data)
      return fail(SATTN_ERROR_NULL_POINTER, "dkv_scales has no data (NULL pointer)");
    if (s.strides[0] != 1)
      return fail(SATTN_ERROR_STRIDE, "dkv_scales has stride " + str(s.strides[0]) +
                                          ", expected 1 (the kernel reads the pair as two "
                                          "consecutive float32)");
    SATTN_TRY(aligned(kDkvScales, s, 4, false));
  }
  for (int i = 0; i < 4; ++i)
    SATTN_TRY(rank(*roles[i], *grads[i]));
  const sattn_tensor *like[] = {f.q, f.q, f.k, f.v};
  const char *why[] = {"q's shape; d_o has o's shape", "q's shape", "k's shape", "v's shape"};
  for (int i = 0; i < 4; ++i)
    for (int d = 0; d < 4; ++d)
      SATTN_TRY(extent(*roles[i], *grads[i], d, like[i]->shape[d], why[i]));
  for (int i = 0; i < 4; ++i) {
    int64_t count;
    if (elementCount(*grads[i], count) && count > 0 && !grads[i]->data)
      return fail(SATTN_ERROR_NULL_POINTER,
                  std::string(roles[i]->name) + " has no data (NULL pointer)");
  }

  SATTN_TRY(span(kDO.name, *a.dO, false));
  for (int i = 1; i < 4; ++i) {
    const sattn_tensor &t = *grads[i];
    SATTN_TRY(span(roles[i]->name, t, true));
    SATTN_TRY(rowMajor(*roles[i], t, "backward kernel"));
  }
  SATTN_TRY(aligned(kDO, *a.dO, kTensorAlignment, true));
  for (int i = 1; i < 4; ++i)
    SATTN_TRY(aligned(*roles[i], *grads[i], kTensorAlignment, false));
  for (int i = 0; i < 4; ++i) {
    int64_t count;
    if (elementCount(*grads[i], count) && count > 0)
      SATTN_TRY(sliceFits(roles[i]->name, *grads[i]));
  }
  return SATTN_OK;
}

/// Required exactly for a block_max kernel: row_max (B, H, N, Lq) and
/// block_max (B, H, T, N), N = ceil(Lk / block_n) KV tiles, T the plan's
/// query tiles; f32, row-major contiguous, 4-byte aligned, each (batch,
/// head) slice within the kernel's 32-bit offsets.
sattn_status Checker::blockMaxOutputs(const LaunchArgs &a, const LaunchShape &shape) {
  const sattn_tensor *outputs[] = {a.rowMax, a.blockMax};
  const Role *roles[] = {&kRowMax, &kBlockMax};
  if (!m.blockMax) {
    for (int i = 0; i < 2; ++i)
      if (outputs[i])
        return fail(SATTN_ERROR_INVALID_ARGUMENT,
                    std::string(roles[i]->name) + " was given but kernel '" + m.name +
                        "' was compiled without block_max and would not write it; pass NULL");
    return SATTN_OK;
  }
  for (int i = 0; i < 2; ++i)
    if (!outputs[i])
      return fail(SATTN_ERROR_NULL_POINTER,
                  std::string(roles[i]->name) + " is NULL but kernel '" + m.name +
                      "' was compiled with block_max: launch it with "
                      "sattn_launch_block_max, which takes row_max and block_max");
  int64_t kvTiles = (shape.lk + m.blockN - 1) / m.blockN;
  int64_t extents[2][4] = {{shape.batch, m.heads, kvTiles, shape.lq},
                           {shape.batch, m.heads, a.plan->num_query_tiles, kvTiles}};
  const char *why[2][4] = {
      {"q's batch", "the kernel's heads", "ceil(Lk / block_n), the KV tiles", "q's Lq"},
      {"q's batch", "the kernel's heads", "the plan's num_query_tiles",
       "ceil(Lk / block_n), the KV tiles"}};
  for (int i = 0; i < 2; ++i) {
    const sattn_tensor &t = *outputs[i];
    SATTN_TRY(dtype(*roles[i], t, SATTN_DTYPE_F32, "(block maxima are float32)"));
    SATTN_TRY(rank(*roles[i], t));
    for (int d = 0; d < 4; ++d)
      SATTN_TRY(extent(*roles[i], t, d, extents[i][d], why[i][d]));
    int64_t count;
    if (elementCount(t, count) && count > 0 && !t.data)
      return fail(SATTN_ERROR_NULL_POINTER,
                  std::string(roles[i]->name) + " has no data (NULL pointer)");
    SATTN_TRY(span(roles[i]->name, t, true));
    SATTN_TRY(rowMajor(*roles[i], t, "block_max kernel"));
    SATTN_TRY(aligned(*roles[i], t, 4, false));
    if (count > 0)
      SATTN_TRY(sliceFits(roles[i]->name, t));
  }
  return SATTN_OK;
}

} // namespace sattn::rt::check

namespace sattn::rt {

sattn_status validateBackward(const Manifest &manifest, const BackwardArgs &args,
                              LaunchShape &shape, std::string &message) {
  shape = LaunchShape();
  return check::Checker(manifest, message).backward(args, shape);
}

} // namespace sattn::rt
