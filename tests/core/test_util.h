// Helpers shared by the core tests: engines from configs, tokens from names, masks as sets.
#ifndef ASTCD_TESTS_CORE_TEST_UTIL_H_
#define ASTCD_TESTS_CORE_TEST_UTIL_H_

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/decoder.h"
#include "core/engine.h"
#include "gtest/gtest.h"

namespace astcd::testing {

inline std::shared_ptr<const Engine> MakeEngine(const DecodeConfig& config = {}) {
  auto engine = Engine::Create(config);
  EXPECT_TRUE(engine.ok()) << engine.status();
  return *engine;
}

// "def/2 = c a end" -> token ids. Unknown names fail the test.
inline std::vector<int32_t> Ids(const Engine& engine, const std::string& names) {
  std::vector<int32_t> ids;
  for (absl::string_view name : absl::StrSplit(names, ' ', absl::SkipEmpty())) {
    auto id = engine.vocab().Find(name);
    EXPECT_TRUE(id.has_value()) << "no token named " << name;
    ids.push_back(id.value_or(0));
  }
  return ids;
}

inline std::set<int> MaskSet(const DecodeState& state) {
  std::vector<uint32_t> row(state.engine().words());
  state.FillMask(row.data());
  std::set<int> ids;
  for (int id = 0; id < state.engine().vocab().size(); ++id) {
    if ((row[id >> 5] >> (id & 31)) & 1u) ids.insert(id);
  }
  return ids;
}

inline std::string MaskNames(const DecodeState& state) {
  std::vector<std::string> names;
  for (int id : MaskSet(state)) names.push_back(state.engine().vocab().info(id).name);
  return absl::StrJoin(names, " ");
}

inline DecodeState MustInit(std::shared_ptr<const Engine> engine, Start start,
                            const std::string& prefix = "", int max_len = 0,
                            std::optional<int> arity = std::nullopt) {
  InitRequest request;
  request.start = start;
  request.prefix_tokens = Ids(*engine, prefix);
  request.max_len = max_len;
  request.arity = arity;
  auto state = InitState(engine, request);
  EXPECT_TRUE(state.ok()) << state.status();
  return *std::move(state);
}

}  // namespace astcd::testing

#endif  // ASTCD_TESTS_CORE_TEST_UTIL_H_
