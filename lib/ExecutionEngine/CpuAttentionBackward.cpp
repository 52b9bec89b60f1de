//===- CpuAttentionBackward.cpp - CpuAttention::runBackward ---------------===//
//
// Runs `@NAME_bwd_cpu` (sattn/Conversion/SparseAttnToCPU.h) on caller
// memory: the forward's checks on Q, K, V, O, the plan and the tables, then
// LSE, dO and the three gradients against the same shapes.
//
//===----------------------------------------------------------------------===//

#include "CpuAttentionImpl.h"

using namespace mlir;
using namespace sattn;
using namespace sattn::cpuexec;

LogicalResult CpuAttention::runBackward(StringRef name,
                                        const CpuAttentionBackwardArgs &args,
                                        const plan::FlatPlan &plan,
                                        const MaskInputs &inputs,
                                        std::string &error) const {
  FailureOr<const KernelInfo *> kernelOr = findKernel(*impl, name, error);
  if (failed(kernelOr))
    return failure();
  const KernelInfo &kernel = **kernelOr;
  if (!kernel.backwardEntry) {
    error = "kernel '" + kernel.name +
            "' was compiled without its backward (CpuAttentionOptions::backward)";
    return failure();
  }
  CallShape s;
  SmallVector<StridedMemRefType<int64_t, 1>> tableDescs;
  if (failed(checkCall(*impl, kernel, args.forward, plan, inputs, s,
                       tableDescs, error)))
    return failure();
  if (failed(checkTensor("lse", args.forward.lse, {s.batch, s.heads, s.lq}, error)) ||
      failed(checkTensor("dO", args.dO, {s.batch, s.heads, s.lq, s.headDim}, error)) ||
      failed(checkTensor("dQ", args.dQ, {s.batch, s.heads, s.lq, s.headDim}, error)) ||
      failed(checkTensor("dK", args.dK, {s.batch, s.kvHeads, s.lk, s.headDim}, error)) ||
      failed(checkTensor("dV", args.dV, {s.batch, s.kvHeads, s.lk, s.headDim}, error)))
    return failure();

  auto tensor4 = [](const CpuTensor &t) {
    return descriptor<float, 4>(t.data, t.sizes, t.strides);
  };
  const CpuAttentionArgs &f = args.forward;
  auto q = tensor4(f.q), k = tensor4(f.k), v = tensor4(f.v), o = tensor4(f.o);
  auto lse = descriptor<float, 3>(f.lse.data, f.lse.sizes, f.lse.strides);
  auto dO = tensor4(args.dO), dQ = tensor4(args.dQ), dK = tensor4(args.dK),
       dV = tensor4(args.dV);
  PlanDescriptors planDescs(plan);
  SmallVector<void *> pointers{&q, &k, &v, &o, &lse, &dO, &dQ, &dK, &dV};
  planDescs.append(pointers);
  invoke(kernel.backwardEntry, pointers, tableDescs);
  return success();
}
