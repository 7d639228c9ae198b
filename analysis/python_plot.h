// Plots are drawn by matplotlib (a well-kept plotting library) through the small scripts in
// analysis/plots/, run with the project's venv Python. The C++ side writes the numbers as JSON.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace seer::analysis {

// `s` as one single-quoted POSIX shell word.
std::string shell_quote(const std::string& s);

// Python used for plots: $SEER_PYTHON, else <root>/.venv/bin/python, else python3.
std::string plot_python();

// Runs analysis/plots/<script> with `args`; throws with the script's exit status on failure
// (the script's own error is on stderr).
void run_plot_script(const std::string& script, const std::vector<std::string>& args);

// Runs the project's Python script at <root>/<relative_path> (e.g. bench/flex_bench.py) with
// plot_python(); throws, naming the script and its exit status, on failure.
void run_project_script(const std::filesystem::path& relative_path,
                        const std::vector<std::string>& args);

// The same for figures beside numbers already saved: a missing plotting library should cost the
// figure, not the run. Returns why it failed, or nullopt when the figure was drawn.
std::optional<std::string> try_plot_script(const std::string& script,
                                           const std::vector<std::string>& args);

}  // namespace seer::analysis
