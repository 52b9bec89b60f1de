//===- GpuBackwardBuilder.h - attention's gradients on sm_80+ --*- C++ -*-===//
//
// Private to lib/Conversion/SparseAttnToGPU. The backward kernel is the
// forward's mma.sync kernel with another KV tile body: it walks the very
// same plan (segments, gathers, PARTIAL masks, the load pipeline of
// GpuAttentionSegments.cpp) from the query side, so every plan the forward
// runs on, host or device built, has its backward with no second planner.
// One CTA per (query tile, head, batch) holds dQ of its rows in registers
// and adds its share of dK and dV into f32 buffers with atomics:
//
//   prologue: Q and dO tiles -> shared; per row LSE and D_i = dO_i . O_i
//   for KV tile of the plan (K, V -> shared, as the forward):
//     in a loop of 32-key chunks, per warp (16 query rows):
//       S  = Q K^T, masked as the forward; P = 2^(S log2e scale - LSE log2e)
//       dP = dO V^T;  dS = P (dP - D)
//       dQ += dS K                  (dS repacked from its accumulators)
//       P, dS -> shared (16-bit)
//     barrier; per warp, 16 key rows x 64 columns at a time:
//       dV_j += P^T dO,  dK_j += scale dS^T Q  (ldmatrix.trans of P and dS)
//       -> red.global.add.f32 at the tile's key positions (ranges or
//          gathered keys alike; column pairs, .v2.f32, for the backward
//          of an sm_90a forward), or, when the caller passes dkv_scales
//          (the deterministic backward), red.global.add.u64 of the shares
//          in fixed point: integer sums are the same in any order
//   epilogue: dQ = scale acc (plain stores: the CTA owns its rows)
//
// GpuBackwardBuilder.cpp assembles the kernel (signature, prologue,
// epilogue); GpuBackwardKvTile.cpp is the tile body.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_LIB_CONVERSION_SPARSEATTNTOGPU_GPUBACKWARDBUILDER_H
#define SATTN_LIB_CONVERSION_SPARSEATTNTOGPU_GPUBACKWARDBUILDER_H

#include "GpuAttentionBuilderImpl.h"

namespace sattn::gpucodegen {

/// Where the backward kernel's extra shared buffers sit after the
/// forward's layout (KernelConfig) of its Q tile, K and V stages and keys.
struct BackwardLayout {
  int64_t dOOffset = 0, pOffset = 0, dsOffset = 0, totalBytes = 0;
  /// Elements per row of the P and dS tiles (BN padded by 8, as rows of
  /// Q, K and V are, so that ldmatrix rows start in different banks).
  int64_t probabilityStride = 0;
};
BackwardLayout backwardLayoutFor(const KernelConfig &config);

/// The backward kernel's configuration for a forward of `forward`: the same
/// BM and BN (it reads the forward's plan), 16 query rows per warp, two
/// stages where shared memory allows, else one. Fails (with a reason) where
/// the registers of a backward tile would not fit.
FailureOr<KernelConfig> backwardConfigFor(const KernelConfig &forward,
                                          std::string &reason);

class GpuBackwardBuilder : public GpuAttentionBuilder {
public:
  /// `vectorAtomics`: add dK and dV two columns at a time with sm_90's
  /// `red.global.add.v2.f32` (for the backward of an sm_90a forward).
  GpuBackwardBuilder(KernelOp kernel, const KernelConfig &config, bool vectorAtomics)
      : GpuAttentionBuilder(kernel, config), layout(backwardLayoutFor(config)),
        vectorAtomics(vectorAtomics) {}

  FailureOr<gpu::GPUFuncOp> build(OpBuilder &builder, StringRef name);

private:
  void emitBackwardPrologue(OpBuilder &b, Location loc, Block &block);
  void emitQueryAndGradientTiles(OpBuilder &b, Location loc);
  void emitRowTerms(OpBuilder &b, Location loc);
  void emitQueryGradient(OpBuilder &b, Location loc, const LoopState &state);

  LoopState emitKvTile(OpBuilder &b, Location loc, const TileKeys &keys,
                       Value stage, bool partial, LoopState state) override;
  /// The 16 x `count` products of the warp's rows of `rows` (Q or dO, in
  /// shared memory) with keys [n0, n0 + count) of `keysTile` (K or V).
  SmallVector<Value> emitRowProducts(OpBuilder &b, Location loc, Value rows,
                                     Value keysTile, Value stage, Value n0,
                                     int64_t count);
  /// Drops the scores of pairs the tile does not keep (PARTIAL: the mask
  /// words; both: keys past the tile's end).
  void emitMaskChunk(OpBuilder &b, Location loc, const TileKeys &keys,
                     ArrayRef<Value> words, Value n0,
                     MutableArrayRef<Value> scores);
  /// Writes the warp's 16 x count values to `tile` (P or dS) as 16-bit
  /// pairs at columns [n0, n0 + count).
  void emitStoreChunk(OpBuilder &b, Location loc, ArrayRef<Value> values,
                      Value tile, Value n0);
  /// dV and dK of the tile's keys from P, dS, dO and Q in shared memory,
  /// added to the global gradients.
  void emitKeyGradients(OpBuilder &b, Location loc, const TileKeys &keys,
                        Value stage);

  /// Adds the thread's dK or dV accumulators `values` (16 key rows x
  /// values.size() / 4 8-column tiles at columns col0...) at the key rows
  /// `keyAt` (those that `exists`) with 8-byte vector reductions, one per
  /// pair of columns.
  void emitPairAtomics(OpBuilder &b, Location loc, Value base, ArrayRef<Value> keyAt,
                       ArrayRef<Value> exists, Value col0, ArrayRef<Value> values);

  /// `body(b, loc, rowStart, half)` for each of the thread's two key rows
  /// (`keyAt`) that `exists`, inside an scf.if; rowStart is the element
  /// index of its first column (key row * headDim + col0 + quadColumn).
  void emitExistingKeyRows(OpBuilder &b, Location loc, ArrayRef<Value> keyAt,
                           ArrayRef<Value> exists, Value col0,
                           function_ref<void(OpBuilder &, Location, Value, int64_t)> body);
  /// Adds the shares `values` (laid out as for emitPairAtomics) to the
  /// int64 fixed-point sums at `base`: round(x * scale), to nearest even,
  /// by `red.global.add.u64` (the deterministic backward).
  void emitFixedPointAtomics(OpBuilder &b, Location loc, Value base, ArrayRef<Value> keyAt,
                             ArrayRef<Value> exists, Value col0, ArrayRef<Value> values,
                             Value scale);

  BackwardLayout layout;
  bool vectorAtomics;
  /// dkv_scales is not NULL (i1), its pair {s_k, s_v}, and the dK and dV
  /// slices' first int64 elements (!llvm.ptr).
  Value fixedPoint;
  std::array<Value, 2> fixedScales;
  Value dkFixedBase, dvFixedBase;
  /// With vectorAtomics: the dK and dV slices' first elements (!llvm.ptr).
  Value dkBase, dvBase;
  Value doShared, pShared, dsShared;
  Value dqView, dkView, dvView; // f32 rows x headDim of this (b, h) / kv head
  /// Per row half of the thread: LSE * log2(e) (+inf for rows without kept
  /// keys or past Lq, so that their P is 0) and D = dO . O.
  std::array<Value, 2> lseLog2, rowDelta;
  Value scale;
};

} // namespace sattn::gpucodegen

#endif // SATTN_LIB_CONVERSION_SPARSEATTNTOGPU_GPUBACKWARDBUILDER_H
