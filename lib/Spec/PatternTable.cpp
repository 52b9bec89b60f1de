//===- PatternTable.cpp - the named patterns of the spec language ---------===//
//
// The pattern table. Defaults are the values found in each pattern's paper
// and official code; docs/MASK_SEMANTICS.md defines what each pattern keeps.
//
//===----------------------------------------------------------------------===//

#include "sattn/Spec/PatternTable.h"

using namespace sattn::spec;
using Default = ParamInfo::Default;

static ParamInfo required(llvm::StringRef name, ParamKind kind,
                          llvm::StringRef alias = {}) {
  ParamInfo info{name, kind, Default::Required};
  info.alias = alias;
  return info;
}
static ParamInfo intParam(llvm::StringRef name, int64_t value) {
  ParamInfo info{name, ParamKind::Int, Default::Value};
  info.intDefault = value;
  return info;
}
static ParamInfo floatParam(llvm::StringRef name, double value) {
  ParamInfo info{name, ParamKind::Float, Default::Value};
  info.floatDefault = value;
  return info;
}
static ParamInfo optionalFloat(llvm::StringRef name) {
  return ParamInfo{name, ParamKind::Float, Default::Absent};
}
static ParamInfo boolParam(llvm::StringRef name, bool value) {
  ParamInfo info{name, ParamKind::Bool, Default::Value};
  info.boolDefault = value;
  return info;
}

static const ParamInfo windowParams[] = {
    required("size", ParamKind::Int, /*alias=*/"radius"),
    boolParam("symmetric", false)};
static const ParamInfo countParams[] = {required("n", ParamKind::Int)};
static const ParamInfo aShapeParams[] = {intParam("sink", 128),
                                         intParam("local", 3968)};
static const ParamInfo triShapeParams[] = {
    intParam("sink", 128), intParam("local", 3968), intParam("last", 100)};
static const ParamInfo stridedParams[] = {
    intParam("stride", 8),
    ParamInfo{"offset", ParamKind::HeadOffset, Default::HeadVar}};
static const ParamInfo s2Params[] = {
    intParam("block", 64), intParam("local", 4), intParam("vert_stride", 4),
    intParam("offset", 1), intParam("dense_heads", 0)};
static const ParamInfo dilatedParams[] = {required("window", ParamKind::Int),
                                          required("dilation", ParamKind::Int)};
static const ParamInfo powerParams[] = {
    intParam("block", 64), intParam("window", 5), intParam("sink", 1)};
static const ParamInfo documentParams[] = {required("ids", ParamKind::Table)};
static const ParamInfo blocksParams[] = {required("keep", ParamKind::Table),
                                         intParam("block", 64)};
static const ParamInfo verticalSlashParams[] = {
    intParam("vertical", 1000),    intParam("slash", 6096),
    intParam("last_q", 64),        intParam("forced_vertical", 30),
    intParam("forced_slash", 100), intParam("block", 64)};
static const ParamInfo blockTopKParams[] = {intParam("top_k", 100),
                                            intParam("block", 64)};
static const ParamInfo xattentionParams[] = {
    intParam("stride", 8), floatParam("tau", 0.9), intParam("block", 128)};
// `threshold` defaults to 0.001 only when `top_ratio` is not given; Sema
// applies that rule, so both are optional here.
static const ParamInfo gateParams[] = {
    optionalFloat("threshold"), optionalFloat("top_ratio"),
    intParam("block", 64), intParam("hidden", 128)};
static const ParamInfo stripeParams[] = {
    intParam("group", 2048), intParam("block", 128), intParam("step", 16),
    floatParam("theta", 12.0)};
static const ParamInfo nsaParams[] = {
    intParam("compress_block", 32), intParam("compress_stride", 16),
    intParam("select_block", 64),   intParam("select_count", 16),
    intParam("window", 512),        intParam("local", 2)};

static const PatternInfo patterns[] = {
    {"causal", PatternKind::Causal, false, {}},
    {"full", PatternKind::Full, false, {}},
    {"none", PatternKind::Empty, false, {}},
    {"empty", PatternKind::Empty, false, {}},
    {"window", PatternKind::Window, false, windowParams},
    {"sink", PatternKind::Sink, false, countParams},
    {"prefix", PatternKind::Prefix, false, countParams},
    {"tail", PatternKind::TailQueries, false, countParams},
    {"a_shape", PatternKind::AShape, false, aShapeParams},
    {"tri_shape", PatternKind::TriShape, false, triShapeParams},
    {"strided", PatternKind::Strided, false, stridedParams},
    {"s2", PatternKind::StridedBlocks, false, s2Params},
    {"dilated", PatternKind::Dilated, false, dilatedParams},
    {"power", PatternKind::Power, false, powerParams},
    {"document", PatternKind::Document, false, documentParams},
    {"blocks", PatternKind::BlockTable, false, blocksParams},
    {"per_head", PatternKind::PerHead, false, {}, /*isPerHead=*/true},
    {"vertical_slash", PatternKind::VerticalSlash, true, verticalSlashParams},
    {"block_topk", PatternKind::BlockTopK, true, blockTopKParams},
    {"xattention", PatternKind::XAttention, true, xattentionParams},
    {"gate", PatternKind::Gate, true, gateParams, false,
     "gate(threshold = 0.001 | top_ratio = R, block = 64, hidden = 128)"},
    {"stripe", PatternKind::Stripe, true, stripeParams},
    {"nsa", PatternKind::Nsa, true, nsaParams},
};

const PatternInfo *sattn::spec::lookupPattern(llvm::StringRef name) {
  for (const PatternInfo &info : patterns)
    if (info.name == name)
      return &info;
  return nullptr;
}

llvm::ArrayRef<PatternInfo> sattn::spec::getAllPatterns() { return patterns; }
