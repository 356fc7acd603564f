// The services one Client or Server hosts, looked up by full method name.
//
//   rpc::ServiceRegistry registry;
//   PARLEY_RETURN_IF_ERROR(registry.Add(&echo_service));
//   const rpc::ServiceRegistry::Entry* e = registry.Find("echo.Echo/Shout");
//
// Thread safety: Add() before the registry is shared; Find() is then safe
// from any thread (the registry no longer changes).
#ifndef PARLEY_RUNTIME_RPC_REGISTRY_H_
#define PARLEY_RUNTIME_RPC_REGISTRY_H_

#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "parley/rpc.h"

namespace parley::rpc {

class ServiceRegistry {
 public:
  struct Entry {
    Service* service;
    const MethodHandler* handler;
  };

  // Registers every method of `service`, which must outlive the registry.
  // AlreadyExists when a service of that name is registered already;
  // InvalidArgument for a malformed method name.
  absl::Status Add(Service* service);

  // The handler of "pkg.Service/Method", or nullptr.
  const Entry* Find(absl::string_view full_name) const;

 private:
  absl::flat_hash_map<std::string, Entry> methods_;
  absl::flat_hash_map<std::string, Service*> services_;
};

}  // namespace parley::rpc

#endif  // PARLEY_RUNTIME_RPC_REGISTRY_H_
