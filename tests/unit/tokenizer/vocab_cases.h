#pragma once
// The shared vocabulary test data: NAME.gguf.inp holds cases separated by a marker line,
// NAME.gguf.out the expected ids of each case, one line per case.
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

}  // namespace ts::test
