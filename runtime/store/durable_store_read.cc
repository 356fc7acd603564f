// DurableStore's read side: accessors and ForEachPending, which reads the
// pending messages' records back from their segments in batches.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "runtime/store/durable_store.h"
#include "runtime/store/log_reader.h"

namespace parley::store {
namespace {

// Pending messages looked up per step, and the most bytes read at once.
constexpr size_t kReadBatch = 256;
constexpr uint64_t kMaxReadBytes = 1 << 20;

struct Item {
  uint64_t seq;
  uint64_t offset;
  uint64_t span;
  uint64_t segment;
  std::shared_ptr<RandomAccessFile> file;
};

}  // namespace

StoreMeta DurableStore::meta() const {
  util::MutexLock lock(&mu_);
  return state_.meta;
}

uint64_t DurableStore::next_seq() const {
  util::MutexLock lock(&mu_);
  return state_.next_seq;
}

uint64_t DurableStore::acked_through() const {
  util::MutexLock lock(&mu_);
  return state_.acked_through;
}

size_t DurableStore::pending_count() const {
  util::MutexLock lock(&mu_);
  return index_.size();
}

uint64_t DurableStore::pending_bytes() const {
  util::MutexLock lock(&mu_);
  return pending_bytes_;
}

std::vector<uint64_t> DurableStore::segment_numbers() const {
  util::MutexLock lock(&mu_);
  std::vector<uint64_t> numbers;
  for (const Segment& s : segments_) numbers.push_back(s.number);
  return numbers;
}

absl::Status DurableStore::ForEachPending(
    uint64_t from_seq, absl::FunctionRef<bool(const StoredMessage&)> fn) {
  std::vector<Item> items;
  std::string region_scratch;
  std::string record;
  StoredMessage message;
  for (uint64_t next = from_seq;;) {
    items.clear();
    {
      util::MutexLock lock(&mu_);
      if (closed_) return absl::FailedPreconditionError("store is closed");
      auto it = std::lower_bound(
          index_.begin(), index_.end(), next,
          [](const IndexEntry& e, uint64_t seq) { return e.seq < seq; });
      // Find the segment holding entry number `pos`.
      size_t pos = static_cast<size_t>(it - index_.begin());
      size_t seg = 0;
      while (seg < segments_.size() && pos >= segments_[seg].entries) {
        pos -= segments_[seg++].entries;
      }
      for (; it != index_.end() && items.size() < kReadBatch; ++it, ++pos) {
        while (pos >= segments_[seg].entries) {
          pos = 0;
          ++seg;
        }
        items.push_back({it->seq, it->offset,
                         log::PhysicalSpan(it->offset, it->size),
                         segments_[seg].number, segments_[seg].file});
      }
    }
    if (items.empty()) return absl::OkStatus();
    // Read runs of records from one segment with one pread each.
    for (size_t i = 0; i < items.size();) {
      size_t j = i + 1;
      while (j < items.size() && items[j].segment == items[i].segment &&
             items[j].offset + items[j].span - items[i].offset <=
                 kMaxReadBytes) {
        ++j;
      }
      const uint64_t begin = items[i].offset;
      const uint64_t length = items[j - 1].offset + items[j - 1].span - begin;
      region_scratch.resize(length);
      absl::string_view region;
      absl::Status s =
          items[i].file->Read(begin, length, &region, region_scratch.data());
      std::string where =
          absl::StrCat(SegmentPath(items[i].segment), " at offset ", begin);
      if (!s.ok()) return s;
      if (region.size() < length) {
        return absl::DataLossError(absl::StrCat(where, ": short read"));
      }
      for (; i < j; ++i) {
        absl::string_view bytes =
            region.substr(items[i].offset - begin, items[i].span);
        s = log::DecodeRecord(bytes, items[i].offset, &record);
        if (!s.ok()) {
          return absl::DataLossError(
              absl::StrCat(SegmentPath(items[i].segment), ": ", s.message()));
        }
        if (!DecodeMessage(record, &message) || message.seq != items[i].seq) {
          return absl::DataLossError(
              absl::StrCat(SegmentPath(items[i].segment), " at offset ",
                           items[i].offset, ": not the MESSAGE indexed"));
        }
        if (!fn(message)) return absl::OkStatus();
      }
    }
    next = items.back().seq + 1;
  }
}

}  // namespace parley::store
