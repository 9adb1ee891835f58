#include "tokenizer/chat_template.h"

#include "base/error.h"

namespace ts {

ChatTemplate ChatTemplate::detect(const std::string& t) {
  ChatTemplate c;
  if (t.find("<start_of_turn>") != std::string::npos) {
    c.family = ChatFamily::kGemma;
  } else if (t.find("[INST]") != std::string::npos) {
    c.family = ChatFamily::kLlama2;
  } else if (t.find("<|user|>") != std::string::npos) {
    c.family = ChatFamily::kZephyr;
  } else {
    c.family = ChatFamily::kChatML;  // also the fallback when the model has no template
  }
  // SmolLM2's template injects this system prompt when none is given.
  const std::string smollm = "You are a helpful AI assistant named SmolLM, trained by Hugging Face";
  if (t.find(smollm) != std::string::npos) c.default_system = smollm;
  return c;
}

const char* ChatTemplate::family_name() const {
  switch (family) {
    case ChatFamily::kChatML: return "chatml";
    case ChatFamily::kZephyr: return "zephyr";
    case ChatFamily::kLlama2: return "llama2";
    case ChatFamily::kGemma: return "gemma";
  }
  return "unknown";
}

std::string ChatTemplate::apply(const std::vector<ChatMessage>& input, bool add_generation_prompt) const {
  for (const auto& m : input) {
    if (m.role != "system" && m.role != "user" && m.role != "assistant") {
      fail("chat message role '{}' is not one of system, user, assistant", m.role);
    }
  }
  std::vector<ChatMessage> messages = input;
  if (!default_system.empty() && (messages.empty() || messages.front().role != "system")) {
    messages.insert(messages.begin(), {"system", default_system});
  }
  std::string out;
  switch (family) {
    case ChatFamily::kChatML:
      for (const auto& m : messages) out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
      if (add_generation_prompt) out += "<|im_start|>assistant\n";
      break;
    case ChatFamily::kZephyr:
      for (const auto& m : messages) out += "<|" + m.role + "|>\n" + m.content + "</s>\n";
      if (add_generation_prompt) out += "<|assistant|>\n";
      break;
    case ChatFamily::kLlama2: {
      std::string system;
      bool first_user = true;
      for (const auto& m : messages) {
        if (m.role == "system") {
          system = m.content;
        } else if (m.role == "user") {
          if (!first_user) out += "<s>";
          out += "[INST] ";
          if (!system.empty()) out += "<<SYS>>\n" + system + "\n<</SYS>>\n\n";
          system.clear();
          out += m.content + " [/INST]";
          first_user = false;
        } else {
          out += " " + m.content + " </s>";
        }
      }
      break;  // the assistant's turn follows [/INST] directly
    }
    case ChatFamily::kGemma: {
      std::string system;
      for (const auto& m : messages) {
        if (m.role == "system") {
          system = m.content;
          continue;
        }
        const std::string role = m.role == "assistant" ? "model" : "user";
        out += "<start_of_turn>" + role + "\n";
        if (!system.empty() && role == "user") {
          out += system + "\n\n";
          system.clear();
        }
        out += m.content + "<end_of_turn>\n";
      }
      if (add_generation_prompt) out += "<start_of_turn>model\n";
      break;
    }
  }
  return out;
}

}  // namespace ts
