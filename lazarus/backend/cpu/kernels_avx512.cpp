// The kernel table built for the avx512 instruction set (flags set in CMakeLists.txt).
#define LZ_KERNEL_NS isa_avx512
#define LZ_KERNEL_ISA "avx512"
#include "lazarus/backend/cpu/kernels_impl.inc"
