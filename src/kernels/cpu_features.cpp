#include "kernels/cpu_features.h"

#include <cstdlib>
#include <cstring>

namespace ts {

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = [] {
    CpuFeatures c;
    // libgcc's detection consults XGETBV, so AVX features are reported only when the OS saves
    // the wide registers.
    __builtin_cpu_init();
    c.avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    c.avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl");
    c.avx512_vnni = c.avx512 && __builtin_cpu_supports("avx512vnni");
    return c;
  }();
  return f;
}

bool scalar_forced() {
  const char* isa = std::getenv("TINYSERVE_ISA");
  return isa != nullptr && std::strcmp(isa, "scalar") == 0;
}

}  // namespace ts
