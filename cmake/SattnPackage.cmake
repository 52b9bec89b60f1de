# Installs libsattn_runtime as a package other builds can find, from the
# project build and from lib/Runtime's standalone build alike:
#   P/lib/libsattn_runtime.so, P/include/sattn/runtime.h(pp)
#   P/lib/cmake/sattn/         find_package(sattn): imported target sattn::runtime
#                              (and sattn::compile where the compiler is installed)
#   P/lib/pkgconfig/sattn.pc   pkg-config --cflags --libs sattn
# Both the CMake package and the .pc file locate the prefix relative to
# themselves, so `cmake --install --prefix P` may choose P at install time.
# Expects the target sattn_runtime and SATTN_VERSION.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(SATTN_CMAKE_INSTALL_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/sattn)
set_target_properties(sattn_runtime PROPERTIES EXPORT_NAME runtime)
install(TARGETS sattn_runtime EXPORT sattnTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES ${SATTN_RUNTIME_INCLUDE}/sattn/runtime.h ${SATTN_RUNTIME_INCLUDE}/sattn/runtime.hpp
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/sattn)
install(EXPORT sattnTargets NAMESPACE sattn:: DESTINATION ${SATTN_CMAKE_INSTALL_DIR})

set(SATTN_PACKAGE_DIR ${CMAKE_CURRENT_LIST_DIR})
configure_package_config_file(${SATTN_PACKAGE_DIR}/sattnConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/sattnConfig.cmake
  INSTALL_DESTINATION ${SATTN_CMAKE_INSTALL_DIR}
  PATH_VARS CMAKE_INSTALL_BINDIR)
# 0.x: a minor version may change the C API.
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/sattnConfigVersion.cmake
  VERSION ${SATTN_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/sattnConfig.cmake
  ${CMAKE_CURRENT_BINARY_DIR}/sattnConfigVersion.cmake
  DESTINATION ${SATTN_CMAKE_INSTALL_DIR})

file(RELATIVE_PATH SATTN_PC_TO_PREFIX
  /root/${CMAKE_INSTALL_LIBDIR}/pkgconfig /root)
string(REGEX REPLACE "/$" "" SATTN_PC_TO_PREFIX "${SATTN_PC_TO_PREFIX}")
configure_file(${SATTN_PACKAGE_DIR}/sattn.pc.in ${CMAKE_CURRENT_BINARY_DIR}/sattn.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/sattn.pc
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
