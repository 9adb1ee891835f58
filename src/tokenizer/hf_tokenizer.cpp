// Vocab::from_tokenizer_json: a Hugging Face tokenizer.json read into the same Vocab the GGUF
// reader fills. Two shapes of BPE model are understood:
//  - byte-level BPE (GPT-2, SmolLM2, Llama 3, ...): a ByteLevel pre-tokenizer, optionally after
//    Split/Digits steps whose regexes become the pre-tokenizer's patterns; merges by rank;
//  - BPE with byte fallback converted from SentencePiece (Llama 2, TinyLlama, Gemma): spaces
//    replaced by U+2581 (and optionally one prepended) by the normalizer or a Metaspace step.
//    Merges by rank become scores (-rank for the piece a merge produces, -inf for pieces no merge
//    produces), which the SentencePiece encoder then merges highest first.
// Anything else (WordPiece, Unigram, other normalizers or pre-tokenizers) is refused by name
// rather than tokenized differently from the reference.
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "base/error.h"
#include "tokenizer/vocab.h"

namespace ts {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr uint64_t kMaxTokenizerBytes = uint64_t{512} << 20;
const std::string kSpaceMarker = "\xe2\x96\x81";  // U+2581
// The regex of Hugging Face's ByteLevel pre-tokenizer (GPT-2's pattern).
const char* const kByteLevelRegex =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

json read_json_file(const std::string& path, uint64_t cap) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (ec) fail("{}: cannot read ({})", path, ec.message());
  if (size > cap) fail("{}: {} bytes exceeds the limit of {}", path, size, cap);
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  json j = json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) fail("{}: not a JSON object", path);
  return j;
}

std::string type_of(const json& step) {
  if (!step.is_object() || !step.contains("type") || !step["type"].is_string()) return "";
  return step["type"].get<std::string>();
}

// Flattens nested "Sequence" steps (key "pretokenizers", "normalizers" or "processors").
void flatten(const json& step, const char* list_key, std::vector<json>& out) {
  if (step.is_null()) return;
  if (type_of(step) == "Sequence" && step.contains(list_key) && step[list_key].is_array()) {
    for (const json& s : step[list_key]) flatten(s, list_key, out);
    return;
  }
  out.push_back(step);
}

std::string escape_regex(const std::string& literal) {
  std::string out;
  for (char c : literal) {
    if (std::string_view("\\^$.|?*+()[]{}-/").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

class Reader {
 public:
  explicit Reader(std::string path) : path_(std::move(path)), j_(read_json_file(path_, kMaxTokenizerBytes)) {}

  Vocab read() {
    const json& model = j_.contains("model") ? j_["model"] : json();
    if (!model.is_object()) fail("{}: no model object", path_);
    const std::string type = model.contains("type") ? type_of(model) : "BPE";
    if (type != "BPE") fail("{}: model type '{}' is not supported (BPE)", path_, type);
    read_tokens(model);
    std::vector<json> pre, norm;
    flatten(j_.contains("pre_tokenizer") ? j_["pre_tokenizer"] : json(), "pretokenizers", pre);
    flatten(j_.contains("normalizer") ? j_["normalizer"] : json(), "normalizers", norm);
    bool byte_level = false;
    for (const json& s : pre) byte_level = byte_level || type_of(s) == "ByteLevel";
    if (byte_level) {
      v_.kind = VocabKind::kBytePairEncoding;
      v_.model_name = "gpt2";
      v_.pre = "tokenizer.json";
      v_.explicit_pre = true;
      if (!norm.empty()) fail("{}: normalizer '{}' is not supported with a byte-level BPE", path_, type_of(norm[0]));
      read_pre_patterns(pre);
      read_merges(model, /*as_scores=*/false);
    } else {
      v_.kind = VocabKind::kSentencePiece;
      v_.model_name = "llama";
      read_spm_normalization(norm, pre);
      read_merges(model, /*as_scores=*/true);
      if (model.contains("unk_token") && model["unk_token"].is_string()) {
        auto it = v_.token_to_id.find(model["unk_token"].get<std::string>());
        if (it != v_.token_to_id.end()) {
          v_.unk = it->second;
          v_.types[static_cast<size_t>(it->second)] = TokenType::kUnknown;
        }
      }
    }
    read_added_tokens();
    read_post_processor();
    read_config();
    v_.collect_end_of_generation();
    return std::move(v_);
  }

 private:
  void read_tokens(const json& model) {
    if (!model.contains("vocab") || !model["vocab"].is_object()) fail("{}: model.vocab is not an object", path_);
    const json& vocab = model["vocab"];
    int64_t n = 0;
    auto check_id = [&](const json& id, const std::string& what) {
      if (!id.is_number_unsigned() || id.get<uint64_t>() >= static_cast<uint64_t>(INT32_MAX)) {
        fail("{}: {} has id {}, not a token id", path_, what, id.dump());
      }
      return static_cast<int64_t>(id.get<uint64_t>());
    };
    for (const auto& [token, id] : vocab.items()) n = std::max(n, check_id(id, "model.vocab entry") + 1);
    const json added = j_.contains("added_tokens") ? j_["added_tokens"] : json::array();
    if (!added.is_array()) fail("{}: added_tokens is not an array", path_);
    for (const json& a : added) {
      if (!a.is_object() || !a.contains("id") || !a.contains("content") || !a["content"].is_string()) {
        fail("{}: an added_tokens entry lacks id or content", path_);
      }
      n = std::max(n, check_id(a["id"], "added token") + 1);
    }
    if (n == 0) fail("{}: the vocabulary is empty", path_);
    // Bound the id space by the entries given: ids are dense in real files.
    if (static_cast<size_t>(n) > vocab.size() + added.size()) {
      fail("{}: ids reach {} but only {} tokens are listed", path_, n - 1, vocab.size() + added.size());
    }
    v_.tokens.assign(static_cast<size_t>(n), std::string());
    std::vector<bool> seen(static_cast<size_t>(n), false);
    for (const auto& [token, id] : vocab.items()) {
      const auto i = static_cast<size_t>(id.get<uint64_t>());
      if (seen[i]) fail("{}: id {} is given to two tokens", path_, i);
      seen[i] = true;
      v_.tokens[i] = token;
    }
    for (const json& a : added) {
      const auto i = static_cast<size_t>(a["id"].get<uint64_t>());
      const std::string content = a["content"].get<std::string>();
      if (seen[i] && v_.tokens[i] != content) fail("{}: added token id {} is '{}' in the vocabulary", path_, i, v_.tokens[i]);
      seen[i] = true;
      v_.tokens[i] = content;
    }
    for (size_t i = 0; i < seen.size(); ++i) {
      if (!seen[i]) fail("{}: token id {} has no token", path_, i);
    }
    v_.types.assign(v_.tokens.size(), TokenType::kNormal);
    v_.scores.assign(v_.tokens.size(), 0.0f);
    v_.token_to_id.reserve(v_.tokens.size());
    for (size_t i = 0; i < v_.tokens.size(); ++i) v_.token_to_id.emplace(v_.tokens[i], static_cast<int32_t>(i));
  }

  // Each merge as its two parts: "left right" or ["left", "right"].
  std::pair<std::string, std::string> merge_parts(const json& m, size_t i) const {
    if (m.is_string()) {
      const std::string s = m.get<std::string>();
      const size_t space = s.find(' ', 1);
      if (space == std::string::npos) fail("{}: merges[{}] = '{}' has no space", path_, i, s);
      return {s.substr(0, space), s.substr(space + 1)};
    }
    if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) return {m[0].get<std::string>(), m[1].get<std::string>()};
    fail("{}: merges[{}] is neither \"a b\" nor [\"a\", \"b\"]", path_, i);
  }

  void read_merges(const json& model, bool as_scores) {
    const json merges = model.contains("merges") ? model["merges"] : json::array();
    if (!merges.is_array()) fail("{}: model.merges is not an array", path_);
    if (as_scores) std::fill(v_.scores.begin(), v_.scores.end(), -std::numeric_limits<float>::infinity());
    for (size_t i = 0; i < merges.size(); ++i) {
      const auto [a, b] = merge_parts(merges[i], i);
      if (!as_scores) {
        v_.merge_rank.emplace(a + " " + b, static_cast<int32_t>(i));
        continue;
      }
      auto it = v_.token_to_id.find(a + b);
      if (it == v_.token_to_id.end()) fail("{}: merges[{}] makes '{}', which is not in the vocabulary", path_, i, a + b);
      float& score = v_.scores[static_cast<size_t>(it->second)];
      score = std::max(score, -static_cast<float>(i));
    }
    if (as_scores) {
      for (size_t i = 0; i < v_.tokens.size(); ++i) {
        const std::string& t = v_.tokens[i];
        if (t.size() == 6 && t.rfind("<0x", 0) == 0 && t[5] == '>') v_.types[i] = TokenType::kByte;
      }
    }
  }

  void read_pre_patterns(const std::vector<json>& steps) {
    for (const json& s : steps) {
      const std::string t = type_of(s);
      if (t == "ByteLevel") {
        if (s.contains("add_prefix_space") && s["add_prefix_space"] == true) {
          fail("{}: ByteLevel add_prefix_space is not supported", path_);
        }
        if (!s.contains("use_regex") || s["use_regex"] == true) v_.pre_patterns.push_back(kByteLevelRegex);
      } else if (t == "Split") {
        const std::string behavior = s.contains("behavior") && s["behavior"].is_string() ? s["behavior"].get<std::string>() : "";
        if (behavior != "Isolated" || (s.contains("invert") && s["invert"] == true)) {
          fail("{}: Split with behavior '{}' is not supported (Isolated, not inverted)", path_, behavior);
        }
        const json& p = s.contains("pattern") ? s["pattern"] : json();
        if (p.is_object() && p.contains("Regex") && p["Regex"].is_string()) {
          v_.pre_patterns.push_back(p["Regex"].get<std::string>());
        } else if (p.is_object() && p.contains("String") && p["String"].is_string()) {
          v_.pre_patterns.push_back(escape_regex(p["String"].get<std::string>()));
        } else {
          fail("{}: Split has no Regex or String pattern", path_);
        }
      } else if (t == "Digits") {
        const bool individual = s.contains("individual_digits") && s["individual_digits"] == true;
        v_.pre_patterns.push_back(individual ? "\\p{N}" : "\\p{N}+");
      } else {
        fail("{}: pre-tokenizer '{}' is not supported with a byte-level BPE", path_, t);
      }
    }
  }

  // SentencePiece conventions: spaces become U+2581, one may be prepended to the text.
  void read_spm_normalization(const std::vector<json>& norm, const std::vector<json>& pre) {
    bool replaces_space = false;
    for (const json& s : norm) {
      const std::string t = type_of(s);
      if (t == "Prepend" && s.contains("prepend") && s["prepend"] == kSpaceMarker) {
        v_.add_space_prefix = true;
      } else if (t == "Replace" && s.contains("pattern") && s["pattern"].is_object() && s["pattern"].contains("String") &&
                 s["pattern"]["String"] == " " && s.contains("content") && s["content"] == kSpaceMarker) {
        replaces_space = true;
      } else {
        fail("{}: normalizer '{}' is not supported", path_, t);
      }
    }
    for (const json& s : pre) {
      const std::string t = type_of(s);
      if (t != "Metaspace") fail("{}: pre-tokenizer '{}' is not supported with a SentencePiece-style BPE", path_, t);
      if (s.contains("split") && s["split"] == true) fail("{}: Metaspace with split is not supported", path_);
      replaces_space = true;
      const std::string scheme = s.contains("prepend_scheme") && s["prepend_scheme"].is_string()
                                     ? s["prepend_scheme"].get<std::string>()
                                     : (s.contains("add_prefix_space") && s["add_prefix_space"] == true ? "always" : "never");
      if (scheme == "first" || scheme == "always") v_.add_space_prefix = true;
    }
    if (!replaces_space) fail("{}: neither a byte-level BPE nor SentencePiece-style (no ' ' -> U+2581 step)", path_);
  }

  void read_added_tokens() {
    if (!j_.contains("added_tokens")) return;
    for (const json& a : j_["added_tokens"]) {
      const auto i = static_cast<size_t>(a["id"].get<uint64_t>());
      const bool special = a.contains("special") && a["special"] == true;
      if (v_.types[i] != TokenType::kUnknown) v_.types[i] = special ? TokenType::kControl : TokenType::kUserDefined;
    }
  }

  int32_t id_of(const std::string& token, const char* what) const {
    auto it = v_.token_to_id.find(token);
    if (it == v_.token_to_id.end()) fail("{}: {} '{}' is not in the vocabulary", path_, what, token);
    return it->second;
  }

  // TemplateProcessing "single": a SpecialToken first adds BOS, one last adds EOS.
  void read_post_processor() {
    std::vector<json> steps;
    flatten(j_.contains("post_processor") ? j_["post_processor"] : json(), "processors", steps);
    for (const json& s : steps) {
      if (type_of(s) != "TemplateProcessing" || !s.contains("single") || !s["single"].is_array()) continue;
      const json& single = s["single"];
      auto special = [&](const json& item) -> int32_t {
        if (!item.is_object() || !item.contains("SpecialToken")) return -1;
        const json& st = item["SpecialToken"];
        if (!st.contains("id") || !st["id"].is_string()) fail("{}: post_processor SpecialToken without id", path_);
        return id_of(st["id"].get<std::string>(), "post_processor token");
      };
      if (!single.empty() && special(single.front()) >= 0) {
        v_.add_bos = true;
        v_.bos = special(single.front());
      }
      if (single.size() > 1 && special(single.back()) >= 0) {
        v_.add_eos = true;
        v_.eos = special(single.back());
      }
    }
  }

  // tokenizer_config.json beside the file: bos/eos tokens and the chat template.
  void read_config() {
    const fs::path config = fs::path(path_).parent_path() / "tokenizer_config.json";
    std::error_code ec;
    if (!fs::exists(config, ec)) return;
    const json c = read_json_file(config.string(), 64 << 20);
    auto token = [&](const char* key) -> int32_t {
      if (!c.contains(key) || c[key].is_null()) return -1;
      const json& t = c[key].is_object() && c[key].contains("content") ? c[key]["content"] : c[key];
      if (!t.is_string()) fail("{}: {} is not a string", config.string(), key);
      return id_of(t.get<std::string>(), key);
    };
    if (const int32_t b = token("bos_token"); b >= 0) v_.bos = b;
    if (const int32_t e = token("eos_token"); e >= 0) v_.eos = e;
    if (const int32_t u = token("unk_token"); u >= 0) v_.unk = u;
    if (const int32_t p = token("pad_token"); p >= 0) v_.pad = p;
    if (c.contains("add_bos_token") && c["add_bos_token"].is_boolean()) v_.add_bos = c["add_bos_token"].get<bool>();
    if (c.contains("chat_template")) {
      const json& t = c["chat_template"];
      if (t.is_string()) {
        v_.chat_template = t.get<std::string>();
      } else if (t.is_array()) {  // named templates: take "default"
        for (const json& e : t) {
          if (e.is_object() && e.value("name", "") == "default" && e.contains("template") && e["template"].is_string()) {
            v_.chat_template = e["template"].get<std::string>();
          }
        }
      }
    }
    if (v_.add_bos && v_.bos < 0) fail("{}: add_bos_token is set but there is no BOS token", config.string());
  }

  std::string path_;
  json j_;
  Vocab v_;
};

}  // namespace

Vocab Vocab::from_tokenizer_json(const std::string& path) { return Reader(path).read(); }

}  // namespace ts
