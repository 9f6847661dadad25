// Signed checkpoints of the audit log's head (SQLite): truncation and a
// rewritten, recomputed chain are detected; the hash chain alone misses both.
#include "henbtrust/store/audit_anchor.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <memory>
#include <string>
#include <vector>

#include "henbtrust/core/file.h"
#include "support/test_support.h"

namespace henbtrust {
namespace {

AuditEntry Entry(int i) {
  return AuditEntry{0, 100 + i, "oam", "job:1", "event " + std::to_string(i), "detail", {}, {}};
}

// Tampering the way the database's owner could: SQL on the file, beside the
// store's own connection.
class Db {
 public:
  explicit Db(const std::string& path) {
    EXPECT_EQ(sqlite3_open(path.c_str(), &db_), SQLITE_OK);
    sqlite3_busy_timeout(db_, 5000);
  }
  ~Db() { sqlite3_close(db_); }
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  void Exec(const std::string& sql) {
    char* err = nullptr;
    EXPECT_EQ(sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK)
        << (err != nullptr ? err : "");
    sqlite3_free(err);
  }
  // Writes `e`'s detail, prev_hash and hash over the row of its seq.
  void Update(const AuditEntry& e) {
    sqlite3_stmt* s = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db_,
                                 "UPDATE audit SET detail = ?, prev_hash = ?, hash = ? "
                                 "WHERE seq = ?",
                                 -1, &s, nullptr),
              SQLITE_OK);
    sqlite3_bind_text(s, 1, e.detail.data(), static_cast<int>(e.detail.size()), SQLITE_TRANSIENT);
    sqlite3_bind_blob(s, 2, e.prev_hash.data(), static_cast<int>(e.prev_hash.size()),
                      SQLITE_TRANSIENT);
    sqlite3_bind_blob(s, 3, e.hash.data(), static_cast<int>(e.hash.size()), SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 4, e.seq);
    EXPECT_EQ(sqlite3_step(s), SQLITE_DONE);
    EXPECT_EQ(sqlite3_changes(db_), 1);
    sqlite3_finalize(s);
  }

 private:
  sqlite3* db_ = nullptr;
};

class AuditAnchorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = OpenSqliteStore(db_path_);
    ASSERT_TRUE(s.ok()) << s.error().ToString();
    store_ = std::move(s).value();
    auto k = PrivateKey::Generate(KeyType::kEcP256);
    ASSERT_TRUE(k.ok());
    key_ = std::make_unique<PrivateKey>(*k);
    pub_ = std::make_unique<PublicKey>(k->Public());
  }

  void Append(int n) {
    for (int i = 0; i < n; ++i) ASSERT_TRUE(store_->AppendAudit(Entry(next_++)).ok());
  }

  AuditAnchor OpenAnchor() {
    auto a = AuditAnchor::Open(anchor_path_, *key_);
    EXPECT_TRUE(a.ok()) << a.error().ToString();
    return std::move(a).value();
  }

  AuditCheckpoint Checkpoint() {
    auto c = LoadAuditCheckpoint(anchor_path_);
    EXPECT_TRUE(c.ok() && c->has_value());
    return c.ok() && c->has_value() ? **c : AuditCheckpoint{};
  }

  // Changes entry `seq`'s detail and recomputes the hash of it and of every
  // entry after it: a chain that verifies on its own.
  void RewriteFrom(int64_t seq) {
    auto entries = store_->ListAudit(0, 1000);
    ASSERT_TRUE(entries.ok());
    Db db(db_path_);
    Bytes prev(32, 0);
    for (AuditEntry e : *entries) {
      if (e.seq == seq) e.detail = "rewritten";
      if (e.seq >= seq) {
        e.prev_hash = prev;
        e.hash = AuditHash(prev, e);
        db.Update(e);
      }
      prev = e.hash;
    }
  }

  testing::TempDir dir_;
  const std::string db_path_ = dir_.File("henbtrust.db");
  const std::string anchor_path_ = dir_.File("audit.anchor");
  std::unique_ptr<Store> store_;
  std::unique_ptr<PrivateKey> key_;
  std::unique_ptr<PublicKey> pub_;
  int next_ = 1;
};

// (a) A clean chain with its anchor verifies; entries appended after the
// checkpoint verify too and are anchored at the next Advance.
TEST_F(AuditAnchorTest, ACleanChainVerifiesAgainstItsCheckpoint) {
  AuditAnchor anchor = OpenAnchor();
  ASSERT_TRUE(anchor.Advance(*store_).ok());  // nothing to anchor yet
  EXPECT_FALSE(anchor.Latest().has_value());
  EXPECT_FALSE(LoadAuditCheckpoint(anchor_path_)->has_value());

  Append(5);
  auto st = anchor.Advance(*store_);
  ASSERT_TRUE(st.ok()) << st.error().ToString();
  AuditCheckpoint c = Checkpoint();
  EXPECT_EQ(c.seq, 5);
  EXPECT_EQ(c.hash, (*store_->ListAudit(4, 1))[0].hash);
  EXPECT_TRUE(VerifyAuditCheckpoint(c, *pub_).ok());
  auto n = VerifyAuditChain(*store_, &c, pub_.get());
  ASSERT_TRUE(n.ok()) << n.error().ToString();
  EXPECT_EQ(*n, 5);

  Append(2);
  n = VerifyAuditChain(*store_, &c, pub_.get());
  ASSERT_TRUE(n.ok()) << n.error().ToString();
  EXPECT_EQ(*n, 7);
  ASSERT_TRUE(anchor.Advance(*store_).ok());
  EXPECT_EQ(Checkpoint().seq, 7);
  EXPECT_EQ(anchor.Latest()->seq, 7);

  // An unchanged head is not signed again.
  const std::string before = *ReadTextFile(anchor_path_);
  ASSERT_TRUE(anchor.Advance(*store_).ok());
  EXPECT_EQ(*ReadTextFile(anchor_path_), before);
  // A new process takes the file's checkpoint over.
  AuditAnchor reopened = OpenAnchor();
  EXPECT_EQ(reopened.Latest()->seq, 7);
  ASSERT_TRUE(reopened.Advance(*store_).ok());
}

// (b) Deleting the newest entries leaves a chain that verifies on its own
// (the old check passes) but not against the checkpoint.
TEST_F(AuditAnchorTest, DeletingTheNewestEntriesIsDetected) {
  Append(6);
  AuditAnchor anchor = OpenAnchor();
  ASSERT_TRUE(anchor.Advance(*store_).ok());
  AuditCheckpoint c = Checkpoint();
  ASSERT_EQ(c.seq, 6);

  Db(db_path_).Exec("DELETE FROM audit WHERE seq > 4");

  auto unanchored = VerifyAuditChain(*store_);  // the chain alone: not detected
  ASSERT_TRUE(unanchored.ok()) << unanchored.error().ToString();
  EXPECT_EQ(*unanchored, 4);

  auto n = VerifyAuditChain(*store_, &c, pub_.get());
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.error().code(), ErrorCode::kStoreAuditBroken);
  EXPECT_NE(n.error().message().find("entries after 4 are missing: the log was truncated"),
            std::string::npos)
      << n.error().message();
  auto advanced = anchor.Advance(*store_);
  ASSERT_FALSE(advanced.ok());
  EXPECT_EQ(advanced.error().code(), ErrorCode::kStoreAuditBroken);
  EXPECT_NE(advanced.error().message().find("truncated"), std::string::npos);

  // New entries in the place of the deleted ones do not hide it.
  Append(3);
  ASSERT_TRUE(VerifyAuditChain(*store_).ok());
  n = VerifyAuditChain(*store_, &c, pub_.get());
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.error().code(), ErrorCode::kStoreAuditBroken);
  EXPECT_NE(n.error().message().find("audit entry 6 does not match its checkpoint"),
            std::string::npos)
      << n.error().message();
  EXPECT_FALSE(anchor.Advance(*store_).ok());
  EXPECT_EQ(Checkpoint().seq, 6);  // the file still names the real head
}

// (c) An entry's detail changed and every hash from it on recomputed.
TEST_F(AuditAnchorTest, ARewrittenRecomputedChainIsDetected) {
  Append(5);
  AuditAnchor anchor = OpenAnchor();
  ASSERT_TRUE(anchor.Advance(*store_).ok());
  AuditCheckpoint c = Checkpoint();

  RewriteFrom(2);
  EXPECT_EQ((*store_->ListAudit(1, 1))[0].detail, "rewritten");
  ASSERT_TRUE(VerifyAuditChain(*store_).ok());  // the chain alone: not detected

  auto n = VerifyAuditChain(*store_, &c, pub_.get());
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.error().code(), ErrorCode::kStoreAuditBroken);
  EXPECT_NE(n.error().message().find("audit entry 5 does not match its checkpoint: the log was "
                                     "rewritten"),
            std::string::npos)
      << n.error().message();
}

// (d) Checkpoints that are not the audit key's are refused.
TEST_F(AuditAnchorTest, ACheckpointWithABadSignatureOrAnotherKeyIsRefused) {
  Append(3);
  AuditAnchor anchor = OpenAnchor();
  ASSERT_TRUE(anchor.Advance(*store_).ok());
  const AuditCheckpoint good = Checkpoint();

  AuditCheckpoint flipped = good;
  flipped.signature[flipped.signature.size() / 2] ^= 1;
  auto n = VerifyAuditChain(*store_, &flipped, pub_.get());
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.error().code(), ErrorCode::kCryptoBadSignature);

  AuditCheckpoint moved = good;  // a signed checkpoint claiming an older head
  moved.seq = 2;
  moved.hash = (*store_->ListAudit(1, 1))[0].hash;
  EXPECT_EQ(VerifyAuditChain(*store_, &moved, pub_.get()).error().code(),
            ErrorCode::kCryptoBadSignature);

  // The database's owner signs a checkpoint of a rewritten chain with a key of their own.
  RewriteFrom(1);
  auto other = PrivateKey::Generate(KeyType::kEcP256);
  ASSERT_TRUE(other.ok());
  const AuditEntry head = (*store_->ListAudit(2, 1))[0];
  auto forged = SignAuditCheckpoint(head.seq, head.hash, good.at, *other);
  ASSERT_TRUE(forged.ok());
  const PublicKey other_pub = other->Public();
  EXPECT_TRUE(VerifyAuditChain(*store_, &*forged, &other_pub).ok());
  EXPECT_EQ(VerifyAuditChain(*store_, &*forged, pub_.get()).error().code(),
            ErrorCode::kCryptoBadSignature);
  EXPECT_EQ(VerifyAuditChain(*store_, &*forged, nullptr).error().code(),
            ErrorCode::kInvalidArgument);

  // ... and writes it to the anchor file: the service refuses it.
  ASSERT_TRUE(WriteFileAtomic(anchor_path_, AsBytes(EncodeAuditCheckpoint(*forged))).ok());
  auto reopened = AuditAnchor::Open(anchor_path_, *key_);
  ASSERT_FALSE(reopened.ok());
  EXPECT_EQ(reopened.error().code(), ErrorCode::kCryptoBadSignature);
  auto advanced = anchor.Advance(*store_);  // a running one too
  ASSERT_FALSE(advanced.ok());
  EXPECT_EQ(advanced.error().code(), ErrorCode::kCryptoBadSignature);
}

// (e) Advance never signs a chain that does not extend its checkpoint.
TEST_F(AuditAnchorTest, AdvanceRefusesAChainRewrittenBelowItsHead) {
  Append(5);
  AuditAnchor anchor = OpenAnchor();
  ASSERT_TRUE(anchor.Advance(*store_).ok());
  const std::string before = *ReadTextFile(anchor_path_);

  RewriteFrom(3);
  Append(2);  // the store chains new entries onto the rewritten ones
  ASSERT_TRUE(VerifyAuditChain(*store_).ok());
  auto st = anchor.Advance(*store_);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), ErrorCode::kStoreAuditBroken);
  EXPECT_NE(st.error().message().find("rewritten"), std::string::npos) << st.error().message();
  EXPECT_EQ(*ReadTextFile(anchor_path_), before);
  EXPECT_EQ(anchor.Latest()->seq, 5);
  // Nor does a fresh process on the same file.
  EXPECT_EQ(OpenAnchor().Advance(*store_).error().code(), ErrorCode::kStoreAuditBroken);
}

// An entry broken above the anchored head (the chain itself) is not anchored either.
TEST_F(AuditAnchorTest, AdvanceRefusesABrokenEntryAboveItsHead) {
  Append(3);
  AuditAnchor anchor = OpenAnchor();
  ASSERT_TRUE(anchor.Advance(*store_).ok());
  Append(2);
  Db(db_path_).Exec("UPDATE audit SET detail = 'edited' WHERE seq = 5");
  auto st = anchor.Advance(*store_);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), ErrorCode::kStoreAuditBroken);
  EXPECT_EQ(Checkpoint().seq, 3);
}

// Two processes on one anchor file of one chain: neither moves the file back.
TEST_F(AuditAnchorTest, TwoAnchorsOnOneFileTakeEachOthersHeadOver) {
  AuditAnchor a = OpenAnchor();
  AuditAnchor b = OpenAnchor();
  Append(3);
  ASSERT_TRUE(a.Advance(*store_).ok());
  Append(2);
  ASSERT_TRUE(b.Advance(*store_).ok());
  EXPECT_EQ(Checkpoint().seq, 5);
  EXPECT_EQ(a.Latest()->seq, 3);
  ASSERT_TRUE(a.Advance(*store_).ok());
  EXPECT_EQ(a.Latest()->seq, 5);
  EXPECT_EQ(Checkpoint().seq, 5);
  // A truncation below the head B anchored is seen by A, which had anchored
  // only up to the truncated place itself.
  Append(1);
  ASSERT_TRUE(b.Advance(*store_).ok());
  EXPECT_EQ(a.Latest()->seq, 5);
  Db(db_path_).Exec("DELETE FROM audit WHERE seq > 5");
  EXPECT_EQ(a.Advance(*store_).error().code(), ErrorCode::kStoreAuditBroken);
  EXPECT_EQ(Checkpoint().seq, 6);
}

TEST(AuditCheckpointText, RoundTripsAndIsStrict) {
  auto key = PrivateKey::Generate(KeyType::kEcP256);
  ASSERT_TRUE(key.ok());
  auto c = SignAuditCheckpoint(42, Bytes(32, 0xab), 1'800'000'000, *key);
  ASSERT_TRUE(c.ok());
  const std::string text = EncodeAuditCheckpoint(*c);
  EXPECT_EQ(text.rfind("henbtrust audit checkpoint v1\nseq 42\nhash abab", 0), 0u) << text;
  auto back = DecodeAuditCheckpoint(text);
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_EQ(back->seq, 42);
  EXPECT_EQ(back->hash, c->hash);
  EXPECT_EQ(back->at, c->at);
  EXPECT_EQ(back->signature, c->signature);
  EXPECT_TRUE(VerifyAuditCheckpoint(*back, key->Public()).ok());
  EXPECT_EQ(AuditCheckpointTime(*back), "2027-01-15T08:00:00Z");

  for (const std::string& bad :
       {std::string(""), text.substr(0, text.size() - 1), text + "x\n",
        "henbtrust audit checkpoint v2" + text.substr(text.find('\n')),
        "henbtrust audit checkpoint v1\nseq 042" + text.substr(text.find("\nhash")),
        "henbtrust audit checkpoint v1\nseq 0" + text.substr(text.find("\nhash"))}) {
    EXPECT_FALSE(DecodeAuditCheckpoint(bad).ok()) << bad;
  }
  // The signed message is domain-separated and covers every field.
  EXPECT_EQ(ToString(AuditCheckpointMessage(1, Bytes(32, 0), 2))
                .rfind(std::string("henbtrust audit checkpoint v1") + '\0', 0),
            0u);
  EXPECT_NE(AuditCheckpointMessage(1, Bytes(32, 0), 2), AuditCheckpointMessage(1, Bytes(32, 0), 3));
  auto p384 = PrivateKey::Generate(KeyType::kEcP384);
  ASSERT_TRUE(p384.ok());
  EXPECT_EQ(SignAuditCheckpoint(1, Bytes(32, 0), 2, *p384).error().code(),
            ErrorCode::kCryptoBadKey);
}

TEST(AuditKey, IsCreatedPrivateAndNeverReplaced) {
  testing::TempDir dir;
  ASSERT_TRUE(CreateAuditKey(dir.path()).ok());
  struct stat st {};
  ASSERT_EQ(::stat(dir.File("audit.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto key = LoadAuditKey(dir.path());
  ASSERT_TRUE(key.ok()) << key.error().ToString();
  auto pub = PublicKey::FromPem(*ReadTextFile(dir.File("audit.pub")));
  ASSERT_TRUE(pub.ok());
  EXPECT_EQ(pub->ToDer(), key->Public().ToDer());
  EXPECT_EQ(CreateAuditKey(dir.path()).error().code(), ErrorCode::kInvalidArgument);

  // An older directory without a key gets one when its anchor is opened.
  testing::TempDir old;
  bool created = false;
  auto anchor = OpenDirectoryAuditAnchor(old.path(), &created);
  ASSERT_TRUE(anchor.ok()) << anchor.error().ToString();
  EXPECT_TRUE(created);
  EXPECT_TRUE(LoadAuditKey(old.path()).ok());
  ASSERT_TRUE(OpenDirectoryAuditAnchor(old.path(), &created).ok());
  EXPECT_FALSE(created);
}

}  // namespace
}  // namespace henbtrust
