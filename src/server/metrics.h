#pragma once
// Prometheus text exposition of the engine's statistics and the server's own counters.
#include <cstdint>
#include <map>
#include <string>

#include "engine/serving_stats.h"

namespace ts {

struct ServerCounters {
  std::map<int, int64_t> responses_by_status;  // HTTP status -> responses sent
  int64_t rejected = 0;                        // requests refused before reaching the engine
  int64_t disconnects = 0;                     // clients gone before their reply was complete
};

std::string prometheus_text(const EngineStats& s, const ServerCounters& c);

}  // namespace ts
