//===- SparseAttnDialect.cpp - sattn dialect and kernel verifier ----------===//
//
// The kernel verifier enforces the configuration rules every backend relies
// on (supported dtypes and head dims, GQA divisibility, a positive scale)
// and the checks that need the kernel's head count (per-head assignments,
// dense heads of the S2 pattern).
//
//===----------------------------------------------------------------------===//

#include "SparseAttn/IR/SparseAttnDialect.h"
#include "sattn/Core/Limits.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"

using namespace mlir;
using namespace sattn;

#include "SparseAttn/IR/SparseAttnDialect.cpp.inc"

#define GET_OP_CLASSES
#include "SparseAttn/IR/SparseAttnOps.cpp.inc"

void SparseAttnDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "SparseAttn/IR/SparseAttnOps.cpp.inc"
      >();
}

Value KernelOp::getMask() {
  return cast<YieldOp>(getBody().front().getTerminator()).getMask();
}

LogicalResult KernelOp::verify() {
  Type dtype = getDtype();
  if (!dtype.isBF16() && !dtype.isF16())
    return emitOpError() << "dtype must be bf16 or f16, got " << dtype;
  int64_t d = getHeadDim();
  if (d != 64 && d != 128 && d != 256)
    return emitOpError() << "head_dim must be 64, 128 or 256, got " << d;
  // I64Attr getters return uint64_t: compare as signed so that a negative
  // count is rejected rather than read as a huge positive one.
  int64_t heads = getHeads(), kvHeads = getKvHeads();
  if (heads <= 0 || heads > sattn::limits::kMaxHeads)
    return emitOpError() << "heads must be between 1 and " << sattn::limits::kMaxHeads
                         << ", got " << heads;
  if (kvHeads <= 0 || kvHeads > sattn::limits::kMaxHeads)
    return emitOpError() << "kv_heads must be between 1 and "
                         << sattn::limits::kMaxHeads << ", got " << kvHeads;
  if (heads % kvHeads != 0)
    return emitOpError() << "heads (" << heads
                         << ") must be a multiple of kv_heads (" << kvHeads
                         << ")";
  double scale = getScale().convertToDouble();
  if (!(scale > 0.0) || std::isinf(scale))
    return emitOpError() << "scale must be positive and finite, got " << scale;
  // The body's shape is checked on entry, before the body itself is
  // verified, so that a missing yield is reported in terms of the kernel
  // rather than as a generic "block with no terminator".
  Block &block = getBody().front();
  if (block.getNumArguments() != 0)
    return emitOpError("body takes no arguments");
  if (block.empty() || !isa<YieldOp>(block.back()))
    return emitOpError("body must end with 'sattn.yield'");
  return success();
}

LogicalResult KernelOp::verifyRegions() {
  int64_t heads = getHeads(), kvHeads = getKvHeads();
  WalkResult result = walk([&](Operation *op) {
    if (auto perHead = dyn_cast<mask::PerHeadOp>(op)) {
      if ((int64_t)perHead.getAssignment().size() != heads) {
        perHead.emitOpError() << "assigns " << perHead.getAssignment().size()
                              << " heads but the kernel has " << heads;
        return WalkResult::interrupt();
      }
    }
    if (auto s2 = dyn_cast<mask::StridedBlocksOp>(op)) {
      int64_t n = s2.getPerKvGroup() ? kvHeads : heads;
      if ((int64_t)s2.getDenseHeads() > n) {
        s2.emitOpError() << "makes " << s2.getDenseHeads()
                         << " heads dense but the kernel has " << n
                         << (s2.getPerKvGroup() ? " KV heads" : " heads");
        return WalkResult::interrupt();
      }
    }
    return WalkResult::advance();
  });
  return failure(result.wasInterrupted());
}
