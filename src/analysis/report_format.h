#pragma once
// Formatting shared by the analysis reports.
#include <string>

#include "fmt/format.h"

namespace ts {

// part / whole as a percentage with `decimals` digits, or "-" when whole is not positive.
inline std::string pct(double part, double whole, int decimals = 1) {
  return whole > 0 ? fmt::format("{:.{}f}%", 100.0 * part / whole, decimals) : "-";
}

}  // namespace ts
