//===- Summary.cpp - human-readable kernel summaries ----------------------===//
//
// Implements the one-screen kernel summary of `sattn-compile`. It prints the
// effective configuration rather than what was written, so a reader sees
// the defaults a spec relied on (kv_heads, scale, pattern parameters).
//
//===----------------------------------------------------------------------===//

#include "sattn/Spec/Summary.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

using namespace sattn::spec;

void sattn::spec::printKernelSummary(const KernelDecl &kernel,
                                     llvm::raw_ostream &os) {
  const KernelConfig &config = kernel.config;
  os << "kernel " << kernel.name << "\n";
  os << "  dtype:     " << getDTypeName(config.dtype) << "\n";
  os << "  head_dim:  " << config.headDim << "\n";
  os << "  heads:     " << config.heads << " (kv_heads " << config.kvHeads;
  if (config.kvHeads == config.heads)
    os << ", no GQA)\n";
  else
    os << ", " << config.heads / config.kvHeads
       << " query heads per KV head)\n";
  os << "  scale:     " << llvm::format("%.6g", config.scale);
  if (config.scaleIsDefault)
    os << " (1/sqrt(" << config.headDim << "))";
  os << "\n";
  os << "  lse:       " << (config.returnLse ? "returned" : "not returned")
     << "\n";
  if (config.blockMax)
    os << "  block max: written (per query tile and KV tile)\n";
  os << "  tables:    ";
  if (kernel.tables.empty())
    os << "none";
  llvm::interleaveComma(kernel.tables, os, [&](const auto &table) {
    os << table->name << " : " << getElementTypeName(table->elementType) << "[";
    llvm::interleaveComma(table->dims, os,
                          [&](const TableDim &dim) { os << dim.text; });
    os << "]";
  });
  os << "\n";
  os << "  mask:      ";
  if (kernel.mask)
    printExpr(*kernel.mask, os);
  os << "\n";
  os << "  kind:      ";
  if (kernel.dynamicPatterns.empty()) {
    os << "static\n";
  } else {
    os << "dynamic (estimated at run time: ";
    llvm::interleaveComma(kernel.dynamicPatterns, os);
    os << ")\n";
  }
}

void sattn::spec::printKernelSpec(const KernelDecl &kernel,
                                  llvm::raw_ostream &os) {
  const KernelConfig &config = kernel.config;
  os << "kernel " << kernel.name << " {\n";
  os << "  dtype = " << getDTypeName(config.dtype)
     << "   head_dim = " << config.headDim << "   heads = " << config.heads
     << "   kv_heads = " << config.kvHeads << "\n";
  os << "  scale = " << formatSpecFloat(config.scale)
     << "   return_lse = " << (config.returnLse ? "true" : "false");
  if (config.blockMax)
    os << "   block_max = true";
  os << "\n";
  for (const auto &table : kernel.tables) {
    os << "  table " << table->name << " : "
       << getElementTypeName(table->elementType) << "[";
    llvm::interleaveComma(table->dims, os,
                          [&](const TableDim &dim) { os << dim.text; });
    os << "]\n";
  }
  os << "  mask = ";
  if (kernel.mask)
    printExpr(*kernel.mask, os);
  os << "\n}\n";
}
