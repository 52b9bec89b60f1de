//===- WindowMaskBits.h - PARTIAL tiles' masks from window words -*- C++ -*-===//
//
// Private to lib/Conversion/SparseAttnToGPU. In the mma layouts (wgmma's
// accumulator and mma.sync's m16n8 fragments alike) a thread holds, per 16
// rows of its warp, 2 rows x BN/4 columns of a tile's scores: value 4j + e
// is row half e / 2, column quadColumn + 8j + e % 2. Evaluating the mask per
// value costs BN/2 evaluations per thread and tile, each a table read for
// table masks. When the mask separates into terms of q, k or q - k
// (sattn/Conversion/MaskSeparation.h) the warp evaluates each term once per
// distinct value instead, gathers the answers into 32-bit words with
// ballots, and each thread shifts and compresses them into its value bits:
//   - a term of k at the tile's BN keys: lane l evaluates key k0 + 32m + l
//     for word m;
//   - a term of q - k at the BN + 15 offsets of the 16 rows: one word per 32
//     offsets, bit-reversed so that offsets fall as columns rise, and
//     funnel-shifted per thread to its row and columns;
//   - a term of q at the thread's two rows, of neither once.
// Terms then combine with bitwise ops: about a hundred instructions per
// term and tile instead of BN/2 evaluations.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_LIB_CONVERSION_SPARSEATTNTOGPU_WINDOWMASKBITS_H
#define SATTN_LIB_CONVERSION_SPARSEATTNTOGPU_WINDOWMASKBITS_H

#include "sattn/Conversion/MaskSeparation.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/DenseMap.h"

#include <array>

namespace sattn::gpucodegen {

/// A thread's place in its warp's 16 rows of a tile (index values).
struct WindowLayout {
  int64_t blockN = 0;                  // keys of the tile, a multiple of 32
  mlir::Value lane, group, quadColumn; // lane, lane / 4, 2 * (lane % 4)
  std::array<mlir::Value, 2> queryPos; // absolute positions of the two rows
};

/// Emits, for a tile whose column c holds key k0 + c, the thread's value
/// bits (i64, bit 4j + e, BN/2 bits) of a separated mask or of one term.
/// All 32 lanes of the warp must run the emitted code together (ballots).
class WindowMaskBits {
public:
  using TermAt = llvm::function_ref<mlir::Value(mlir::OpBuilder &, mlir::Location,
                                                mlir::Value q, mlir::Value k)>;
  WindowMaskBits(mlir::OpBuilder &b, mlir::Location loc,
                 const WindowLayout &layout, const ElementMaskEnv &env,
                 mlir::Value k0);
  /// The bits of node `n` of `mask`; failure when a term's code could not
  /// be emitted (reported by emitElementMask).
  mlir::FailureOr<mlir::Value> node(const SeparatedMask &mask, unsigned n);
  /// The bits of `term` (an i1 of (q, k)) that depends on `d` only.
  mlir::Value window(TermDependence d, TermAt term);

private:
  mlir::Value i32(int64_t v);
  mlir::Value i64(int64_t v);
  mlir::Value spread(mlir::Value v, int64_t pattern);
  mlir::Value ballot(mlir::Value pred);
  mlir::Value compress(mlir::Value x);
  mlir::Value place(mlir::Value bits, mlir::Value pairs, int64_t m, int64_t half);
  mlir::Value keyWindow(TermAt term);
  mlir::Value offsetWindow(TermAt term);

  mlir::OpBuilder &b;
  mlir::Location loc;
  const WindowLayout &layout;
  const ElementMaskEnv &env;
  mlir::Value k0;
  int64_t words; // 32-key words of the tile
  llvm::DenseMap<unsigned, mlir::Value> memo;
};

} // namespace sattn::gpucodegen

#endif // SATTN_LIB_CONVERSION_SPARSEATTNTOGPU_WINDOWMASKBITS_H
