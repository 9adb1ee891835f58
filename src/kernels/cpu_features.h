#pragma once
// Which instruction sets this CPU and OS support: CPUID for what the CPU has, XGETBV for
// whether the OS saves the wide registers (an AVX-512 CPU under an OS that does not save the
// ZMM state must not use them).
namespace ts {

struct CpuFeatures {
  bool avx2 = false;         // with FMA and F16C, OS saves YMM
  bool avx512 = false;       // F, BW, VL, DQ, OS saves ZMM and opmask
  bool avx512_vnni = false;  // VPDPBUSD
  bool avx512_bf16 = false;  // VDPBF16PS
  bool avx_vnni = false;     // VEX-encoded VPDPBUSD on 256-bit registers
};

// Detected once; TINYSERVE_ISA=scalar|avx2 caps what the kernel tables use (for comparisons).
const CpuFeatures& cpu_features();

// The features the kernel tables actually use after the TINYSERVE_ISA cap.
const CpuFeatures& active_features();

// TINYSERVE_ISA=scalar forces the reference kernels (for comparisons and debugging).
bool scalar_forced();

// "avx2", "avx512-vnni", "scalar": what active_features() selects, for reports.
const char* isa_name();

}  // namespace ts
