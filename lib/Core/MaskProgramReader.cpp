//===- MaskProgramReader.cpp - the JSON form of a mask program ------------===//
//
// Reads "sattn.mask-program/1" (written by CompiledMask::toJSON, embedded in
// every manifest as "mask_program") back into a MaskProgram, with the core's
// strict JSON reader, and verifies it. The runtime plans from what this
// returns, so every field is range-checked and every message names the field
// and its byte offset.
//
//===----------------------------------------------------------------------===//

#include "sattn/Core/Json.h"
#include "sattn/Core/MaskProgram.h"

#include <limits>

using namespace sattn;
using json::Value;

namespace {

/// Typed access to one JSON object of the program, failing with a message
/// "mask program: key "K" of CONTEXT ...".
class Reader {
public:
  explicit Reader(std::string &error) : error(error) {}

  bool fail(const std::string &why, const Value &at) {
    error = "mask program: " + why + " (at byte " + std::to_string(at.offset) +
            ")";
    return false;
  }

  const Value *member(const Value &object, const char *key, Value::Kind kind,
                      const std::string &context) {
    if (object.kind != Value::Object) {
      fail(context + " must be an object, found " +
               Value::kindName(object.kind),
           object);
      return nullptr;
    }
    const Value *v = object.find(key);
    if (!v) {
      fail("missing key \"" + std::string(key) + "\" of " + context, object);
      return nullptr;
    }
    if (v->kind != kind) {
      fail("key \"" + std::string(key) + "\" of " + context + " must be " +
               Value::kindName(kind) + ", found " + Value::kindName(v->kind),
           *v);
      return nullptr;
    }
    return v;
  }

  template <typename T>
  bool integer(const Value &v, T &out, const std::string &what,
               int64_t lo = std::numeric_limits<T>::min(),
               int64_t hi = std::numeric_limits<T>::max()) {
    if (v.kind != Value::Number || !v.isInteger)
      return fail(what + " must be an integer", v);
    if (v.integer < lo || v.integer > hi)
      return fail(what + " is " + std::to_string(v.integer) +
                      ", expected a value in [" + std::to_string(lo) + ", " +
                      std::to_string(hi) + "]",
                  v);
    out = static_cast<T>(v.integer);
    return true;
  }

  template <typename T>
  bool field(const Value &object, const char *key, T &out,
             const std::string &context,
             int64_t lo = std::numeric_limits<T>::min(),
             int64_t hi = std::numeric_limits<T>::max()) {
    const Value *v = member(object, key, Value::Number, context);
    return v && integer(*v, out,
                        "key \"" + std::string(key) + "\" of " + context, lo,
                        hi);
  }

  /// The index of `name` in `names`, or -1.
  static int lookup(const std::string &name, const char *(*nameOf)(int),
                    int count) {
    for (int i = 0; i < count; ++i)
      if (name == nameOf(i))
        return i;
    return -1;
  }

  bool indices(const Value &root, const char *key,
               std::vector<uint32_t> &out) {
    const Value *array = member(root, key, Value::Array, "the program");
    if (!array)
      return false;
    for (size_t i = 0; i < array->elements.size(); ++i) {
      out.emplace_back();
      if (!integer(array->elements[i], out.back(),
                   std::string(key) + "[" + std::to_string(i) + "]"))
        return false;
    }
    return true;
  }

  bool node(const Value &v, const std::string &context, Node &n);
  bool affineStep(const Value &v, const std::string &context, AffineStep &s);
  bool instruction(const Value &v, const std::string &context,
                   Instruction &inst);
  bool table(const Value &v, const std::string &context, TableRef &t);

private:
  std::string &error;
};

const char *nodeName(int i) { return nodeKindName(static_cast<NodeKind>(i)); }
const char *affineName(int i) {
  return affineOpcodeName(static_cast<AffineOpcode>(i));
}
const char *opName(int i) { return opcodeName(static_cast<Opcode>(i)); }

bool Reader::node(const Value &v, const std::string &context, Node &n) {
  const Value *kind = member(v, "kind", Value::String, context);
  if (!kind)
    return false;
  int k = lookup(kind->string, nodeName, kNumNodeKinds);
  if (k < 0)
    return fail("\"kind\" of " + context + " is \"" + kind->string +
                    "\", not a node kind",
                *kind);
  n.kind = static_cast<NodeKind>(k);
  if (!field(v, "first", n.first, context) ||
      !field(v, "count", n.count, context))
    return false;
  const Value *param = member(v, "param", Value::Array, context);
  if (!param)
    return false;
  if (param->elements.size() != 7)
    return fail("\"param\" of " + context + " must have 7 values", *param);
  for (int i = 0; i < 7; ++i)
    if (!integer(param->elements[i], n.param[i],
                 "param[" + std::to_string(i) + "] of " + context))
      return false;
  return true;
}

bool Reader::affineStep(const Value &v, const std::string &context,
                        AffineStep &s) {
  if (v.kind != Value::Array || v.elements.size() != 2 ||
      v.elements[0].kind != Value::String)
    return fail(context + " must be [opcode, constant]", v);
  int op = lookup(v.elements[0].string, affineName, kNumAffineOpcodes);
  if (op < 0)
    return fail(context + " has unknown opcode \"" + v.elements[0].string +
                    "\"",
                v.elements[0]);
  s.opcode = static_cast<AffineOpcode>(op);
  return integer(v.elements[1], s.constant, "the constant of " + context);
}

bool Reader::instruction(const Value &v, const std::string &context,
                         Instruction &inst) {
  const Value *op = member(v, "op", Value::String, context);
  if (!op)
    return false;
  int code = lookup(op->string, opName, kNumOpcodes);
  if (code < 0)
    return fail("\"op\" of " + context + " is \"" + op->string +
                    "\", not an opcode",
                *op);
  inst.opcode = static_cast<Opcode>(code);
  return field(v, "width", inst.width, context, 1, 64) &&
         field(v, "operand_width", inst.operandWidth, context, 1, 64) &&
         field(v, "dst", inst.dst, context) && field(v, "a", inst.a, context) &&
         field(v, "b", inst.b, context) && field(v, "c", inst.c, context) &&
         field(v, "imm", inst.immediate, context);
}

bool Reader::table(const Value &v, const std::string &context, TableRef &t) {
  const Value *name = member(v, "name", Value::String, context);
  const Value *isBool = name ? member(v, "bool", Value::Bool, context) : nullptr;
  const Value *dims = isBool ? member(v, "dims", Value::Array, context) : nullptr;
  if (!dims || !field(v, "width", t.elementWidth, context, 1, 64))
    return false;
  t.name = name->string;
  t.isBool = isBool->boolean;
  for (size_t d = 0; d < dims->elements.size(); ++d) {
    const Value &dim = dims->elements[d];
    t.dims.emplace_back();
    if (dim.kind != Value::String || !parseTableDim(dim.string, t.dims.back()))
      return fail("dimension " + std::to_string(d) + " of " + context +
                      " is not \"b\", \"h\", \"q\", \"k\", \"q/N\", \"k/N\" "
                      "or a positive integer",
                  dim);
    t.dimTexts.push_back(dim.string);
  }
  return true;
}

} // namespace

bool sattn::readMaskProgram(const Value &root, MaskProgram &out,
                            std::string &error) {
  out = MaskProgram();
  Reader r(error);
  const Value *format = r.member(root, "format", Value::String, "the program");
  if (!format)
    return false;
  if (format->string != kMaskProgramFormat)
    return r.fail("format is \"" + format->string + "\", expected \"" +
                      kMaskProgramFormat + "\"",
                  *format);
  if (!r.field(root, "heads", out.heads, "the program", 1, limits::kMaxHeads) ||
      !r.field(root, "kv_heads", out.kvHeads, "the program", 1,
               limits::kMaxHeads) ||
      !r.field(root, "root", out.root, "the program"))
    return false;

  // The arrays of objects, each read by one Reader member.
  auto each = [&](const char *key, auto &vec, auto read) {
    const Value *array = r.member(root, key, Value::Array, "the program");
    if (!array)
      return false;
    for (size_t i = 0; i < array->elements.size(); ++i) {
      vec.emplace_back();
      if (!(r.*read)(array->elements[i],
                     std::string(key) + "[" + std::to_string(i) + "]",
                     vec.back()))
        return false;
    }
    return true;
  };
  if (!each("nodes", out.nodes, &Reader::node) ||
      !r.indices(root, "operands", out.operands) ||
      !each("affine", out.affine, &Reader::affineStep) ||
      !each("program", out.program, &Reader::instruction) ||
      !r.indices(root, "lookup_args", out.lookupArgs) ||
      !each("tables", out.tables, &Reader::table))
    return false;

  std::string invalid = verifyMaskProgram(out);
  if (!invalid.empty()) {
    error = "mask program: " + invalid;
    return false;
  }
  return true;
}

bool sattn::parseMaskProgram(std::string_view text, MaskProgram &out,
                             std::string &error) {
  Value root;
  if (!json::parse(text, root, error)) {
    error = "mask program: " + error;
    return false;
  }
  return readMaskProgram(root, out, error);
}
