// Samplers choose one legal token per step. Both are seeded and deterministic.
#ifndef ASTCD_CORE_SAMPLER_H_
#define ASTCD_CORE_SAMPLER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/decoder.h"

namespace astcd {

// SplitMix64. Written out here rather than taken from a library so that a seed means the same
// programs on every platform and library version.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next();
  uint64_t Below(uint64_t n);  // uniform in [0, n), n > 0
  double Unit();               // uniform in [0, 1)

 private:
  uint64_t state_;
};

// The stream for result (input_index, sample_index): independent of the rest of the batch.
uint64_t StreamSeed(uint64_t seed, uint64_t input_index, uint64_t sample_index);

class Sampler {
 public:
  explicit Sampler(uint64_t seed) : seed_(seed) {}
  virtual ~Sampler() = default;
  uint64_t seed() const { return seed_; }
  // Returns one token whose bit is set in `mask` (which is never empty).
  virtual int32_t Choose(const DecodeState& state, const uint32_t* mask, Rng& rng) const = 0;
  // The same, given hole == state.hole_view(), which FillMask(out, &hole) computes in its own
  // pass: a sampler that reads the hole need not walk the stack again.
  virtual int32_t Choose(const DecodeState& state, const uint32_t* mask, const HoleView& hole,
                         Rng& rng) const {
    (void)hole;
    return Choose(state, mask, rng);
  }

 private:
  uint64_t seed_;
};

class UniformSampler : public Sampler {
 public:
  using Sampler::Sampler;
  using Sampler::Choose;
  int32_t Choose(const DecodeState& state, const uint32_t* mask, Rng& rng) const override;
};

// Weights for the weighted sampler. Keys are token names ("if", "+", "a", "7", "def/2") or
// token kinds ("statement", "operator", "variable", "constant", "function", "block_end",
// "special"); a name overrides its kind. A kind's weight for variables and constants is
// shared among the legal ones. Opening tokens (those that open holes) are damped as depth
// grows and as the budget's slack shrinks, so programs close.
struct PolicyConfig {
  std::map<std::string, double> weights;  // empty: the documented defaults
  double depth_pressure = 1.5;
  double budget_pressure = 2.0;
};

class WeightedSampler : public Sampler {
 public:
  // Resolves the weights against the engine's vocabulary; unknown keys and negative weights
  // are InvalidArgument naming them.
  static absl::StatusOr<std::unique_ptr<WeightedSampler>> Create(
      uint64_t seed, const PolicyConfig& policy, std::shared_ptr<const Engine> engine);
  int32_t Choose(const DecodeState& state, const uint32_t* mask, Rng& rng) const override;
  int32_t Choose(const DecodeState& state, const uint32_t* mask, const HoleView& hole,
                 Rng& rng) const override;

 private:
  WeightedSampler(uint64_t seed, const PolicyConfig& policy, std::shared_ptr<const Engine> engine)
      : Sampler(seed), policy_(policy), engine_(std::move(engine)) {}

  // What Choose asks of a token, precomputed per token so that its loop reads one byte.
  enum Trait : uint8_t {
    kSharedVariable = 1,  // weight is the variable kind's, split among the legal variables
    kSharedConstant = 2,  // the same for constants
    kOpensHoles = 4,      // costs more than one token: damped by depth and budget
    kEnd = 8,
  };
  // The damping of tokens that open holes: pow(depth room, depth_pressure) * pow(budget room,
  // budget_pressure), with the depth factor from a table built at Create (same values).
  double Opening(const HoleView& hole, int max_len) const;
  double DepthFactor(int depth, int max_depth) const;

  PolicyConfig policy_;
  std::shared_ptr<const Engine> engine_;
  std::vector<double> weight_;   // per token
  std::vector<uint8_t> traits_;  // per token, Trait bits
  std::vector<uint32_t> shared_words_[2];  // per mask word: the kSharedVariable, kSharedConstant bits
  // depth_factors_[i][d] for max_depth = depth_limits_[i] (the config's two) and d <= it.
  int depth_limits_[2] = {-1, -1};
  std::vector<double> depth_factors_[2];
};

#define ASTCD_SAMPLER_KIND(X) \
  X(kUniform, "uniform")      \
  X(kWeighted, "weighted")
ASTCD_WIRE_ENUM(SamplerKind, "sampler", ASTCD_SAMPLER_KIND)

// `kind` is a SamplerKind's name: "uniform" or "weighted". InvalidArgument naming `weights`
// for the uniform sampler with weights (they would be ignored).
absl::StatusOr<std::unique_ptr<Sampler>> MakeSampler(absl::string_view kind, uint64_t seed,
                                                     const PolicyConfig& policy,
                                                     std::shared_ptr<const Engine> engine);

}  // namespace astcd

#endif  // ASTCD_CORE_SAMPLER_H_
