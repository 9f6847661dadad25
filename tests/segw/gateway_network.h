// The gateway test's network (docs/segw.md): a network namespace for the
// security gateway and one per H(e)NB, each H(e)NB joined to the gateway by
// a veth pair, and a real strongSwan charon in each, configured from the
// templates in deploy/strongswan. Made and removed by the test (root only).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "support/test_support.h"

namespace henbtrust::testing {

// Why this machine cannot run the gateway test ("" when it can): not root,
// no `ip`, no charon or swanctl, or no network namespaces.
std::string GatewayTestUnavailable();

// Link i (1-based): gateway 10.77.i.1/30, H(e)NB 10.77.i.2/30. The gateway's
// side of the core network is 10.250.0.1/32; H(e)NBs get inner addresses
// from 10.251.0.0/24.
inline constexpr const char* kCoreAddress = "10.250.0.1";
std::string GatewayAddress(int link);

// A strongSwan charon in a namespace, with its own strongswan.conf, vici
// socket, log and swanctl directory under `dir`; stopped on destruction.
class Charon {
 public:
  // `swanctl_conf` is the rendered configuration; `files` are copied into
  // the swanctl directory as {relative path, contents}.
  Charon(std::string netns, std::string dir, const std::string& swanctl_conf,
         const std::vector<std::pair<std::string, std::string>>& files);
  ~Charon();
  Charon(const Charon&) = delete;
  Charon& operator=(const Charon&) = delete;

  // Starts charon and loads the configuration; "" or what went wrong.
  std::string Start();
  // swanctl `args` against this charon.
  CommandResult Swanctl(const std::string& args) const;
  // The IKE_SAs this charon holds, as `swanctl --list-sas` prints them.
  std::string Sas() const;
  std::string Log() const;
  const std::string& dir() const { return dir_; }
  std::string vici_uri() const { return "unix://" + dir_ + "/charon.vici"; }

 private:
  std::string netns_;
  std::string dir_;
  std::unique_ptr<Background> process_;
};

class GatewayNetwork {
 public:
  // Namespaces for the gateway and `henbs` H(e)NBs, named after this
  // process (stale ones of dead processes are removed first).
  explicit GatewayNetwork(int henbs);
  ~GatewayNetwork();
  GatewayNetwork(const GatewayNetwork&) = delete;
  GatewayNetwork& operator=(const GatewayNetwork&) = delete;

  const std::string& error() const { return error_; }
  // Moves the calling thread into the gateway's namespace: the threads and
  // sockets it makes afterwards (the server under test) live there.
  std::string EnterGateway();

  const std::string& gateway_ns() const { return gateway_ns_; }
  const std::string& henb_ns(int link) const { return henb_ns_.at(link - 1); }

  // Renders deploy/strongswan/NAME.in with `values` ({"DIR", "..."} for @DIR@).
  static std::string Render(const std::string& name,
                            const std::vector<std::pair<std::string, std::string>>& values);

 private:
  std::string gateway_ns_;
  std::vector<std::string> henb_ns_;
  std::string error_;
  int root_ns_fd_ = -1;
};

}  // namespace henbtrust::testing
