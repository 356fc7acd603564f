#include "codegen/model.h"

#include <cctype>
#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "codegen/names.h"
#include "google/protobuf/compiler/code_generator.h"
#include "parley/options.pb.h"

namespace parley::codegen {
namespace {

using ::google::protobuf::Descriptor;
using ::google::protobuf::FileDescriptor;
using ::google::protobuf::MethodDescriptor;
using ::google::protobuf::ServiceDescriptor;
using ::google::protobuf::SourceLocation;

// The call-kind table: one row per ::parley::MethodKind.
constexpr CallKind kCallKinds[] = {
    {"kMessage", "absl::Status", "::parley::AckCallback", " = nullptr",
     "::parley::internal::CallMessage"},
    {"kRequest", "absl::StatusOr<$reply$>", "::parley::ReplyCallback<$reply$>",
     "", "::parley::internal::CallRequest<$reply$>"},
};

template <typename DescriptorT>
std::string LeadingComment(const DescriptorT* descriptor) {
  SourceLocation location;
  if (!descriptor->GetSourceLocation(&location)) return "";
  return location.leading_comments;
}

// absl::Duration expression for a deadline in milliseconds.
std::string DurationExpression(uint32_t ms) {
  if (ms == 0) return "absl::ZeroDuration()";
  if (ms % 1000 == 0) return absl::StrCat("absl::Seconds(", ms / 1000, ")");
  return absl::StrCat("absl::Milliseconds(", ms, ")");
}

// "a/b.parley.h" -> "A_B_PARLEY_H_".
std::string HeaderGuard(const std::string& path) {
  std::string guard;
  for (char c : path) {
    guard +=
        std::isalnum(static_cast<unsigned char>(c))
            ? static_cast<char>(std::toupper(static_cast<unsigned char>(c)))
            : '_';
  }
  return guard + "_";
}

std::string PbHeader(const FileDescriptor* file) {
  return google::protobuf::compiler::StripProto(file->name()) + ".pb.h";
}

MethodModel BuildMethodModel(const MethodDescriptor* method,
                             const Vars& service_vars) {
  const ServiceDescriptor* service = method->service();
  const CallKind& kind = CallKindOf(method);
  MethodModel model;
  model.comment = LeadingComment(method);
  Vars& vars = model.vars;
  vars = service_vars;
  vars["method"] = method->name();
  vars["full_name"] = absl::StrCat(service->full_name(), "/", method->name());
  vars["info"] = absl::StrCat("k", method->name(), "Method");
  vars["request"] = TypeName(method->input_type(), service);
  vars["reply"] = TypeName(method->output_type(), service);
  vars["kind"] = kind.enumerator;
  vars["ack_within"] = DurationExpression(DefaultAckWithinMs(method));
  vars["result"] = Expand(vars, kind.result);
  vars["callback"] = Expand(vars, kind.callback);
  vars["done_default"] = Expand(vars, kind.done_default);
  vars["call"] = Expand(vars, kind.call);
  return model;
}

ServiceModel BuildServiceModel(const ServiceDescriptor* service) {
  ServiceModel model;
  model.comment = LeadingComment(service);
  model.vars["service"] = service->name();
  model.vars["service_full_name"] = service->full_name();
  for (int i = 0; i < service->method_count(); ++i) {
    model.methods.push_back(BuildMethodModel(service->method(i), model.vars));
  }
  return model;
}

}  // namespace

const CallKind& CallKindOf(const MethodDescriptor* method) {
  const bool is_message =
      method->output_type()->full_name() == "google.protobuf.Empty";
  return kCallKinds[is_message ? 0 : 1];
}

uint32_t DefaultAckWithinMs(const MethodDescriptor* method) {
  const uint32_t own =
      method->options().GetExtension(::parley::method).ack_within_ms();
  if (own != 0) return own;
  return method->service()
      ->options()
      .GetExtension(::parley::service)
      .ack_within_ms();
}

FileModel BuildFileModel(const FileDescriptor* file,
                         const Parameters& parameters) {
  const std::string base = google::protobuf::compiler::StripProto(file->name());
  const std::string prefix =
      parameters.include_prefix.empty() ? "" : parameters.include_prefix + "/";
  FileModel model;
  model.header_file = base + ".parley.h";
  model.source_file = base + ".parley.cc";
  const std::string header = prefix + model.header_file;
  model.vars["proto"] = file->name();
  model.vars["header"] = header;
  model.vars["guard"] = HeaderGuard(header);
  model.vars["namespace"] = CppNamespace(file->package());

  model.header_includes.insert(prefix + base + ".pb.h");
  if (file->service_count() == 0) return model;
  for (const char* include :
       {"absl/status/status.h", "absl/status/statusor.h",
        "absl/strings/string_view.h", "absl/types/span.h", "parley/rpc.h"}) {
    model.header_includes.insert(include);
  }
  for (int i = 0; i < file->service_count(); ++i) {
    const ServiceDescriptor* service = file->service(i);
    model.services.push_back(BuildServiceModel(service));
    for (int j = 0; j < service->method_count(); ++j) {
      for (const Descriptor* type : {service->method(j)->input_type(),
                                     service->method(j)->output_type()}) {
        if (type->file() != file) {
          model.header_includes.insert(PbHeader(type->file()));
        }
      }
    }
  }
  return model;
}

}  // namespace parley::codegen
