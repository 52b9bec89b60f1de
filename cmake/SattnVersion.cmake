# The version of sattn: the one number that the compiler, libsattn_runtime,
# the CMake package and the Python package (python/sattn/_version.py, checked
# against it by test/Install/version.test) all report.
# Included by the top-level CMakeLists.txt and by lib/Runtime's standalone build.
set(SATTN_VERSION 0.1.0)
