// What the writers print, computed once per .proto: file names, includes,
// and for every service and method the C++ names, the call kind and the
// default ack deadline.
//
// Call kinds are rows of one table (kCallKinds); the writers print the same
// templates for every kind and take the differences from the row.
//
//   FileModel model = BuildFileModel(file, parameters);
//   for (const ServiceModel& s : model.services) ... s.methods[i].vars ...
//
// Thread safety: plain functions and values.
#ifndef PARLEY_CODEGEN_MODEL_H_
#define PARLEY_CODEGEN_MODEL_H_

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "codegen/parameters.h"
#include "codegen/printing.h"
#include "google/protobuf/descriptor.h"

namespace parley::codegen {

// A row of the call-kind table. Fields are `$var$` templates over the
// method's variables ($reply$ etc.).
struct CallKind {
  // The ::parley::MethodKind enumerator.
  const char* enumerator;
  // What the stub's callback receives and the blocking form returns.
  const char* result;
  // The stub's callback type (parley/rpc.h), taking `result`.
  const char* callback;
  // Default argument of the stub's `done` parameter ("" = none).
  const char* done_default;
  // The runtime helper the stub calls.
  const char* call;
};

// The call kind of `method`: a message iff its output is exactly
// google.protobuf.Empty, else a request with a typed reply.
const CallKind& CallKindOf(const google::protobuf::MethodDescriptor* method);

// The default ack deadline of `method` in milliseconds (0 = none): the
// method's (parley.method).ack_within_ms if nonzero, else the service's.
uint32_t DefaultAckWithinMs(const google::protobuf::MethodDescriptor* method);

struct MethodModel {
  // Printer variables: the service's, and method, full_name ("pkg.Svc/Method"),
  // info
  // ("kMethodMethod"), request, reply, kind, result, done_default, call,
  // ack_within ("absl::Seconds(5)").
  Vars vars;
  // The proto's leading comment, raw.
  std::string comment;
};

struct ServiceModel {
  // Printer variables: service, service_full_name.
  Vars vars;
  std::string comment;
  std::vector<MethodModel> methods;
};

struct FileModel {
  // Printer variables: proto (the .proto name), header (the .parley.h
  // include path), guard, namespace ("" = global).
  Vars vars;
  // Output file names, relative to the output directory.
  std::string header_file;
  std::string source_file;
  // Quoted includes of the generated header, sorted.
  std::set<std::string> header_includes;
  std::vector<ServiceModel> services;
};

FileModel BuildFileModel(const google::protobuf::FileDescriptor* file,
                         const Parameters& parameters);

}  // namespace parley::codegen

#endif  // PARLEY_CODEGEN_MODEL_H_
