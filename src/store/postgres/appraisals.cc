#include <algorithm>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

#include "store/postgres/postgres_store.h"

namespace henbtrust::postgres {

namespace {

// One statement: the nonce spent (unless the record has none), the record,
// and the device's clock moved forward (never back) when asked; nothing of
// it when the nonce was spent already (no row comes back).
constexpr char kWriteAppraisal[] =
    "WITH n AS (INSERT INTO spent_nonces (nonce, expires_at) SELECT $8::bytea, "
    "$9::bigint WHERE octet_length($8::bytea) > 0 ON CONFLICT DO NOTHING RETURNING 1), "
    "ok AS (SELECT 1 WHERE octet_length($8::bytea) = 0 OR EXISTS (SELECT 1 FROM n)), "
    "a AS (INSERT INTO appraisals (device_id, status, result, created_at) "
    "SELECT $1::text, $2::text, $3::text, $4::bigint FROM ok RETURNING id), "
    "u AS (UPDATE devices SET reset_count = $6::bigint, clock = $7::bigint "
    "WHERE $5::boolean AND EXISTS (SELECT 1 FROM ok) AND device_id = $1::text AND "
    "(reset_count < $6::bigint OR (reset_count = $6::bigint AND clock < $7::bigint))) "
    "SELECT id FROM a";
constexpr int kWriteAppraisalParams = 9;

Params AppraisalParams(const AppraisalRecord& a) {
  Params p;
  p.Text(a.device_id)
      .Text(a.status)
      .Text(a.result)
      .Int(a.created_at)
      .Text(a.advance_clock ? "true" : "false")
      .Int(a.reset_count)
      .Int(static_cast<int64_t>(a.clock))
      .Blob(a.spent_nonce)
      .Int(a.nonce_expires_at);
  return p;
}

}  // namespace

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
  Lease conn(this);
  return WriteAppraisal(conn.get(), a);
}

void PostgresStore::RecordAppraisalAsync(AppraisalRecord a, AppraisalDone done) {
  appraisals_.Add(std::move(a), std::move(done));
}

// The batch goes to the server as one pipeline (libpq's pipeline mode):
// every record's statement is sent before any answer is read, and the
// statements between two syncs are one implicit transaction, which commits
// at the sync. One round trip and one commit for the batch, where one
// statement at a time cost a round trip each.
//
// The statements go in the order of their devices (a device's own records
// in the order they came), so that two instances' batches lock the rows of
// devices and nonces in one order and cannot deadlock each other.
std::vector<Result<int64_t>> PostgresStore::CommitAppraisals(
    const std::vector<PendingAppraisal>& batch) {
  Lease lease(this);
  PGconn* c = lease.get();
  auto everyone = [&](const Error& e) { return std::vector<Result<int64_t>>(batch.size(), e); };
  auto failed = [&](const char* what) {
    return Error(ErrorCode::kStore, std::string("PostgreSQL: ") + what + ": " + PQerrorMessage(c));
  };
  // Left inside a transaction (a failed ROLLBACK): the batch would join it
  // and not commit at the sync. The session starts again instead.
  if (PQtransactionStatus(c) != PQTRANS_IDLE) {
    PQreset(c);
    prepared_.at(c).clear();
    if (PQtransactionStatus(c) != PQTRANS_IDLE) {
      return everyone(failed("the connection is not idle"));
    }
  }
  auto name = Prepared(c, kWriteAppraisal, kWriteAppraisalParams);
  if (!name.ok()) return everyone(name.error());
  std::vector<size_t> order(batch.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&batch](size_t a, size_t b) {
    return batch[a].record.device_id < batch[b].record.device_id;
  });
  if (PQenterPipelineMode(c) != 1) return everyone(failed("cannot enter pipeline mode"));
  bool sent = true;
  for (const size_t k : order) {
    const Params params = AppraisalParams(batch[k].record);
    const auto values = params.values();
    const auto lengths = params.lengths();
    if (PQsendQueryPrepared(c, (*name)->c_str(), params.count(), values.data(), lengths.data(),
                            params.formats().data(), 0) != 1) {
      sent = false;
      break;
    }
  }
  if (sent && PQpipelineSync(c) != 1) sent = false;

  std::vector<Result<int64_t>> results(batch.size(), Error(ErrorCode::kStore, "not written"));
  std::optional<Error> error;
  if (!sent) error = failed("cannot send a batch of appraisals");
  // Each statement's answer, then the end of its results (a null), then
  // the sync's.
  for (size_t i = 0; sent && i < order.size(); ++i) {
    const ResultPtr r(PQgetResult(c), PQclear);
    const auto status = PQresultStatus(r.get());
    if (status == PGRES_TUPLES_OK && PQntuples(r.get()) == 1) {
      results[order[i]] = ColInt(r.get(), 0);
    } else if (status == PGRES_TUPLES_OK) {
      results[order[i]] = Error(ErrorCode::kPolicyNonce, "nonce already used");
    } else if (!error) {
      // An error aborts the rest of the pipeline and rolls its transaction back.
      error = Error(ErrorCode::kStore, std::string("PostgreSQL: ") +
                                           (r ? PQresultErrorMessage(r.get()) : PQerrorMessage(c)));
    }
    if (r) PQclear(PQgetResult(c));  // the null after a statement's results
  }
  if (sent) {
    const ResultPtr sync(PQgetResult(c), PQclear);
    if (PQresultStatus(sync.get()) != PGRES_PIPELINE_SYNC && !error) {
      error = failed("the batch of appraisals did not end as sent");
    }
    // Idle after the sync: the implicit transaction has ended, committed
    // unless an error came before.
    if (PQtransactionStatus(c) != PQTRANS_IDLE && !error) {
      error = failed("the batch of appraisals is still in a transaction");
    }
  }
  if (PQexitPipelineMode(c) != 1) {
    // Answers left unread: this connection's session starts again.
    if (!error) error = failed("cannot leave pipeline mode");
    PQreset(c);
    prepared_.at(c).clear();
  }
  if (error) return everyone(*error);
  return results;
}

Result<int64_t> PostgresStore::WriteAppraisal(PGconn* c, const AppraisalRecord& a) {
  HENB_ASSIGN_OR_RETURN(ResultPtr r, QueryOn(c, kWriteAppraisal, AppraisalParams(a)));
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
