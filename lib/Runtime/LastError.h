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

#include <new>
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

/// Records the outcome of a call that produced `status` and `message`.
inline sattn_status finish(sattn_status status, const std::string &message) {
  return status == SATTN_OK ? succeed() : fail(status, message);
}

/// Runs the body of a C entry point: no C++ exception crosses the C
/// boundary (std::bad_alloc becomes SATTN_ERROR_OUT_OF_MEMORY).
template <typename Fn> sattn_status guarded(Fn &&fn) noexcept {
  try {
    return fn();
  } catch (const std::bad_alloc &) {
    return fail(SATTN_ERROR_OUT_OF_MEMORY, "out of host memory");
  } catch (...) {
    return fail(SATTN_ERROR_INVALID_ARGUMENT, "internal error in libsattn_runtime");
  }
}

} // namespace sattn::rt

#endif // SATTN_LIB_RUNTIME_LASTERROR_H
