#include "tokenizer/pretokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <map>

#include "base/error.h"
#include "tokenizer/unicode.h"

namespace ts {

namespace {

// Pattern lists per tokenizer.ggml.pre, as llama.cpp applies them (facts of the format).
const char* const kGpt2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
const char* const kLlama3 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const char* const kQwen2 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

const std::vector<std::string>& patterns_for(const std::string& name) {
  static const std::map<std::string, std::vector<std::string>> kTable = [] {
    std::map<std::string, std::vector<std::string>> t;
    const std::vector<std::string> def = {"[\\p{P}\\$\\+<=>\\^~\\|]+", kGpt2, "\\p{N}+", "[0-9][0-9][0-9]"};
    t["default"] = def;
    for (const char* n : {"gpt-2", "gpt2", "mpt", "olmo", "jais", "phi-2", "jina-v2-es", "jina-v2-de"}) t[n] = {kGpt2};
    for (const char* n : {"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b"}) {
      t[n] = {"\\p{N}", kGpt2};
    }
    for (const char* n : {"llama3", "llama-v3", "llama-bpe", "falcon3", "dbrx", "smaug-bpe"}) t[n] = {kLlama3};
    for (const char* n : {"qwen2", "stablelm2", "deepseek-r1-qwen", "hunyuan"}) t[n] = {kQwen2};
    t["falcon"] = {"[\\p{P}\\$\\+<=>\\^~\\|`]+", kGpt2, "[0-9][0-9][0-9]"};
    t["deepseek-llm"] = {
        "[\r\n]",
        "\\s?[A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}"
        "\\x{1BC}-\\x{1BF}\\x{1C4}-\\x{293}\\x{295}-\\x{2AF}\\x{370}-\\x{373}"
        "\\x{376}\\x{377}\\x{37B}-\\x{37D}\\x{37F}\\x{386}\\x{388}-\\x{38A}"
        "\\x{38C}\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}\\x{3F7}-\\x{481}\\x{48A}-"
        "\\x{52F}\\x{531}-\\x{556}\\x{10A0}-\\x{10C5}\\x{13A0}-\\x{13F5}\\x{13F8}-"
        "\\x{13FD}\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}\\x{1D00}-\\x{1D2B}\\x{1D6B}-"
        "\\x{1D77}\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}\\x{1F18}-\\x{1F1D}\\x{1F20}-"
        "\\x{1F45}\\x{1F48}-\\x{1F4D}\\x{1F50}-\\x{1F57}\\x{1F59}\\x{1F5B}\\x{1F5D}"
        "\\x{1F5F}-\\x{1F7D}\\x{1F80}-\\x{1FB4}\\x{1FB6}-\\x{1FBC}\\x{1FBE}\\x{1FC2}-"
        "\\x{1FC4}\\x{1FC6}-\\x{1FCC}\\x{1FD0}-\\x{1FD3}\\x{1FD6}-\\x{1FDB}\\x{1FE0}-"
        "\\x{1FEC}\\x{1FF2}-\\x{1FF4}\\x{1FF6}-\\x{1FFC}\\x{2102}\\x{2107}\\x{210A}-"
        "\\x{2113}\\x{2115}\\x{2119}-\\x{211D}\\x{2124}\\x{2126}\\x{2128}\\x{212A}-"
        "\\x{212D}\\x{212F}-\\x{2134}\\x{2139}\\x{213C}-\\x{213F}\\x{2145}-\\x{2149}"
        "\\x{214E}\\x{2183}\\x{2184}\\x{2C00}-\\x{2C7B}\\x{2C7E}-\\x{2CE4}\\x{2CEB}-"
        "\\x{2CEE}\\x{2CF2}\\x{2CF3}\\x{A640}-\\x{A66D}\\x{A680}-\\x{A69B}\\x{A722}-"
        "\\x{A76F}\\x{A771}-\\x{A787}\\x{A78B}-\\x{A78E}\\x{AB70}-\\x{ABBF}\\x{FB00}-"
        "\\x{FB06}\\x{FB13}-\\x{FB17}\\x{FF21}-\\x{FF3A}\\x{FF41}-\\x{FF5A}\\x{10400}-"
        "\\x{1044F}\\x{104B0}-\\x{104D3}\\x{104D8}-\\x{104FB}\\x{10C80}-\\x{10CB2}\\x{10CC0}-"
        "\\x{10CF2}\\x{118A0}-\\x{118DF}\\x{1E900}-\\x{1E943}]+",
        "\\s?[!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3000}-\\x{3002}]+",
        "\\s+$",
        "[\\x{4E00}-\\x{9FA5}\\x{800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+",
        "\\p{N}+",
    };
    t["deepseek-coder"] = {"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", "[\\x{4E00}-\\x{9FA5}\\x{800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+", "\\p{N}"};
    return t;
  }();
  auto it = kTable.find(name.empty() ? std::string("default") : name);
  if (it == kTable.end()) fail("unknown pre-tokenizer '{}' in tokenizer.ggml.pre", name);
  return it->second;
}

// How a pattern sees the text. kExact: real Unicode properties (llama.cpp has hand-written
// matchers for the GPT-2 and Llama-3 patterns). kCollapsed: every non-ASCII codepoint becomes one
// placeholder per category (letter, number, punctuation, whitespace, other) and \p{X} becomes a
// class of that placeholder plus its ASCII members. kRaw: codepoints as they are, except that
// non-ASCII whitespace becomes \v (the general regex engine's \s is ASCII-only).
enum class Mode { kExact, kCollapsed, kRaw };

constexpr uint32_t kCollapsedNumber = 0xD1, kCollapsedLetter = 0xD2, kCollapsedPunct = 0xD3, kCollapsedOther = 0xD0;

std::string collapse_pattern(const std::string& re) {
  static const std::map<std::string, std::string> kClass = {
      {"\\p{N}", "\\x{D1}0-9"},
      {"\\p{L}", "\\x{D2}A-Za-z"},
      {"\\p{P}", "\\x{D3}!-#%-*,-/:-;?-@\\[-\\]_\\{\\}"},
  };
  std::string out;
  bool inside = false;
  for (size_t i = 0; i < re.size(); ++i) {
    if (re[i] == '[' && (i == 0 || re[i - 1] != '\\')) {
      out += '[';
      inside = true;
      continue;
    }
    if (inside && re[i] == ']' && re[i - 1] != '\\') {
      out += ']';
      inside = false;
      continue;
    }
    if (re[i] == '\\' && i + 4 < re.size() && re[i + 1] == 'p' && re[i + 2] == '{' && re[i + 4] == '}') {
      auto it = kClass.find(re.substr(i, 5));
      if (it != kClass.end()) {
        out += inside ? it->second : "[" + it->second + "]";
        i += 4;
        continue;
      }
    }
    out += re[i];
  }
  return out;
}

}  // namespace

struct PreTokenizer::Rule {
  Mode mode = Mode::kExact;
  pcre2_code* code = nullptr;
  ~Rule() { pcre2_code_free(code); }
};

PreTokenizer::PreTokenizer(const std::string& name) : name_(name.empty() ? "default" : name) {
  for (const std::string& pattern : patterns_for(name_)) {
    const bool has_category = pattern.find("\\p{") != std::string::npos;
    const Mode mode = (pattern == kGpt2 || pattern == kLlama3) ? Mode::kExact
                      : has_category                          ? Mode::kCollapsed
                                                              : Mode::kRaw;
    add_rule(pattern, static_cast<int>(mode));
  }
}

PreTokenizer::PreTokenizer(const std::string& name, const std::vector<std::string>& patterns) : name_(name) {
  for (const std::string& pattern : patterns) add_rule(pattern, static_cast<int>(Mode::kExact));
}

void PreTokenizer::add_rule(const std::string& pattern, int mode) {
  auto rule = std::make_unique<Rule>();
  rule->mode = static_cast<Mode>(mode);
  const std::string compiled = rule->mode == Mode::kCollapsed ? collapse_pattern(pattern) : pattern;
  uint32_t options = PCRE2_UTF | PCRE2_DOLLAR_ENDONLY;
  if (rule->mode == Mode::kExact) options |= PCRE2_UCP;
  int err = 0;
  PCRE2_SIZE err_off = 0;
  rule->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(compiled.data()), compiled.size(), options, &err, &err_off,
                             nullptr);
  if (rule->code == nullptr) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof msg);
    fail("pre-tokenizer '{}': pattern does not compile at {}: {}", name_, err_off, reinterpret_cast<char*>(msg));
  }
  rules_.push_back(std::move(rule));
}

PreTokenizer::~PreTokenizer() = default;
PreTokenizer::PreTokenizer(PreTokenizer&&) noexcept = default;
PreTokenizer& PreTokenizer::operator=(PreTokenizer&&) noexcept = default;

std::vector<std::string> PreTokenizer::known_names() {
  return {"default", "gpt-2", "mpt", "starcoder", "refact", "smollm", "falcon", "deepseek-llm", "deepseek-coder",
          "llama3", "qwen2", "command-r", "olmo"};
}

std::vector<std::string> PreTokenizer::split(std::string_view text) const {
  // Codepoints with their byte offsets, so words are cut from the original bytes.
  std::vector<uint32_t> cps;
  std::vector<size_t> byte_at;
  for (size_t i = 0; i < text.size();) {
    const int len = utf8_sequence_length(static_cast<uint8_t>(text[i]));
    const size_t n = std::min<size_t>(static_cast<size_t>(len), text.size() - i);
    const auto decoded = utf8_to_codepoints(text.substr(i, n));
    byte_at.push_back(i);
    cps.push_back(decoded.size() == 1 ? decoded[0] : 0xFFFD);
    i += decoded.size() == 1 ? n : 1;
  }
  byte_at.push_back(text.size());

  std::vector<uint32_t> collapsed(cps.size()), raw(cps.size());
  for (size_t i = 0; i < cps.size(); ++i) {
    if (cps[i] < 128) {
      collapsed[i] = raw[i] = cps[i];
      continue;
    }
    const CodepointClass c = classify_codepoint(cps[i]);
    raw[i] = c.whitespace ? 0x0B : cps[i];
    collapsed[i] = c.whitespace ? 0x0B
                   : c.number   ? kCollapsedNumber
                   : c.letter   ? kCollapsedLetter
                   : c.punctuation ? kCollapsedPunct
                                   : kCollapsedOther;
  }

  std::vector<size_t> lengths = {cps.size()};  // fragment lengths in codepoints
  pcre2_match_data* md = nullptr;
  for (const auto& rule : rules_) {
    if (md != nullptr) pcre2_match_data_free(md);
    md = pcre2_match_data_create_from_pattern(rule->code, nullptr);
    const std::vector<uint32_t>& view = rule->mode == Mode::kExact ? cps : rule->mode == Mode::kRaw ? raw : collapsed;
    std::vector<size_t> next;
    size_t start = 0;
    for (size_t len : lengths) {
      // Each fragment is matched on its own: lookaheads cannot see past its end.
      std::string subject;
      std::vector<size_t> cp_of_byte;  // byte offset -> codepoint index within the fragment
      for (size_t k = 0; k < len; ++k) {
        append_utf8(subject, view[start + k]);
        cp_of_byte.resize(subject.size(), k);
      }
      cp_of_byte.push_back(len);
      size_t prev_end = 0, pos = 0;
      while (pos <= subject.size()) {
        const int rc = pcre2_match(rule->code, reinterpret_cast<PCRE2_SPTR>(subject.data()), subject.size(), pos, 0,
                                   md, nullptr);
        if (rc < 0) break;
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
        const size_t ms = ov[0], me = ov[1];
        if (me == ms) {  // empty match: step over one codepoint
          pos = ms + 1;
          while (pos < subject.size() && (static_cast<uint8_t>(subject[pos]) & 0xC0) == 0x80) ++pos;
          continue;
        }
        const size_t cs = cp_of_byte[ms], ce = cp_of_byte[me];
        if (cs > prev_end) next.push_back(cs - prev_end);
        next.push_back(ce - cs);
        prev_end = ce;
        pos = me;
      }
      if (prev_end < len) next.push_back(len - prev_end);
      start += len;
    }
    lengths = std::move(next);
  }
  if (md != nullptr) pcre2_match_data_free(md);

  std::vector<std::string> words;
  size_t at = 0;
  for (size_t len : lengths) {
    if (len == 0) continue;
    words.emplace_back(text.substr(byte_at[at], byte_at[at + len] - byte_at[at]));
    at += len;
  }
  return words;
}

}  // namespace ts
