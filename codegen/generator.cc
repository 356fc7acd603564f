#include "codegen/generator.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "codegen/model.h"
#include "codegen/parameters.h"
#include "codegen/validate.h"
#include "codegen/writers.h"
#include "google/protobuf/io/printer.h"
#include "google/protobuf/io/zero_copy_stream.h"

namespace parley::codegen {
namespace {

using ::google::protobuf::compiler::GeneratorContext;
using ::google::protobuf::io::Printer;
using ::google::protobuf::io::ZeroCopyOutputStream;

// Opens `name` in `context` and runs `write` on it; false on an I/O error.
template <typename Writer>
bool WriteFile(GeneratorContext* context, const std::string& name,
               const FileModel& model, Writer write) {
  std::unique_ptr<ZeroCopyOutputStream> stream(context->Open(name));
  Printer printer(stream.get(), '$');
  write(model, &printer);
  return !printer.failed();
}

}  // namespace

bool Generator::Generate(const google::protobuf::FileDescriptor* file,
                         const std::string& parameter,
                         GeneratorContext* context, std::string* error) const {
  // protoc prints "--parley_out: <file>: " before the error; lines after
  // the first name the file themselves.
  absl::StatusOr<Parameters> parameters = ParseParameters(parameter);
  if (!parameters.ok()) {
    *error = std::string(parameters.status().message());
    return false;
  }
  const std::vector<std::string> problems = Validate(file);
  if (!problems.empty()) {
    *error = absl::StrJoin(problems, absl::StrCat("\n", file->name(), ": "));
    return false;
  }
  const FileModel model = BuildFileModel(file, *parameters);
  if (!WriteFile(context, model.header_file, model, &WriteHeader) ||
      !WriteFile(context, model.source_file, model, &WriteSource)) {
    *error = "failed to write the output";
    return false;
  }
  return true;
}

}  // namespace parley::codegen
