// tinyserve: one binary, one subcommand per job.
#include <cstdio>
#include <exception>

#include <CLI/CLI.hpp>

#include "apps/common.h"

int main(int argc, char** argv) {
  CLI::App app{"tinyserve: run small language models fast on CPUs"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "tinyserve 0.1.0");
  ts::add_generate_commands(app);
  ts::add_tool_commands(app);
  ts::add_perplexity_command(app);
  ts::add_synth_command(app);
  ts::add_bench_commands(app);
  ts::add_chipsim_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
