#include "cli/dataset.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "core/sampler.h"

namespace astcd::cli::dataset {

std::vector<std::vector<int64_t>> InputTuples(uint64_t seed, int arity, int count, int64_t lo,
                                              int64_t hi) {
  const uint64_t width = static_cast<uint64_t>(hi - lo) + 1;  // hi - lo < 2^63: no overflow
  std::vector<std::vector<int64_t>> tuples(count);
  for (int k = 0; k < count; ++k) {
    Rng rng(StreamSeed(seed, kInputStream + static_cast<uint64_t>(arity), k));
    for (int i = 0; i < arity; ++i) {
      tuples[k].push_back(lo + static_cast<int64_t>(rng.Below(width)));
    }
  }
  return tuples;
}

std::string Signature(int arity, const std::vector<Outcome>& outcomes) {
  return absl::StrCat(arity, ":",
                      absl::StrJoin(outcomes, ",", [](std::string* out, const Outcome& o) {
                        if (o.status == RunStatus::kOk) {
                          absl::StrAppend(out, o.value.ToString());
                        } else {
                          absl::StrAppend(out, RunStatusName(o.status));
                        }
                      }));
}

std::string KeepFlag(const DropRow& row) {
  return absl::StrCat("keep-", absl::StrReplaceAll(row.name, {{"_", "-"}}));
}

std::optional<Drop> Degenerate(const std::vector<Outcome>& outcomes) {
  const auto all = [&](auto pred) { return std::all_of(outcomes.begin(), outcomes.end(), pred); };
  if (all([](const Outcome& o) { return o.status != RunStatus::kOk; })) return Drop::kAllError;
  if (all([](const Outcome& o) { return o.status == RunStatus::kOk && o.value.is_none(); })) {
    return Drop::kAllNone;
  }
  if (all([&](const Outcome& o) { return o == outcomes[0]; })) return Drop::kConstant;
  return std::nullopt;
}

Deduper::Deduper(const bool (&filter)[kNumDrops]) { std::copy(filter, filter + kNumDrops, filter_); }

void Deduper::Offer(int64_t sample_index, int arity, std::vector<int32_t> tokens,
                    std::vector<Outcome> outcomes) {
  ++summary_.sampled;
  summary_.tokens += static_cast<int64_t>(tokens.size());
  std::string signature = Signature(arity, outcomes);
  if (std::optional<Drop> drop = Degenerate(outcomes);
      drop && filter_[static_cast<int>(*drop)]) {
    ++summary_.dropped[static_cast<int>(*drop)];
    degenerate_.insert(std::move(signature));
    return;
  }
  ++kept_samples_;
  auto [it, inserted] = row_of_.try_emplace(signature, rows_.size());
  if (inserted) {
    rows_.push_back(Row{sample_index, arity, std::move(tokens), std::move(outcomes),
                        std::move(signature)});
    return;
  }
  Row& row = rows_[it->second];
  // Shorter wins; of equal length the smaller token list, so that ties do not depend on order.
  if (tokens.size() < row.tokens.size() ||
      (tokens.size() == row.tokens.size() && tokens < row.tokens)) {
    row.sample_index = sample_index;
    row.tokens = std::move(tokens);
  }
}

Summary Deduper::summary() const {
  Summary s = summary_;
  s.unique_behaviours = static_cast<int64_t>(rows_.size() + degenerate_.size());
  s.dropped[static_cast<int>(Drop::kDuplicate)] =
      kept_samples_ - static_cast<int64_t>(rows_.size());
  return s;
}

}  // namespace astcd::cli::dataset
