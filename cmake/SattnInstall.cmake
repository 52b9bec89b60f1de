# What `cmake --install build --prefix P` puts under P besides the runtime
# (whose files and CMake package lib/Runtime installs, cmake/SattnPackage.cmake):
#   P/bin/{sattn-compile,sparse-opt}          the tools, with an RPATH to LLVM's libraries
#   P/share/sattn/examples/*.sattn            the example specs the README compiles
# so that the README's commands work with P/bin on PATH.

# Installs tool `name` into P/bin. The tools link libMLIR.so/libLLVM.so from
# the LLVM installation (not on the loader's default path), so the installed
# copy keeps an RPATH to it.
function(sattn_install_tool name)
  set_target_properties(${name} PROPERTIES INSTALL_RPATH "${LLVM_LIBRARY_DIR}")
  install(TARGETS ${name} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endfunction()

install(DIRECTORY ${PROJECT_SOURCE_DIR}/examples/
  DESTINATION ${CMAKE_INSTALL_DATADIR}/sattn/examples
  FILES_MATCHING PATTERN "*.sattn" PATTERN "embed_c" EXCLUDE)
