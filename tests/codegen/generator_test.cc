// Runs protoc with the built protoc-gen-parley on the protos in protos/ and
// checks what it writes or refuses.
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace {

using ::testing::HasSubstr;
using ::testing::Not;

struct ProtocRun {
  int exit_code = -1;
  std::string output;  // protoc's stdout and stderr
  std::string out_dir;
};

// Runs protoc on `proto` (relative to protos/) into a fresh directory.
ProtocRun RunProtoc(const std::string& proto,
                    const std::string& parameter = "") {
  const testing::TestInfo* test =
      testing::UnitTest::GetInstance()->current_test_info();
  ProtocRun run;
  run.out_dir = absl::StrCat(testing::TempDir(), "/codegen_",
                             test->test_suite_name(), "_", test->name());
  std::filesystem::remove_all(run.out_dir);
  std::filesystem::create_directories(run.out_dir);
  const std::string command =
      absl::StrCat(PARLEY_PROTOC, " --plugin=protoc-gen-parley=", PARLEY_PLUGIN,
                   " -I ", PARLEY_TEST_PROTOS, " -I ", PARLEY_PROTO_DIR,
                   " --parley_out=", parameter.empty() ? "" : parameter + ":",
                   run.out_dir, " ", PARLEY_TEST_PROTOS, "/", proto, " 2>&1");
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return run;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) {
    run.output.append(buffer, n);
  }
  const int status = pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// `text` with every run of whitespace turned into one space, so checks do
// not depend on where lines break.
std::string Squash(const std::string& text) {
  std::string out;
  for (char c : text) {
    const bool space = c == ' ' || c == '\n';
    if (!space) {
      out += c;
    } else if (out.empty() || out.back() != ' ') {
      out += ' ';
    }
  }
  return out;
}

// Runs protoc, expecting it to succeed; returns the output directory.
std::string Generate(const std::string& proto,
                     const std::string& parameter = "") {
  ProtocRun run = RunProtoc(proto, parameter);
  EXPECT_EQ(run.exit_code, 0) << run.output;
  return run.out_dir;
}

TEST(CodegenRefuses, StreamingMethodsNameFileServiceAndMethod) {
  ProtocRun run = RunProtoc("streaming.proto");
  EXPECT_NE(run.exit_code, 0);
  EXPECT_THAT(run.output,
              HasSubstr("streaming.proto: service refusals.Transfer, method "
                        "Upload: streaming methods are not supported by "
                        "Parley"));
  EXPECT_THAT(run.output,
              HasSubstr("streaming.proto: service refusals.Transfer, method "
                        "Download: streaming methods are not supported by "
                        "Parley"));
  EXPECT_THAT(run.output, Not(HasSubstr("method Copy")));
  EXPECT_FALSE(std::filesystem::exists(run.out_dir + "/streaming.parley.h"));
}

TEST(CodegenRefuses, MethodNamedLikeAnotherMethodsBlockingForm) {
  ProtocRun run = RunProtoc("clash_blocking.proto");
  EXPECT_NE(run.exit_code, 0);
  EXPECT_THAT(run.output,
              HasSubstr("clash_blocking.proto: service refusals.Echo, method "
                        "ShoutBlocking: generated name ShoutBlocking clashes "
                        "with the blocking form of method Shout"));
}

TEST(CodegenRefuses, MethodsNamedLikeGeneratedMembers) {
  ProtocRun run = RunProtoc("clash_members.proto");
  EXPECT_NE(run.exit_code, 0);
  for (const char* method :
       {"Stub", "Service", "methods", "service_name", "Members"}) {
    EXPECT_THAT(run.output,
                HasSubstr(absl::StrCat("clash_members.proto: service "
                                       "refusals.Members, method ",
                                       method, ": generated name ", method,
                                       " clashes with")));
  }
}

TEST(CodegenRefuses, ServiceNamedLikeProtobufsClassForANestedMessage) {
  ProtocRun run = RunProtoc("clash_scope.proto");
  EXPECT_NE(run.exit_code, 0);
  EXPECT_THAT(run.output,
              HasSubstr("clash_scope.proto: service refusals.Outer_Inner: "
                        "class name Outer_Inner clashes with the C++ name "
                        "protobuf generates for message refusals.Outer.Inner"));
}

TEST(CodegenRefuses, ServiceNamedLikeAMessageIsRefusedByProtocItself) {
  ProtocRun run = RunProtoc("clash_message.proto");
  EXPECT_NE(run.exit_code, 0);
  EXPECT_THAT(run.output, HasSubstr("clash_message.proto"));
  EXPECT_THAT(run.output, HasSubstr("\"Words\" is already defined"));
}

TEST(CodegenRefuses, CppKeywords) {
  ProtocRun run = RunProtoc("keywords.proto");
  EXPECT_NE(run.exit_code, 0);
  EXPECT_THAT(run.output, HasSubstr("keywords.proto: package "
                                    "refusals.register: \"register\" is a "
                                    "C++ keyword"));
  EXPECT_THAT(run.output, HasSubstr("keywords.proto: service "
                                    "refusals.register.union: \"union\" is a "
                                    "C++ keyword"));
  EXPECT_THAT(run.output, HasSubstr("keywords.proto: service "
                                    "refusals.register.Ops, method delete: "
                                    "\"delete\" is a C++ keyword"));
}

TEST(CodegenRefuses, AckWithinAboveOneDay) {
  ProtocRun run = RunProtoc("bad_options.proto");
  EXPECT_NE(run.exit_code, 0);
  EXPECT_THAT(run.output,
              HasSubstr("bad_options.proto: service refusals.Slow: option "
                        "(parley.service).ack_within_ms = 86400001 is more "
                        "than one day (86400000)"));
  EXPECT_THAT(run.output,
              HasSubstr("bad_options.proto: service refusals.Slow, method "
                        "Wait: option (parley.method).ack_within_ms = "
                        "4000000000 is more than one day (86400000)"));
}

TEST(CodegenRefuses, UnknownParameterIsNamed) {
  ProtocRun run = RunProtoc("chat.proto", "include_prefx=gen");
  EXPECT_NE(run.exit_code, 0);
  EXPECT_THAT(run.output, HasSubstr("chat.proto: unknown parameter "
                                    "\"include_prefx\" (known: "
                                    "include_prefix)"));
}

TEST(CodegenOutput, FilesAreStampedWithTheirSource) {
  const std::string dir = Generate("chat.proto");
  for (const char* file : {"/chat.parley.h", "/chat.parley.cc"}) {
    EXPECT_THAT(
        ReadFile(dir + file),
        testing::StartsWith("// Generated by protoc-gen-parley. DO NOT EDIT.\n"
                            "// source: chat.proto\n"));
  }
}

TEST(CodegenOutput, CommentsAreCarriedOntoClassesAndMethods) {
  const std::string header =
      ReadFile(Generate("chat.proto") + "/chat.parley.h");
  EXPECT_THAT(header, HasSubstr("// The room: everything said in it\n"
                                "// and its history.\n"
                                "class ChatRoom final {\n"));
  EXPECT_THAT(header, HasSubstr("    // Says a line to the room.\n"
                                "    absl::Status Say("));
  EXPECT_THAT(header, HasSubstr("    // Says a line to the room.\n"
                                "    virtual void Say("));
  // A long proto comment is wrapped to fit 80 columns.
  EXPECT_THAT(header, HasSubstr("    // A comment long enough that it has to "
                                "be wrapped when it is printed inside\n"
                                "    // the generated classes.\n"));
}

TEST(CodegenOutput, EveryLineFitsEightyColumns) {
  const std::string dir = Generate("chat.proto");
  for (const char* file : {"/chat.parley.h", "/chat.parley.cc"}) {
    for (absl::string_view line : absl::StrSplit(ReadFile(dir + file), '\n')) {
      EXPECT_LE(line.size(), 80u) << file << ": " << line;
    }
  }
}

TEST(CodegenOutput, AckDefaultsLandInTheMethodInfos) {
  const std::string source =
      Squash(ReadFile(Generate("chat.proto") + "/chat.parley.cc"));
  // The method's own option.
  EXPECT_THAT(source, HasSubstr("\"chat.v1.ChatRoom/Say\", "
                                "::parley::MethodKind::kMessage, "
                                "absl::Seconds(5)};"));
  // Inherited from (parley.service).ack_within_ms.
  EXPECT_THAT(source, HasSubstr("\"chat.v1.ChatRoom/History\", "
                                "::parley::MethodKind::kRequest, "
                                "absl::Seconds(10)};"));
  // Exactly one day is accepted.
  EXPECT_THAT(source, HasSubstr("\"chat.v1.ChatRoom/Poke\", "
                                "::parley::MethodKind::kRequest, "
                                "absl::Seconds(86400)};"));
  // No option anywhere: no deadline.
  EXPECT_THAT(source, HasSubstr("\"chat.v1.ChatFeed/Dropped\", "
                                "::parley::MethodKind::kMessage, "
                                "absl::ZeroDuration()};"));
}

TEST(CodegenOutput, TypesAreQualifiedWhereTheyMustBe) {
  const std::string header =
      ReadFile(Generate("chat.proto") + "/chat.parley.h");
  // Same package: short.
  EXPECT_THAT(header, HasSubstr("absl::Status Say(const Line& request,"));
  // Another package, nested: protobuf's full C++ name.
  EXPECT_THAT(header,
              HasSubstr("absl::StatusOr<::other::types::Reply_Nested>"));
  // Same package but hidden by the generated Stub class: qualified.
  EXPECT_THAT(header, HasSubstr("const ::chat::v1::Stub& request"));
  EXPECT_THAT(header, HasSubstr("absl::StatusOr<Stub_Inner>"));
}

TEST(CodegenOutput, IncludesFollowIncludePrefix) {
  const std::string dir = Generate("chat.proto", "include_prefix=gen/chat/");
  const std::string header = ReadFile(dir + "/chat.parley.h");
  EXPECT_THAT(header, HasSubstr("#ifndef GEN_CHAT_CHAT_PARLEY_H_\n"));
  EXPECT_THAT(header, HasSubstr("#include \"gen/chat/chat.pb.h\"\n"));
  // Imports keep their own proto path, as in protoc's C++ output.
  EXPECT_THAT(header, HasSubstr("#include \"types/common.pb.h\"\n"));
  EXPECT_THAT(ReadFile(dir + "/chat.parley.cc"),
              HasSubstr("#include \"gen/chat/chat.parley.h\"\n"));
}

TEST(CodegenOutput, NoIncludePrefixByDefault) {
  const std::string dir = Generate("chat.proto");
  EXPECT_THAT(ReadFile(dir + "/chat.parley.h"),
              HasSubstr("#include \"chat.pb.h\"\n"));
  EXPECT_THAT(ReadFile(dir + "/chat.parley.cc"),
              HasSubstr("#include \"chat.parley.h\"\n"));
}

TEST(CodegenOutput, FileWithoutServicesGetsAnEmptyValidPair) {
  const std::string dir = Generate("types/common.proto");
  EXPECT_EQ(ReadFile(dir + "/types/common.parley.h"),
            "// Generated by protoc-gen-parley. DO NOT EDIT.\n"
            "// source: types/common.proto\n"
            "\n"
            "#ifndef TYPES_COMMON_PARLEY_H_\n"
            "#define TYPES_COMMON_PARLEY_H_\n"
            "\n"
            "#include \"types/common.pb.h\"\n"
            "\n"
            "#endif  // TYPES_COMMON_PARLEY_H_\n");
  EXPECT_EQ(ReadFile(dir + "/types/common.parley.cc"),
            "// Generated by protoc-gen-parley. DO NOT EDIT.\n"
            "// source: types/common.proto\n"
            "\n"
            "#include \"types/common.parley.h\"\n");
}

}  // namespace
