//===- ManifestReader.cpp - the kernel manifest sattn-compile writes ------===//
//
// Reads "sattn.kernel-manifest/1" documents. Every key the runtime relies on
// is required and type-checked (integers must be written as integers), the
// values are checked for consistency (heads divisible by kv_heads, threads
// = 32 * warps, table dimensions from the spec's vocabulary), and unknown
// keys are ignored so the compiler can add informational fields without a
// format bump. Messages start with "manifest:" and point at byte offsets
// (ManifestFields.h). The optional "backward" record is read by Backward.cpp.
//
//===----------------------------------------------------------------------===//

#include "Manifest.h"
#include "ManifestFields.h"
#include "Backward.h"
#include "sattn/Core/Json.h"
#include "sattn/Core/KernelAbi.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace sattn::rt {

int64_t dtypeSize(int32_t dtype) {
  switch (dtype) {
  case SATTN_DTYPE_BF16:
  case SATTN_DTYPE_F16:
    return 2;
  case SATTN_DTYPE_F32:
    return 4;
  case SATTN_DTYPE_I64:
    return 8;
  }
  return 0;
}

const char *dtypeName(int32_t dtype) {
  switch (dtype) {
  case SATTN_DTYPE_BF16:
    return "bf16";
  case SATTN_DTYPE_F16:
    return "f16";
  case SATTN_DTYPE_F32:
    return "f32";
  case SATTN_DTYPE_I64:
    return "i64";
  }
  return "an unknown dtype";
}

int64_t exactComputeCapability(const std::string &target) {
  // "sm_" then 10 * major + minor in decimal, then the 'a' of arch-specific
  // targets, whose images use instructions (wgmma, setmaxnreg) that exist on
  // that one architecture only.
  if (target.size() < 5 || target.compare(0, 3, "sm_") != 0 || target.back() != 'a')
    return 0;
  int64_t cc = 0;
  for (size_t i = 3; i + 1 < target.size(); ++i) {
    if (target[i] < '0' || target[i] > '9' || cc > 100000)
      return 0;
    cc = cc * 10 + (target[i] - '0');
  }
  return cc;
}

int64_t TableDim::extent(int64_t batch, int64_t heads, int64_t lk) const {
  switch (kind) {
  case Batch:
    return batch;
  case Heads:
    return heads / value + (heads % value != 0);
  case Keys:
    return lk;
  case KeyBlocks:
    return lk / value + (lk % value != 0);
  case Fixed:
    return value;
  }
  return 0;
}

namespace {

using json::Value;
using manifest::Fields;
using manifest::isIdentifier;
using manifest::checkParamNames;

/// "sm_" then digits (no leading zero) then at most one lowercase letter
/// ("sm_80", "sm_90a", "sm_100f").
bool isTarget(const std::string &s) {
  if (s.size() < 4 || s.compare(0, 3, "sm_") != 0 || s[3] < '1' || s[3] > '9')
    return false;
  size_t i = 3;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9')
    ++i;
  return i == s.size() || (i + 1 == s.size() && s[i] >= 'a' && s[i] <= 'z');
}

/// A number as messages print it ("0.5", "1e+04").
std::string shortNumber(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", x);
  return buf;
}

/// Parses a positive decimal integer with no sign or leading zero.
bool parsePositive(const std::string &s, int64_t &out) {
  if (s.empty() || s[0] == '0' || s.size() > 18)
    return false;
  out = 0;
  for (char c : s) {
    if (c < '0' || c > '9')
      return false;
    out = out * 10 + (c - '0');
  }
  return true;
}

bool parseDim(const Value &v, const std::string &table, size_t index,
              TableDim &dim, std::string &error) {
  std::string what = "dimension " + std::to_string(index) + " of table \"" +
                     table + "\"";
  auto fail = [&](const std::string &why) {
    error = "manifest: " + what + " " + why + Fields::at(v) +
            "; expected \"b\", \"h\", \"q\", \"k\", \"h/N\", \"q/N\", \"k/N\" or a "
            "positive integer";
    return false;
  };
  if (v.kind == Value::Number) {
    if (!v.isInteger || v.integer <= 0)
      return fail("is not a positive integer");
    dim.kind = TableDim::Fixed;
    dim.value = v.integer;
    dim.text = std::to_string(v.integer);
    return true;
  }
  if (v.kind != Value::String)
    return fail(std::string("is ") + Value::kindName(v.kind));
  // The spec printer writes "q/16"; tolerate "q / 16" as the Python reader does.
  std::string s;
  for (char c : v.string)
    if (c != ' ')
      s += c;
  dim.text = s;
  if (s == "b") {
    dim.kind = TableDim::Batch;
  } else if (s == "h") {
    dim.kind = TableDim::Heads;
    dim.value = 1;
  } else if (s.size() > 2 && s[0] == 'h' && s[1] == '/') {
    dim.kind = TableDim::Heads;
    if (!parsePositive(s.substr(2), dim.value))
      return fail("\"" + v.string + "\" has no positive group size");
  } else if (s == "q" || s == "k") {
    dim.kind = TableDim::Keys;
  } else if (s.size() > 2 && (s[0] == 'q' || s[0] == 'k') && s[1] == '/') {
    dim.kind = TableDim::KeyBlocks;
    if (!parsePositive(s.substr(2), dim.value))
      return fail("\"" + v.string + "\" has no positive block size");
  } else if (parsePositive(s, dim.value)) {
    dim.kind = TableDim::Fixed;
  } else {
    return fail("is \"" + v.string + "\"");
  }
  return true;
}

bool parseTables(const Value &array, Manifest &m, std::string &error) {
  for (size_t i = 0; i < array.elements.size(); ++i) {
    const Value &entry = array.elements[i];
    std::string context = "tables[" + std::to_string(i) + "]";
    if (entry.kind != Value::Object) {
      error = "manifest: " + context + " must be an object, found " +
              Value::kindName(entry.kind) + Fields::at(entry);
      return false;
    }
    Fields f(entry, context, error);
    TableSpec table;
    if (!f.string("name", table.name) || !f.string("element", table.element))
      return false;
    if (!isIdentifier(table.name))
      return f.bad("name", *entry.find("name"), "must be an identifier");
    for (const TableSpec &other : m.tables)
      if (other.name == table.name)
        return f.bad("name", *entry.find("name"),
                     "repeats the table name \"" + table.name + "\"");
    static const char *const kElements[] = {"i1", "bool", "i8", "i16", "i32", "i64"};
    bool known = false;
    for (const char *e : kElements)
      known |= table.element == e;
    if (!known)
      return f.bad("element", *entry.find("element"),
                   "is \"" + table.element +
                       "\", expected one of i1, bool, i8, i16, i32, i64");
    const Value *dims = f.get("dims", Value::Array);
    if (!dims)
      return false;
    if (dims->elements.size() > 4)
      return f.bad("dims", *dims,
                   "has " + std::to_string(dims->elements.size()) +
                       " dimensions; at most 4 are supported");
    for (size_t d = 0; d < dims->elements.size(); ++d) {
      table.dims.emplace_back();
      if (!parseDim(dims->elements[d], table.name, d, table.dims.back(), error))
        return false;
    }
    m.tables.push_back(std::move(table));
  }
  return true;
}

/// Prepares host planning from "mask_program". Never fails the load: kernels
/// with dynamic masks have no program, and launching with plans built
/// elsewhere needs none; sattn_plan_build reports `planError` instead.
void readPlanner(const Value &root, Manifest &m) {
  const Value *program = root.find("mask_program");
  if (!program) {
    m.planError = "manifest: the kernel has no \"mask_program\" (dynamic "
                  "masks have none), so its plans cannot be built here";
    return;
  }
  MaskProgram parsed;
  std::string error;
  if (!readMaskProgram(*program, parsed, error)) {
    m.planError = "manifest: \"mask_program\" is invalid: " + error;
    return;
  }
  if (parsed.heads != m.heads || parsed.kvHeads != m.kvHeads) {
    m.planError = "manifest: \"mask_program\" is for " +
                  std::to_string(parsed.heads) + " heads / " +
                  std::to_string(parsed.kvHeads) + " kv_heads but the kernel has " +
                  std::to_string(m.heads) + " / " + std::to_string(m.kvHeads);
    return;
  }
  std::optional<plan::Planner> planner = plan::Planner::build(
      std::move(parsed), plan::PlanOptions{m.blockM, m.blockN, m.planGathers},
      error);
  if (!planner) {
    m.planError = "manifest: \"mask_program\" cannot be planned: " + error;
    return;
  }
  m.planner = std::make_shared<const plan::Planner>(std::move(*planner));
}


/// "kernel" (optional, "mma_sync" when absent) names the kernel family and
/// "plan_gathers" (optional, true when absent) whether its plans may hold
/// Gather and List segments.
bool readFamily(const Value &root, Manifest &m, Fields &f) {
  using abi::KernelFamily;
  if (const Value *v = root.find("kernel")) {
    std::string name;
    if (!f.string("kernel", name))
      return false;
    if (name == abi::familyName(KernelFamily::Wgmma))
      m.family = KernelFamily::Wgmma;
    else if (name == abi::familyName(KernelFamily::MmaSync))
      m.family = KernelFamily::MmaSync;
    else
      return f.bad("kernel", *v, "is \"" + name + "\", expected \"mma_sync\" or \"wgmma\"");
  }
  if (root.find("plan_gathers") && !f.boolean("plan_gathers", m.planGathers))
    return false;
  // A block_max kernel is the portable kernel over Range-only plans: a
  // maximum per KV tile is a maximum per block of keys only then.
  if (m.blockMax && (m.family != KernelFamily::MmaSync || m.planGathers))
    return f.bad("block_max", *root.find("block_max"),
                 "is true, but the kernel is not an \"mma_sync\" kernel with "
                 "\"plan_gathers\": false, the only form that writes block maxima");
  return true;
}

/// What a "wgmma" kernel (sm_90a: TMA loads, wgmma) is built for: the
/// sm_90a target, head_dim in whole 64-column TMA boxes (up to 256) and
/// tiles of at most 256 rows (a TMA box's limit). Its dtype is bf16 or f16
/// like every kernel's (checked with "dtype"); "plan_gathers" says whether
/// its producer also loads gathered keys (absent: true, as for every kernel).
bool checkWgmma(const Value &root, const Manifest &m, Fields &f) {
  if (m.family != abi::KernelFamily::Wgmma)
    return true;
  const std::string wgmma = "a \"wgmma\" kernel";
  if (m.target != "sm_90a")
    return f.bad("target", *root.find("target"),
                 "is \"" + m.target + "\", but " + wgmma + " is built for \"sm_90a\" only");
  if (m.headDim % abi::kTensorMapBoxColumns != 0 || m.headDim > 256)
    return f.bad("head_dim", *root.find("head_dim"),
                 "is " + std::to_string(m.headDim) + ", but " + wgmma +
                     " needs a multiple of 64 up to 256 (64, 128, 192, 256): its "
                     "TMA boxes are 64 columns wide");
  const std::pair<const char *, int64_t> tiles[] = {{"block_m", m.blockM},
                                                    {"block_n", m.blockN}};
  for (auto [key, value] : tiles) {
    if (value > 256)
      return f.bad(key, *root.find(key),
                   "is " + std::to_string(value) + ", but " + wgmma +
                       " needs at most 256 (the rows of one TMA box)");
  }
  return true;
}

/// "params" (optional, written since the ABI table): the kernel's parameter
/// names must be the ones this runtime packs, the fixed parameters of
/// sattn/Core/KernelAbi.h, then "table_<name>" per declared table, then for
/// a "wgmma" kernel its tensor maps "tma_q", "tma_k", "tma_v". A kernel
/// compiled against another parameter list would read garbage, so it is
/// refused at load rather than launched.
bool checkParams(const Value &root, const Manifest &m, Fields &f) {
  if (!root.find("params"))
    return true;
  const Value *params = f.get("params", Value::Array);
  if (!params)
    return false;
  std::vector<std::string> tables;
  for (const TableSpec &table : m.tables)
    tables.push_back(table.name);
  return checkParamNames(f, *params, abi::paramNames(tables, m.family, m.blockMax),
                         "kernel ABI (docs/KERNEL_ABI.md) for a \"" +
                             std::string(abi::familyName(m.family)) + "\" kernel");
}

/// "device_plan" (optional): the plan builder's stage entries (identifiers,
/// one per stage), block size and class axes; its parameter names must be
/// the ones this runtime packs (sattn/Core/KernelAbi.h).
bool readDevicePlan(const Value &root, Manifest &m, std::string &error) {
  const Value *v = root.find("device_plan");
  if (!v)
    return true;
  if (v->kind != Value::Object) {
    error = "manifest: \"device_plan\" must be an object, found " +
            std::string(Value::kindName(v->kind)) + Fields::at(*v);
    return false;
  }
  Fields f(*v, "device_plan", error);
  Manifest::DevicePlan plan;
  const Value *entries = f.get("entries", Value::Array);
  if (!entries || !f.integer("threads", plan.threads, 1, 1024) ||
      !f.boolean("class_by_batch", plan.byBatch) ||
      !f.boolean("class_by_head", plan.byHead))
    return false;
  // "list_keys" (optional, 0 when absent): the keys of a query tile's
  // column list (docs/DEVICE_PLANS.md, "Column lists").
  if (v->find("list_keys") && !f.integer("list_keys", plan.listKeys, 0, int64_t(1) << 30))
    return false;
  if (v->find("list_unit_rows") &&
      !f.integer("list_unit_rows", plan.listUnitRows, 0, int64_t(1) << 30))
    return false;
  if (entries->elements.size() != std::size(abi::kDevicePlanStages))
    return f.bad("entries", *entries,
                 "has " + std::to_string(entries->elements.size()) + " entries, expected " +
                     std::to_string(std::size(abi::kDevicePlanStages)) +
                     " (summarize, classify, resolve, count, scan, write)");
  for (const Value &e : entries->elements) {
    if (e.kind != Value::String || !isIdentifier(e.string))
      return f.bad("entries", e, "must hold identifiers (kernel entry names)");
    plan.entries.push_back(e.string);
  }
  std::vector<std::string> tables;
  for (const TableSpec &table : m.tables)
    tables.push_back(table.name);
  const std::vector<std::string> expected = abi::devicePlanParamNames(tables);
  const Value *params = f.get("params", Value::Array);
  if (!params)
    return false;
  bool same = params->elements.size() == expected.size();
  for (size_t i = 0; same && i < expected.size(); ++i)
    same = params->elements[i].kind == Value::String &&
           params->elements[i].string == expected[i];
  if (!same)
    return f.bad("params", *params,
                 "differs from this runtime's device plan parameters "
                 "(docs/MANIFEST.md, \"device_plan\")");
  m.devicePlan = std::move(plan);
  return true;
}

/// "estimator" (optional): the compiled estimator's stage entries, block
/// size, selection and the table it writes, one of the kernel's tables;
/// its parameter names must be the ones this runtime packs (every kind's
/// stages take the same list, "weights" included, so that one packing
/// serves them all).
bool readEstimator(const Value &root, Manifest &m, std::string &error) {
  const Value *v = root.find("estimator");
  if (!v)
    return true;
  if (v->kind != Value::Object) {
    error = "manifest: \"estimator\" must be an object, found " +
            std::string(Value::kindName(v->kind)) + Fields::at(*v);
    return false;
  }
  Fields f(*v, "estimator", error);
  Manifest::Estimator e;
  std::string table;
  const Value *entries = f.get("entries", Value::Array);
  if (!entries || !f.integer("threads", e.threads, 1, 1024) || !f.string("kind", e.kind) ||
      !f.integer("block", e.block, 1, int64_t(1) << 30) || !f.string("table", table))
    return false;
  if (const Value *logits = v->find("logits")) {
    std::string how;
    if (!f.string("logits", how))
      return false;
    if (how != "tensor" && how != "exact")
      return f.bad("logits", *logits, "is \"" + how + "\", expected \"tensor\" or \"exact\"");
    e.tensorLogits = how == "tensor";
  }
  if (e.kind == "nsa") {
    constexpr int64_t kMax = int64_t(1) << 30;
    if (!f.integer("compress_block", e.compressBlock, 1, kMax) ||
        !f.integer("compress_stride", e.compressStride, 1, e.compressBlock) ||
        !f.integer("select_count", e.selectCount, 1, kMax) ||
        !f.integer("local", e.localBlocks, 0, e.selectCount - 1) ||
        !f.integer("window", e.window, 0, kMax))
      return false;
    if (e.block % e.compressStride != 0)
      return f.bad("block", *v, "must be a multiple of compress_stride");
  } else if (e.kind == "gate") {
    // The pair count of the rotary embedding is hidden / 2; the selection is
    // by threshold or by count, never both (docs/ESTIMATORS.md, "gate").
    if (!f.integer("hidden", e.hidden, 2, 65536) || !f.number("threshold", e.threshold) ||
        !f.number("top_ratio", e.topRatio) || !f.number("rope_base", e.ropeBase))
      return false;
    if (e.hidden % 2 != 0)
      return f.bad("hidden", *v->find("hidden"),
                   "is " + std::to_string(e.hidden) +
                       ", expected an even size (the rotary embedding turns pairs of features)");
    bool byThreshold = e.threshold > 0 && e.threshold < 1 && e.topRatio == 0;
    bool byCount = e.topRatio > 0 && e.topRatio <= 1 && e.threshold == 0;
    if (!byThreshold && !byCount)
      return f.bad("threshold", *v->find("threshold"),
                   "is " + shortNumber(e.threshold) + " and \"top_ratio\" is " +
                       shortNumber(e.topRatio) +
                       ": a gate needs exactly one of threshold in (0, 1) and top_ratio in "
                       "(0, 1], the other 0");
    if (!(e.ropeBase > 1))
      return f.bad("rope_base", *v->find("rope_base"),
                   "is " + shortNumber(e.ropeBase) + ", expected a rotary base above 1");
  } else if (e.kind == "stripe") {
    if (!f.integer("group", e.group, 1, int64_t(1) << 40) ||
        !f.integer("step", e.step, 1, int64_t(1) << 30) || !f.number("theta", e.theta))
      return false;
    if (e.group % (e.block * e.step) != 0)
      return f.bad("group", *v, "must be a multiple of block x step");
    if (!(e.theta > 0) || !std::isfinite(e.theta))
      return f.bad("theta", *v, "must be finite and positive");
  } else if (e.kind == "vertical_slash") {
    constexpr int64_t kCounts = int64_t(1) << 40;
    if (!f.integer("vertical", e.vertical, 0, kCounts) || !f.integer("slash", e.slash, 0, kCounts) ||
        !f.integer("forced_vertical", e.forcedVertical, 0, e.vertical) ||
        !f.integer("forced_slash", e.forcedSlash, 0, e.slash) ||
        !f.integer("last_q", e.lastQ, 1, 4096))
      return false;
  } else {
    if (!f.string("scorer", e.scorer) || !f.integer("top_k", e.topK, 0, int64_t(1) << 30) ||
        !f.number("tau", e.tau))
      return false;
    if (e.kind != "block_topk" || (e.scorer != "mean_pool" && e.scorer != "antidiagonal"))
      return f.bad("kind", *v,
                   "names an estimator this runtime does not run (" + e.kind + ", " + e.scorer +
                       "; it runs block_topk with mean_pool or antidiagonal, vertical_slash, "
                       "stripe, gate and nsa)");
    if (v->find("stride") && !f.integer("stride", e.stride, 0, e.block))
      return false;
    if (e.scorer == "antidiagonal" ? e.stride < 1 || e.block % e.stride != 0 : e.stride != 0)
      return f.bad("stride", *v,
                   "must divide block for the antidiagonal scorer and be 0 for mean_pool");
    if ((e.topK > 0) == (e.tau > 0) || e.tau > 1)
      return f.bad("top_k", *v, "needs exactly one of top_k > 0 and tau in (0, 1]");
  }
  abi::EstimatorShape kind{};
  kind.lastQ = e.lastQ;
  kind.group = e.group;
  kind.hidden = e.hidden;
  kind.compressBlock = e.compressBlock;
  int stageCount = 0;
  const std::string_view *stageNames = kind.stageNames(stageCount);
  if (entries->elements.size() != size_t(stageCount)) {
    std::string names;
    for (int i = 0; i < stageCount; ++i)
      names += (i ? ", " : "") + std::string(stageNames[i]);
    return f.bad("entries", *entries,
                 "has " + std::to_string(entries->elements.size()) + " entries, expected " +
                     std::to_string(stageCount) + " (" + names + ")");
  }
  for (const Value &entry : entries->elements) {
    if (entry.kind != Value::String || !isIdentifier(entry.string))
      return f.bad("entries", entry, "must hold identifiers (kernel entry names)");
    e.entries.push_back(entry.string);
  }
  auto found = std::find_if(m.tables.begin(), m.tables.end(),
                            [&](const TableSpec &t) { return t.name == table; });
  if (found == m.tables.end())
    return f.bad("table", *v, "names '" + table + "', which is not one of the kernel's tables");
  e.table = size_t(found - m.tables.begin());
  const Value *params = f.get("params", Value::Array);
  if (!params)
    return false;
  bool same = params->elements.size() == std::size(abi::kEstimatorParams);
  for (size_t i = 0; same && i < std::size(abi::kEstimatorParams); ++i)
    same = params->elements[i].kind == Value::String &&
           params->elements[i].string == abi::kEstimatorParams[i];
  if (!same)
    return f.bad("params", *params,
                 "differs from this runtime's estimator parameters (docs/MANIFEST.md, "
                 "\"estimator\")");
  m.estimator = std::move(e);
  return true;
}

} // namespace

bool parseManifest(std::string_view text, Manifest &m, std::string &error) {
  m = Manifest();
  Value root;
  if (!json::parse(text, root, error)) {
    error = "manifest: " + error;
    return false;
  }
  if (root.kind != Value::Object) {
    error = std::string("manifest: the document must be an object, found ") +
            Value::kindName(root.kind);
    return false;
  }
  Fields f(root, "", error);

  std::string format;
  if (!f.string("format", format))
    return false;
  if (format != kManifestFormat)
    return f.bad("format", *root.find("format"),
                 "is \"" + format + "\", expected \"" + kManifestFormat + "\"");

  if (!f.string("name", m.name) || !f.string("entry", m.entry))
    return false;
  if (!isIdentifier(m.name))
    return f.bad("name", *root.find("name"), "must be an identifier");
  if (!isIdentifier(m.entry))
    return f.bad("entry", *root.find("entry"), "must be an identifier");

  std::string dtype;
  if (!f.string("dtype", dtype))
    return false;
  if (dtype == "bf16")
    m.dtype = SATTN_DTYPE_BF16;
  else if (dtype == "f16")
    m.dtype = SATTN_DTYPE_F16;
  else
    return f.bad("dtype", *root.find("dtype"),
                 "is \"" + dtype + "\", expected \"bf16\" or \"f16\"");

  // Grid y is the head index: the driver caps it at 65535.
  if (!f.integer("head_dim", m.headDim, 1, 65536) ||
      !f.integer("heads", m.heads, 1, 65535) ||
      !f.integer("kv_heads", m.kvHeads, 1, 65535))
    return false;
  if (m.heads % m.kvHeads != 0)
    return f.bad("kv_heads", *root.find("kv_heads"),
                 "(" + std::to_string(m.kvHeads) + ") does not divide heads (" +
                     std::to_string(m.heads) + ")");
  if (!f.number("scale", m.scale) || !f.boolean("return_lse", m.returnLse))
    return false;
  // "block_max" (optional, false when absent: manifests before it).
  if (root.find("block_max") && !f.boolean("block_max", m.blockMax))
    return false;
  // The kernels multiply scores by scale * log2(e): a non-positive or
  // non-finite scale would turn the softmax into garbage, not an error.
  if (!(m.scale > 0) || !std::isfinite(m.scale))
    return f.bad("scale", *root.find("scale"),
                 "is " + std::to_string(m.scale) + ", expected a positive finite number");

  if (!f.string("target", m.target))
    return false;
  if (!isTarget(m.target))
    return f.bad("target", *root.find("target"),
                 "is \"" + m.target + "\", expected sm_NN (e.g. \"sm_90a\")");
  if (!f.integer("min_compute_capability", m.minComputeCapability, 10, 1000))
    return false;

  if (!f.integer("block_m", m.blockM, 1, 65536) ||
      !f.integer("block_n", m.blockN, 1, 65536) ||
      !f.integer("warps", m.warps, 1, 32) ||
      !f.integer("stages", m.stages, 1, 64) ||
      !f.integer("threads", m.threads, 1, 1024) ||
      !f.integer("shared_bytes", m.sharedBytes, 0, UINT32_MAX))
    return false;
  if (m.threads != 32 * m.warps)
    return f.bad("threads", *root.find("threads"),
                 "is " + std::to_string(m.threads) + ", expected 32 * warps = " +
                     std::to_string(32 * m.warps));

  const Value *tables = f.get("tables", Value::Array);
  if (!tables || !parseTables(*tables, m, error))
    return false;
  if (!readFamily(root, m, f) || !checkWgmma(root, m, f) || !checkParams(root, m, f) ||
      !readDevicePlan(root, m, error) || !readEstimator(root, m, error) ||
      !readBackward(root, m, error))
    return false;
  readPlanner(root, m);
  return true;
}

} // namespace sattn::rt
