#pragma once
// llama.cpp as the comparison engine: runs the tooling script bench/compare-llamacpp (through
// llama-cpp-python) with --llamacpp-only and returns its JSON. Tooling only: nothing on the
// inference path calls this; it fails with a clear message when the tooling is not installed.
#include <string>

#include <nlohmann/json.hpp>

namespace ts {

// script_args: the script's flags after -m MODEL (e.g. "-p 512 -n 128 -t 2 -r 5").
nlohmann::json run_llamacpp_reference(const std::string& model, const std::string& script_args);

}  // namespace ts
