//===- Span.h - a read-only view of contiguous elements -------*- C++ -*-===//
//
// C++17 has no std::span; the core (which may not use llvm::ArrayRef) needs
// one small view type to hand out slices of its vectors without copying.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_CORE_SPAN_H
#define SATTN_CORE_SPAN_H

#include <cstddef>
#include <vector>

namespace sattn {

template <typename T> class Span {
public:
  Span() = default;
  Span(const T *data, size_t size) : ptr(data), length(size) {}
  Span(const std::vector<T> &v) : ptr(v.data()), length(v.size()) {}

  const T *begin() const { return ptr; }
  const T *end() const { return ptr + length; }
  const T *data() const { return ptr; }
  size_t size() const { return length; }
  bool empty() const { return length == 0; }
  const T &operator[](size_t i) const { return ptr[i]; }
  const T &front() const { return ptr[0]; }
  const T &back() const { return ptr[length - 1]; }

private:
  const T *ptr = nullptr;
  size_t length = 0;
};

} // namespace sattn

#endif // SATTN_CORE_SPAN_H
