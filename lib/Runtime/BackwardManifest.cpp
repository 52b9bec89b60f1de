//===- BackwardManifest.cpp - the backward kernel's manifest record -------===//
//
// Reads the optional "backward" record of a manifest (docs/MANIFEST.md),
// checked as completely as the forward's: a parameter list other than the
// ABI's is refused at load. Apart from the launch code (Backward.cpp) so
// that the manifest fuzzer links the reader without the driver.
//
//===----------------------------------------------------------------------===//

#include "Backward.h"
#include "ManifestFields.h"

#include "sattn/Core/KernelAbi.h"

#include <algorithm>

using namespace sattn::rt;
namespace abi = sattn::abi;

namespace sattn::rt {

std::string noBackwardMessage(const Manifest &m) {
  return "kernel '" + m.name +
         "' was compiled without a backward pass (sattn-compile --backward)";
}

bool readBackward(const json::Value &root, Manifest &m, std::string &error) {
  using json::Value;
  const Value *v = root.find("backward");
  if (!v)
    return true;
  if (v->kind != Value::Object) {
    error = "manifest: \"backward\" must be an object, found " +
            std::string(Value::kindName(v->kind)) + manifest::Fields::at(*v);
    return false;
  }
  manifest::Fields f(*v, "backward", error);
  Manifest::Backward b;
  if (!f.string("entry", b.entry) || !f.integer("threads", b.threads, 1, 1024) ||
      !f.integer("warps", b.warps, 1, 32) || !f.integer("stages", b.stages, 1, 64) ||
      !f.integer("shared_bytes", b.sharedBytes, 0, UINT32_MAX))
    return false;
  if (!manifest::isIdentifier(b.entry))
    return f.bad("entry", *v->find("entry"), "must be an identifier (a kernel entry name)");
  if (b.threads != 32 * b.warps)
    return f.bad("threads", *v->find("threads"),
                 "is " + std::to_string(b.threads) + ", expected 32 * warps = " +
                     std::to_string(32 * b.warps));
  // The backward recomputes the probabilities from the forward's LSE.
  if (!m.returnLse)
    return f.bad("entry", *v,
                 "is given but \"return_lse\" is false: the backward kernel reads the "
                 "forward's LSE, so a kernel compiled with --backward returns it");
  const Value *params = f.get("params", Value::Array);
  if (!params)
    return false;
  std::vector<std::string> tables;
  for (const TableSpec &table : m.tables)
    tables.push_back(table.name);
  if (!manifest::checkParamNames(
          f, *params, abi::backwardParamNames(tables),
          "backward kernel ABI (docs/KERNEL_ABI.md, \"Backward kernel\")"))
    return false;
  m.backward = std::move(b);
  return true;
}

} // namespace sattn::rt
