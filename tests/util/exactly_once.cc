#include "tests/util/exactly_once.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace parley::testutil {

void Progress::Bump() {
  absl::MutexLock lock(&mu_);
  ++count_;
}

int64_t Progress::count() {
  absl::MutexLock lock(&mu_);
  return count_;
}

bool Progress::AwaitAbove(int64_t before, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto more = [this, before]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return count_ > before;
  };
  return mu_.AwaitWithTimeout(absl::Condition(&more), timeout);
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
    absl::MutexLock lock(&mu_);
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
  }
  if (progress_ != nullptr) progress_->Bump();
}

std::function<void(absl::Status)> CallTally::Message(int64_t index) {
  return [this, index](absl::Status status) { Record(index, status); };
}

int64_t CallTally::done() {
  absl::MutexLock lock(&mu_);
  return done_;
}

bool CallTally::AwaitDone(int64_t n, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto all = [this, n]()
                 ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return done_ >= n; };
  return mu_.AwaitWithTimeout(absl::Condition(&all), timeout);
}

bool CallTally::AwaitFirst(int64_t n, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto all = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return first_missing_ >= n;
  };
  return mu_.AwaitWithTimeout(absl::Condition(&all), timeout);
}

bool CallTally::AwaitAll(absl::Duration timeout) {
  return AwaitFirst(static_cast<int64_t>(runs_.size()), timeout);
}

int CallTally::runs(int64_t index) {
  absl::MutexLock lock(&mu_);
  return runs_[index];
}

absl::Status CallTally::status(int64_t index) {
  absl::MutexLock lock(&mu_);
  return failures_[index];
}

std::string CallTally::Problems() {
  absl::MutexLock lock(&mu_);
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
  absl::MutexLock lock(&mu_);
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
  absl::MutexLock lock(&mu_);
  values_.push_back(value);
}

std::vector<int64_t> Recorder::values() {
  absl::MutexLock lock(&mu_);
  return values_;
}

bool Recorder::AwaitSize(size_t n, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return values_.size() >= n;
  };
  return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
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
