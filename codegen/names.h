// C++ names for the code protoc-gen-parley generates: namespaces, type
// references, the members each generated service class declares, and the
// namespace-scope names protobuf's own C++ output claims.
//
//   CppNamespace("chat.v1") == "chat::v1"
//   GeneratedMembers(echo)  // {"Stub", ...}, {"ShoutBlocking", Shout, ...}
//
// Thread safety: plain functions.
#ifndef PARLEY_CODEGEN_NAMES_H_
#define PARLEY_CODEGEN_NAMES_H_

#include <map>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"

namespace parley::codegen {

// "a.b.c" -> "a::b::c"; "" -> "".
std::string CppNamespace(absl::string_view package);

// True for C++17 keywords, alternative tokens and C++20 keywords.
bool IsCppKeyword(absl::string_view name);

// How generated code inside `service`'s class refers to `type`: unqualified
// for types of the same package (e.g. "Words", "Outer_Inner") unless that
// name is hidden by a generated member or local name, fully qualified
// otherwise (e.g. "::google::protobuf::Empty").
std::string TypeName(const google::protobuf::Descriptor* type,
                     const google::protobuf::ServiceDescriptor* service);

// One name declared inside a generated service class, and who declares it.
struct GeneratedMember {
  std::string name;
  // The method the member belongs to; nullptr for fixed members such as
  // "Stub" or "service_name".
  const google::protobuf::MethodDescriptor* method;
  // What the member is, for error messages ("the blocking form of Shout").
  std::string role;
};

// Every name generated code declares inside `service`'s class, its Stub and
// its Service, in declaration order (fixed members first). Duplicates in the
// result are name clashes.
std::vector<GeneratedMember> GeneratedMembers(
    const google::protobuf::ServiceDescriptor* service);

// Namespace-scope C++ names protobuf generates for `package`, from `file` and
// every file it imports directly or indirectly, each mapped to the proto
// element that claims it (e.g. "Outer_Inner" -> "message echo.Outer.Inner").
std::map<std::string, std::string> ProtobufScopeNames(
    const google::protobuf::FileDescriptor* file);

}  // namespace parley::codegen

#endif  // PARLEY_CODEGEN_NAMES_H_
