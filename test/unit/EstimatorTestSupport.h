//===- EstimatorTestSupport.h - slices for the estimator tests --*- C++ -*-===//
//
// Row-major Q / K / V slices for the tests of the reference estimators
// (EstimatorsTest, StripeEstimatorTest, NsaReferenceTest): owned rows that
// view as estimate::Rows, and random ones, optionally with spikes.
//
//===----------------------------------------------------------------------===//

#ifndef SATTN_TEST_UNIT_ESTIMATORTESTSUPPORT_H
#define SATTN_TEST_UNIT_ESTIMATORTESTSUPPORT_H

#include "sattn/Core/Estimators.h"

#include <random>
#include <vector>

namespace sattn::estimator_test {

struct Slice {
  int64_t rows, dim;
  std::vector<float> data;
  estimate::Rows view() const { return estimate::Rows{data.data(), rows, dim, dim}; }
  const float *row(int64_t i) const { return data.data() + i * dim; }
};

/// Normal random rows. `spiky`: a shared direction added to about one row
/// in seven makes a few keys score high, so selections are not ties.
inline Slice randomSlice(std::mt19937 &rng, int64_t rows, int64_t dim, bool spiky = false) {
  std::normal_distribution<float> normal(0.f, 1.f);
  Slice s{rows, dim, std::vector<float>(rows * dim)};
  for (float &x : s.data)
    x = normal(rng);
  if (spiky)
    for (int64_t i = 0; i < rows; ++i)
      if (rng() % 7 == 0)
        for (int64_t x = 0; x < dim; ++x)
          s.data[i * dim + x] += 2.0f;
  return s;
}

} // namespace sattn::estimator_test

#endif // SATTN_TEST_UNIT_ESTIMATORTESTSUPPORT_H
