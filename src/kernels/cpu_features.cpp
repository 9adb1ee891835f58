#include "kernels/cpu_features.h"

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace ts {

namespace {

#if defined(__x86_64__) || defined(__i386__)
struct Regs {
  uint32_t a = 0, b = 0, c = 0, d = 0;
};

Regs cpuid(uint32_t leaf, uint32_t sub) {
  Regs r;
  __cpuid_count(leaf, sub, r.a, r.b, r.c, r.d);
  return r;
}

// XGETBV(0): which register states the OS saves on context switch. Only valid when CPUID
// reports OSXSAVE; inline asm because the intrinsic needs -mxsave on the whole file.
uint64_t xgetbv0() {
  uint32_t lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

bool bit(uint32_t reg, int n) { return ((reg >> n) & 1u) != 0; }

CpuFeatures detect() {
  CpuFeatures f;
  const uint32_t max_leaf = __get_cpuid_max(0, nullptr);
  if (max_leaf < 1) return f;
  const Regs l1 = cpuid(1, 0);
  const bool osxsave = bit(l1.c, 27);
  if (!osxsave) return f;
  const uint64_t xcr0 = xgetbv0();
  const bool os_ymm = (xcr0 & 0x6) == 0x6;           // SSE and AVX state
  const bool os_zmm = os_ymm && (xcr0 & 0xE0) == 0xE0;  // opmask, ZMM_Hi256, Hi16_ZMM
  const bool fma = bit(l1.c, 12), f16c = bit(l1.c, 29), avx = bit(l1.c, 28);
  if (max_leaf < 7) return f;
  const Regs l7 = cpuid(7, 0);
  const Regs l7_1 = cpuid(7, 1);
  f.avx2 = os_ymm && avx && fma && f16c && bit(l7.b, 5);
  f.avx512 = f.avx2 && os_zmm && bit(l7.b, 16) /*F*/ && bit(l7.b, 17) /*DQ*/ && bit(l7.b, 30) /*BW*/ &&
             bit(l7.b, 31) /*VL*/;
  f.avx512_vnni = f.avx512 && bit(l7.c, 11);
  f.avx512_bf16 = f.avx512 && bit(l7_1.a, 5);
  f.avx_vnni = f.avx2 && bit(l7_1.a, 4);
  return f;
}

CpuTuning detect_tuning() {
  CpuTuning t;
  const Regs l0 = cpuid(0, 0);
  if (l0.a < 1) return t;
  char vendor[13] = {};
  std::memcpy(vendor, &l0.b, 4);
  std::memcpy(vendor + 4, &l0.d, 4);
  std::memcpy(vendor + 8, &l0.c, 4);
  t.stream_prefetch = stream_prefetch_default(vendor, cpuid(1, 0).a, cpu_features().avx512);
  return t;
}
#else
CpuFeatures detect() { return {}; }
CpuTuning detect_tuning() { return {}; }
#endif

}  // namespace

StreamPrefetch stream_prefetch_default(const char* vendor, unsigned leaf1_eax, bool avx512) {
  const unsigned base_family = (leaf1_eax >> 8) & 0xF;
  const unsigned family = base_family == 0xF ? base_family + ((leaf1_eax >> 20) & 0xFF) : base_family;
  const bool amd = vendor != nullptr && std::strcmp(vendor, "AuthenticAMD") == 0;
  // Zen 4 (family 0x19, the first AMD cores with AVX-512; Zen 3 shares the family without
  // it), two threads, per-token A/B in one run (tokens with the prefetches against tokens
  // without), medians: without them TinyLlama-shaped Q4_0 decode took 2.5-4% less time while
  // the two vCPUs sat on different dies and -0.7..+0.5% on one die; Q8_0 -2% and -0.1%;
  // SmolLM2-135M Q4_1, whose short matrices give the hardware less stream to learn from, -2%
  // and +1.1..1.6%. The host moves its vCPUs between the two placements, so on balance off.
  if (amd && family == 0x19 && avx512) return StreamPrefetch{};
  // Zen 5 with 2 threads: 6 KiB moved Q4_0 products from about 90% to about 98% of the read
  // probe at that host's higher bandwidth (~70 GB/s) and added 6-9% end to end; 12 KiB lost 3%.
  if (amd && family == 0x1A) return StreamPrefetch{6144, false};
  // Intel Xeon (AVX-512 VNNI, AMX; ~17 GB/s read per core), 2 threads streaming Q4_0 tiles
  // over 1 GiB in products of 2-11 MiB, against the probe read in the same products: K = 2048
  // 97% at 3 KiB into L1, 83-90% at 6 KiB, 83-87% with none; K = 4096-5632 (activation rows of
  // 5.5-7.5 KiB) only 84-89% at 3 KiB into L1, 95-97% into L2 with the activations prefetched.
  // End to end (TinyLlama-shaped Q4_0 tg128, weights against the read probe around each
  // repetition): 66-68% at 6 KiB, 76-77% at 3 KiB into L1, 79-80% into L2. Into L2, by
  // distance 3/4/5/6 KiB, tg128 t/s (two runs each, alternating): TinyLlama-shaped Q8_0
  // 29.0/27.5/26.8/26.7 (Q4_0 the same at 3 and 6 KiB), SmolLM2-135M Q4_1 348/397/406/415, and
  // random SmolLM2-shaped Q8_0 253/-/-/304: rows of 576-1536 elements want twice the distance.
  return CpuTuning::kGenericStreamPrefetch;
}

int parse_switch(const char* text) {
  if (text == nullptr) return -1;
  for (const char* on : {"1", "on", "true"}) {
    if (std::strcmp(text, on) == 0) return 1;
  }
  for (const char* off : {"0", "off", "false"}) {
    if (std::strcmp(text, off) == 0) return 0;
  }
  return -1;
}

std::optional<StreamPrefetch> parse_stream_prefetch(const char* text, StreamPrefetch cpu_default) {
  const int on = parse_switch(text);
  if (on == 0) return StreamPrefetch{};
  if (on == 1) return cpu_default.bytes != 0 ? cpu_default : CpuTuning::kGenericStreamPrefetch;
  if (text == nullptr || *text < '0' || *text > '9') return std::nullopt;
  char* end = nullptr;
  errno = 0;
  const unsigned long bytes = std::strtoul(text, &end, 10);
  if (errno != 0 || bytes < 64 || bytes > 65536) return std::nullopt;
  if (*end == '\0') return StreamPrefetch{bytes, false};
  if (std::strcmp(end, ":l2") == 0) return StreamPrefetch{bytes, true};
  return std::nullopt;
}

const CpuTuning& cpu_tuning() {
  static const CpuTuning t = [] {
    CpuTuning c = detect_tuning();
    // A bad value is reported once and ignored, as TINYSERVE_LOG's is.
    if (const char* env = std::getenv("TINYSERVE_STREAM_PREFETCH")) {
      if (const auto forced = parse_stream_prefetch(env, c.stream_prefetch)) {
        c.stream_prefetch = *forced;
      } else {
        std::fprintf(stderr,
                     "warning: TINYSERVE_STREAM_PREFETCH='%s' is not 0|1|on|off|true|false, BYTES or BYTES:l2 "
                     "(BYTES 64..65536); ignored\n",
                     env);
      }
    }
    return c;
  }();
  return t;
}

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = detect();
  return f;
}

const CpuFeatures& active_features() {
  static const CpuFeatures f = [] {
    // The kernel switches are read together, so a bad TINYSERVE_STREAM_PREFETCH is reported on
    // every machine, including those whose tiles never ask for it.
    cpu_tuning();
    CpuFeatures c = cpu_features();
    const char* isa = std::getenv("TINYSERVE_ISA");
    if (isa == nullptr) return c;
    if (std::strcmp(isa, "scalar") == 0) return CpuFeatures{};
    if (std::strcmp(isa, "avx2") == 0) {
      c.avx512 = c.avx512_vnni = c.avx512_bf16 = false;
    }
    return c;
  }();
  return f;
}

bool scalar_forced() { return !active_features().avx2; }

const char* isa_name() {
  const CpuFeatures& f = active_features();
  if (f.avx512_vnni) return "avx512-vnni";
  if (f.avx512) return "avx512";
  if (f.avx2) return "avx2";
  return "scalar";
}

}  // namespace ts
