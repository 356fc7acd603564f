// The plugin's parameters (`--parley_opt=k=v,...` or `--parley_out=k=v:dir`),
// parsed into a struct. Unknown parameters are refused by name, so a typo
// never silently changes the generated code.
//
//   absl::StatusOr<Parameters> p = ParseParameters("include_prefix=gen");
//   p->include_prefix == "gen"
//
// Thread safety: plain functions and values.
#ifndef PARLEY_CODEGEN_PARAMETERS_H_
#define PARLEY_CODEGEN_PARAMETERS_H_

#include <string>

#include "absl/status/statusor.h"

namespace parley::codegen {

struct Parameters {
  // Directory prepended to the generated `#include "x.pb.h"` and
  // `#include "x.parley.h"` of the file being generated; empty = none.
  // Stored without a trailing '/'.
  std::string include_prefix;
};

// Parses protoc's parameter string: comma-separated `name=value` pairs.
// Returns InvalidArgument naming the first unknown or malformed parameter.
absl::StatusOr<Parameters> ParseParameters(const std::string& parameter);

}  // namespace parley::codegen

#endif  // PARLEY_CODEGEN_PARAMETERS_H_
