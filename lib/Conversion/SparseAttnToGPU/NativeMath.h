//===- NativeMath.h - softmax math without libdevice ----------*- C++ -*-===//
//
// The softmax builders emit `math.exp2`, `math.log` and `math.fma`, which
// convert-gpu-to-nvvm turns into calls to libdevice (__nv_exp2f,
// __nv_logf, __nv_fmaf). Generated PTX must not depend on a CUDA installation at
// compile time (CI has none, and an unlinked call is rejected by ptxas),
// so the GPU lowering rewrites them into what the NVPTX backend emits
// natively: exp2 -> ex2.approx.f32, log(x) -> lg2.approx(x) * ln 2 (the
// approximations FlashAttention uses), fma -> fma.rn.f32.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_LIB_CONVERSION_SPARSEATTNTOGPU_NATIVEMATH_H
#define SATTN_LIB_CONVERSION_SPARSEATTNTOGPU_NATIVEMATH_H

namespace mlir {
class Operation;
} // namespace mlir

namespace sattn::gpucodegen {

/// Rewrites the f32 math.exp2 / math.log / math.fma ops nested in `root`.
/// With `flushSubnormals` exp2 is ex2.approx.ftz (one MUFU instruction;
/// results below 2^-126 become 0, which a softmax probability loses
/// nothing by) instead of ex2.approx, which rescales subnormal results.
void lowerSoftmaxMathToNVPTX(mlir::Operation *root,
                             bool flushSubnormals = false);

} // namespace sattn::gpucodegen

#endif // SATTN_LIB_CONVERSION_SPARSEATTNTOGPU_NATIVEMATH_H
