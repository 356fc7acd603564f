#include "tests/util/exactly_once.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace parley::testutil {

void Progress::Bump() {
  util::MutexLock lock(&mu_);
  ++count_;
  bumped_.SignalAll();
}

int64_t Progress::count() {
  util::MutexLock lock(&mu_);
  return count_;
}

bool Progress::AwaitAbove(int64_t before, absl::Duration timeout) {
  util::MutexLock lock(&mu_);
  auto more = [this, before]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return count_ > before;
  };
  return bumped_.WaitFor(&mu_, timeout, more);
}

absl::Status SendAccepted(const std::function<absl::Status()>& send,
                          Progress& progress, absl::Duration patience) {
  while (true) {
    int64_t before = progress.count();
    absl::Status status = send();
    if (!absl::IsResourceExhausted(status)) return status;
    if (!progress.AwaitAbove(before, patience)) return status;
  }
}

CallTally::CallTally(int64_t n, Progress* progress)
    : progress_(progress), runs_(n, 0), failures_(n) {}

void CallTally::Record(int64_t index, const absl::Status& status) {
  {
    util::MutexLock lock(&mu_);
    ++done_;
    if (runs_[index]++ == 0 || failures_[index].ok()) {
      failures_[index] = status;
    }
    while (first_missing_ < static_cast<int64_t>(runs_.size()) &&
           runs_[first_missing_] > 0) {
      ++first_missing_;
    }
    if (!status.ok() && failed_runs_++ == 0) {
      first_failure_ = absl::StrCat("#", index, " ", status.ToString());
    }
    recorded_.SignalAll();
  }
  if (progress_ != nullptr) progress_->Bump();
}

std::function<void(absl::Status)> CallTally::Message(int64_t index) {
  return [this, index](absl::Status status) { Record(index, status); };
}

int64_t CallTally::done() {
  util::MutexLock lock(&mu_);
  return done_;
}

bool CallTally::AwaitDone(int64_t n, absl::Duration timeout) {
  util::MutexLock lock(&mu_);
  auto all = [this, n]()
                 ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return done_ >= n; };
  return recorded_.WaitFor(&mu_, timeout, all);
}

bool CallTally::AwaitFirst(int64_t n, absl::Duration timeout) {
  util::MutexLock lock(&mu_);
  auto all = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return first_missing_ >= n;
  };
  return recorded_.WaitFor(&mu_, timeout, all);
}

bool CallTally::AwaitAll(absl::Duration timeout) {
  int64_t all;
  {
    util::MutexLock lock(&mu_);
    all = static_cast<int64_t>(runs_.size());
  }
  return AwaitFirst(all, timeout);
}

int CallTally::runs(int64_t index) {
  util::MutexLock lock(&mu_);
  return runs_[index];
}

absl::Status CallTally::status(int64_t index) {
  util::MutexLock lock(&mu_);
  return failures_[index];
}

std::string CallTally::Problems() {
  util::MutexLock lock(&mu_);
  int64_t missing = 0, extra = 0, failed = 0;
  std::string first_failure;
  for (size_t i = 0; i < runs_.size(); ++i) {
    missing += runs_[i] == 0;
    extra += std::max(runs_[i] - 1, 0);
    if (!failures_[i].ok()) {
      if (failed++ == 0) {
        first_failure =
            absl::StrCat(" (first: #", i, " ", failures_[i].ToString(), ")");
      }
    }
  }
  if (missing + extra + failed == 0) return "";
  return absl::StrCat(missing, " callbacks missing, ", extra, " extra runs, ",
                      failed, " failed", first_failure);
}

CallTally::Report CallTally::report() {
  util::MutexLock lock(&mu_);
  Report r;
  for (int runs : runs_) {
    r.missing += runs == 0;
    r.repeated += runs > 1 ? runs - 1 : 0;
  }
  r.failed = failed_runs_;
  r.first_failure = first_failure_;
  return r;
}

void Recorder::Add(int64_t value) {
  util::MutexLock lock(&mu_);
  values_.push_back(value);
  added_.SignalAll();
}

std::vector<int64_t> Recorder::values() {
  util::MutexLock lock(&mu_);
  return values_;
}

bool Recorder::AwaitSize(size_t n, absl::Duration timeout) {
  util::MutexLock lock(&mu_);
  auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return values_.size() >= n;
  };
  return added_.WaitFor(&mu_, timeout, enough);
}

std::string OrderReport::ToString() const {
  return absl::StrCat("lost ", lost, ", duplicated ", duplicated,
                      ", reordered ", reordered, ", foreign ", foreign);
}

OrderReport CheckOrder(const std::vector<int64_t>& values, int64_t n) {
  OrderReport report;
  report.deliveries = static_cast<int64_t>(values.size());
  std::vector<int> seen(n, 0);
  for (size_t i = 0; i < values.size(); ++i) {
    int64_t v = values[i];
    if (v < 0 || v >= n) {
      ++report.foreign;
      continue;
    }
    if (seen[v]++ > 0) ++report.duplicated;
    if (i > 0 && v < values[i - 1]) ++report.reordered;
  }
  for (int count : seen) report.lost += count == 0;
  return report;
}

}  // namespace parley::testutil
