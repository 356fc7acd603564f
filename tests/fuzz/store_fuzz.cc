// FuzzStore: DurableStore recovery of segment files built from the input.
//
// Invariants: Open either refuses with DataLoss or recovers a consistent
// state (acked_through < next_seq; pending seqs increasing inside
// (acked_through, next_seq), as many as pending_count()); every message it
// indexed reads back (ForEachPending); and after a few writes the store
// reopens to exactly the state it had: recovery never accepts a directory
// that it then cannot serve or reopen.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "runtime/store/durable_store.h"
#include "runtime/store/log_writer.h"
#include "runtime/store/record.h"
#include "runtime/store/testing/string_files.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/fuzz/targets.h"

namespace parley::fuzz {
namespace {

using store::DurableStore;
using store::Env;

void Clear();

// One directory per process, on tmpfs when there is one (fdatasync is then
// nearly free); removed at exit.
const std::string& ScratchDir() {
  static const std::string* dir = [] {
    const char* tmp = std::getenv("TMPDIR");
    std::string base = access("/dev/shm", W_OK) == 0 ? "/dev/shm"
                       : tmp != nullptr              ? tmp
                                                     : "/tmp";
    std::string pattern = base + "/parley-fuzz-store-XXXXXX";
    PARLEY_FUZZ_CHECK(mkdtemp(pattern.data()) != nullptr, "mkdtemp ", pattern);
    std::atexit([] {
      Clear();
      rmdir(ScratchDir().c_str());
    });
    return new std::string(pattern);
  }();
  return *dir;
}

void Clear() {
  Env* env = Env::Default();
  absl::StatusOr<std::vector<std::string>> names =
      env->GetChildren(ScratchDir());
  PARLEY_FUZZ_CHECK(names.ok(), names.status().ToString());
  for (const std::string& name : *names) {
    PARLEY_FUZZ_CHECK(env->RemoveFile(ScratchDir() + "/" + name).ok(), name);
  }
}

void AppendRecord(std::string* contents, absl::string_view record) {
  store::testing::StringDest dest;
  dest.contents = std::move(*contents);
  store::log::Writer writer(&dest, dest.contents.size());
  PARLEY_FUZZ_CHECK(writer.AddRecord(record).ok(), "AddRecord");
  *contents = std::move(dest.contents);
}

uint64_t Num(FuzzInput& in) {
  uint8_t mode = in.Byte();
  return (mode & 1) ? in.U64() : mode / 2;
}

std::string StoreRecord(FuzzInput& in) {
  switch (in.Byte() % 4) {
    case 0: {
      store::StoredMessage m;
      m.seq = Num(in);
      m.ack_within_ms = in.Byte();
      m.reply_wanted = in.Byte() & 1;
      m.method = "t.S/M";
      m.payload = in.Bytes(in.Byte());
      return store::EncodeMessage(m);
    }
    case 1:
      return store::EncodeAcked(Num(in));
    case 2: {
      store::Checkpoint c;
      c.next_seq = Num(in);
      c.acked_through = Num(in);
      c.meta.peer_received_through = Num(in);
      c.meta.session_id = in.Bytes(in.Byte() % 17);
      return store::EncodeMeta(c);
    }
    default:
      return store::EncodeSeal();
  }
}

std::string Segment(FuzzInput& in) {
  std::string contents;
  for (int pieces = in.Byte() % 16; pieces > 0; --pieces) {
    switch (in.Byte() % kStorePieces) {
      case kRawBytes:
        contents += in.Bytes(in.U16());
        break;
      case kZeros:
        contents.append(in.U16(), '\0');
        break;
      case kLogRecord:
        AppendRecord(&contents, in.Bytes(in.U16()));
        break;
      default:
        AppendRecord(&contents, StoreRecord(in));
        break;
    }
  }
  return contents;
}

// What a store holds, as far as its callers can see.
struct State {
  uint64_t next_seq;
  uint64_t acked_through;
  store::StoreMeta meta;
  std::vector<uint64_t> pending;

  bool operator==(const State& o) const {
    return next_seq == o.next_seq && acked_through == o.acked_through &&
           meta.session_id == o.meta.session_id &&
           meta.peer_received_through == o.meta.peer_received_through &&
           pending == o.pending;
  }
};

State Inspect(DurableStore& s, absl::string_view when) {
  State state{s.next_seq(), s.acked_through(), s.meta(), {}};
  PARLEY_FUZZ_CHECK(state.acked_through < state.next_seq, when, ": acked ",
                    state.acked_through, " of ", state.next_seq - 1);
  absl::Status read = s.ForEachPending(1, [&](const store::StoredMessage& m) {
    state.pending.push_back(m.seq);
    return true;
  });
  PARLEY_FUZZ_CHECK(read.ok(), when, ": ForEachPending: ", read.ToString());
  PARLEY_FUZZ_CHECK(state.pending.size() == s.pending_count(), when, ": ",
                    state.pending.size(), " read, ", s.pending_count(),
                    " counted");
  uint64_t previous = state.acked_through;
  for (uint64_t seq : state.pending) {
    PARLEY_FUZZ_CHECK(previous < seq && seq < state.next_seq, when, ": seq ",
                      seq, " after ", previous, ", next ", state.next_seq);
    previous = seq;
  }
  return state;
}

absl::StatusOr<std::unique_ptr<DurableStore>> Open() {
  store::DurableStoreOptions options;
  options.sync = store::SyncPolicy::kNever;
  options.preallocation = store::Preallocation::kNone;
  options.segment_bytes = 1024;
  options.capacity_bytes = 1 << 20;
  return DurableStore::Open(Env::Default(), ScratchDir(), options);
}

void Run(FuzzInput& in) {
  uint64_t number = 0;
  for (int files = 1 + in.Byte() % 3; files > 0; --files) {
    number += 1 + in.Byte() % 3;
    const std::string contents = Segment(in);
    const std::string path =
        absl::StrFormat("%s/%06d.log", ScratchDir(), number);
    absl::StatusOr<std::unique_ptr<store::WritableFile>> file =
        Env::Default()->NewWritableFile(path);
    PARLEY_FUZZ_CHECK(file.ok(), file.status().ToString());
    PARLEY_FUZZ_CHECK((*file)->Append(contents).ok() && (*file)->Close().ok(),
                      path);
  }
  absl::StatusOr<std::unique_ptr<DurableStore>> s = Open();
  if (!s.ok()) {
    PARLEY_FUZZ_CHECK(absl::IsDataLoss(s.status()), s.status().ToString());
    return;
  }
  const State recovered = Inspect(**s, "recovered");
  // Use it a little, as a session would, then reopen.
  store::StoredMessage m{0, "t.S/M", in.Bytes(in.Byte()), 0, false};
  absl::StatusOr<uint64_t> seq = (*s)->Append(m);
  PARLEY_FUZZ_CHECK(seq.ok() || absl::IsResourceExhausted(seq.status()) ||
                        (absl::IsInvalidArgument(seq.status()) &&
                         recovered.next_seq == UINT64_MAX),
                    seq.status().ToString());
  if (!recovered.pending.empty() && (in.Byte() & 1)) {
    absl::Status acked = (*s)->MarkAcked(recovered.pending.front());
    PARLEY_FUZZ_CHECK(acked.ok(), "MarkAcked: ", acked.ToString());
  }
  const State written = Inspect(**s, "written");
  PARLEY_FUZZ_CHECK((*s)->Close().ok(), "Close");
  s->reset();
  s = Open();
  PARLEY_FUZZ_CHECK(s.ok(), "reopen: ", s.status().ToString());
  PARLEY_FUZZ_CHECK(Inspect(**s, "reopened") == written,
                    "reopened to a different state");
}

}  // namespace

int FuzzStore(const uint8_t* data, size_t size) {
  Clear();
  FuzzInput in(data, size);
  Run(in);
  Clear();
  return 0;
}

}  // namespace parley::fuzz
