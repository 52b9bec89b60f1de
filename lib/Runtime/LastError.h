//===- LastError.h - per-thread status message of the C API -----*- C++ -*-===//
//
// sattn_last_error() returns the message of the last failing call on the
// calling thread. Keeping it thread-local lets several threads launch
// kernels at once without locking and without reading each other's errors.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_LIB_RUNTIME_LASTERROR_H
#define SATTN_LIB_RUNTIME_LASTERROR_H

#include "sattn/runtime.h"

#include <string>

namespace sattn::rt {

/// Records `message` for this thread and returns `status`.
sattn_status fail(sattn_status status, const std::string &message);
/// Same without allocating, for reporting std::bad_alloc.
sattn_status fail(sattn_status status, const char *message) noexcept;
/// Clears this thread's message and returns SATTN_OK.
sattn_status succeed();
/// This thread's message ("" after a success). Valid until the thread's next
/// call into the runtime.
const char *lastError();

} // namespace sattn::rt

#endif // SATTN_LIB_RUNTIME_LASTERROR_H
