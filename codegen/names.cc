#include "codegen/names.h"

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "google/protobuf/compiler/cpp/names.h"

namespace parley::codegen {
namespace {

using ::google::protobuf::Descriptor;
using ::google::protobuf::EnumDescriptor;
using ::google::protobuf::FileDescriptor;
using ::google::protobuf::MethodDescriptor;
using ::google::protobuf::ServiceDescriptor;
namespace cpp = ::google::protobuf::compiler::cpp;

constexpr const char* kKeywords[] = {
    "alignas",       "alignof",     "and",
    "and_eq",        "asm",         "auto",
    "bitand",        "bitor",       "bool",
    "break",         "case",        "catch",
    "char",          "char8_t",     "char16_t",
    "char32_t",      "class",       "compl",
    "concept",       "const",       "consteval",
    "constexpr",     "constinit",   "const_cast",
    "continue",      "co_await",    "co_return",
    "co_yield",      "decltype",    "default",
    "delete",        "do",          "double",
    "dynamic_cast",  "else",        "enum",
    "explicit",      "export",      "extern",
    "false",         "float",       "for",
    "friend",        "goto",        "if",
    "inline",        "int",         "long",
    "mutable",       "namespace",   "new",
    "noexcept",      "not",         "not_eq",
    "nullptr",       "operator",    "or",
    "or_eq",         "private",     "protected",
    "public",        "register",    "reinterpret_cast",
    "requires",      "return",      "short",
    "signed",        "sizeof",      "static",
    "static_assert", "static_cast", "struct",
    "switch",        "template",    "this",
    "thread_local",  "throw",       "true",
    "try",           "typedef",     "typeid",
    "typename",      "union",       "unsigned",
    "using",         "virtual",     "void",
    "volatile",      "wchar_t",     "while",
    "xor",           "xor_eq",
};

// Names the generated member functions use for parameters and locals; a
// same-package type with one of these names must be written qualified.
constexpr const char* kLocalNames[] = {
    "Invoke",  "Result",    "kMethods", "request", "done",
    "options", "responder", "context",  "channel",
};

void AddEnumNames(const EnumDescriptor* type,
                  std::map<std::string, std::string>& names) {
  const std::string owner = absl::StrCat("enum ", type->full_name());
  const std::string cpp_name = cpp::ClassName(type);
  names.emplace(cpp_name, owner);
  // Values of a top-level enum live unprefixed in the namespace; nested
  // ones get the enum's C++ name as a prefix.
  const std::string value_prefix =
      type->containing_type() == nullptr ? "" : absl::StrCat(cpp_name, "_");
  for (int i = 0; i < type->value_count(); ++i) {
    names.emplace(absl::StrCat(value_prefix, type->value(i)->name()), owner);
  }
  const std::string helper_prefix =
      type->containing_type() == nullptr
          ? cpp_name
          : absl::StrCat(cpp_name, "_", type->name());
  for (const char* suffix : {"_MIN", "_MAX", "_ARRAYSIZE"}) {
    names.emplace(absl::StrCat(helper_prefix, suffix), owner);
  }
  for (const char* suffix : {"_IsValid", "_descriptor", "_Name", "_Parse"}) {
    names.emplace(absl::StrCat(cpp_name, suffix), owner);
  }
}

void AddMessageNames(const Descriptor* type,
                     std::map<std::string, std::string>& names) {
  names.emplace(cpp::ClassName(type),
                absl::StrCat("message ", type->full_name()));
  for (int i = 0; i < type->nested_type_count(); ++i) {
    AddMessageNames(type->nested_type(i), names);
  }
  for (int i = 0; i < type->enum_type_count(); ++i) {
    AddEnumNames(type->enum_type(i), names);
  }
}

void AddFileNames(const FileDescriptor* file, const std::string& package,
                  std::set<const FileDescriptor*>& seen,
                  std::map<std::string, std::string>& names) {
  if (!seen.insert(file).second) return;
  if (file->package() == package) {
    for (int i = 0; i < file->message_type_count(); ++i) {
      AddMessageNames(file->message_type(i), names);
    }
    for (int i = 0; i < file->enum_type_count(); ++i) {
      AddEnumNames(file->enum_type(i), names);
    }
  }
  for (int i = 0; i < file->dependency_count(); ++i) {
    AddFileNames(file->dependency(i), package, seen, names);
  }
}

}  // namespace

std::string CppNamespace(absl::string_view package) {
  return absl::StrReplaceAll(package, {{".", "::"}});
}

bool IsCppKeyword(absl::string_view name) {
  for (const char* keyword : kKeywords) {
    if (name == keyword) return true;
  }
  return false;
}

std::string TypeName(const Descriptor* type, const ServiceDescriptor* service) {
  std::string qualified = cpp::QualifiedClassName(type);
  if (type->file()->package() != service->file()->package()) return qualified;
  const std::string& package = service->file()->package();
  const std::string scope =
      package.empty() ? "::" : absl::StrCat("::", CppNamespace(package), "::");
  std::string local = qualified.substr(scope.size());
  for (const GeneratedMember& member : GeneratedMembers(service)) {
    if (member.name == local) return qualified;
  }
  for (const char* name : kLocalNames) {
    if (local == name) return qualified;
  }
  return local;
}

std::vector<GeneratedMember> GeneratedMembers(
    const ServiceDescriptor* service) {
  std::vector<GeneratedMember> members = {
      {service->name(), nullptr, "the service class"},
      {"Stub", nullptr, "the generated class Stub"},
      {"Service", nullptr, "the generated class Service"},
      {"kServiceName", nullptr, "the generated constant kServiceName"},
      {"service_name", nullptr, "the generated Service::service_name()"},
      {"methods", nullptr, "the generated Service::methods()"},
      {"channel_", nullptr, "the generated Stub::channel_"},
  };
  for (int i = 0; i < service->method_count(); ++i) {
    const MethodDescriptor* method = service->method(i);
    const std::string& name = method->name();
    members.push_back({name, method, absl::StrCat("method ", name)});
    members.push_back({absl::StrCat(name, "Blocking"), method,
                       absl::StrCat("the blocking form of method ", name)});
    members.push_back({absl::StrCat("k", name, "Method"), method,
                       absl::StrCat("the MethodInfo of method ", name)});
  }
  return members;
}

std::map<std::string, std::string> ProtobufScopeNames(
    const FileDescriptor* file) {
  std::map<std::string, std::string> names;
  std::set<const FileDescriptor*> seen;
  AddFileNames(file, file->package(), seen, names);
  return names;
}

}  // namespace parley::codegen
