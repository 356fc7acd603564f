// protoc-gen-parley's generator: for each .proto, `x.parley.h` and
// `x.parley.cc` with one class per service (see writers.h for the shape).
// A file without services gets an empty but valid pair, so build rules can
// name both outputs of every .proto they compile.
//
//   parley::codegen::Generator generator;
//   return google::protobuf::compiler::PluginMain(argc, argv, &generator);
//
// Parameters: see parameters.h. Problems (see validate.h) fail the whole
// file with one error line each.
//
// Thread safety: Generate is const and keeps no state.
#ifndef PARLEY_CODEGEN_GENERATOR_H_
#define PARLEY_CODEGEN_GENERATOR_H_

#include <cstdint>
#include <string>

#include "google/protobuf/compiler/code_generator.h"
#include "google/protobuf/descriptor.h"

namespace parley::codegen {

class Generator final : public google::protobuf::compiler::CodeGenerator {
 public:
  bool Generate(const google::protobuf::FileDescriptor* file,
                const std::string& parameter,
                google::protobuf::compiler::GeneratorContext* context,
                std::string* error) const override;

  uint64_t GetSupportedFeatures() const override {
    return FEATURE_PROTO3_OPTIONAL;
  }
};

}  // namespace parley::codegen

#endif  // PARLEY_CODEGEN_GENERATOR_H_
