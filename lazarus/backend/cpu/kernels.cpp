// Picks the kernel table once, from the CPU's reported features.
#include "lazarus/backend/cpu/kernels.h"

#include <cstdlib>
#include <cstring>

namespace lazarus::cpu {
namespace isa_generic {
extern const KernelTable kTable;
}
namespace isa_avx2 {
extern const KernelTable kTable;
}
namespace isa_avx512 {
extern const KernelTable kTable;
}
namespace isa_avx512vnni {
extern const KernelTable kTable;
}

namespace {
bool has_avx2() { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }
bool has_avx512() {
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") && has_avx2();
}
bool has_avx512vnni() { return has_avx512() && __builtin_cpu_supports("avx512vnni"); }
}  // namespace

std::vector<const KernelTable*> available_kernels() {
  std::vector<const KernelTable*> v{&isa_generic::kTable};
  if (has_avx2()) v.push_back(&isa_avx2::kTable);
  if (has_avx512()) v.push_back(&isa_avx512::kTable);
  if (has_avx512vnni()) v.push_back(&isa_avx512vnni::kTable);
  return v;
}

const KernelTable& kernels() {
  static const KernelTable* t = [] {
    // LAZARUS_ISA=generic|avx2|avx512|avx512vnni caps the choice (for testing and comparisons).
    const char* cap = std::getenv("LAZARUS_ISA");
    auto all = available_kernels();
    const KernelTable* best = all.back();
    if (cap) {
      for (auto* k : all) {
        if (std::strcmp(k->isa, cap) == 0) best = k;
      }
    }
    return best;
  }();
  return *t;
}

}  // namespace lazarus::cpu
