// The kernel table built for avx512 plus AVX512-VNNI (flags set in CMakeLists.txt): the quantized
// dot products use vpdpbusd / vpdpwssd.
#define LZ_KERNEL_NS isa_avx512vnni
#define LZ_KERNEL_ISA "avx512vnni"
#include "lazarus/backend/cpu/kernels_impl.inc"
