// The renderer: goldens for a short stream, and properties over seeded random walks (several
// configs, every start): each frame's source is what the codec prints for that prefix, its
// legal set is the decoder's mask, and holes show exactly while the program is incomplete.
#include "core/render.h"

#include <set>

#include "core/codec.h"
#include "core/errors.h"
#include "core/grammar.h"
#include "core/sampler.h"
#include "gtest/gtest.h"
#include "tests/core/test_util.h"

namespace astcd {
namespace {

using ::astcd::testing::Ids;
using ::astcd::testing::MakeEngine;
using ::astcd::testing::MaskSet;
using ::astcd::testing::MustInit;

bool HasHole(const std::string& source) {
  for (Hole hole : {Hole::kFunc, Hole::kStmt, Hole::kExpr, Hole::kTarget}) {
    const absl::string_view name = HoleName(hole);
    if (source.find(name.data(), 0, name.size()) != std::string::npos) return true;
  }
  return false;
}

TEST(RenderGolden, FunctionFrames) {
  auto engine = MakeEngine();
  auto frames = RenderFrames(engine, Start::kFunction, std::nullopt,
                             Ids(*engine, "def/1 return + a 1 end <eos>"));
  ASSERT_TRUE(frames.ok()) << frames.status();
  std::vector<std::string> sources;
  for (const Frame& f : *frames) sources.push_back(f.source);
  // An open body ends with a <stmt> hole until its `end`.
  EXPECT_EQ(sources, (std::vector<std::string>{
                         "<def>\n",
                         "def func(a):\n    <stmt>\n",
                         "def func(a):\n    return <expr>\n    <stmt>\n",
                         "def func(a):\n    return <expr> + <expr>\n    <stmt>\n",
                         "def func(a):\n    return a + <expr>\n    <stmt>\n",
                         "def func(a):\n    return a + 1\n    <stmt>\n",
                         "def func(a):\n    return a + 1\n",
                         "def func(a):\n    return a + 1\n",
                     }));
  EXPECT_FALSE((*frames)[5].complete);
  EXPECT_TRUE((*frames)[6].complete);
  EXPECT_FALSE((*frames)[6].terminated);
  EXPECT_TRUE((*frames)[7].terminated);
  EXPECT_EQ((*frames)[7].legal, std::vector<int32_t>{Vocabulary::pad_id()});
}

TEST(RenderGolden, ExprStartsAsAHole) {
  auto engine = MakeEngine();
  auto frames = RenderFrames(engine, Start::kExpr, 2, {});
  ASSERT_TRUE(frames.ok()) << frames.status();
  ASSERT_EQ(frames->size(), 1u);
  EXPECT_EQ((*frames)[0].source, "<expr>");
  EXPECT_FALSE((*frames)[0].complete);
}

TEST(RenderErrors, NameTheBadToken) {
  auto engine = MakeEngine();
  std::vector<int32_t> tokens = Ids(*engine, "def/1 return end");  // `end` cannot be an expr
  auto frames = RenderFrames(engine, Start::kFunction, std::nullopt, tokens);
  ASSERT_FALSE(frames.ok());
  EXPECT_EQ(FieldPathOf(frames.status()), "tokens[2]");
  tokens = {Ids(*engine, "def/1")[0], engine->vocab().size()};
  frames = RenderFrames(engine, Start::kFunction, std::nullopt, tokens);
  ASSERT_FALSE(frames.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(frames.status()));
  EXPECT_EQ(FieldPathOf(frames.status()), "tokens[1]");
}

// A random walk to EOS, choosing among the decoder's own mask (not the renderer's).
std::vector<int32_t> Walk(const std::shared_ptr<const Engine>& engine, Start start,
                          int max_len, uint64_t seed) {
  DecodeState state = MustInit(engine, start, "", max_len);
  Rng rng(seed);
  while (!state.terminated()) {
    const std::set<int> legal = MaskSet(state);
    auto it = legal.begin();
    std::advance(it, rng.Below(legal.size()));
    EXPECT_TRUE(state.Advance(*it).ok());
  }
  return state.tokens();
}

DecodeConfig Shaped() {
  DecodeConfig c;
  c.use_all_params = true;
  c.no_unused_locals = true;
  c.no_dead_code = true;
  return c;
}

DecodeConfig Loops() {
  DecodeConfig c;
  c.allow_loops = true;
  c.max_block_stmts = 3;
  return c;
}

void CheckWalk(const std::shared_ptr<const Engine>& engine, Start start, int max_len,
               uint64_t seed) {
  const std::vector<int32_t> tokens = Walk(engine, start, max_len, seed);
  auto frames = RenderFrames(engine, start, std::nullopt, tokens, max_len);
  ASSERT_TRUE(frames.ok()) << frames.status();
  ASSERT_EQ(frames->size(), tokens.size() + 1);
  DecodeState state = MustInit(engine, start, "", max_len);
  for (size_t k = 0; k <= tokens.size(); ++k) {
    const Frame& frame = (*frames)[k];
    const absl::Span<const int32_t> prefix(tokens.data(), k);
    SCOPED_TRACE(::testing::Message() << "seed " << seed << " frame " << k);
    // The walk's frame k is the one-shot rendering of the prefix (the printer itself is shared:
    // tests/cli/visualize_test.py checks partial sources against CPython's parser).
    auto source = TokensToSource(engine, start, std::nullopt, prefix, /*partial=*/true);
    ASSERT_TRUE(source.ok()) << source.status();
    EXPECT_EQ(frame.source, *source);
    EXPECT_EQ(frame.source, Detokenize(engine, start, std::nullopt, prefix, true).source);
    const std::set<int> mask = MaskSet(state);
    EXPECT_EQ(std::set<int>(frame.legal.begin(), frame.legal.end()), mask);
    EXPECT_TRUE(std::is_sorted(frame.legal.begin(), frame.legal.end()));
    EXPECT_EQ(frame.complete, state.complete());
    EXPECT_EQ(frame.terminated, state.terminated());
    EXPECT_EQ(HasHole(frame.source), !frame.complete) << frame.source;
    if (k < tokens.size()) {
      ASSERT_TRUE(state.Advance(tokens[k]).ok());
    }
  }
  EXPECT_TRUE(frames->back().terminated);
}

TEST(RenderProperty, FramesMatchTheCodecAndTheMask) {
  for (const DecodeConfig& config : {DecodeConfig{}, Shaped(), Loops()}) {
    auto engine = MakeEngine(config);
    for (Start start : {Start::kModule, Start::kFunction, Start::kBlock, Start::kExpr}) {
      for (uint64_t seed = 0; seed < 25; ++seed) CheckWalk(engine, start, 60, seed);
    }
  }
}

// RenderSource of a state is Detokenize's partial source for its tokens, including after an
// undo (Rollback), which play relies on.
TEST(RenderProperty, RollbackRendersThePrefix) {
  auto engine = MakeEngine();
  const std::vector<int32_t> tokens = Walk(engine, Start::kModule, 80, 7);
  auto frames = RenderFrames(engine, Start::kModule, std::nullopt, tokens, 80);
  ASSERT_TRUE(frames.ok());
  DecodeState state = MustInit(engine, Start::kModule, "", 80);
  for (int32_t t : tokens) ASSERT_TRUE(state.Advance(t).ok());
  for (int k = static_cast<int>(tokens.size()); k > 0; --k) {
    ASSERT_TRUE(Rollback(state, 1).ok());
    const Frame frame = RenderState(state);
    EXPECT_EQ(frame.source, (*frames)[k - 1].source);
    EXPECT_EQ(frame.legal, (*frames)[k - 1].legal);
  }
}

}  // namespace
}  // namespace astcd
