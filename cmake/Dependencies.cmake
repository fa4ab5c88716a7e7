# Every dependency is a Debian package (scripts/setup.sh) or the CUDA toolkit.
find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)
find_package(Protobuf REQUIRED)
pkg_check_modules(GRPCPP REQUIRED IMPORTED_TARGET grpc++)
find_library(GRPCPP_REFLECTION_LIB grpc++_reflection REQUIRED)
find_program(GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)
find_package(RocksDB REQUIRED CONFIG)
find_package(Boost 1.74 REQUIRED)
find_package(OpenSSL REQUIRED)  # https for the OpenAI-compatible policy backend
find_package(nlohmann_json 3.11 REQUIRED)
# OpenBLAS (libopenblas-dev): the sgemm baseline for `tide bench engine` and the engine
# tests; tide_engine itself does not link it.
pkg_check_modules(OPENBLAS REQUIRED IMPORTED_TARGET openblas)
find_path(CLI11_INCLUDE_DIR CLI/CLI.hpp REQUIRED)
if(TIDE_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
