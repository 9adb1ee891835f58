// `synth`: random-weight GGUF models in real models' shapes.
#include <cstdio>

#include "apps/common.h"
#include "apps/synth.h"
#include "base/error.h"
#include "base/timer.h"

namespace ts {

void add_synth_command(CLI::App& app) {
  struct Flags {
    std::string preset = "tiny", type = "f16", out, vocab = TS_DEFAULT_VOCAB;
    uint64_t seed = 42;
  };
  auto f = std::make_shared<Flags>();
  CLI::App* cmd = app.add_subcommand("synth", "Write a random-weight GGUF model in a preset's exact shapes");
  cmd->add_option("--preset", f->preset, "tinyllama-1.1b | smollm2-135m | tiny")->required();
  cmd->add_option("--type", f->type, "f16 | q8_0 | q4_0 (matrices; norms stay f32)");
  cmd->add_option("-o,--output", f->out, "Output .gguf path")->required();
  cmd->add_option("--seed", f->seed, "Random seed");
  cmd->add_option("--vocab", f->vocab, "GGUF file whose tokenizer the model uses")->check(CLI::ExistingFile);
  cmd->callback([f] {
    const SynthPreset preset = synth_preset(f->preset);
    const auto type = dtype_from_name(f->type);
    if (!type) fail("unknown --type '{}' (f16, q8_0, q4_0)", f->type);
    const double t0 = now_ms();
    write_synth_model(preset, *type, f->vocab, f->seed, f->out);
    std::fprintf(stderr, "wrote %s (%s, %s) in %.1f s\n", f->out.c_str(), preset.name.c_str(), f->type.c_str(),
                 (now_ms() - t0) / 1000.0);
  });
}

}  // namespace ts
