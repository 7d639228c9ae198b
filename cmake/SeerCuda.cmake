# SEER_CUDA: build the CUDA kernels. Default ON when nvcc and a CUDA-enabled libtorch are found.
# Without it everything builds and runs on the CPU reference kernels.
include(CheckLanguage)
check_language(CUDA)
set(_seer_cuda_default OFF)
if(CMAKE_CUDA_COMPILER AND TARGET torch_cuda)
  set(_seer_cuda_default ON)
endif()
option(SEER_CUDA "Build the CUDA kernels" ${_seer_cuda_default})

if(SEER_CUDA)
  enable_language(CUDA)
  find_package(CUDAToolkit REQUIRED)
  # sm_90a for wgmma-era Hopper (H100/H200) and sm_80 as the generic mma.sync path.
  # (Torch's CMake ignores CMAKE_CUDA_ARCHITECTURES for its own flags; ours are plain .cu files.)
  # (Torch's CMake sets CMAKE_CUDA_ARCHITECTURES to OFF, so ours is a separate variable.)
  set(SEER_CUDA_ARCHITECTURES "90a;80" CACHE STRING "CUDA architectures of the Seer kernels")
  set(CMAKE_CUDA_STANDARD 17)
  message(STATUS "Seer: CUDA kernels ON for ${SEER_CUDA_ARCHITECTURES}")
else()
  message(STATUS "Seer: CUDA kernels OFF (CPU reference kernels only)")
endif()
