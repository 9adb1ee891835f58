#pragma once
// Byte-level BPE pre-tokenization: a list of regexes, each splitting every fragment left by the
// previous one into matches and the gaps between them (gaps are kept as fragments too).
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ts {

class PreTokenizer {
 public:
  // `name` is the GGUF tokenizer.ggml.pre value; throws naming it if unknown.
  explicit PreTokenizer(const std::string& name);
  // Explicit regexes, all matched with full Unicode properties (as Hugging Face tokenizers match
  // the patterns of a tokenizer.json); throws if one does not compile.
  PreTokenizer(const std::string& name, const std::vector<std::string>& patterns);
  ~PreTokenizer();
  PreTokenizer(PreTokenizer&&) noexcept;
  PreTokenizer& operator=(PreTokenizer&&) noexcept;

  // Splits text into words (original bytes, concatenating back to the input).
  std::vector<std::string> split(std::string_view text) const;

  const std::string& name() const { return name_; }
  static std::vector<std::string> known_names();

 private:
  struct Rule;
  void add_rule(const std::string& pattern, int mode);  // mode: how the pattern sees the text (see .cpp)
  std::string name_;
  std::vector<std::unique_ptr<Rule>> rules_;
};

}  // namespace ts
