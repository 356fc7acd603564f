// protoc-gen-parley: the protoc plugin that generates Parley stubs and
// services. Run by protoc: `protoc --parley_out=<dir> x.proto`.
#include "codegen/generator.h"
#include "google/protobuf/compiler/plugin.h"

int main(int argc, char* argv[]) {
  parley::codegen::Generator generator;
  return google::protobuf::compiler::PluginMain(argc, argv, &generator);
}
