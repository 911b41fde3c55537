// The dataset builder's logic, without I/O: the input tuples a program runs on, its behaviour
// signature, the degenerate filters, and the de-duplication that keeps the shortest program per
// behaviour. cli_dataset.cc drives it (sampling, running, printing); docs/dataset.md is the
// user's description, and client/python/astcd_client/dataset.py is the same in Python.
#ifndef ASTCD_CLI_DATASET_H_
#define ASTCD_CLI_DATASET_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"
#include "core/interpreter.h"

namespace astcd::cli::dataset {

// The K argument tuples every program of `arity` runs on. Tuple k's arguments are drawn in order
// from Rng(StreamSeed(seed, kInputStream + arity, k)) (core/sampler.h, SplitMix64), each
// lo + Below(hi - lo + 1): uniform over [lo, hi]. The decoder's streams use input index 0, so
// the inputs never share a stream with the programs.
inline constexpr uint64_t kInputStream = uint64_t{1} << 32;
std::vector<std::vector<int64_t>> InputTuples(uint64_t seed, int arity, int count, int64_t lo,
                                              int64_t hi);

// What one run gave: its status and, when ok, its value (bool and int kept apart).
struct Outcome {
  RunStatus status = RunStatus::kOk;
  Value value;
  friend bool operator==(const Outcome&, const Outcome&) = default;
};

// A behaviour: the arity (which fixes the inputs), ":", then the runs' outcomes in order, one
// item each, joined by ",": the value's Python repr when ok ("3", "True", "None"), else the
// status name ("zero_division"). So True and 1 differ: "2:3,True,None,zero_division".
std::string Signature(int arity, const std::vector<Outcome>& outcomes);

// Why a sample is not a row. The degenerate reasons are filters, each turned off by the switch
// --keep-<name with '-' for '_'>; a duplicate is a behaviour already kept.
enum class Drop { kAllError, kAllNone, kConstant, kDuplicate };
struct DropRow {
  Drop drop;
  absl::string_view name;  // the summary's key
  bool filter;             // a degenerate reason that a flag can turn off
};
inline constexpr DropRow kDrops[] = {
    {Drop::kAllError, "all_error", true},   // every run is an error
    {Drop::kAllNone, "all_none", true},     // every run returns None
    {Drop::kConstant, "constant", true},    // every run returns the same value, not None
    {Drop::kDuplicate, "duplicate", false}, // its behaviour is kept with a shorter program
};
inline constexpr int kNumDrops = sizeof(kDrops) / sizeof(kDrops[0]);
// The switch that turns a filter off: "keep-all-error", ...
std::string KeepFlag(const DropRow& row);

// The degenerate reason of a behaviour, if any, in kDrops' order (so all-None is not constant,
// and with K = 1 every run that returns a value other than None is constant).
std::optional<Drop> Degenerate(const std::vector<Outcome>& outcomes);

// A kept program: the shortest seen for its behaviour.
struct Row {
  int64_t sample_index = 0;
  int arity = 0;
  std::vector<int32_t> tokens;
  std::vector<Outcome> outcomes;
  std::string signature;
};

struct Summary {
  int64_t sampled = 0;  // samples considered, in sample order
  int64_t tokens = 0;   // their tokens, <eos> included
  int64_t unique_behaviours = 0;  // distinct signatures among them, degenerate ones included
  int64_t dropped[kNumDrops] = {};  // by kDrops' index
};

// Takes the samples in sample order and keeps one row per behaviour that passes the filters:
// the shortest program, and of equally short ones the smallest token list (lexicographically),
// so the choice does not depend on the order programs of one length come in. Rows are in the
// order their behaviour first appeared.
class Deduper {
 public:
  // `filter[i]`: drop kDrops[i]'s reason (ignored for duplicates).
  explicit Deduper(const bool (&filter)[kNumDrops]);

  void Offer(int64_t sample_index, int arity, std::vector<int32_t> tokens,
             std::vector<Outcome> outcomes);

  const std::vector<Row>& rows() const { return rows_; }
  // The summary so far; duplicates are the non-degenerate samples that are not a row.
  Summary summary() const;

 private:
  bool filter_[kNumDrops];
  std::vector<Row> rows_;
  absl::flat_hash_map<std::string, size_t> row_of_;  // signature -> index in rows_
  absl::flat_hash_set<std::string> degenerate_;  // the degenerate signatures seen
  Summary summary_;
  int64_t kept_samples_ = 0;  // samples that passed the filters
};

}  // namespace astcd::cli::dataset

#endif  // ASTCD_CLI_DATASET_H_
