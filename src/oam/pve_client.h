// Private to oam/: what the OAM asks the PVE, through a PveLink, with the
// PVE's answers read by the PVE protocol's codecs. Every answer, however
// odd, comes back as a value or an Error: never an exception.
#pragma once

#include <optional>
#include <string>

#include "henbtrust/net/trust_vector.h"
#include "henbtrust/oam/oam.h"

namespace henbtrust {

// The PVE's latest appraisal of a device (GET /v1/devices/{id}/attestation-result).
struct LatestAppraisal {
  int64_t appraisal_id = 0;
  std::string status;  // "affirming", "warning", "contraindicated", ...
  int64_t appraised_at = 0;
  TrustVector vector = {};  // why
  Bytes tim = {};           // the quote's TIM (32 bytes); empty when it named none
  // hex SHA-256 of the ticket key the boot stage measured, as the PVE read
  // it from the boot stage's quote; empty without one.
  std::string ticket_key = {};
};

// The PVE's verdict on the evidence of a completion report (step 9).
struct UpdateVerdict {
  std::string status;
  std::string tim;           // hex, as the PVE computed it from the quote
  std::string detail;        // why, when not affirming
  int64_t appraisal_id = 0;  // the PVE's record of it (0 when it refused the evidence)
};

class PveClient {
 public:
  explicit PveClient(PveLink link) : link_(std::move(link)) {}

  // nullopt while the PVE has no appraisal (404); kNetStatus for another
  // status or an answer that is not one, with the PVE's words.
  Result<std::optional<LatestAppraisal>> Latest(const std::string& device_id);
  // POST /v1/devices/{id}/update-appraisals of `evidence` (JSON object text)
  // against release_id/version with the order's `nonce`. A 4xx other than
  // 422 means the evidence is unusable: as good as evidence that does not
  // verify, so it comes back as a contraindicated verdict. kNetStatus for
  // 5xx or an unreadable answer: asking again may help.
  Result<UpdateVerdict> AppraiseUpdate(const std::string& device_id, const std::string& evidence,
                                       const std::string& release_id, const std::string& version,
                                       ByteView nonce);
  // PUT /v1/devices/{id}/configuration; `which` names it in the error.
  Status SetConfiguration(const std::string& device_id, const std::string& release_id,
                          const std::string& version, const char* which);

 private:
  PveLink link_;
};

}  // namespace henbtrust
