// The two output files of protoc-gen-parley for one .proto: `x.parley.h`
// (one class per service with its Stub and Service) and `x.parley.cc`.
// Each writer prints one section per function, from `$var$` templates.
//
//   WriteHeader(BuildFileModel(file, parameters), &printer);
//
// Thread safety: plain functions.
#ifndef PARLEY_CODEGEN_WRITERS_H_
#define PARLEY_CODEGEN_WRITERS_H_

#include "codegen/model.h"
#include "google/protobuf/io/printer.h"

namespace parley::codegen {

// The "do not edit" stamp that opens every generated file.
void PrintStamp(const FileModel& file, google::protobuf::io::Printer* printer);

void WriteHeader(const FileModel& file, google::protobuf::io::Printer* printer);
void WriteSource(const FileModel& file, google::protobuf::io::Printer* printer);

}  // namespace parley::codegen

#endif  // PARLEY_CODEGEN_WRITERS_H_
