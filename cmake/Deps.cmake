# Every dependency is a Debian package; a missing one stops cmake with the
# package name, since "could not find X" alone sends users searching.
function(qfd_require_debian what pkg)
  message(FATAL_ERROR "qfd-onnx: ${what} not found. Install it with: apt-get install ${pkg}")
endfunction()

find_program(QFD_PROTOC_C NAMES protoc-c protoc-gen-c)
if(NOT QFD_PROTOC_C)
  qfd_require_debian("protoc-c (the protobuf-c compiler)" protobuf-c-compiler)
endif()

find_path(QFD_PROTOBUF_C_INCLUDE protobuf-c/protobuf-c.h)
find_library(QFD_PROTOBUF_C_LIB protobuf-c)
if(NOT QFD_PROTOBUF_C_INCLUDE OR NOT QFD_PROTOBUF_C_LIB)
  qfd_require_debian("protobuf-c library and headers" libprotobuf-c-dev)
endif()

if(NOT QFD_ONNX_PROTO)
  find_file(QFD_ONNX_PROTO_FOUND onnx/onnx.proto PATHS /usr/include /usr/local/include)
  if(NOT QFD_ONNX_PROTO_FOUND)
    qfd_require_debian("onnx/onnx.proto (the ONNX schema)" libonnx-dev)
  endif()
  set(QFD_ONNX_PROTO "${QFD_ONNX_PROTO_FOUND}" CACHE FILEPATH "onnx.proto to compile" FORCE)
elseif(NOT EXISTS "${QFD_ONNX_PROTO}")
  message(FATAL_ERROR "qfd-onnx: QFD_ONNX_PROTO=${QFD_ONNX_PROTO} does not exist")
endif()

# The OpenMP build of OpenBLAS: our kernels use OpenMP too, and one thread
# pool for both avoids OpenMP threads spin-waiting against OpenBLAS's own
# pthreads (measured 10-20x slower convs on 2 busy cores). Linked by path,
# with an rpath, whatever the system's libopenblas alternative points to.
find_path(QFD_CBLAS_INCLUDE cblas.h PATH_SUFFIXES openblas-openmp openblas)
find_library(QFD_OPENBLAS_OPENMP_LIB openblas PATHS /usr/lib/x86_64-linux-gnu/openblas-openmp
             /usr/lib/aarch64-linux-gnu/openblas-openmp NO_DEFAULT_PATH)
if(NOT QFD_CBLAS_INCLUDE OR NOT QFD_OPENBLAS_OPENMP_LIB)
  qfd_require_debian("OpenBLAS (OpenMP build)" "libopenblas-dev libopenblas-openmp-dev")
endif()

find_package(ZLIB QUIET)
if(NOT ZLIB_FOUND)
  qfd_require_debian("zlib" zlib1g-dev)
endif()

# image files (--data DIR of JPEG/PNG): libjpeg-turbo's libjpeg API, as PIL
# uses it, and libpng
find_package(JPEG QUIET)
if(NOT JPEG_FOUND)
  qfd_require_debian("libjpeg (libjpeg-turbo)" libjpeg62-turbo-dev)
endif()
find_package(PNG QUIET)
if(NOT PNG_FOUND)
  qfd_require_debian("libpng" libpng-dev)
endif()

find_package(Threads REQUIRED)
