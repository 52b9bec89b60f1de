"""The sattn version: the number of cmake/SattnVersion.cmake, which the
compiler (--version), libsattn_runtime (sattn_version()) and the CMake
package report too; test/Install/version.test checks that they agree."""

__version__ = "0.1.0"
