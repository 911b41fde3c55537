// The session store and the engine cache under many threads: Insert, With, Get, fork, Release
// and TTL eviction (by the sweeper thread and on access) with tenants, a per-tenant cap and a
// byte budget; engine lookups racing on the same and on new configs. In every build the
// counts must balance, no session may be lost, duplicated or handed to another tenant, and
// each config's engine is built once; under ThreadSanitizer (ASTCD_TSAN) the threads are also
// checked for races (docs/reliability.md, section 2).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/decoder.h"
#include "core/engine.h"
#include "gtest/gtest.h"
#include "server/session_store.h"

namespace astcd::server {
namespace {

constexpr int kThreads = 6;

std::shared_ptr<const Engine> DefaultEngine() {
  static const std::shared_ptr<const Engine> engine = *Engine::Create(DecodeConfig{});
  return engine;
}

DecodeState NewState(int max_len) {
  InitRequest request;
  request.start = Start::kExpr;
  request.max_len = max_len;
  return *InitState(DefaultEngine(), request);
}

// The lowest legal token, or -1 when the state is done.
int32_t FirstLegal(const DecodeState& state) {
  if (state.terminated()) return -1;
  std::vector<uint32_t> row(state.engine().words());
  state.FillMask(row.data());
  for (int id = 0; id < state.engine().vocab().size(); ++id) {
    if ((row[id >> 5] >> (id & 31)) & 1u) return id;
  }
  return -1;
}

// What a worker expects of each session it holds: its tokens.
using Expected = std::map<std::string, std::vector<int32_t>>;

TEST(SessionStoreStress, ChurnFromManyThreadsBalancesAndLosesNothing) {
  std::atomic<int64_t> clock_ns{0};
  SessionStoreOptions options;
  options.max_sessions = 120;
  options.max_sessions_per_tenant = 30;
  options.max_session_bytes =
      DefaultEngine()->ApproxBytes() + 100 * NewState(24).MaxApproxBytes();
  options.ttl = absl::Milliseconds(50);
  options.num_shards = 4;
  options.sweep_interval = absl::Milliseconds(1);  // the sweeper races the workers
  options.clock = [&clock_ns] { return absl::FromUnixNanos(clock_ns.load()); };
  SessionStore store(options);

  std::atomic<bool> done{false};
  // Time moves on in steps, so that idle sessions expire now and then under the workers.
  std::thread ticker([&] {
    while (!done.load()) {
      clock_ns.fetch_add(absl::ToInt64Nanoseconds(absl::Milliseconds(2)));
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  });

  std::vector<std::vector<std::string>> all_ids(kThreads);
  std::vector<int64_t> refused(kThreads, 0), evicted_seen(kThreads, 0), released(kThreads, 0);
  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&, t] {
      const std::string tenant = absl::StrCat("tenant", t % 3);
      const std::string other = absl::StrCat("tenant", (t + 1) % 3);
      std::mt19937 rng(t);
      Expected held;
      auto forget = [&](const std::string& id) { held.erase(id); };
      for (int round = 0; round < 400; ++round) {
        switch (rng() % 5) {
          case 0:
          case 1: {  // insert 1..3 sessions
            std::vector<DecodeState> states;
            const int n = 1 + static_cast<int>(rng() % 3);
            for (int k = 0; k < n; ++k) states.push_back(NewState(24));
            absl::StatusOr<std::vector<std::string>> ids = store.Insert(std::move(states), tenant);
            if (!ids.ok()) {
              EXPECT_EQ(ids.status().code(), absl::StatusCode::kResourceExhausted) << ids.status();
              ++refused[t];
              break;
            }
            EXPECT_EQ(ids->size(), static_cast<size_t>(n));
            for (const std::string& id : *ids) {
              held[id] = {};
              all_ids[t].push_back(id);
            }
            break;
          }
          case 2: {  // advance one held session by its first legal token
            if (held.empty()) break;
            auto it = std::next(held.begin(), static_cast<long>(rng() % held.size()));
            const std::string id = it->first;
            absl::Status s = store.With({id}, "ids", [&](absl::Span<DecodeState* const> states) {
              EXPECT_EQ(states[0]->tokens(), it->second) << "session " << id << " changed";
              const int32_t token = FirstLegal(*states[0]);
              if (token < 0) return absl::OkStatus();
              absl::Status advanced = Advance(states, {token});
              if (advanced.ok()) it->second.push_back(token);
              return advanced;
            }, tenant);
            if (s.code() == absl::StatusCode::kNotFound) {  // expired
              ++evicted_seen[t];
              forget(id);
            } else {
              EXPECT_TRUE(s.ok()) << s;
            }
            // Another tenant never sees it.
            EXPECT_EQ(store.With({id}, "ids", [](auto) { return absl::OkStatus(); }, other).code(),
                      absl::StatusCode::kNotFound);
            break;
          }
          case 3: {  // fork: Get a copy and store it as a new session
            if (held.empty()) break;
            auto it = std::next(held.begin(), static_cast<long>(rng() % held.size()));
            const std::string id = it->first;
            absl::StatusOr<std::vector<DecodeState>> copy = store.Get({id}, "ids", tenant);
            if (!copy.ok()) {
              EXPECT_EQ(copy.status().code(), absl::StatusCode::kNotFound) << copy.status();
              ++evicted_seen[t];
              forget(id);
              break;
            }
            EXPECT_EQ((*copy)[0].tokens(), it->second);
            const std::vector<int32_t> tokens = it->second;
            absl::StatusOr<std::vector<std::string>> ids = store.Insert(*std::move(copy), tenant);
            if (ids.ok()) {
              held[(*ids)[0]] = tokens;
              all_ids[t].push_back((*ids)[0]);
            } else {
              ++refused[t];
            }
            break;
          }
          case 4: {  // release a held session (twice: the second finds nothing)
            if (held.empty()) break;
            const std::string id =
                std::next(held.begin(), static_cast<long>(rng() % held.size()))->first;
            EXPECT_EQ(store.Release({id}, other), 0);  // not the other tenant's to release
            const int n = store.Release({id}, tenant);
            released[t] += n;
            EXPECT_EQ(store.Release({id}, tenant), 0);
            forget(id);
            break;
          }
        }
      }
      for (const auto& [id, tokens] : held) released[t] += store.Release({id}, tenant);
    });
  }
  for (std::thread& w : workers) w.join();
  done.store(true);
  ticker.join();

  // No id was handed out twice.
  std::set<std::string> unique;
  int64_t created = 0;
  for (const auto& ids : all_ids) {
    for (const std::string& id : ids) EXPECT_TRUE(unique.insert(id).second) << id;
    created += static_cast<int64_t>(ids.size());
  }
  int64_t released_total = 0;
  for (int64_t r : released) released_total += r;
  // Everything stored was released or evicted, and the counts and bytes went back to zero.
  EXPECT_EQ(store.Sweep(), 0);
  EXPECT_EQ(store.size(), 0);
  EXPECT_EQ(store.bytes(), 0);
  EXPECT_EQ(store.created_total(), created);
  EXPECT_EQ(store.released_total(), released_total);
  EXPECT_EQ(store.created_total(), store.released_total() + store.evicted_total());
  EXPECT_GT(created, 200);  // the workers did real work
  // Every tenant's count went back to zero: each may store its whole cap again.
  for (int k = 0; k < 3; ++k) {
    std::vector<DecodeState> states;
    for (int i = 0; i < options.max_sessions_per_tenant; ++i) states.push_back(NewState(24));
    EXPECT_TRUE(store.Insert(std::move(states), absl::StrCat("tenant", k)).ok()) << k;
  }
}

// Every thread works on the same few sessions, in batches of one to three, beside Gets,
// Inserts and Releases of other sessions on the same shards. Each session's expected tokens
// live outside the store, guarded only by the session's own lock in With: a call that ran
// beside another on one session would see tokens it did not expect (and, under TSan, race).
TEST(SessionStoreStress, CallsOnSharedSessionsRunOneAtATime) {
  SessionStoreOptions options;
  options.num_shards = 2;
  options.sweep_interval = absl::Milliseconds(1);
  SessionStore store(options);
  constexpr int kShared = 5;
  std::vector<DecodeState> states;
  for (int i = 0; i < kShared; ++i) states.push_back(NewState(24));
  const std::vector<std::string> ids = *store.Insert(std::move(states));
  std::vector<std::vector<int32_t>> expected(kShared);
  std::atomic<int64_t> steps{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&, t] {
      std::mt19937 rng(100 + t);
      for (int round = 0; round < 300; ++round) {
        std::vector<int> pick(kShared);
        for (int i = 0; i < kShared; ++i) pick[i] = i;
        std::shuffle(pick.begin(), pick.end(), rng);
        pick.resize(1 + rng() % 3);
        std::vector<std::string> batch;
        for (int i : pick) batch.push_back(ids[i]);
        absl::Status s = store.With(batch, "ids", [&](absl::Span<DecodeState* const> held) {
          for (size_t k = 0; k < held.size(); ++k) {
            std::vector<int32_t>& want = expected[pick[k]];
            EXPECT_EQ(held[k]->tokens(), want) << "session " << pick[k] << " changed under us";
            const int32_t token = FirstLegal(*held[k]);
            if (token < 0) {  // done: start it over
              EXPECT_TRUE(Rollback(*held[k], static_cast<int>(want.size())).ok());
              want.clear();
            } else {
              EXPECT_TRUE(AdvanceDistinct({held[k]}, {token}).ok());
              want.push_back(token);
              steps.fetch_add(1);
            }
          }
          return absl::OkStatus();
        });
        EXPECT_TRUE(s.ok()) << s;
        if (round % 10 == 0) {  // traffic of other sessions on the same shards
          absl::StatusOr<std::vector<DecodeState>> copy = store.Get({ids[pick[0]]}, "ids");
          ASSERT_TRUE(copy.ok()) << copy.status();
          absl::StatusOr<std::vector<std::string>> forked = store.Insert(*std::move(copy));
          ASSERT_TRUE(forked.ok()) << forked.status();
          EXPECT_EQ(store.Release(*forked), 1);
        }
      }
    });
  }
  for (std::thread& w : workers) w.join();
  for (int i = 0; i < kShared; ++i) {
    EXPECT_TRUE(store.With({ids[i]}, "ids", [&](absl::Span<DecodeState* const> held) {
      EXPECT_EQ(held[0]->tokens(), expected[i]) << i;
      return absl::OkStatus();
    }).ok());
  }
  EXPECT_GT(steps.load(), kThreads * 300);  // the threads did real work
  EXPECT_EQ(store.Release(ids), kShared);
  EXPECT_EQ(store.size(), 0);
  EXPECT_EQ(store.bytes(), 0);
}

// Ids drawn from 64 values collide often: each collision must be retried with the state
// intact (Insert used to move the state into a temporary before checking the id, so the
// retry stored a moved-from state).
TEST(SessionStoreStress, IdCollisionsUnderConcurrentInsertsKeepEveryState) {
  SessionStoreOptions options;
  options.sweep_interval = absl::ZeroDuration();
  options.num_shards = 2;
  options.new_id = [] {
    thread_local std::mt19937 rng(std::hash<std::thread::id>{}(std::this_thread::get_id()));
    return absl::StrFormat("%032x", rng() % 64);
  };
  std::atomic<int64_t> checked{0};
  SessionStore store(options);
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([&, t] {
      for (int round = 0; round < 100; ++round) {
        std::vector<DecodeState> states;
        std::vector<int> lens;
        for (int k = 0; k < 3; ++k) {  // at most 12 live of 64 ids
          lens.push_back(16 + (t * 100 + round * 3 + k) % 200);
          states.push_back(NewState(lens.back()));
        }
        absl::StatusOr<std::vector<std::string>> ids = store.Insert(std::move(states));
        ASSERT_TRUE(ids.ok()) << ids.status();
        absl::StatusOr<std::vector<DecodeState>> got = store.Get(*ids, "ids");
        ASSERT_TRUE(got.ok()) << got.status();
        for (int k = 0; k < 3; ++k) {
          EXPECT_EQ((*got)[k].max_len(), lens[k]);
          EXPECT_EQ(&(*got)[k].engine(), DefaultEngine().get());
          checked.fetch_add(1);
        }
        EXPECT_EQ(store.Release(*ids), 3);
      }
    });
  }
  for (std::thread& w : workers) w.join();
  EXPECT_EQ(checked.load(), 4 * 100 * 3);
  EXPECT_EQ(store.size(), 0);
  EXPECT_EQ(store.bytes(), 0);
}

DecodeConfig ConfigNumber(int i) {
  DecodeConfig c;
  c.max_block_stmts = 1 + i;  // a distinct engine per i
  return c;
}

// A builder that counts, and is slow enough that requests really meet on a build.
EngineCache::Builder SlowCountingBuilder(std::atomic<int>* builds) {
  return [builds](const DecodeConfig& c) -> absl::StatusOr<std::shared_ptr<const Engine>> {
    builds->fetch_add(1);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return Engine::Create(c);
  };
}

TEST(EngineCacheStress, ConcurrentRequestsForANewConfigBuildItOnce) {
  std::atomic<int> builds{0};
  EngineCache cache(16, SlowCountingBuilder(&builds));
  for (int config = 0; config < 3; ++config) {
    std::vector<const Engine*> got(8, nullptr);
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&, t] {
        absl::StatusOr<std::shared_ptr<const Engine>> e = cache.Get(ConfigNumber(config));
        ASSERT_TRUE(e.ok()) << e.status();
        got[t] = e->get();
      });
    }
    for (std::thread& t : threads) t.join();
    for (const Engine* e : got) EXPECT_EQ(e, got[0]);  // one engine, shared
    EXPECT_EQ(got[0]->config().max_block_stmts, 1 + config);
  }
  EXPECT_EQ(builds.load(), 3);
  EXPECT_EQ(cache.builds(), 3);
  EXPECT_EQ(cache.size(), 3u);
}

TEST(EngineCacheStress, ManyConfigsOverASmallCacheStayWithinCapacity) {
  std::atomic<int> builds{0};
  EngineCache cache(3, [&builds](const DecodeConfig& c) {
    builds.fetch_add(1);
    return Engine::Create(c);
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(t);
      for (int k = 0; k < 60; ++k) {
        const int i = static_cast<int>(rng() % 6);
        absl::StatusOr<std::shared_ptr<const Engine>> e = cache.Get(ConfigNumber(i));
        ASSERT_TRUE(e.ok()) << e.status();
        EXPECT_EQ((*e)->config().max_block_stmts, 1 + i);  // never another config's engine
        EXPECT_LE(cache.size(), 3u);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_EQ(cache.builds(), builds.load());
  EXPECT_GE(builds.load(), 6);
  // A bad config fails for every request at once, and is not cached.
  DecodeConfig bad;
  bad.max_block_stmts = 0;
  std::vector<std::thread> failing;
  std::atomic<int> errors{0};
  for (int t = 0; t < 4; ++t) {
    failing.emplace_back([&] {
      if (cache.Get(bad).status().code() == absl::StatusCode::kInvalidArgument) errors++;
    });
  }
  for (std::thread& t : failing) t.join();
  EXPECT_EQ(errors.load(), 4);
  EXPECT_EQ(cache.size(), 3u);
}

}  // namespace
}  // namespace astcd::server
