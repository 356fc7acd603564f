#include "runtime/rpc/registry.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "runtime/wire/codec.h"

namespace parley::rpc {

absl::Status ServiceRegistry::Add(Service* service) {
  std::string name(service->service_name());
  if (services_.contains(name)) {
    return absl::AlreadyExistsError(
        absl::StrCat("service ", name, " is registered already"));
  }
  for (const MethodHandler& handler : service->methods()) {
    absl::string_view full_name = handler.info->full_name;
    if (!wire::IsValidMethodName(full_name) ||
        !absl::StartsWith(full_name, absl::StrCat(name, "/"))) {
      return absl::InvalidArgumentError(
          absl::StrCat("service ", name, " has a malformed method name \"",
                       full_name, "\""));
    }
  }
  services_.emplace(name, service);
  for (const MethodHandler& handler : service->methods()) {
    methods_.emplace(handler.info->full_name, Entry{service, &handler});
  }
  return absl::OkStatus();
}

const ServiceRegistry::Entry* ServiceRegistry::Find(
    absl::string_view full_name) const {
  auto it = methods_.find(full_name);
  return it == methods_.end() ? nullptr : &it->second;
}

}  // namespace parley::rpc
