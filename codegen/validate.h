// Checks a .proto file before any code is generated for it, so problems are
// reported as protoc errors naming file, service and method instead of as C++
// compile errors in generated code.
//
//   std::vector<std::string> problems = Validate(file);
//   // "service echo.Echo, method Stream: streaming methods are not
//   //  supported by Parley"
//
// Refused: streaming methods; generated names that clash with each other or
// with protobuf's names in the same package; C++ keywords; ack_within_ms
// options above one day.
//
// Thread safety: plain functions.
#ifndef PARLEY_CODEGEN_VALIDATE_H_
#define PARLEY_CODEGEN_VALIDATE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "google/protobuf/descriptor.h"

namespace parley::codegen {

// The largest accepted ack_within_ms: one day.
inline constexpr uint32_t kMaxAckWithinMs = 86400000;

// One line per problem in `file`, naming the service and method (or the
// package) but not the file; empty when code can be generated.
std::vector<std::string> Validate(const google::protobuf::FileDescriptor* file);

}  // namespace parley::codegen

#endif  // PARLEY_CODEGEN_VALIDATE_H_
