// The PVE's (and later the OAM's) durable state behind one interface, with
// two backends that pass one test suite: SQLite (embedded default: one file,
// WAL, no set-up) and PostgreSQL (several service instances on one
// database). Every method is one transaction; implementations are safe to
// call from several threads.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "henbtrust/core/bytes.h"

namespace henbtrust {

// An enrolled H(e)NB.
struct DeviceRecord {
  std::string device_id;
  std::string hardware_model;
  Bytes ek_public;              // TPM2B_PUBLIC
  Bytes ek_certificate;         // DER; empty for a soft TrE enrolled by an operator
  Bytes ak_public;              // TPM2B_PUBLIC
  std::string release_id;       // the recorded configuration: release id ...
  std::string release_version;  // ... and version
  std::string state;            // e.g. "enrolled", "quarantined"
  uint32_t reset_count = 0;     // last TPM clock info seen (must not go backwards)
  uint64_t clock = 0;
  int64_t updated_at = 0;
  std::string agent_address;  // "host:port" of the device agent, for pull appraisal; may be empty
};

// An enrollment waiting for the device's proof of credential activation.
struct EnrollmentRecord {
  std::string device_id;
  Bytes secret_digest;  // SHA-256 of the secret protected with MakeCredential
  std::string request;  // the enrollment request as received (JSON)
  int64_t expires_at = 0;
};

// A vendor-signed release manifest the PVE appraises against.
struct ManifestRecord {
  std::string release_id;
  std::string version;
  Bytes manifest;              // canonical bytes (release/manifest.h)
  std::string revoked_reason;  // empty: not revoked
};

struct AppraisalRecord {
  int64_t id = 0;
  std::string device_id;
  std::string status;  // affirming / warning / contraindicated
  std::string result;  // the signed attestation result
  int64_t created_at = 0;
  // When not empty, this nonce is spent in the same transaction; if it was
  // spent before, nothing is recorded and kPolicyNonce comes back.
  Bytes spent_nonce = {};
  int64_t nonce_expires_at = 0;  // the spent nonce is remembered until then
  // With a verified quote: the device's last seen TPM clock moves forward to
  // (reset_count, clock), in the same transaction; it never moves back.
  bool advance_clock = false;
  uint32_t reset_count = 0;
  uint64_t clock = 0;
};

class Store {
 public:
  virtual ~Store() = default;
  virtual std::string Backend() const = 0;

  virtual Status PutDevice(const DeviceRecord& device) = 0;  // insert or replace
  virtual Result<std::optional<DeviceRecord>> GetDevice(const std::string& device_id) = 0;

  virtual Status PutManifest(const ManifestRecord& manifest) = 0;  // insert or replace
  virtual Result<std::optional<ManifestRecord>> GetManifest(const std::string& release_id,
                                                            const std::string& version) = 0;
  // kNotFound if no such manifest.
  virtual Status RevokeRelease(const std::string& release_id, const std::string& version,
                               const std::string& reason) = 0;

  // Nonces are issued without the store (the PVE authenticates them) and
  // spent here, single use across every process sharing the store: true the
  // first time, false ever after (until it expires and is purged).
  virtual Result<bool> SpendNonce(ByteView nonce, int64_t expires_at) = 0;
  // Forgets spent nonces that expired before `now`; returns how many.
  virtual Result<int64_t> PurgeSpentNonces(int64_t now) = 0;

  // One pending enrollment per device; a new one replaces the old.
  virtual Status PutEnrollment(const EnrollmentRecord& enrollment) = 0;
  // Removes the device's pending enrollment and returns it if unexpired: one
  // attempt per challenge, across every process sharing the store.
  virtual Result<std::optional<EnrollmentRecord>> TakeEnrollment(const std::string& device_id,
                                                                 int64_t now) = 0;

  // Returns the new record's id; see AppraisalRecord for the nonce and clock.
  virtual Result<int64_t> RecordAppraisal(const AppraisalRecord& appraisal) = 0;
  virtual Result<std::optional<AppraisalRecord>> LatestAppraisal(const std::string& device_id) = 0;
};

// `path` is created if absent. Schema migrations are applied on open.
Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path);
// `conninfo` in libpq syntax, e.g. "host=127.0.0.1 port=5432 user=henb dbname=henb";
// `connections` is the size of the connection pool that callers share.
Result<std::unique_ptr<Store>> OpenPostgresStore(const std::string& conninfo, int connections = 4);
// "sqlite:PATH" (or a bare path) or "postgres:CONNINFO" / "postgresql://..." URI.
Result<std::unique_ptr<Store>> OpenStore(const std::string& location);

}  // namespace henbtrust
