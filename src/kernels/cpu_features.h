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

// Choices that depend on the microarchitecture rather than on what it can execute.
struct CpuTuning {
  // Whether the one-group weight tiles (decode: one weight stream per thread) ask for their
  // lines ahead with software prefetches. Zen 5 gains 6-9% end to end from them; on Zen 4 the
  // hardware streamer alone does as well or better (see stream_prefetch_default).
  bool stream_prefetch = true;
};

// Detected once; TINYSERVE_STREAM_PREFETCH=0|1 overrides stream_prefetch (for comparisons; other
// values are reported on stderr and ignored).
const CpuTuning& cpu_tuning();

// stream_prefetch for a CPU with this CPUID vendor string (leaf 0, 12 characters), leaf 1 EAX
// (family and model) and AVX-512: false for AMD family 0x19 with AVX-512 (Zen 4), true otherwise.
bool stream_prefetch_default(const char* vendor, unsigned leaf1_eax, bool avx512);

// "0"/"off"/"false" -> 0, "1"/"on"/"true" -> 1, anything else (or nullptr) -> -1.
int parse_switch(const char* text);

}  // namespace ts
