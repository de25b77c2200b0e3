// The kernel table built for the generic instruction set (flags set in CMakeLists.txt).
#define LZ_KERNEL_NS isa_generic
#define LZ_KERNEL_ISA "generic"
#include "lazarus/backend/cpu/kernels_impl.inc"
