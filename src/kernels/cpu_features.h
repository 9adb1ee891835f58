#pragma once
// Which instruction sets this CPU and OS support (CPUID plus the OS's saved-state check).
namespace ts {

struct CpuFeatures {
  bool avx2 = false;   // with FMA and F16C
  bool avx512 = false; // F, BW, VL
  bool avx512_vnni = false;
};

const CpuFeatures& cpu_features();

// TINYSERVE_ISA=scalar forces the reference kernels (for comparisons and debugging).
bool scalar_forced();

}  // namespace ts
