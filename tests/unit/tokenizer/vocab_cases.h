#pragma once
// The shared vocabulary test data: NAME.gguf.inp holds cases separated by a marker line,
// NAME.gguf.out the expected ids of each case, one line per case.
#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace ts::test {

inline const std::string kVocabDir = std::string(TS_SHARED_DIR) + "/testdata/vocab";

inline std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::vector<std::string> split_cases(const std::string& text) {
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> cases;
  size_t pos = 0;
  for (;;) {
    const size_t hit = text.find(sep, pos);
    if (hit == std::string::npos) break;
    cases.push_back(text.substr(pos, hit - pos));
    pos = hit + sep.size();
  }
  return cases;
}

inline std::vector<std::vector<int32_t>> read_expected(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::vector<int32_t>> out;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::vector<int32_t> ids;
    int32_t id;
    while (ls >> id) ids.push_back(id);
    out.push_back(ids);
  }
  return out;
}

// Tokenizes every case (no BOS, no special parsing) and reports up to `report` differences;
// returns how many cases differ.
template <typename Tok>
int count_case_failures(const Tok& tok, const std::vector<std::string>& cases,
                        const std::vector<std::vector<int32_t>>& expected, const std::string& name, int report = 5) {
  int failures = 0;
  for (size_t i = 0; i < cases.size() && i < expected.size(); ++i) {
    const auto ids = tok.encode(cases[i], /*add_special=*/false, /*parse_special=*/false);
    if (ids == expected[i]) continue;
    if (++failures <= report) {
      std::string got, want;
      for (int32_t x : ids) got += " " + std::to_string(x);
      for (int32_t x : expected[i]) want += " " + std::to_string(x);
      ADD_FAILURE() << name << " case " << i << " '" << cases[i] << "'\n  got: " << got << "\n want: " << want;
    }
  }
  return failures;
}

}  // namespace ts::test
