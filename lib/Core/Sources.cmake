# The core sources: mask programs, their evaluator and JSON reader, the
# reference estimators of the dynamic masks and the tile planner, in plain
# C++17 (standard library only). Listed once here
# because two targets compile them: SattnCore for the compiler and tools,
# and libsattn_runtime, which must build without MLIR (lib/Runtime).
set(SATTN_CORE_SOURCE_NAMES
  AxisPredicate.cpp
  Estimators.cpp
  StripeEstimator.cpp
  Json.cpp
  KeySet.cpp
  Limits.cpp
  MaskEval.cpp
  MaskProgram.cpp
  MaskProgramReader.cpp
  NsaReference.cpp
  PlanTree.cpp
  Planner.cpp
  PredicateIntervals.cpp
  PredicateSplit.cpp
  PredicateTiles.cpp
  TableTerms.cpp
  TilePlan.cpp
  TransposedPlan.cpp)
set(SATTN_CORE_SOURCES)
foreach(source ${SATTN_CORE_SOURCE_NAMES})
  list(APPEND SATTN_CORE_SOURCES ${CMAKE_CURRENT_LIST_DIR}/${source})
endforeach()
