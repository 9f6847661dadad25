// A simulated device's link as the scenario runner controls it: each request
// first asks the gate, which fails it as a connection that cannot be made
// would (the device has no power, the service it is for is down), and
// otherwise goes on to the channel underneath: the services' handlers in
// this process, or an HTTPS client.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "henbtrust/core/result.h"
#include "henbtrust/net/http.h"
#include "henbtrust/net/http_channel.h"

namespace henbtrust::sim {

class GatedChannel final : public HttpChannel {
 public:
  // OkStatus to let the request through; an Error (kNet) to fail it unsent.
  using Gate = std::function<Status(const std::string& target)>;

  GatedChannel(std::unique_ptr<HttpChannel> inner, Gate gate)
      : inner_(std::move(inner)), gate_(std::move(gate)) {}

  Result<HttpResponse> Request(
      const std::string& method, const std::string& target,
      const std::string& content_type = "application/json", const std::string& body = {},
      const std::vector<std::pair<std::string, std::string>>& headers = {}) override {
    HENB_TRY(gate_(target));
    return inner_->Request(method, target, content_type, body, headers);
  }

 private:
  std::unique_ptr<HttpChannel> inner_;
  Gate gate_;
};

}  // namespace henbtrust::sim
