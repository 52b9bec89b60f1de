//===- Checker.h - the launch checks' roles and checker ---------*- C++ -*-===//
//
// Private to lib/Runtime. The tensors a launch takes (their names, ranks and
// dimension names, for messages) and the checker whose member checks are
// split by job: Validate.cpp (a forward launch, an estimator call) and
// ValidateOutputs.cpp (what training-side calls write: the backward's
// gradients, a block_max kernel's maxima).
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_LIB_RUNTIME_CHECKER_H
#define SATTN_LIB_RUNTIME_CHECKER_H

#include "Validate.h"

#include <cstdio>
#include <string>

/// Returns a failed check's status from the enclosing check.
#define SATTN_TRY(expr)                                                        \
  do {                                                                         \
    sattn_status status_ = (expr);                                             \
    if (status_ != SATTN_OK)                                                   \
      return status_;                                                          \
  } while (0)

namespace sattn::rt::check {

struct Role {
  const char *name;
  int rank;
  const char *dims[4];
  bool output;
};

inline const Role kQ{"q", 4, {"batch", "heads", "Lq", "head_dim"}, false};
inline const Role kK{"k", 4, {"batch", "kv_heads", "Lk", "head_dim"}, false};
inline const Role kV{"v", 4, {"batch", "kv_heads", "Lk", "head_dim"}, false};
inline const Role kO{"o", 4, {"batch", "heads", "Lq", "head_dim"}, true};
inline const Role kLse{"lse", 3, {"batch", "heads", "Lq", nullptr}, true};
// The backward kernel's incoming gradient (an input shaped like O) and the
// gradients it writes (f32, shaped like Q, K and V).
inline const Role kDO{"d_o", 4, {"batch", "heads", "Lq", "head_dim"}, false};
inline const Role kDQ{"d_q", 4, {"batch", "heads", "Lq", "head_dim"}, true};
inline const Role kDK{"d_k", 4, {"batch", "kv_heads", "Lk", "head_dim"}, true};
inline const Role kDV{"d_v", 4, {"batch", "kv_heads", "Lk", "head_dim"}, true};
inline const Role kDkvScales{"dkv_scales", 1, {"scale"}, false};
// A gate estimator's learned weights: per query head, wq's head_dim rows
// then wk's 3 head_dim rows, of hidden features each.
inline const Role kWeights{"weights", 3, {"heads", "4 * head_dim", "hidden", nullptr}, false};
// An nsa estimator's optional compressed keys (a caller's compression), in
// the weights' place.
inline const Role kCompressedKeys{
    "compressed keys", 4, {"batch", "kv_heads", "compressed blocks", "head_dim"}, false};
// A block_max kernel's outputs: the per-row tile maxima (scratch) and the
// block maxima, per KV tile of the plan.
inline const Role kRowMax{"row_max", 4, {"batch", "heads", "KV tiles", "Lq"}, true};
inline const Role kBlockMax{"block_max", 4, {"batch", "heads", "query tiles", "KV tiles"}, true};

inline std::string str(int64_t v) { return std::to_string(v); }

inline std::string hexPointer(const void *p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%p", p);
  return buf;
}

/// The number of elements of `t` (false when it overflows or the rank is
/// out of range).
bool elementCount(const sattn_tensor &t, int64_t &count);

class Checker {
public:
  Checker(const Manifest &m, std::string &message) : m(m), message(message) {}

  sattn_status run(const LaunchArgs &a, LaunchShape &shape);
  /// Count, sizes and layout of the runtime tables, in manifest order.
  sattn_status tables(const sattn_tensor *tables, int32_t numTables,
                      const LaunchShape &shape);
  sattn_status fail(sattn_status status, std::string text) {
    message = std::move(text);
    return status;
  }

private:
  const Manifest &m;
  std::string &message;

  std::string dimName(const Role &r, int d) const {
    return std::string(r.name) + " dimension " + str(d) + " (" + r.dims[d] + ")";
  }

  sattn_status dtype(const Role &r, const sattn_tensor &t, sattn_dtype want,
                     const char *why);
  sattn_status rank(const Role &r, const sattn_tensor &t);
  sattn_status extent(const Role &r, const sattn_tensor &t, int d, int64_t want,
                      const std::string &why);
  sattn_status span(const char *name, const sattn_tensor &t, bool output);
  sattn_status aligned(const Role &r, const sattn_tensor &t, int64_t bytes,
                       bool strides);
  sattn_status table(int32_t i, const TableSpec &spec, const sattn_tensor &t,
                     const LaunchShape &shape);
  sattn_status plan(const sattn_plan &p, const LaunchShape &shape);
  sattn_status sliceFits(const char *name, const sattn_tensor &t);

  /// `t` is row-major contiguous (extents of 1 may have any stride): the
  /// kernel `writer` takes no strides for it.
  sattn_status rowMajor(const Role &r, const sattn_tensor &t, const char *writer);

public:
  sattn_status backward(const BackwardArgs &a, LaunchShape &shape);
  /// row_max and block_max of a block_max kernel's launch of `shape`
  /// (after run()), or their absence for any other kernel.
  sattn_status blockMaxOutputs(const LaunchArgs &a, const LaunchShape &shape);
  sattn_status estimate(const sattn_tensor *q, const sattn_tensor *k,
                        const sattn_tensor *weights, const sattn_tensor *table,
                        LaunchShape &shape);

private:
  sattn_status estimatorWeights(const sattn_tensor &w);
  sattn_status compressedKeys(const sattn_tensor &w, int64_t batch, int64_t blocks);
  sattn_status rowMajorEstimatorInput(const Role &r, const sattn_tensor &w,
                                      const std::string &what);
};

} // namespace sattn::rt::check

#endif // SATTN_LIB_RUNTIME_CHECKER_H
