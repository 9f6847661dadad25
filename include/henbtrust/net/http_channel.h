// The one interface through which a device's agents speak to the OAM and the
// PVE: HTTPS (HttpClient, net/http.h) for a real device, or the services'
// handlers called in the same process (InProcessChannel,
// net/in_process_channel.h) for the fleet simulator at scale. The agents see
// no difference: a request, and an answer or an Error when there was none.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "henbtrust/core/result.h"

namespace henbtrust {

struct HttpResponse;  // net/http.h

class HttpChannel {
 public:
  virtual ~HttpChannel() = default;

  // Any HTTP status is a successful exchange; an Error means there was none
  // (kNet, kNetTls, kNetTimeout, kNetTooLarge). `headers` are sent as well
  // (Range, say); the answer's Content-Range and Allow, if any, come back
  // in HttpResponse::headers. Not thread-safe: one caller at a time.
  virtual Result<HttpResponse> Request(
      const std::string& method, const std::string& target,
      const std::string& content_type = "application/json", const std::string& body = {},
      const std::vector<std::pair<std::string, std::string>>& headers = {}) = 0;
};

}  // namespace henbtrust
