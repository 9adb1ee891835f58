#pragma once
// Chat prompt formatting for the template families our models use, detected from the
// tokenizer.chat_template text (we do not run Jinja).
#include <string>
#include <vector>

namespace ts {

enum class ChatFamily { kChatML, kZephyr, kLlama2, kGemma };

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

struct ChatTemplate {
  ChatFamily family = ChatFamily::kChatML;
  std::string default_system;  // used when the conversation has no system message

  static ChatTemplate detect(const std::string& jinja_template);
  // The prompt text, ending with the opening of the assistant's turn when add_generation_prompt.
  std::string apply(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const;
  const char* family_name() const;
};

}  // namespace ts
