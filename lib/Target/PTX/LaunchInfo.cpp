//===- LaunchInfo.cpp - launch information of a generated GPU kernel ------===//
//
// Reads back what `convert-sattn-to-gpu` recorded on a gpu.func. Parameter
// kinds come from the function type (0-d memrefs are pointers under the
// bare-pointer convention), names from the recorded list.
//
//===----------------------------------------------------------------------===//

#include "sattn/Target/LaunchInfo.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMTypes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Diagnostics.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace sattn::target;

static std::string typeName(Type t) {
  std::string s;
  llvm::raw_string_ostream os(s);
  t.print(os);
  return s;
}

FailureOr<LaunchInfo> sattn::target::readLaunchInfo(Operation *op) {
  auto func = dyn_cast<gpu::GPUFuncOp>(op);
  if (!func)
    return op->emitError("launch information lives on gpu.func ops");
  LaunchInfo info;
  auto readInt = [&](StringRef name, int64_t &out) -> LogicalResult {
    auto attr = func->getAttrOfType<IntegerAttr>(name);
    if (!attr)
      return func.emitError() << "missing integer attribute '" << name << "'";
    out = attr.getInt();
    return success();
  };
  auto kernel = func->getAttrOfType<StringAttr>(kKernelNameAttr);
  auto names = func->getAttrOfType<ArrayAttr>(kParamNamesAttr);
  if (!kernel || !names)
    return func.emitError() << "not a sattn kernel: '" << kKernelNameAttr
                            << "' or '" << kParamNamesAttr << "' is missing";
  if (failed(readInt(kBlockMAttr, info.blockM)) ||
      failed(readInt(kBlockNAttr, info.blockN)) ||
      failed(readInt(kWarpsAttr, info.warps)) ||
      failed(readInt(kStagesAttr, info.stages)) ||
      failed(readInt(kSharedMemoryAttr, info.dynamicSharedMemoryBytes)))
    return failure();
  if (auto family = func->getAttrOfType<StringAttr>(kKernelFamilyAttr);
      family && family.getValue() == llvm::StringRef(abi::familyName(abi::KernelFamily::Wgmma)))
    info.family = abi::KernelFamily::Wgmma;
  if (auto gathers = func->getAttrOfType<BoolAttr>(kPlanGathersAttr))
    info.planGathers = gathers.getValue();
  else
    info.planGathers = info.family == abi::KernelFamily::MmaSync;
  if (auto plan = func->getAttrOfType<DictionaryAttr>(kDevicePlanAttr)) {
    auto flag = [&](StringRef name) {
      auto v = plan.getAs<BoolAttr>(name);
      return v && v.getValue();
    };
    info.devicePlan = true;
    info.planClassByBatch = flag("class_by_batch");
    info.planClassByHead = flag("class_by_head");
    if (auto keys = plan.getAs<IntegerAttr>("list_keys"))
      info.planListKeys = keys.getInt();
    if (auto rows = plan.getAs<IntegerAttr>("list_unit_rows"))
      info.planListUnitRows = rows.getInt();
  }
  if (Attribute record = func->getAttr(kEstimatorAttr)) {
    FailureOr<plan::EstimatorSpec> spec =
        plan::parseEstimator(record, [&] { return func.emitError(); });
    if (failed(spec))
      return failure();
    info.estimator = *spec;
  }
  if (auto record = func->getAttrOfType<DictionaryAttr>(kBackwardAttr)) {
    auto entry = record.getAs<StringAttr>("entry");
    auto warps = record.getAs<IntegerAttr>("warps");
    auto stages = record.getAs<IntegerAttr>("stages");
    auto shared = record.getAs<IntegerAttr>("shared_bytes");
    if (!entry || !warps || !stages || !shared)
      return func.emitError() << "'" << kBackwardAttr
                              << "' needs entry, warps, stages and shared_bytes";
    info.backward = LaunchInfo::Backward{entry.getValue().str(), warps.getInt(),
                                         stages.getInt(), shared.getInt()};
  }
  info.kernelName = kernel.getValue().str();
  info.entryName = func.getName().str();
  info.threadsPerBlock = 32 * info.warps;

  ArrayRef<Type> inputs = func.getFunctionType().getInputs();
  if (names.size() != inputs.size())
    return func.emitError()
           << "'" << kParamNamesAttr << "' names " << names.size()
           << " parameters, the function has " << inputs.size();
  for (auto [nameAttr, type] : llvm::zip_equal(names, inputs)) {
    KernelParam param;
    param.name = cast<StringAttr>(nameAttr).getValue().str();
    if (auto memref = dyn_cast<MemRefType>(type)) {
      param.kind = KernelParam::Kind::Pointer;
      param.elementType = typeName(memref.getElementType());
    } else if (type.isInteger(64)) {
      param.kind = KernelParam::Kind::Int64;
    } else if (isa<LLVM::LLVMPointerType>(type)) {
      param.kind = KernelParam::Kind::TensorMap;
    } else {
      return func.emitError()
             << "parameter '" << param.name << "' has unexpected type " << type;
    }
    info.params.push_back(std::move(param));
  }
  return info;
}
