#include "sim/packed_dir.h"

#include <zlib.h>

#include <string_view>

namespace henbtrust::sim {

namespace {

// The record, before it is deflated: one entry after the other,
//   kind (1 byte: 'D' directory, 'F' file with its contents written out,
//         'S' file whose contents are PackedDir::shared[index])
//   path length (varint), path
//   files: mode (varint), then the length (varint) and bytes of the
//          contents ('F') or their index (varint, 'S').
constexpr char kDir = 'D';
constexpr char kInline = 'F';
constexpr char kShared = 'S';

// 8 KiB of window: a device's record and the dictionary (another device's)
// both fit, so that all of the dictionary can be matched.
constexpr int kWindowBits = 13;
constexpr int kMemLevel = 6;

void PutVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}

Error Corrupt(const std::string& what) {
  return Error(ErrorCode::kMalformed, "packed directory: " + what);
}

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool done() const { return pos_ == in_.size(); }
  Result<char> Byte() {
    if (pos_ >= in_.size()) return Corrupt("record cut short");
    return in_[pos_++];
  }
  Result<uint64_t> Varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      HENB_ASSIGN_OR_RETURN(char c, Byte());
      const auto b = static_cast<uint8_t>(c);
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return v;
    }
    return Corrupt("varint too long");
  }
  Result<std::string> Text() {
    HENB_ASSIGN_OR_RETURN(uint64_t n, Varint());
    if (n > in_.size() - pos_) return Corrupt("record cut short");
    std::string s(in_.substr(pos_, n));
    pos_ += n;
    return s;
  }

 private:
  std::string_view in_;
  size_t pos_ = 0;
};

struct Deflater {
  z_stream z{};
  bool ok = false;
  Deflater() {
    ok = deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, kWindowBits, kMemLevel, Z_DEFAULT_STRATEGY) ==
         Z_OK;
  }
  ~Deflater() {
    if (ok) deflateEnd(&z);
  }
  Deflater(const Deflater&) = delete;
  Deflater& operator=(const Deflater&) = delete;
};

struct Inflater {
  z_stream z{};
  bool ok = false;
  Inflater() { ok = inflateInit2(&z, kWindowBits) == Z_OK; }
  ~Inflater() {
    if (ok) inflateEnd(&z);
  }
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;
};

Bytef* In(std::string_view s) {
  // zlib's input is not const in its API; it does not write to it.
  return reinterpret_cast<Bytef*>(const_cast<char*>(s.data()));
}

Result<std::string> DeflateWith(const std::string& dictionary, const std::string& raw) {
  Deflater d;
  if (!d.ok) return Error(ErrorCode::kInternal, "zlib: cannot set up deflate");
  if (!dictionary.empty() &&
      deflateSetDictionary(&d.z, In(dictionary), static_cast<uInt>(dictionary.size())) != Z_OK) {
    return Error(ErrorCode::kInternal, "zlib: cannot set the dictionary");
  }
  std::string out(deflateBound(&d.z, raw.size()), '\0');
  d.z.next_in = In(raw);
  d.z.avail_in = static_cast<uInt>(raw.size());
  d.z.next_out = reinterpret_cast<Bytef*>(out.data());
  d.z.avail_out = static_cast<uInt>(out.size());
  if (deflate(&d.z, Z_FINISH) != Z_STREAM_END) return Error(ErrorCode::kInternal, "zlib: deflate");
  out.resize(d.z.total_out);
  out.shrink_to_fit();
  return out;
}

Result<std::string> InflateWith(const std::string& dictionary, const std::string& deflated) {
  Inflater f;
  if (!f.ok) return Error(ErrorCode::kInternal, "zlib: cannot set up inflate");
  f.z.next_in = In(deflated);
  f.z.avail_in = static_cast<uInt>(deflated.size());
  std::string out;
  char buf[4096];
  for (;;) {
    f.z.next_out = reinterpret_cast<Bytef*>(buf);
    f.z.avail_out = sizeof buf;
    int rc = inflate(&f.z, Z_NO_FLUSH);
    if (rc == Z_NEED_DICT) {
      if (dictionary.empty() ||
          inflateSetDictionary(&f.z, In(dictionary), static_cast<uInt>(dictionary.size())) !=
              Z_OK) {
        return Corrupt("made with another dictionary");
      }
      rc = inflate(&f.z, Z_NO_FLUSH);
    }
    out.append(buf, sizeof buf - f.z.avail_out);
    if (rc == Z_STREAM_END) {
      if (f.z.avail_in != 0) return Corrupt("bytes after the record");
      return out;
    }
    if (rc != Z_OK) return Corrupt(std::string("inflate: ") + (f.z.msg ? f.z.msg : "error"));
  }
}

}  // namespace

size_t PackedDir::Bytes() const {
  return sizeof(PackedDir) + deflated.capacity() + shared.capacity() * sizeof(FileContents);
}

Result<PackedDir> DirPacker::Pack(const std::vector<PackedEntry>& entries) {
  PackedDir packed;
  std::string raw;
  for (const PackedEntry& e : entries) {
    const bool by_reference =
        !e.directory && e.data && (e.data.use_count() > 1 || e.data->size() >= kShareFrom);
    raw += e.directory ? kDir : by_reference ? kShared : kInline;
    PutVarint(raw, e.path.size());
    raw += e.path;
    if (e.directory) continue;
    PutVarint(raw, e.mode);
    if (by_reference) {
      PutVarint(raw, packed.shared.size());
      packed.shared.push_back(e.data);
    } else {
      const std::string_view data = e.data ? std::string_view(*e.data) : std::string_view();
      PutVarint(raw, data.size());
      raw += data;
    }
  }
  std::call_once(dictionary_once_, [&] {
    dictionary_owner_ = std::make_unique<const std::string>(raw);
    dictionary_.store(dictionary_owner_.get(), std::memory_order_release);
  });
  HENB_ASSIGN_OR_RETURN(packed.deflated, DeflateWith(*dictionary_owner_, raw));
  packed.shared.shrink_to_fit();
  return packed;
}

Result<std::vector<PackedEntry>> DirPacker::Unpack(const PackedDir& packed) const {
  const std::string* dictionary = dictionary_.load(std::memory_order_acquire);
  if (dictionary == nullptr) return Corrupt("nothing was packed yet");
  HENB_ASSIGN_OR_RETURN(std::string raw, InflateWith(*dictionary, packed.deflated));
  std::vector<PackedEntry> entries;
  Reader r(raw);
  while (!r.done()) {
    PackedEntry e;
    HENB_ASSIGN_OR_RETURN(char kind, r.Byte());
    if (kind != kDir && kind != kInline && kind != kShared) return Corrupt("unknown entry");
    HENB_ASSIGN_OR_RETURN(e.path, r.Text());
    e.directory = kind == kDir;
    if (!e.directory) {
      HENB_ASSIGN_OR_RETURN(uint64_t mode, r.Varint());
      e.mode = static_cast<unsigned>(mode);
      if (kind == kShared) {
        HENB_ASSIGN_OR_RETURN(uint64_t index, r.Varint());
        if (index >= packed.shared.size()) return Corrupt("shared contents out of range");
        e.data = packed.shared[index];
      } else {
        HENB_ASSIGN_OR_RETURN(std::string data, r.Text());
        e.data = std::make_shared<const std::string>(std::move(data));
      }
    }
    entries.push_back(std::move(e));
  }
  return entries;
}

}  // namespace henbtrust::sim
