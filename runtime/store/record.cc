#include "runtime/store/record.h"

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace parley::store {
namespace {

constexpr size_t kMaxVarintLength = 10;

// Writes v at p; returns the end.
char* WriteVarint(char* p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<char>(v);
  return p;
}

void PutVarint(std::string* out, uint64_t v) {
  char buf[kMaxVarintLength];
  out->append(buf, WriteVarint(buf, v));
}

size_t VarintLength(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

bool GetVarint(absl::string_view* in, uint64_t* v) {
  uint64_t result = 0;
  for (int shift = 0; shift <= 63 && !in->empty(); shift += 7) {
    uint64_t byte = static_cast<uint8_t>(in->front());
    in->remove_prefix(1);
    result |= (byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      *v = result;
      return true;
    }
  }
  return false;
}

bool GetBytes(absl::string_view* in, absl::string_view* bytes) {
  uint64_t n;
  if (!GetVarint(in, &n) || n > in->size()) return false;
  *bytes = in->substr(0, n);
  in->remove_prefix(n);
  return true;
}

// Strips the kind byte if it is `kind`.
bool Expect(absl::string_view* in, RecordKind kind) {
  if (in->empty() || static_cast<uint8_t>(in->front()) != uint8_t(kind)) {
    return false;
  }
  in->remove_prefix(1);
  return true;
}

constexpr uint8_t kReplyWanted = 1;

// A MESSAGE record's fields, viewing the record's bytes.
bool ParseMessage(absl::string_view in, MessageRef* m) {
  uint64_t ack_within_ms;
  if (!Expect(&in, RecordKind::kMessage) || !GetVarint(&in, &m->seq) ||
      !GetVarint(&in, &ack_within_ms) || ack_within_ms > UINT32_MAX ||
      in.empty()) {
    return false;
  }
  m->ack_within_ms = static_cast<uint32_t>(ack_within_ms);
  m->reply_wanted = (static_cast<uint8_t>(in.front()) & kReplyWanted) != 0;
  in.remove_prefix(1);
  if (!GetBytes(&in, &m->method)) return false;
  m->payload = in;
  return true;
}

}  // namespace

size_t StoredSize(const MessageRef& m) {
  return 1 + VarintLength(m.seq) + VarintLength(m.ack_within_ms) + 1 +
         VarintLength(m.method.size()) + m.method.size() + m.payload.size();
}

absl::Status CheckAppendSeq(uint64_t seq, uint64_t next_seq) {
  if (seq < next_seq) {
    return absl::InvalidArgumentError(absl::StrCat(
        "seq ", seq, " is not above the last appended seq ", next_seq - 1));
  }
  if (seq == UINT64_MAX) {
    return absl::InvalidArgumentError("seq space exhausted");
  }
  return absl::OkStatus();
}

std::string EncodeMessage(const MessageRef& m) {
  std::string out;
  EncodeMessageTo(m, m.seq, &out);
  return out;
}

void EncodeMessageTo(const MessageRef& m, uint64_t seq, std::string* out) {
  MessageRef numbered = m;
  numbered.seq = seq;
  // One resize: no allocation once *out has the capacity.
  out->resize(StoredSize(numbered));
  EncodeMessageAt(numbered, out->data());
}

void EncodeMessageAt(const MessageRef& m, char* out) {
  *out++ = static_cast<char>(RecordKind::kMessage);
  out = WriteVarint(out, m.seq);
  out = WriteVarint(out, m.ack_within_ms);
  *out++ = static_cast<char>(m.reply_wanted ? kReplyWanted : 0);
  out = WriteVarint(out, m.method.size());
  // (A view of nothing may have no data() at all: memcpy must not see it.)
  if (!m.method.empty()) {
    std::memcpy(out, m.method.data(), m.method.size());
    out += m.method.size();
  }
  if (!m.payload.empty()) std::memcpy(out, m.payload.data(), m.payload.size());
}

std::string EncodeAcked(uint64_t through) {
  std::string out(1, static_cast<char>(RecordKind::kAcked));
  PutVarint(&out, through);
  return out;
}

std::string EncodeMeta(const Checkpoint& c) {
  std::string out(1, static_cast<char>(RecordKind::kMeta));
  PutVarint(&out, c.next_seq);
  PutVarint(&out, c.acked_through);
  PutVarint(&out, c.meta.peer_received_through);
  PutVarint(&out, c.meta.session_id.size());
  out.append(c.meta.session_id);
  return out;
}

std::string EncodeSeal() {
  return std::string(1, static_cast<char>(RecordKind::kSeal));
}

bool PeekKind(absl::string_view record, RecordKind* kind) {
  if (record.empty()) return false;
  uint8_t k = static_cast<uint8_t>(record.front());
  if (k < uint8_t(RecordKind::kMessage) || k > uint8_t(RecordKind::kSeal)) {
    return false;
  }
  *kind = static_cast<RecordKind>(k);
  return true;
}

bool DecodeMessageSeq(absl::string_view in, uint64_t* seq) {
  MessageRef m;
  if (!ParseMessage(in, &m)) return false;
  *seq = m.seq;
  return true;
}

bool DecodeMessage(absl::string_view in, StoredMessage* m) {
  MessageRef v;
  if (!ParseMessage(in, &v)) return false;
  m->seq = v.seq;
  m->ack_within_ms = v.ack_within_ms;
  m->reply_wanted = v.reply_wanted;
  m->method.assign(v.method.data(), v.method.size());
  m->payload.assign(v.payload.data(), v.payload.size());
  return true;
}

bool DecodeAcked(absl::string_view in, uint64_t* through) {
  // Later versions may append fields; they are ignored.
  return Expect(&in, RecordKind::kAcked) && GetVarint(&in, through);
}

bool DecodeMeta(absl::string_view in, Checkpoint* c) {
  absl::string_view id;
  if (!Expect(&in, RecordKind::kMeta) || !GetVarint(&in, &c->next_seq) ||
      !GetVarint(&in, &c->acked_through) ||
      !GetVarint(&in, &c->meta.peer_received_through) || !GetBytes(&in, &id)) {
    return false;
  }
  c->meta.session_id.assign(id.data(), id.size());
  return true;
}

}  // namespace parley::store
