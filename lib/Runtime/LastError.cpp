//===- LastError.cpp - per-thread status message of the C API -------------===//
//
// A fixed thread-local buffer rather than a std::string: it needs no
// destructor at thread exit and no allocation, so recording an error cannot
// itself fail (an out-of-memory error must still be reportable). Messages
// longer than the buffer are cut with a visible "...".
//
//===----------------------------------------------------------------------===//

#include "LastError.h"

#include <cstring>

namespace sattn::rt {

namespace {
constexpr size_t kCapacity = 4096;
thread_local char message[kCapacity];
} // namespace

namespace {
void store(const char *text, size_t n) noexcept {
  if (n < kCapacity) {
    std::memcpy(message, text, n);
    message[n] = '\0';
  } else {
    std::memcpy(message, text, kCapacity - 4);
    std::memcpy(message + kCapacity - 4, "...", 4);
  }
}
} // namespace

sattn_status fail(sattn_status status, const std::string &text) {
  store(text.data(), text.size());
  return status;
}

sattn_status fail(sattn_status status, const char *text) noexcept {
  store(text, std::strlen(text));
  return status;
}

sattn_status succeed() {
  message[0] = '\0';
  return SATTN_OK;
}

const char *lastError() { return message; }

} // namespace sattn::rt
