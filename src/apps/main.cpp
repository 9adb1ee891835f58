// tinyserve: one binary, one subcommand per job.
#include <cstdio>
#include <exception>
#include <string>

#include <CLI/CLI.hpp>

#include "apps/common.h"
#include "base/perf.h"

int main(int argc, char** argv) {
  CLI::App app{"tinyserve: run small language models fast on CPUs"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "tinyserve 0.1.0");
  // Perf lines on stderr: TINYSERVE_LOG=info|debug|trace, or --log-level before or after the command.
  app.add_option_function<std::string>(
         "--log-level",
         [](const std::string& v) {
           ts::perf::Level level = ts::perf::Level::kOff;
           if (ts::perf::parse_level(v, &level)) ts::perf::set_level(level);
         },
         "off|info|debug|trace (default: TINYSERVE_LOG, else off)")
      ->check(CLI::IsMember({"off", "info", "debug", "trace"}))
      ->trigger_on_parse();  // before the command's callback runs
  app.fallthrough();  // subcommands created below inherit it: --log-level works after them too
  ts::add_generate_commands(app);
  ts::add_tool_commands(app);
  ts::add_perplexity_command(app);
  ts::add_synth_command(app);
  ts::add_bench_commands(app);
  ts::add_chipsim_command(app);
  ts::add_profile_command(app);
  ts::add_sweep_command(app);
  ts::add_serve_command(app);
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
