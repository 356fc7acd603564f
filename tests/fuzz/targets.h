// The fuzz targets of docs/FUZZING.md, as plain functions: fuzz_main.cc
// wraps each in LLVMFuzzerTestOneInput for a libFuzzer binary (clang), and
// corpus_test.cc replays the seed corpus through them in the g++ tests.
// Each returns 0 and aborts (via Fail) when an invariant breaks; ASan and
// UBSan catch the memory and undefined-behaviour bugs.
//
// The input formats, which seeds.cc writes, are described at each target.
//
// Thread safety: a target may run on one thread at a time (FuzzStore
// reuses one scratch directory).
#ifndef PARLEY_TESTS_FUZZ_TARGETS_H_
#define PARLEY_TESTS_FUZZ_TARGETS_H_

#include <cstddef>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace parley::fuzz {

// wire::DecodeFrame, Validate, KindName and re-encoding of arbitrary bytes.
int FuzzCodec(const uint8_t* data, size_t size);

// A client and a server session::Session joined by a scripted link: the
// input is a script of SessionOp (below) that connects, delivers (whole,
// mutated or replayed) frames, injects arbitrary bytes and crafted
// envelopes of every kind, calls, finishes handlers, moves a fake clock,
// stops and restarts.
int FuzzSession(const uint8_t* data, size_t size);

// store::log::Reader and the record decoders over an arbitrary file.
int FuzzLogReader(const uint8_t* data, size_t size);

// store::DurableStore::Open (recovery) of a directory whose segment files
// are built from the input (StorePiece, below), then read back, written to
// and reopened.
int FuzzStore(const uint8_t* data, size_t size);

// Reports a broken invariant and aborts: a crash for libFuzzer and for the
// replay test.
[[noreturn]] void Fail(absl::string_view what);

#define PARLEY_FUZZ_CHECK(cond, ...)                                  \
  do {                                                                \
    if (!(cond)) {                                                    \
      ::parley::fuzz::Fail(absl::StrCat(#cond, " -- ", __VA_ARGS__)); \
    }                                                                 \
  } while (false)

// FuzzSession's script. Byte 0 configures (bit 0: pings on; bit 1: the
// client starts with the server's session id, so its first HELLO resumes;
// bit 2: BackpressurePolicy::kReject; bits 4-6: receive window - 1).
// Then each op byte: bit 7 picks the side it acts on (0 client, 1 server),
// the rest (mod kSessionOps) the op. Arguments follow the op byte:
enum SessionOp : uint8_t {
  kConnect,         // -: a connection opens (both sides)
  kDisconnect,      // -: it drops (both sides)
  kDeliver,         // -: the side's next frame goes to the other side
  kDeliverMutated,  // mode, U16 position, byte: ... flipped/cut/twice
  kInjectRaw,       // U16 n, n bytes: arbitrary bytes as a frame to the side
  kInjectEnvelope,  // count, envelopes (see MakeEnvelope): crafted frame
  kCall,            // method, flags, U16 payload size: the side calls
  kFinish,          // index, outcome, U16 n, [n % 16 bytes]: a handler
                    // finishes (outcome % 4 == 0: an error, those bytes
                    // its message; else n bytes of payload)
  kTick,            // steps: the clock moves steps * 50 ms (255: an hour)
  kStop,            // -: the side stops for good
  kRestartServer,   // -: the server forgets everything (new session id)
  kSessionOps,
};
inline constexpr uint8_t kServerSide = 0x80;

// FuzzStore's input: byte 0 = number of segment files (1 + b % 3), then per
// file a segment number step byte and a piece count byte, then the pieces,
// each a kind byte (mod kStorePieces) and arguments:
enum StorePiece : uint8_t {
  kRawBytes,     // U16 n, n bytes: appended verbatim
  kZeros,        // U16 n: n zero bytes (preallocated space, trailers)
  kLogRecord,    // U16 n, n bytes: framed as one log record (valid CRCs)
  kStoreRecord,  // kind, fields: a MESSAGE/ACKED/META/SEAL, framed
  kStorePieces,
};

}  // namespace parley::fuzz

#endif  // PARLEY_TESTS_FUZZ_TARGETS_H_
