//===- SmallVec.h - a vector with inline storage --------------*- C++ -*-===//
//
// The planner builds and discards millions of tiny key sets (a few runs and
// lattices each); with std::vector every one is a heap allocation, which
// doubled plan times. SmallVec keeps up to N elements inline and only
// allocates beyond that. It is deliberately minimal: trivially copyable
// element types and the operations the core uses.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_CORE_SMALLVEC_H
#define SATTN_CORE_SMALLVEC_H

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <new>
#include <type_traits>

namespace sattn {

template <typename T, size_t N> class SmallVec {
  static_assert(std::is_trivially_copyable<T>::value,
                "SmallVec holds trivially copyable elements only");

public:
  using value_type = T;
  using iterator = T *;
  using const_iterator = const T *;

  SmallVec() = default;
  template <typename It> SmallVec(It first, It last) { append(first, last); }
  SmallVec(const SmallVec &o) { append(o.begin(), o.end()); }
  SmallVec(SmallVec &&o) noexcept { take(o); }
  SmallVec &operator=(const SmallVec &o) {
    if (this != &o) {
      count = 0;
      append(o.begin(), o.end());
    }
    return *this;
  }
  SmallVec &operator=(SmallVec &&o) noexcept {
    if (this != &o) {
      release();
      take(o);
    }
    return *this;
  }
  ~SmallVec() { release(); }

  T *begin() { return data(); }
  T *end() { return data() + count; }
  const T *begin() const { return data(); }
  const T *end() const { return data() + count; }
  T *data() { return heap ? heap : inlineData(); }
  const T *data() const { return heap ? heap : inlineData(); }
  size_t size() const { return count; }
  bool empty() const { return count == 0; }
  T &operator[](size_t i) { return data()[i]; }
  const T &operator[](size_t i) const { return data()[i]; }
  T &front() { return data()[0]; }
  T &back() { return data()[count - 1]; }
  const T &front() const { return data()[0]; }
  const T &back() const { return data()[count - 1]; }

  void clear() { count = 0; }
  void push_back(const T &v) {
    if (count == capacity)
      grow(count + 1);
    data()[count++] = v;
  }
  void pop_back() { --count; }
  template <typename It> void append(It first, It last) {
    size_t n = static_cast<size_t>(std::distance(first, last));
    if (count + n > capacity)
      grow(count + n);
    T *out = data() + count;
    for (; first != last; ++first)
      *out++ = *first;
    count += n;
  }
  void append(const T *first, const T *last) {
    size_t n = static_cast<size_t>(last - first);
    if (count + n > capacity)
      grow(count + n);
    // Sets hold a handful of elements: a plain loop beats a call to memcpy.
    T *out = data() + count;
    for (size_t i = 0; i < n; ++i)
      out[i] = first[i];
    count += n;
  }
  /// Removes [first, last), keeping the order of the rest.
  T *erase(T *first, T *last) {
    std::memmove(static_cast<void *>(first), last,
                 static_cast<size_t>(end() - last) * sizeof(T));
    count -= static_cast<size_t>(last - first);
    return first;
  }
  T *erase(T *pos) { return erase(pos, pos + 1); }

private:
  T *inlineData() { return reinterpret_cast<T *>(storage); }
  const T *inlineData() const { return reinterpret_cast<const T *>(storage); }

  void grow(size_t atLeast) {
    size_t next = capacity * 2 > atLeast ? capacity * 2 : atLeast;
    T *bigger = static_cast<T *>(std::malloc(next * sizeof(T)));
    if (!bigger)
      throw std::bad_alloc();
    std::memcpy(static_cast<void *>(bigger), data(), count * sizeof(T));
    std::free(heap);
    heap = bigger;
    capacity = next;
  }
  void release() {
    if (heap) // most sets never leave the inline storage: no call at all
      std::free(heap);
    heap = nullptr;
    capacity = N;
    count = 0;
  }
  void take(SmallVec &o) {
    count = o.count;
    if (o.heap) {
      heap = o.heap;
      capacity = o.capacity;
      o.heap = nullptr;
      o.capacity = N;
    } else {
      for (size_t i = 0; i < count; ++i)
        inlineData()[i] = o.inlineData()[i];
    }
    o.count = 0;
  }

  alignas(T) unsigned char storage[N * sizeof(T)];
  T *heap = nullptr;
  size_t count = 0;
  size_t capacity = N;
};

} // namespace sattn

#endif // SATTN_CORE_SMALLVEC_H
