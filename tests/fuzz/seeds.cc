// fuzz_seeds: writes the seed corpus of the fuzz targets (targets.h) into
// <dir>/<target>/seed-*, from the real encoders: valid frames of every
// envelope kind, session scripts that reach the open state, logs and store
// directories as the writer lays them out. docs/FUZZING.md says when to
// run it:
//
//   fuzz_seeds tests/fuzz/corpus
//
// Crash reproducers (crash-*) in the same folders are kept by hand.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "runtime/store/log_writer.h"
#include "runtime/store/record.h"
#include "runtime/store/testing/string_files.h"
#include "runtime/wire/codec.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/fuzz/targets.h"

namespace parley::fuzz {
namespace {

namespace fs = std::filesystem;

void Write(const fs::path& dir, const std::string& name,
           const std::string& bytes) {
  fs::create_directories(dir);
  std::ofstream(dir / ("seed-" + name), std::ios::binary) << bytes;
}

// --- codec: one frame per kind, a coalesced frame, an unknown kind.

std::vector<wire::Envelope> OneOfEachKind() {
  std::vector<wire::Envelope> all(10);
  all[0].mutable_hello()->set_protocol_version(wire::kProtocolVersion);
  all[0].mutable_hello()->set_session_id("0123456789abcdef");
  all[1].mutable_welcome()->set_protocol_version(wire::kProtocolVersion);
  all[1].mutable_welcome()->set_resumed(true);
  all[2].mutable_msg()->set_seq(1);
  all[2].mutable_msg()->set_method("t.S/M");
  all[2].mutable_msg()->set_payload("payload");
  all[3].mutable_reply()->set_seq(1);
  all[3].mutable_reply()->set_in_reply_to(1);
  all[3].mutable_reply()->set_code(5);
  all[4].mutable_ack()->set_through(3);
  // 6 was CREDIT: an older peer's kind, unknown now.
  all[5].GetReflection()->MutableUnknownFields(&all[5])->AddLengthDelimited(
      6, "\x08\x08");
  all[6] = wire::MakeError(absl::InvalidArgumentError("bad"), true);
  all[7].mutable_goodbye()->set_reason("bye");
  all[8].mutable_ping()->set_nonce(7);
  all[9].mutable_pong()->set_nonce(7);
  return all;
}

void CodecSeeds(const fs::path& dir) {
  std::vector<wire::Envelope> all = OneOfEachKind();
  for (const wire::Envelope& e : all) {
    Write(dir, std::string(wire::KindName(e)), wire::EncodeFrame({e}));
  }
  Write(dir, "coalesced", wire::EncodeFrame(all));
  wire::Envelope unknown;
  unknown.GetReflection()->MutableUnknownFields(&unknown)->AddVarint(11, 1);
  Write(dir, "unknown-kind", wire::EncodeFrame({unknown}));
  Write(dir, "garbage", "\x0a\xff\xff\xff\xff\x0f");
}

// --- session: scripts (targets.h, SessionOp).

FuzzScript& Op(FuzzScript& s, SessionOp op, bool server = false) {
  return s.Byte(op | (server ? kServerSide : 0));
}

// config, then connect and the handshake delivered both ways.
FuzzScript Handshake(uint8_t config) {
  FuzzScript s;
  s.Byte(config);
  Op(s, kConnect);
  Op(s, kDeliver);        // HELLO
  Op(s, kDeliver, true);  // WELCOME
  return s;
}

// side calls (method 0, reply wanted), the other side handles it.
void RoundTrip(FuzzScript& s, bool server) {
  Op(s, kCall, server).Byte(0).Byte(1).U16(12);
  Op(s, kDeliver, server);
  Op(s, kFinish, !server).Byte(0).Byte(1).U16(6);
  Op(s, kDeliver, !server);  // REPLY, ACK
  Op(s, kDeliver, server);   // ACK
}

void SessionSeeds(const fs::path& dir) {
  FuzzScript calls = Handshake(0);
  RoundTrip(calls, false);
  RoundTrip(calls, true);
  Write(dir, "round-trips", calls.str());

  FuzzScript resume = Handshake(2);
  Op(resume, kCall).Byte(1).Byte(0x04).U16(30);  // a message, 200 ms
  Op(resume, kDisconnect);
  Op(resume, kConnect);
  Op(resume, kDeliver);
  Op(resume, kDeliver, true);
  Op(resume, kDeliver);
  Op(resume, kFinish, true).Byte(0).Byte(1).U16(0);
  Op(resume, kTick).Byte(10);
  Op(resume, kDeliver, true);
  Write(dir, "resume", resume.str());

  FuzzScript restart = Handshake(0);
  Op(restart, kCall).Byte(0).Byte(1).U16(5);
  Op(restart, kRestartServer);
  Op(restart, kConnect);
  Op(restart, kDeliver);
  Op(restart, kDeliver, true);
  Op(restart, kDeliver);
  Write(dir, "server-restart", restart.str());

  FuzzScript pings = Handshake(1);
  Op(pings, kTick).Byte(30);
  Op(pings, kDeliver);
  Op(pings, kDeliver, true);
  Op(pings, kTick).Byte(60);
  Op(pings, kTick).Byte(60);
  Write(dir, "ping-timeout", pings.str());

  FuzzScript mutated = Handshake(0);
  Op(mutated, kCall).Byte(0).Byte(1).U16(40);
  Op(mutated, kDeliverMutated).Byte(2).U16(0).Byte(0);  // replayed
  Op(mutated, kCall).Byte(0).Byte(1).U16(40);
  Op(mutated, kDeliverMutated).Byte(0).U16(9).Byte(0x10);  // a flipped bit
  Write(dir, "mutated", mutated.str());

  // Each kind crafted into an open session (values near its counters),
  // and into one that has not connected yet.
  for (uint8_t kind = 0; kind < 11; ++kind) {
    FuzzScript s = Handshake(0);
    Op(s, kInjectEnvelope, kind % 2).Byte(0).Byte(kind);
    for (int field = 0; field < 4; ++field) s.Byte(1).Byte(0).Byte(4);
    Write(dir, "envelope-" + std::to_string(kind), s.str());
  }
  FuzzScript early;
  early.Byte(0);
  Op(early, kInjectRaw, true).Sized(wire::EncodeFrame(OneOfEachKind()));
  Op(early, kConnect);
  Op(early, kInjectRaw, true).Sized(wire::EncodeFrame(OneOfEachKind()));
  Write(dir, "before-connect", early.str());
}

// --- log_reader: logs as the writer lays them out.

std::string Log(const std::vector<std::string>& records) {
  store::testing::StringDest dest;
  store::log::Writer writer(&dest, 0);
  for (const std::string& r : records) {
    if (!writer.AddRecord(r).ok()) std::abort();
  }
  return dest.contents;
}

std::vector<std::string> StoreRecords() {
  store::Checkpoint meta;
  meta.next_seq = 3;
  meta.acked_through = 2;
  meta.meta.session_id = "0123456789abcdef";
  std::vector<std::string> records = {store::EncodeMeta(meta)};
  for (uint64_t seq = 3; seq < 6; ++seq) {
    records.push_back(
        store::EncodeMessage({seq, "t.S/M", std::string(20, 'x'), 100, true}));
  }
  records.push_back(store::EncodeAcked(4));
  return records;
}

void LogReaderSeeds(const fs::path& dir) {
  std::vector<std::string> records = StoreRecords();
  Write(dir, "store-records", Log(records));
  records.push_back(store::EncodeSeal());
  std::string sealed = Log(records);
  Write(dir, "sealed", sealed);
  Write(dir, "torn-tail", sealed.substr(0, sealed.size() - 3));
  Write(dir, "zero-filled", sealed + std::string(64, '\0'));
  // A record that crosses a block boundary (FIRST, LAST), 7 bytes before it.
  std::string crossing = Log(
      {std::string(store::log::kBlockSize - 14, 'a'), std::string(100, 'b')});
  Write(dir, "block-crossing", crossing);
}

// --- store: segment files from pieces (targets.h, StorePiece).

void Piece(FuzzScript& s, StorePiece kind) { s.Byte(kind); }

void Message(FuzzScript& s, uint8_t seq) {
  Piece(s, kStoreRecord);
  s.Byte(0).Byte(seq * 2).Byte(100).Byte(1).Byte(5).Bytes("hello");
}

void StoreSeeds(const fs::path& dir) {
  FuzzScript one;  // META, three MESSAGEs, ACKED 1
  one.Byte(0).Byte(0).Byte(5);
  Piece(one, kStoreRecord);
  one.Byte(2).Byte(2).Byte(0).Byte(0).Byte(4).Bytes("sess");
  Message(one, 1);
  Message(one, 2);
  Message(one, 3);
  Piece(one, kStoreRecord);
  one.Byte(1).Byte(2);
  Write(dir, "one-segment", one.str());

  FuzzScript two;  // a sealed segment, then a newer one with a torn tail
  two.Byte(1).Byte(0).Byte(3);
  Message(two, 1);
  Message(two, 2);
  Piece(two, kStoreRecord);
  two.Byte(3);
  two.Byte(0).Byte(3);
  Message(two, 3);
  Piece(two, kRawBytes);
  two.Sized("\x12\x34\x56\x78\x09");
  Piece(two, kZeros);
  two.U16(100);
  Write(dir, "sealed-and-torn", two.str());

  FuzzScript crossing;  // a MESSAGE fragmented across the first block end
  crossing.Byte(0).Byte(0).Byte(3);
  Piece(crossing, kLogRecord);  // fills the block up to 15 bytes
  crossing.Sized(store::EncodeMessage(
      {1, "t.S/M", std::string(store::log::kBlockSize - 15 - 7 - 10, 'z'), 0,
       false}));
  Message(crossing, 2);
  Piece(crossing, kLogRecord);  // a MESSAGE cut after its seq
  crossing.Sized("\x01\x03");
  Write(dir, "block-crossing", crossing.str());

  // Segment files as DurableStore itself writes them.
  std::string logs = Log(StoreRecords());
  FuzzScript raw;
  raw.Byte(0).Byte(0).Byte(1);
  Piece(raw, kRawBytes);
  raw.Sized(logs);
  Write(dir, "written-by-store", raw.str());
}

}  // namespace
}  // namespace parley::fuzz

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <corpus-dir>\n", argv[0]);
    return 2;
  }
  const std::filesystem::path root = argv[1];
  parley::fuzz::CodecSeeds(root / "codec");
  parley::fuzz::SessionSeeds(root / "session");
  parley::fuzz::LogReaderSeeds(root / "log_reader");
  parley::fuzz::StoreSeeds(root / "store");
  return 0;
}
