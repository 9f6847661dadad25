#include "store/postgres/postgres_store.h"

namespace henbtrust::postgres {

Result<bool> PostgresStore::SpendNonce(ByteView nonce, int64_t expires_at) {
  HENB_ASSIGN_OR_RETURN(ResultPtr r,
                        Query("INSERT INTO spent_nonces (nonce, expires_at) VALUES ($1,$2) "
                              "ON CONFLICT DO NOTHING",
                              Params().Blob(nonce).Int(expires_at)));
  return std::string(PQcmdTuples(r.get())) == "1";
}

Result<int64_t> PostgresStore::PurgeSpentNonces(int64_t now) {
  HENB_ASSIGN_OR_RETURN(ResultPtr r,
                        Query("DELETE FROM spent_nonces WHERE expires_at < $1", Params().Int(now)));
  return IntText(PQcmdTuples(r.get()));
}

Result<int64_t> PostgresStore::RecordAppraisal(const AppraisalRecord& a) {
  HENB_ASSIGN_OR_RETURN(
      ResultPtr r,
      Query("WITH n AS (INSERT INTO spent_nonces (nonce, expires_at) SELECT $8::bytea, "
            "$9::bigint WHERE octet_length($8::bytea) > 0 ON CONFLICT DO NOTHING RETURNING 1), "
            "ok AS (SELECT 1 WHERE octet_length($8::bytea) = 0 OR EXISTS (SELECT 1 FROM n)), "
            "a AS (INSERT INTO appraisals (device_id, status, result, created_at) "
            "SELECT $1::text, $2::text, $3::text, $4::bigint FROM ok RETURNING id), "
            "u AS (UPDATE devices SET reset_count = $6::bigint, clock = $7::bigint "
            "WHERE $5::boolean AND EXISTS (SELECT 1 FROM ok) AND device_id = $1::text AND "
            "(reset_count < $6::bigint OR (reset_count = $6::bigint AND clock < $7::bigint))) "
            "SELECT id FROM a",
            Params()
                .Text(a.device_id)
                .Text(a.status)
                .Text(a.result)
                .Int(a.created_at)
                .Text(a.advance_clock ? "true" : "false")
                .Int(a.reset_count)
                .Int(static_cast<int64_t>(a.clock))
                .Blob(a.spent_nonce)
                .Int(a.nonce_expires_at)));
  if (PQntuples(r.get()) == 0) return Error(ErrorCode::kPolicyNonce, "nonce already used");
  return ColInt(r.get(), 0);
}

Result<std::optional<AppraisalRecord>> PostgresStore::LatestAppraisal(
    const std::string& device_id) {
  HENB_ASSIGN_OR_RETURN(ResultPtr r,
                        Query("SELECT id, device_id, status, result, created_at FROM appraisals "
                              "WHERE device_id = $1 ORDER BY id DESC LIMIT 1",
                              Params().Text(device_id)));
  if (PQntuples(r.get()) == 0) return std::optional<AppraisalRecord>();
  PGresult* p = r.get();
  return std::optional<AppraisalRecord>(
      AppraisalRecord{ColInt(p, 0), ColText(p, 1), ColText(p, 2), ColText(p, 3), ColInt(p, 4)});
}

Result<std::vector<AppraisalRecord>> PostgresStore::ListAppraisals(const std::string& device_id,
                                                                   int64_t after_id, int limit) {
  HENB_ASSIGN_OR_RETURN(
      ResultPtr r, device_id.empty()
                       ? Query("SELECT id, device_id, status, result, created_at FROM appraisals "
                               "WHERE id > $1 ORDER BY id LIMIT $2",
                               Params().Int(after_id).Int(limit))
                       : Query("SELECT id, device_id, status, result, created_at FROM appraisals "
                               "WHERE device_id = $3 AND id > $1 ORDER BY id LIMIT $2",
                               Params().Int(after_id).Int(limit).Text(device_id)));
  PGresult* p = r.get();
  std::vector<AppraisalRecord> out;
  out.reserve(static_cast<size_t>(PQntuples(p)));
  for (int i = 0; i < PQntuples(p); ++i) {
    out.push_back(AppraisalRecord{ColInt(p, 0, i), ColText(p, 1, i), ColText(p, 2, i),
                                  ColText(p, 3, i), ColInt(p, 4, i)});
  }
  return out;
}

}  // namespace henbtrust::postgres
