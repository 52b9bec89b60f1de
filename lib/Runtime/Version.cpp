//===- Version.cpp - sattn_version() ---------------------------------------===//
//
// The sattn version this library was built from, so that bindings (the
// Python package) and programs can check that they load a matching runtime.
// SATTN_RUNTIME_VERSION comes from cmake/SattnVersion.cmake.
//
//===----------------------------------------------------------------------===//

#include "sattn/runtime.h"

const char *sattn_version(void) { return SATTN_RUNTIME_VERSION; }
