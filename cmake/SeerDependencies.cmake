# Finds every third-party dependency once, so folder CMakeLists only link targets.

# libtorch: from -DCMAKE_PREFIX_PATH / Torch_DIR when the user brings one, otherwise from the
# project's venv (scripts/setup.sh installs torch==2.11.0 there, the GPU machine's version).
set(SEER_PYTHON "${CMAKE_SOURCE_DIR}/.venv/bin/python" CACHE FILEPATH
    "Python whose torch package provides libtorch (and runs the reference tests)")
if(NOT Torch_DIR AND EXISTS "${SEER_PYTHON}")
  execute_process(
    COMMAND "${SEER_PYTHON}" -c "import torch.utils; print(torch.utils.cmake_prefix_path)"
    OUTPUT_VARIABLE _seer_torch_prefix OUTPUT_STRIP_TRAILING_WHITESPACE
    RESULT_VARIABLE _seer_torch_rc ERROR_QUIET)
  if(_seer_torch_rc EQUAL 0)
    list(APPEND CMAKE_PREFIX_PATH "${_seer_torch_prefix}")
  endif()
endif()
if(NOT EXISTS "${SEER_PYTHON}")
  find_package(Python3 COMPONENTS Interpreter)
  if(Python3_FOUND)
    set(SEER_PYTHON "${Python3_EXECUTABLE}" CACHE FILEPATH "" FORCE)
  endif()
endif()

# Torch's CUDA config reads TORCH_CUDA_ARCH_LIST (it ignores CMAKE_CUDA_ARCHITECTURES); without a
# GPU to detect it would guess. Hopper (wgmma-capable 9.0a) and Ampere as the generic path.
if(NOT DEFINED TORCH_CUDA_ARCH_LIST AND NOT DEFINED ENV{TORCH_CUDA_ARCH_LIST})
  set(TORCH_CUDA_ARCH_LIST "9.0a;8.0")
endif()
# Torch's config probes CUDA itself when its build has CUDA; we only want its C++ targets.
find_package(Torch REQUIRED)
message(STATUS "Seer: libtorch ${Torch_VERSION} from ${TORCH_INSTALL_PREFIX}")

find_package(yaml-cpp REQUIRED)
if(TARGET yaml-cpp::yaml-cpp)
  set(SEER_YAML_TARGET yaml-cpp::yaml-cpp)
else()
  set(SEER_YAML_TARGET yaml-cpp)   # yaml-cpp 0.7 (Debian bookworm) exports a plain target
endif()

# fmt header-only: libtorch ships fmt v12 headers on its include path, so <fmt/...> resolves to
# those; linking the system libfmt.so.9 then fails with undefined fmt::v12 symbols.
find_package(fmt REQUIRED)

find_package(HDF5 REQUIRED COMPONENTS C CXX)
find_package(PkgConfig REQUIRED)
pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)
find_package(PNG REQUIRED)
find_package(Threads REQUIRED)

find_package(Catch2 QUIET)   # v2 on Debian bookworm, v3 on the GPU machine; tests/catch.h hides it

# ccache makes the many build folders (build/, build-gpu/, CI) cheap to rebuild.
find_program(SEER_CCACHE ccache)
if(SEER_CCACHE)
  set(CMAKE_CXX_COMPILER_LAUNCHER ${SEER_CCACHE})
  set(CMAKE_CUDA_COMPILER_LAUNCHER ${SEER_CCACHE})
endif()

# One library per folder, sources found by glob so that adding a file needs no CMake edit.
# Usage: seer_folder_library(seer_core core PUBLIC_LIBS ... PRIVATE_LIBS ...)
function(seer_folder_library name folder)
  cmake_parse_arguments(ARG "" "" "PUBLIC_LIBS;PRIVATE_LIBS;EXCLUDE" ${ARGN})
  file(GLOB_RECURSE _srcs CONFIGURE_DEPENDS
       "${CMAKE_SOURCE_DIR}/${folder}/*.cpp")
  foreach(_ex IN LISTS ARG_EXCLUDE)
    list(FILTER _srcs EXCLUDE REGEX "${_ex}")
  endforeach()
  add_library(${name} STATIC ${_srcs})
  target_include_directories(${name} PUBLIC ${CMAKE_SOURCE_DIR})
  target_compile_options(${name} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wno-unused-parameter>)
  target_link_libraries(${name} PUBLIC ${ARG_PUBLIC_LIBS} PRIVATE ${ARG_PRIVATE_LIBS})
  set_target_properties(${name} PROPERTIES POSITION_INDEPENDENT_CODE ON)
endfunction()

# libtorch.so from the PyPI wheel exports its own copies of std::filesystem functions (built with
# another libstdc++). Loaded before libstdc++ it wins the symbol lookup, and its remove_all
# crashes on non-empty folders (null call, seen here with torch 2.11.0). Listing libstdc++ as the
# executable's first needed library makes the system copies win. Call before other links.
function(seer_link_system_libstdcxx_first target)
  target_link_libraries(${target} PRIVATE "-Wl,--push-state,--no-as-needed" stdc++ "-Wl,--pop-state")
endfunction()
