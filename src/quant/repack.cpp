#include "quant/repack.h"

#include <cmath>
#include <cstring>

#include "base/error.h"
#include "base/fp16.h"
#include "quant/quantize.h"

namespace ts {

namespace {

template <typename Packed, typename Plain>
void pack_q4(const Plain* src, int64_t rows, int64_t nb, Packed* dst, int64_t g) {
  for (int64_t b = 0; b < nb; ++b) {
    Packed& out = dst[g * nb + b];
    std::memset(&out, 0, sizeof(out));
    for (int r = 0; r < kPackRows; ++r) {
      const int64_t row = g * kPackRows + r;
      if (row >= rows) break;  // padding rows keep scale 0 (and minimum 0)
      const Plain& in = src[row * nb + b];
      out.d[r] = in.d;
      if constexpr (requires { in.m; }) out.m[r] = in.m;
      for (int j = 0; j < 4; ++j) {
        for (int m = 0; m < 4; ++m) out.qs[32 * j + 4 * r + m] = in.qs[4 * j + m];
      }
    }
  }
}

template <typename Packed, typename Plain>
void unpack_q4(const Packed* src, int64_t nb, int64_t row, Plain* dst) {
  const int64_t g = row / kPackRows;
  const int r = static_cast<int>(row % kPackRows);
  for (int64_t b = 0; b < nb; ++b) {
    const Packed& in = src[g * nb + b];
    Plain& out = dst[b];
    out.d = in.d[r];
    if constexpr (requires { out.m; }) out.m = in.m[r];
    for (int j = 0; j < 4; ++j) {
      for (int m = 0; m < 4; ++m) out.qs[4 * j + m] = in.qs[32 * j + 4 * r + m];
    }
  }
}

void pack_q8(const BlockQ8_0* src, int64_t rows, int64_t nb, BlockQ8_0x8* dst, int64_t g) {
  for (int64_t b = 0; b < nb; ++b) {
    BlockQ8_0x8& out = dst[g * nb + b];
    std::memset(&out, 0, sizeof(out));
    for (int r = 0; r < kPackRows; ++r) {
      const int64_t row = g * kPackRows + r;
      if (row >= rows) break;
      const BlockQ8_0& in = src[row * nb + b];
      out.d[r] = in.d;
      for (int s = 0; s < 8; ++s) {
        for (int m = 0; m < 4; ++m) out.qs[32 * s + 4 * r + m] = in.qs[4 * s + m];
      }
    }
  }
}

void unpack_q8(const BlockQ8_0x8* src, int64_t nb, int64_t row, BlockQ8_0* dst) {
  const int64_t g = row / kPackRows;
  const int r = static_cast<int>(row % kPackRows);
  for (int64_t b = 0; b < nb; ++b) {
    const BlockQ8_0x8& in = src[g * nb + b];
    dst[b].d = in.d[r];
    for (int s = 0; s < 8; ++s) {
      for (int m = 0; m < 4; ++m) dst[b].qs[4 * s + m] = in.qs[32 * s + 4 * r + m];
    }
  }
}

void check_shape(DType type, int64_t rows, int64_t cols) {
  if (!packable(type)) fail("no interleaved layout for tensor type {}", dtype_name(type));
  if (rows <= 0 || cols <= 0 || cols % kQK != 0) fail("cannot pack a [{}, {}] matrix (columns must be a multiple of {})", rows, cols, kQK);
}

}  // namespace

bool packable(DType type) { return type == DType::Q4_0 || type == DType::Q4_1 || type == DType::Q8_0; }

size_t packed_bytes(DType type, int64_t rows, int64_t cols) {
  check_shape(type, rows, cols);
  return static_cast<size_t>(num_groups(rows) * kPackRows) * row_bytes(type, static_cast<uint64_t>(cols));
}

void pack_groups(DType type, const uint8_t* src, int64_t rows, int64_t cols, uint8_t* dst, int64_t group_begin,
                 int64_t group_end) {
  check_shape(type, rows, cols);
  if (group_begin < 0 || group_end > num_groups(rows) || group_begin > group_end) {
    fail("pack: group range {}..{} outside 0..{}", group_begin, group_end, num_groups(rows));
  }
  const int64_t nb = cols / kQK;
  for (int64_t g = group_begin; g < group_end; ++g) {
    switch (type) {
      case DType::Q4_0:
        pack_q4(reinterpret_cast<const BlockQ4_0*>(src), rows, nb, reinterpret_cast<BlockQ4_0x8*>(dst), g);
        break;
      case DType::Q4_1:
        pack_q4(reinterpret_cast<const BlockQ4_1*>(src), rows, nb, reinterpret_cast<BlockQ4_1x8*>(dst), g);
        break;
      default:
        pack_q8(reinterpret_cast<const BlockQ8_0*>(src), rows, nb, reinterpret_cast<BlockQ8_0x8*>(dst), g);
        break;
    }
  }
}

void unpack_row(DType type, const uint8_t* packed, int64_t cols, int64_t row, uint8_t* dst) {
  check_shape(type, row + 1, cols);
  const int64_t nb = cols / kQK;
  switch (type) {
    case DType::Q4_0:
      unpack_q4(reinterpret_cast<const BlockQ4_0x8*>(packed), nb, row, reinterpret_cast<BlockQ4_0*>(dst));
      break;
    case DType::Q4_1:
      unpack_q4(reinterpret_cast<const BlockQ4_1x8*>(packed), nb, row, reinterpret_cast<BlockQ4_1*>(dst));
      break;
    default:
      unpack_q8(reinterpret_cast<const BlockQ8_0x8*>(packed), nb, row, reinterpret_cast<BlockQ8_0*>(dst));
      break;
  }
}

void quantize_row_q8s(const float* x, BlockQ8S* y, int64_t n) {
  if (n % kQK != 0) fail("q8s: row length {} is not a multiple of {}", n, kQK);
  for (int64_t i = 0; i < n / kQK; ++i) {
    const float* b = x + i * kQK;
    const float amax = block_amax(b);
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    y[i].d = fp16_to_f32(f32_to_fp16(amax / 127.0f));
    int32_t sum = 0;
    for (int j = 0; j < kQK; ++j) {
      y[i].qs[j] = static_cast<int8_t>(std::nearbyint(b[j] * id));
      sum += y[i].qs[j];
    }
    y[i].sum = sum;
    y[i].s = fp16_to_f32(f32_to_fp16(static_cast<float>(sum) * (amax / 127.0f)));
  }
}

}  // namespace ts
