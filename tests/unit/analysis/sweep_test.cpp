// Sweep output: CSV quoting of model names and the summary's growth ratios.
#include <gtest/gtest.h>

#include "analysis/sweep.h"

namespace ts {
namespace {

SweepRow row(int64_t ctx, double ttft, double per_tok, double kv) {
  SweepRow r;
  r.model = "m, \"quoted\"";
  r.threads = 2;
  r.ctx = ctx;
  r.prompt_tokens = ctx - 8;
  r.gen_tokens = 8;
  r.ttft_ms = ttft;
  r.prefill_tok_s = 1000.0 * static_cast<double>(r.prompt_tokens) / ttft;
  r.decode_ms_per_tok = per_tok;
  r.kv_measured_mb = kv;
  return r;
}

TEST(Sweep, CsvQuotesFieldsAndKeepsColumns) {
  const std::string csv = sweep_csv({row(512, 100.0, 10.0, 5.0)});
  const std::string first_line = csv.substr(0, csv.find('\n'));
  EXPECT_EQ(first_line, kSweepCsvHeader);
  EXPECT_NE(csv.find("\"m, \"\"quoted\"\"\",2,512,504,8,"), std::string::npos) << csv;
}

TEST(Sweep, SummaryStatesGrowthFromFirstToLast) {
  const std::string s = sweep_summary({row(512, 100.0, 10.0, 5.0), row(1024, 300.0, 11.0, 10.0), row(4096, 980.0, 13.0, 40.0)});
  EXPECT_NE(s.find("From context 512 to 4096 (8.0x longer)"), std::string::npos) << s;
  EXPECT_NE(s.find("decode per-token latency grows 1.30x"), std::string::npos) << s;
  EXPECT_NE(s.find("TTFT grows 9.80x"), std::string::npos) << s;
  EXPECT_NE(s.find("KV cache grows 8.00x"), std::string::npos) << s;
  EXPECT_NE(sweep_summary({row(512, 1.0, 1.0, 1.0)}).find("nothing to compare"), std::string::npos);
}

}  // namespace
}  // namespace ts
