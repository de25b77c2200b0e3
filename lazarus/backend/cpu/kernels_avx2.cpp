// The kernel table built for the avx2 instruction set (flags set in CMakeLists.txt).
#define LZ_KERNEL_NS isa_avx2
#define LZ_KERNEL_ISA "avx2"
#include "lazarus/backend/cpu/kernels_impl.inc"
