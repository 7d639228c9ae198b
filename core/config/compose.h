// Hydra-style composition of an experiment config (configs/experiment/<name>.yaml):
//  1. its `defaults:` list pulls group files (`- model: smollm2` -> configs/model/smollm2.yaml,
//     placed under the key `model`; a file whose first line is `# @package _global_` is merged at
//     the root instead), plain files of the same folder (`- base`) and `_self_` (the file's own
//     values; last when not listed). Group files may have defaults lists of their own.
//  2. command-line overrides apply last (core/config/override.h for the grammar).
//  3. `${a.b}` interpolations resolve against the final tree (`${env:VAR,default}` reads the
//     environment); a value that is exactly one interpolation keeps the referenced node's type.
// Every key remembers the file that set it, so errors point at the right place.
#pragma once

#include "core/config/config_tree.h"

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace seer::config {

struct ComposeRequest {
  std::filesystem::path config_dir;        // folder holding experiment/, model/, ...
  std::string experiment;                  // name under experiment/, or a path to a .yaml file
  std::vector<std::string> overrides;      // as typed on the command line
  // One stage's own overrides (an experiment's `stages:` entry), applied after the command line's;
  // errors and key sources name `stage_origin`.
  std::vector<std::string> stage_overrides;
  std::string stage_origin;
};

struct ComposedConfig {
  ConfigTree tree;
  std::filesystem::path experiment_file;
  std::filesystem::path config_dir;
  std::map<std::string, std::string> choices;   // group -> chosen option
  std::vector<std::string> overrides;       // the command line's
};

ComposedConfig compose(const ComposeRequest& request);

// Resolves ${...} in place (also used by tests). Throws ConfigError on unknown references/cycles.
void resolve_interpolations(ConfigTree& tree);

// Options available in a group folder (file stems, sorted), and the groups (folders) themselves.
std::vector<std::string> list_group_options(const std::filesystem::path& config_dir,
                                            const std::string& group);
std::vector<std::string> list_groups(const std::filesystem::path& config_dir);

}  // namespace seer::config
