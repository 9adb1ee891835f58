#include "kernels/probe.h"

#include "kernels/cpu_features.h"

namespace ts {

float probe_read(const uint8_t* p, size_t n) {
  if (active_features().avx2) return avx2::probe_read(p, n);
  uint64_t s = 0;
  for (size_t i = 0; i < n; i += 8) {
    uint64_t v;
    __builtin_memcpy(&v, p + i, sizeof(v));
    s += v;
  }
  return static_cast<float>(s & 0xFFFF);
}

uint64_t probe_int8_macs(uint64_t iters, int32_t* sink) {
  if (active_features().avx512_vnni) return avx512::probe_int8_macs(iters, sink);
  if (active_features().avx2) return avx2::probe_int8_macs(iters, sink);
  int32_t acc[4] = {0, 1, 2, 3};
  volatile int8_t x = 3, y = -2;
  for (uint64_t i = 0; i < iters; ++i) {
    for (int32_t& a : acc) a += x * y;
  }
  *sink = acc[0] + acc[1] + acc[2] + acc[3];
  return iters * 4;
}

uint64_t probe_f32_fmas(uint64_t iters, float* sink) {
  if (active_features().avx2) return avx2::probe_f32_fmas(iters, sink);
  float acc[4] = {0, 1, 2, 3};
  volatile float x = 0.999f;
  for (uint64_t i = 0; i < iters; ++i) {
    for (float& a : acc) a = a * x + 1e-3f;
  }
  *sink = acc[0] + acc[1] + acc[2] + acc[3];
  return iters * 4;
}

}  // namespace ts
