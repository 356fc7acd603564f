#include "codegen/parameters.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "google/protobuf/compiler/code_generator.h"

namespace parley::codegen {
namespace {

// One row per accepted parameter: its name and how its value is stored.
struct ParameterSpec {
  const char* name;
  absl::Status (*set)(const std::string& value, Parameters& out);
};

absl::Status SetIncludePrefix(const std::string& value, Parameters& out) {
  absl::string_view prefix = value;
  while (absl::ConsumeSuffix(&prefix, "/")) {
  }
  if (absl::StartsWith(prefix, "/") || absl::StrContains(prefix, "..")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "include_prefix must be a relative path without \"..\", got \"", value,
        "\""));
  }
  out.include_prefix = std::string(prefix);
  return absl::OkStatus();
}

const std::vector<ParameterSpec>& Specs() {
  static const auto* const kSpecs = new std::vector<ParameterSpec>{
      {"include_prefix", &SetIncludePrefix},
  };
  return *kSpecs;
}

}  // namespace

absl::StatusOr<Parameters> ParseParameters(const std::string& parameter) {
  std::vector<std::pair<std::string, std::string>> pairs;
  google::protobuf::compiler::ParseGeneratorParameter(parameter, &pairs);
  Parameters result;
  for (const auto& [name, value] : pairs) {
    const ParameterSpec* spec = nullptr;
    for (const ParameterSpec& candidate : Specs()) {
      if (name == candidate.name) spec = &candidate;
    }
    if (spec == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown parameter \"", name, "\" (known: ",
          absl::StrJoin(Specs(), ", ",
                        [](std::string* out, const ParameterSpec& known) {
                          out->append(known.name);
                        }),
          ")"));
    }
    absl::Status set = spec->set(value, result);
    if (!set.ok()) return set;
  }
  return result;
}

}  // namespace parley::codegen
