#include "henbtrust/net/in_process_channel.h"

#include <strings.h>

namespace henbtrust {

PeerIdentity PeerIdentityOf(const Certificate& certificate) {
  PeerIdentity peer;
  peer.presented = true;
  peer.verified = true;
  peer.certificate_der = certificate.ToDer();
  peer.common_name = certificate.SubjectField("CN");
  peer.organization = certificate.SubjectField("O");
  peer.serial = certificate.SerialHex();
  return peer;
}

InProcessChannel::InProcessChannel(InProcessHandler handler, PeerIdentity peer)
    : handler_(std::move(handler)), peer_(std::move(peer)) {}

Result<HttpResponse> InProcessChannel::Request(
    const std::string& method, const std::string& target, const std::string& content_type,
    const std::string& body, const std::vector<std::pair<std::string, std::string>>& headers) {
  if (!reachable_) return Error(ErrorCode::kNet, "cannot reach the service (link cut)");
  HttpRequest request;
  request.method = method;
  request.target = target;
  request.content_type = content_type;
  request.body = body;
  request.peer = peer_;
  for (const auto& [name, value] : headers) {
    // The one request header a service reads (HttpRequest::range).
    if (strcasecmp(name.c_str(), "Range") == 0) request.range = value;
  }
  ++requests_;
  return handler_(request);
}

}  // namespace henbtrust
