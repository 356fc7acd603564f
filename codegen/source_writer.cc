// Writes x.parley.cc: the method descriptions, the Stub's calls (through
// parley::internal::CallMessage / CallRequest / Await), each Service's
// method table (parley::internal::Invoke) and its UNIMPLEMENTED defaults.
#include <string>
#include <utility>

#include "codegen/printing.h"
#include "codegen/writers.h"

namespace parley::codegen {
namespace {

using ::google::protobuf::io::Printer;

// Indentation of function bodies and of method table rows.
constexpr int kBodyIndent = 2;
constexpr int kRowIndent = 6;

const ListTemplate kMethodInfo = {
    "const ::parley::MethodInfo $service$::$info$ = {",
    {"\"$full_name$\"", "::parley::MethodKind::$kind$", "$ack_within$"},
    "};",
    ListBreak::kBreak};

const ListTemplate kStubConstructor = {
    "$service$::Stub::Stub(",
    {"std::shared_ptr<::parley::Channel> channel"},
    ")",
    ListBreak::kAlignOrBreak};

const ListTemplate kStubCall = {"absl::Status $service$::Stub::$method$(",
                                {"const $request$& request", "$callback$ done",
                                 "const ::parley::CallOptions& options"},
                                ") {",
                                ListBreak::kAlignOrBreak};

const ListTemplate kStubCallBody = {
    "return $call$(",
    {"*channel_", "$info$", "request", "options", "std::move(done)"},
    ");",
    ListBreak::kAlignOrBreak};

const ListTemplate kStubBlockingCall = {
    "$result$ $service$::Stub::$method$Blocking(",
    {"const $request$& request", "const ::parley::CallOptions& options"},
    ") {",
    ListBreak::kAlignOrBreak};

const ListTemplate kMethodRow = {
    "{",
    {"&$info$", "&Invoke<Service, $request$, $reply$, &Service::$method$>"},
    "},",
    ListBreak::kAlignOrBreak};

// kMethodRow's second item on a line of its own.
const ListTemplate kMethodRowInvoke = {
    " &Invoke<",
    {"Service", "$request$", "$reply$", "&Service::$method$"},
    ">},",
    ListBreak::kAlignOrBreak};

// kMethodRow when its second item does not fit on a line of its own: the
// template arguments are aligned after `<` on the row's first line.
const ListTemplate kMethodRowAligned = {
    "{&$info$, &Invoke<",
    {"Service", "$request$", "$reply$", "&Service::$method$"},
    ">},",
    ListBreak::kAlignOrBreak};

const ListTemplate kDefaultMethod = {
    "void $service$::Service::$method$(",
    {"::parley::CallContext& /*context*/", "const $request$& /*request*/",
     "::parley::Responder<$reply$> responder"},
    ") {",
    ListBreak::kAlignOrBreak};

void PrintIncludes(const FileModel& file, Printer* printer) {
  printer->Print(file.vars, "\n#include \"$header$\"\n");
  if (file.services.empty()) return;
  printer->Print(
      "\n"
      "#include <memory>\n"
      "#include <utility>\n"
      "\n"
      "#include \"absl/status/status.h\"\n"
      "#include \"absl/status/statusor.h\"\n"
      "#include \"absl/strings/str_cat.h\"\n"
      "#include \"absl/strings/string_view.h\"\n"
      "#include \"absl/time/time.h\"\n"
      "#include \"absl/types/span.h\"\n"
      "#include \"parley/rpc.h\"\n");
}

void PrintMethodInfos(const ServiceModel& service, Printer* printer) {
  if (service.methods.empty()) return;
  printer->Print("\n");
  for (const MethodModel& method : service.methods) {
    PrintLines(printer, Layout(kMethodInfo, method.vars, 0));
  }
}

void PrintStubCalls(const MethodModel& method, Printer* printer) {
  printer->Print("\n");
  PrintLines(printer, Layout(kStubCall, method.vars, 0));
  printer->Indent();
  PrintLines(printer, Layout(kStubCallBody, method.vars, kBodyIndent));
  printer->Outdent();
  printer->Print("}\n\n");
  PrintLines(printer, Layout(kStubBlockingCall, method.vars, 0));
  printer->Indent();
  PrintLines(printer, FirstFitting({"using Result = $result$;\n",
                                    "using Result =\n    $result$;\n"},
                                   method.vars, kBodyIndent));
  printer->Print(method.vars,
                 "return ::parley::internal::Await<Result>(\n"
                 "    *channel_, [&](::parley::Callback<void(Result)> done) {\n"
                 "      return $method$(request, std::move(done), options);\n"
                 "    });\n");
  printer->Outdent();
  printer->Print("}\n");
}

void PrintStub(const ServiceModel& service, Printer* printer) {
  printer->Print("\n");
  PrintLines(printer, Layout(kStubConstructor, service.vars, 0));
  printer->Print("    : channel_(std::move(channel)) {}\n");
  for (const MethodModel& method : service.methods) {
    PrintStubCalls(method, printer);
  }
}

// One row of the method table: `{&kXMethod, &Invoke<...>},`, broken as
// clang-format does when it does not fit: after the first item if the
// second then fits on a line; else inside the template arguments, aligned
// after `<` on the first line if they fit there, else after the first item
// too.
void PrintMethodRow(const MethodModel& method, Printer* printer) {
  Lines row = Layout(kMethodRow, method.vars, kRowIndent);
  // LayoutList breaks after the brace; clang-format keeps the first item
  // there instead.
  if (row.front() == "{" || !Fits(row, kColumnLimit - kRowIndent)) {
    Lines invoke = Layout(kMethodRowInvoke, method.vars, kRowIndent);
    Lines aligned = Layout(kMethodRowAligned, method.vars, kRowIndent);
    if (invoke.size() > 1 && aligned.front().back() != '<') {
      row = std::move(aligned);
    } else {
      row = {Expand(method.vars, "{&$info$,")};
      row.insert(row.end(), invoke.begin(), invoke.end());
    }
  }
  PrintLines(printer, row);
}

void PrintMethodTable(const ServiceModel& service, Printer* printer) {
  printer->Print("\n");
  PrintLines(printer,
             FirstFitting({"absl::Span<const ::parley::MethodHandler> "
                           "$service$::Service::methods() const {\n",
                           "absl::Span<const ::parley::MethodHandler>\n"
                           "$service$::Service::methods() const {\n"},
                          service.vars, 0));
  printer->Indent();
  if (service.methods.empty()) {
    printer->Print("return {};\n");
  } else {
    printer->Print(
        "using ::parley::internal::Invoke;\n"
        "static const ::parley::MethodHandler kMethods[] = {\n");
    printer->Indent();
    printer->Indent();
    for (const MethodModel& method : service.methods) {
      PrintMethodRow(method, printer);
    }
    printer->Outdent();
    printer->Outdent();
    printer->Print(
        "};\n"
        "return kMethods;\n");
  }
  printer->Outdent();
  printer->Print("}\n");
}

void PrintService(const ServiceModel& service, Printer* printer) {
  printer->Print("\n");
  PrintLines(printer, FirstFitting({"absl::string_view "
                                    "$service$::Service::service_name() const "
                                    "{ return kServiceName; }\n",
                                    "absl::string_view "
                                    "$service$::Service::service_name() const "
                                    "{\n"
                                    "  return kServiceName;\n"
                                    "}\n",
                                    "absl::string_view\n"
                                    "$service$::Service::service_name() const "
                                    "{\n"
                                    "  return kServiceName;\n"
                                    "}\n"},
                                   service.vars, 0));
  PrintMethodTable(service, printer);
  for (const MethodModel& method : service.methods) {
    printer->Print("\n");
    PrintLines(printer, Layout(kDefaultMethod, method.vars, 0));
    printer->Indent();
    PrintLines(printer,
               FirstFitting({"responder.Fail(absl::UnimplementedError(\n"
                             "    absl::StrCat($info$.full_name, \" is not "
                             "implemented\")));\n",
                             "responder.Fail(absl::UnimplementedError("
                             "absl::StrCat(\n"
                             "    $info$.full_name, \" is not "
                             "implemented\")));\n"},
                            method.vars, kBodyIndent));
    printer->Outdent();
    printer->Print("}\n");
  }
}

}  // namespace

void WriteSource(const FileModel& file, Printer* printer) {
  PrintStamp(file, printer);
  PrintIncludes(file, printer);
  if (file.services.empty()) return;
  const bool has_namespace = !file.vars.at("namespace").empty();
  if (has_namespace) {
    printer->Print(file.vars, "\nnamespace $namespace$ {\n");
  }
  for (const ServiceModel& service : file.services) {
    PrintMethodInfos(service, printer);
    PrintStub(service, printer);
    PrintService(service, printer);
  }
  if (has_namespace) {
    printer->Print(file.vars, "\n}  // namespace $namespace$\n");
  }
}

}  // namespace parley::codegen
