//===- CpuEstimator.cpp - a kernel's estimator as a CPU function ----------===//
//
// Builds `@NAME_estimate_cpu`: the estimator stages of
// sattn/Conversion/Estimators.h in their launch order, each a loop over its
// items (a tile stage: its tiles, each phase of a tile a loop). This is
// the code the GPU runs a thread per item (a block per tile), so CI checks
// the compiled estimator by comparing this function's tables with the
// reference estimators (lib/Core/Estimators.cpp).
//
//===----------------------------------------------------------------------===//

#include "sattn/Conversion/SparseAttnToCPU.h"

#include "sattn/Conversion/Estimators.h"
#include "sattn/Conversion/IndexArith.h"
#include "sattn/Core/KernelAbi.h"

#include "SparseAttn/IR/SparseAttnDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace sattn;
using namespace sattn::cpu;
using namespace sattn::indexarith;

std::string cpu::estimatorEntryName(StringRef kernelName) {
  return (kernelName + "_estimate_cpu").str();
}

FunctionType cpu::estimatorEntryType(MLIRContext *ctx) {
  constexpr int64_t dyn = ShapedType::kDynamic;
  Type i64 = IntegerType::get(ctx, 64);
  auto f32s = MemRefType::get({dyn}, Float32Type::get(ctx));
  SmallVector<Type> inputs{f32s, f32s};
  inputs.append(abi::kNumEstimatorParams - 5, i64); // strides, lq, lk, batch
  inputs.append({MemRefType::get({dyn}, Float64Type::get(ctx)), MemRefType::get({dyn}, i64),
                 f32s});
  return FunctionType::get(ctx, inputs, {});
}

FailureOr<func::FuncOp> cpu::buildCpuEstimatorEntry(OpBuilder &builder, KernelOp kernel,
                                                    const plan::EstimatorSpec &spec,
                                                    int64_t launches) {
  Location loc = kernel.getLoc();
  auto func = func::FuncOp::create(builder, loc, estimatorEntryName(kernel.getSymName()),
                                   estimatorEntryType(builder.getContext()));
  func->setAttr("llvm.emit_c_interface", builder.getUnitAttr());
  Block *entry = func.addEntryBlock();
  OpBuilder b = OpBuilder::atBlockBegin(entry);
  ValueRange args = entry->getArguments();
  // q, k, q_sb, q_sh, q_ss, k_sb, k_sh, k_ss, lq, lk, batch, pooled, table,
  // weights.
  auto strides = [&](unsigned first) {
    return SmallVector<Value>{toIndex(b, loc, args[first]), toIndex(b, loc, args[first + 1]),
                              toIndex(b, loc, args[first + 2])};
  };
  SmallVector<Value> qStrides = strides(2), kStrides = strides(5);
  Value q = args[0], k = args[1];
  estimator::InputLoader loadElement = [=](OpBuilder &lb, Location ll, bool key, Value bIdx,
                                           Value h, Value row, Value column) -> Value {
    ArrayRef<Value> s = key ? kStrides : qStrides;
    Value at = add(lb, ll,
                   add(lb, ll, add(lb, ll, mul(lb, ll, bIdx, s[0]), mul(lb, ll, h, s[1])),
                       mul(lb, ll, row, s[2])),
                   column);
    return memref::LoadOp::create(lb, ll, key ? k : q, ValueRange{at});
  };
  // libm's exp, sin, cos and pow, as the reference uses.
  estimator::F64Functions functions;
  functions.exp = [](OpBuilder &eb, Location el, Value x) -> Value {
    return math::ExpOp::create(eb, el, x);
  };
  functions.sinCos = [](OpBuilder &eb, Location el, Value x) -> std::pair<Value, Value> {
    return {math::SinOp::create(eb, el, x), math::CosOp::create(eb, el, x)};
  };
  functions.pow = [](OpBuilder &eb, Location el, double base, Value exponent) -> Value {
    Value constant = arith::ConstantOp::create(eb, el, eb.getF64FloatAttr(base));
    return math::PowFOp::create(eb, el, constant, exponent);
  };
  estimator::EstimatorEnv env = estimator::bindEstimatorParams(
      b, loc, kernel, spec, args[8], args[9], args[10], loadElement, b.getF32Type(),
      std::move(functions), args[11], args[12], args[13]);
  auto loop = [&](OpBuilder &lb, Location ll, Value lo, Value hi,
                  function_ref<void(OpBuilder &, Location, Value)> body) {
    scf::ForOp::create(lb, ll, lo, hi, cst(lb, ll, 1), ValueRange{},
                       [&](OpBuilder &ib, Location il, Value i, ValueRange) {
                         body(ib, il, i);
                         scf::YieldOp::create(ib, il);
                       });
  };
  auto asI64 = [&](OpBuilder &lb, Location ll, Value i) -> Value {
    return arith::IndexCastOp::create(lb, ll, lb.getI64Type(), i);
  };
  std::vector<int> order = estimator::launchOrder(spec);
  if (launches >= 0 && launches < int64_t(order.size()))
    order.resize(launches);
  for (int stage : order) {
    if (!estimator::isTileStage(spec, stage)) {
      loop(b, loc, cst(b, loc, 0), toIndex(b, loc, estimator::emitStageItems(b, loc, stage, env)),
           [&](OpBuilder &ib, Location il, Value item) {
             estimator::emitStageItem(ib, il, stage, env, asI64(ib, il, item));
           });
      continue;
    }
    // A tile's phases one after the other, each a loop; its buffers once
    // per stage.
    estimator::TileBuffers entries =
        estimator::tileBufferEntries(spec, stage, kernel.getHeadDim());
    auto allocate = [&](int64_t count, Type type) -> Value {
      return count > 0 ? memref::AllocOp::create(b, loc, MemRefType::get({count}, type))
                       : Value();
    };
    estimator::TileRunner run;
    run.shared = allocate(entries.f64Entries, b.getF64Type());
    run.keys = allocate(entries.keyEntries, b.getF32Type());
    run.counts = allocate(entries.countEntries, b.getI32Type());
    run.phase = [&](OpBuilder &pb, Location pl, Value count,
                    function_ref<void(OpBuilder &, Location, Value)> body) {
      loop(pb, pl, cst(pb, pl, 0), count, body);
    };
    // The tensor-core form's logits as loops: each an f32 sum, in order, of
    // products exact in f32 (16-bit inputs); over several terms, the
    // terms' sums added in f32 in term order. A GPU's mma sums in another
    // order, so this checks the form's stage code, not its roundings.
    auto tensorDot = [&](OpBuilder &ib, Location il, const estimator::TensorLogitBlock &t,
                         Value item) -> Value {
      Value row = div(ib, il, item, cst(ib, il, t.keys));
      Value key = rem(ib, il, item, cst(ib, il, t.keys));
      Value rowOffset = mul(ib, il, row, cst(ib, il, t.stride));
      Value rowAt = add(ib, il, cst(ib, il, t.rowsAt), rowOffset);
      Value keyAt = add(ib, il, cst(ib, il, t.keysAt), mul(ib, il, key, cst(ib, il, t.stride)));
      Value zero = arith::ConstantOp::create(ib, il, ib.getF32FloatAttr(0.0));
      // Split rows: the lo row's product added after the hi row's, element
      // by element.
      auto dot = scf::ForOp::create(
          ib, il, cst(ib, il, 0), cst(ib, il, t.depth), cst(ib, il, 1), ValueRange{zero},
          [&](OpBuilder &nb, Location nl, Value x, ValueRange acc) {
            auto product = [&](Value at) {
              Value a = memref::LoadOp::create(nb, nl, run.keys, ValueRange{add(nb, nl, at, x)});
              Value c = memref::LoadOp::create(nb, nl, run.keys, ValueRange{add(nb, nl, keyAt, x)});
              return arith::MulFOp::create(nb, nl, a, c);
            };
            Value sum = arith::AddFOp::create(nb, nl, acc[0], product(rowAt));
            if (t.loRowsAt >= 0)
              sum = arith::AddFOp::create(
                  nb, nl, sum, product(add(nb, nl, cst(nb, nl, t.loRowsAt), rowOffset)));
            scf::YieldOp::create(nb, nl, ValueRange{sum});
          });
      return dot.getResult(0);
    };
    auto handOver = [&](OpBuilder &ib, Location il, const estimator::TensorLogitBlock &t,
                        Value item, Value sum, estimator::TensorLogitUse use) {
      use(ib, il, div(ib, il, item, cst(ib, il, t.keys)), rem(ib, il, item, cst(ib, il, t.keys)),
          sum);
    };
    if (spec.tensorLogits) {
      run.tensorLogits = [&](OpBuilder &tb, Location tl, const estimator::TensorLogitBlock &t,
                             estimator::TensorLogitUse use) {
        loop(tb, tl, cst(tb, tl, 0), cst(tb, tl, t.rows * t.keys),
             [&](OpBuilder &ib, Location il, Value item) {
               handOver(ib, il, t, item, tensorDot(ib, il, t, item), use);
             });
      };
      run.tensorLogitTerms = [&](OpBuilder &tb, Location tl, const estimator::TensorLogitBlock &t,
                                 int64_t terms, estimator::TensorTermLoad load,
                                 estimator::TensorLogitUse use) {
        Value items = cst(tb, tl, t.rows * t.keys);
        Value sums = memref::AllocOp::create(tb, tl, MemRefType::get({t.rows * t.keys},
                                                                     tb.getF32Type()));
        Value zero = arith::ConstantOp::create(tb, tl, tb.getF32FloatAttr(0.0));
        loop(tb, tl, cst(tb, tl, 0), items, [&](OpBuilder &ib, Location il, Value item) {
          memref::StoreOp::create(ib, il, zero, sums, ValueRange{item});
        });
        auto addTerm = [&](OpBuilder &lb, Location ll, Value term) {
          load(lb, ll, term);
          loop(lb, ll, cst(lb, ll, 0), items, [&](OpBuilder &ib, Location il, Value item) {
            Value before = memref::LoadOp::create(ib, il, sums, ValueRange{item});
            Value after = arith::AddFOp::create(ib, il, before, tensorDot(ib, il, t, item));
            memref::StoreOp::create(ib, il, after, sums, ValueRange{item});
          });
        };
        loop(tb, tl, cst(tb, tl, 0), cst(tb, tl, terms), addTerm);
        loop(tb, tl, cst(tb, tl, 0), items, [&](OpBuilder &ib, Location il, Value item) {
          handOver(ib, il, t, item, memref::LoadOp::create(ib, il, sums, ValueRange{item}), use);
        });
        memref::DeallocOp::create(tb, tl, sums);
      };
    }
    loop(b, loc, cst(b, loc, 0), toIndex(b, loc, estimator::emitStageTiles(b, loc, stage, env)),
         [&](OpBuilder &tb, Location tl, Value tile) {
           estimator::emitStageTile(tb, tl, stage, env, asI64(tb, tl, tile), run);
         });
    for (Value buffer : {run.shared, run.keys, run.counts})
      if (buffer)
        memref::DeallocOp::create(b, loc, buffer);
  }
  func::ReturnOp::create(b, loc);
  return func;
}
