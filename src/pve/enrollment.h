// First contact (docs/design.md section 4, docs/pve.md): the PVE's side of
// enrollment by credential activation. Private to the PVE service.
#pragma once

#include <string>

#include "henbtrust/net/http.h"
#include "henbtrust/pve/service.h"
#include "henbtrust/store/store.h"

namespace henbtrust {

// What enrollment needs of the PVE; every reference outlives the call.
struct EnrollmentService {
  Store& store;
  const PveConfig& config;
  const std::string& client_ca_pem;
};

// The device certificate for `device` over its TLS key `key`, issued by the
// client CA at `now` (the PVE's clock, Unix seconds) for
// config.device_certificate_validity: what enrollment and renewal issue.
Result<Certificate> IssueDeviceCertificate(const PveConfig& config, const DeviceRecord& device,
                                           const PublicKey& key, int64_t now);

// The recovery image's certificate (role henbtrust-recovery, client only)
// for `device` over `key`, for config.recovery_certificate_validity.
Result<Certificate> IssueRecoveryCertificate(const PveConfig& config, const DeviceRecord& device,
                                             const PublicKey& key, int64_t now);

// POST /v1/enrollments: checks the request (EK certificate and profile, EK
// and AK, the claimed release) and answers 201 with the credential
// challenge and its sealed state (enrollment_token); stores nothing.
Result<HttpResponse> BeginEnrollment(const EnrollmentService& s, const HttpRequest& req);
// POST /v1/enrollments/{id}/activation: checks the token, the proof and the
// TLS key's signature, spends the challenge once, writes the device (one
// transaction with its audit entry) and issues its certificate.
Result<HttpResponse> FinishEnrollment(const EnrollmentService& s, const HttpRequest& req,
                                      const std::string& device_id);

}  // namespace henbtrust
