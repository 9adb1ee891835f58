#pragma once
// Which instruction sets this CPU and OS support: CPUID for what the CPU has, XGETBV for
// whether the OS saves the wide registers (an AVX-512 CPU under an OS that does not save the
// ZMM state must not use them).
#include <cstddef>
#include <cstdint>
#include <optional>

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

// How the AVX-512 one-group weight tiles (decode: one weight stream per thread) ask for their
// data ahead of use.
struct StreamPrefetch {
  // Distance ahead in the weight stream; 0: no software prefetch (the hardware streamer alone).
  size_t bytes = 0;
  // Weights into L2 only (PREFETCHT1) and the activation block a few blocks ahead into L1:
  // weights brought into L1 kilobytes early crowd out the activation row, which every group
  // of the product reads again.
  bool to_l2 = false;
  // The distance for rows shorter than kShortRow elements (the matrices of ~100M-parameter
  // models); 0: the same as bytes.
  size_t short_row_bytes = 0;
  static constexpr int kShortRow = 2048;
  size_t distance(int64_t row_elements) const {
    return row_elements < kShortRow && short_row_bytes != 0 ? short_row_bytes : bytes;
  }
  bool operator==(const StreamPrefetch&) const = default;
};

// Choices that depend on the microarchitecture rather than on what it can execute.
struct CpuTuning {
  StreamPrefetch stream_prefetch = kGenericStreamPrefetch;
  // CPUs not measured otherwise take Intel Xeon's choice (see stream_prefetch_default).
  static constexpr StreamPrefetch kGenericStreamPrefetch{3072, true, 6144};
};

// Detected once; TINYSERVE_STREAM_PREFETCH overrides stream_prefetch for comparisons:
// 0|off|false (none), 1|on|true (this CPU's choice, or the generic one where it has none),
// BYTES (PREFETCHT0 at that distance for every row length, 64..65536) or BYTES:l2 (to_l2).
// Other values are reported on stderr and ignored.
const CpuTuning& cpu_tuning();

// stream_prefetch for a CPU with this CPUID vendor string (leaf 0, 12 characters), leaf 1 EAX
// (family and model) and AVX-512: none for AMD family 0x19 with AVX-512 (Zen 4), 6144 bytes
// into L1 for AMD family 0x1A (Zen 5), kGenericStreamPrefetch otherwise (3 KiB into L2, 6 KiB
// for short rows).
StreamPrefetch stream_prefetch_default(const char* vendor, unsigned leaf1_eax, bool avx512);

// "0"/"off"/"false" -> 0, "1"/"on"/"true" -> 1, anything else (or nullptr) -> -1.
int parse_switch(const char* text);

// TINYSERVE_STREAM_PREFETCH's value against this CPU's default: what to use, or nullopt if the
// text is none of the forms cpu_tuning() lists.
std::optional<StreamPrefetch> parse_stream_prefetch(const char* text, StreamPrefetch cpu_default);

}  // namespace ts
