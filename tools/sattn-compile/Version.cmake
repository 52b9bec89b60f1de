# Writes Version.inc with SATTN_COMPILER_VERSION ("sattn-compile" plus
# `git describe` of the source tree when it is a git checkout), rewriting
# it only when the text changes so that unchanged builds stay no-ops.
execute_process(COMMAND git -C "${SRC}" describe --always --dirty
  OUTPUT_VARIABLE describe OUTPUT_STRIP_TRAILING_WHITESPACE
  RESULT_VARIABLE rc ERROR_QUIET)
if(NOT rc EQUAL 0 OR describe STREQUAL "")
  set(describe "unknown commit")
endif()
file(WRITE "${OUT}.tmp" "#define SATTN_COMPILER_VERSION \"sattn-compile ${describe}\"\n")
execute_process(COMMAND ${CMAKE_COMMAND} -E copy_if_different "${OUT}.tmp" "${OUT}")
file(REMOVE "${OUT}.tmp")
