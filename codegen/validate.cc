#include "codegen/validate.h"

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "codegen/names.h"
#include "parley/options.pb.h"

namespace parley::codegen {
namespace {

using ::google::protobuf::FileDescriptor;
using ::google::protobuf::MethodDescriptor;
using ::google::protobuf::ServiceDescriptor;

// Collects problems, each prefixed with the service and method it is about.
class Problems {
 public:
  void Add(const std::string& what) { lines_.push_back(what); }
  void Add(const ServiceDescriptor* service, const MethodDescriptor* method,
           const std::string& what) {
    lines_.push_back(absl::StrCat(
        "service ", service->full_name(),
        method == nullptr ? "" : absl::StrCat(", method ", method->name()),
        ": ", what));
  }
  std::vector<std::string> Take() { return std::move(lines_); }

 private:
  std::vector<std::string> lines_;
};

std::string KeywordProblem(const std::string& name) {
  return absl::StrCat("\"", name, "\" is a C++ keyword");
}

std::string AckProblem(const char* option, uint32_t ms) {
  return absl::StrCat("option (parley.", option, ").ack_within_ms = ", ms,
                      " is more than one day (", kMaxAckWithinMs, ")");
}

void CheckPackage(const FileDescriptor* file, Problems& problems) {
  if (file->package().empty()) return;
  for (absl::string_view part : absl::StrSplit(file->package(), '.')) {
    if (IsCppKeyword(part)) {
      problems.Add(absl::StrCat("package ", file->package(), ": ",
                                KeywordProblem(std::string(part))));
    }
  }
}

void CheckMethod(const MethodDescriptor* method, Problems& problems) {
  const ServiceDescriptor* service = method->service();
  if (method->client_streaming() || method->server_streaming()) {
    problems.Add(service, method,
                 "streaming methods are not supported by Parley");
  }
  if (IsCppKeyword(method->name())) {
    problems.Add(service, method, KeywordProblem(method->name()));
  }
  const uint32_t ms =
      method->options().GetExtension(::parley::method).ack_within_ms();
  if (ms > kMaxAckWithinMs) {
    problems.Add(service, method, AckProblem("method", ms));
  }
}

// Generated members must be unique within the service class.
void CheckMembers(const ServiceDescriptor* service, Problems& problems) {
  std::map<std::string, GeneratedMember> seen;
  for (const GeneratedMember& member : GeneratedMembers(service)) {
    auto [it, inserted] = seen.emplace(member.name, member);
    if (inserted) continue;
    // A method's own name needs no explanation; derived names do.
    const bool derived =
        member.method == nullptr || member.name != member.method->name();
    problems.Add(
        service, member.method,
        absl::StrCat("generated name ", member.name,
                     derived ? absl::StrCat(" (", member.role, ")") : "",
                     " clashes with ", it->second.role));
  }
}

void CheckService(const ServiceDescriptor* service,
                  const std::map<std::string, std::string>& scope_names,
                  Problems& problems) {
  if (IsCppKeyword(service->name())) {
    problems.Add(service, nullptr, KeywordProblem(service->name()));
  }
  auto clash = scope_names.find(service->name());
  if (clash != scope_names.end()) {
    problems.Add(service, nullptr,
                 absl::StrCat("class name ", service->name(),
                              " clashes with the C++ name protobuf generates "
                              "for ",
                              clash->second));
  }
  const uint32_t ms =
      service->options().GetExtension(::parley::service).ack_within_ms();
  if (ms > kMaxAckWithinMs) {
    problems.Add(service, nullptr, AckProblem("service", ms));
  }
  CheckMembers(service, problems);
  for (int i = 0; i < service->method_count(); ++i) {
    CheckMethod(service->method(i), problems);
  }
}

}  // namespace

std::vector<std::string> Validate(const FileDescriptor* file) {
  Problems problems;
  CheckPackage(file, problems);
  const std::map<std::string, std::string> scope_names =
      ProtobufScopeNames(file);
  for (int i = 0; i < file->service_count(); ++i) {
    CheckService(file->service(i), scope_names, problems);
  }
  return problems.Take();
}

}  // namespace parley::codegen
