#include "server/session_store.h"

#include <atomic>
#include <cctype>
#include <chrono>
#include <future>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/decoder.h"
#include "core/engine.h"
#include "core/errors.h"
#include "gtest/gtest.h"

namespace astcd::server {
namespace {

std::vector<DecodeState> States(int n) {
  static const std::shared_ptr<const Engine> engine = *Engine::Create(DecodeConfig{});
  std::vector<DecodeState> out;
  for (int i = 0; i < n; ++i) out.push_back(*InitState(engine, InitRequest{}));
  return out;
}

TEST(SessionStore, IdsAre32HexDigitsAndDistinct) {
  std::set<std::string> seen;
  for (int i = 0; i < 2000; ++i) {
    const std::string id = NewSessionId();
    ASSERT_EQ(id.size(), 32u);
    for (char c : id) ASSERT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) << id;
    ASSERT_TRUE(seen.insert(id).second) << id;
  }
}

TEST(SessionStore, CapIsAllOrNothingAndReleaseMakesRoom) {
  SessionStoreOptions options;
  options.max_sessions = 3;
  options.sweep_interval = absl::ZeroDuration();
  SessionStore store(options);
  absl::StatusOr<std::vector<std::string>> a = store.Insert(States(2));
  ASSERT_TRUE(a.ok()) << a.status();
  absl::StatusOr<std::vector<std::string>> b = store.Insert(States(2));
  EXPECT_EQ(b.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(store.size(), 2);
  ASSERT_TRUE(store.Insert(States(1)).ok());
  EXPECT_EQ(store.Insert(States(1)).status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(store.Release({(*a)[0], (*a)[0], "unknown"}), 1);
  EXPECT_EQ(store.size(), 2);
  EXPECT_TRUE(store.Insert(States(1)).ok());
}

TEST(SessionStore, ByteBudgetCountsEachSessionAtItsMostAndEachEngineOnce) {
  const std::vector<DecodeState> one = States(1);
  const int64_t session = one[0].MaxApproxBytes();
  const int64_t engine = one[0].engine().ApproxBytes();
  SessionStoreOptions options;
  options.sweep_interval = absl::ZeroDuration();
  options.max_session_bytes = engine + 3 * session;  // room for exactly three
  SessionStore store(options);
  absl::StatusOr<std::vector<std::string>> a = store.Insert(States(2));
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(store.bytes(), engine + 2 * session);
  absl::StatusOr<std::vector<std::string>> b = store.Insert(States(2));
  EXPECT_EQ(b.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(FieldPathOf(b.status()), "sessions");
  EXPECT_EQ(store.size(), 2);  // all or nothing
  EXPECT_EQ(store.Admits(2, 2 * session).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(store.Admits(1, session).ok());
  ASSERT_TRUE(store.Insert(States(1)).ok());
  // Releasing every session gives back the engine too.
  EXPECT_EQ(store.Release(*a), 2);
  EXPECT_EQ(store.bytes(), engine + session);
  EXPECT_TRUE(store.Insert(States(2)).ok());
}

TEST(SessionStore, TtlEvictsIdleSessionsWithAnInjectedClock) {
  absl::Time now = absl::UnixEpoch();
  SessionStoreOptions options;
  options.ttl = absl::Seconds(10);
  options.sweep_interval = absl::ZeroDuration();
  options.clock = [&now] { return now; };
  SessionStore store(options);
  std::vector<std::string> ids = *store.Insert(States(3));
  now += absl::Seconds(8);
  ASSERT_TRUE(store.Get({ids[0]}, "session_ids").ok());  // touched: lives on
  now += absl::Seconds(8);
  EXPECT_TRUE(store.Get({ids[0]}, "session_ids").ok());
  absl::Status gone = store.Get({ids[0], ids[1]}, "session_ids").status();
  EXPECT_EQ(gone.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(FieldPathOf(gone), "session_ids[1]");
  EXPECT_EQ(store.Sweep(), 1);  // ids[2]; ids[1] went on access
  EXPECT_EQ(store.size(), 1);
}

TEST(SessionStore, SweeperThreadEvicts) {
  SessionStoreOptions options;
  options.ttl = absl::Milliseconds(50);
  options.sweep_interval = absl::Milliseconds(10);
  SessionStore store(options);
  ASSERT_TRUE(store.Insert(States(4)).ok());
  for (int i = 0; i < 200 && store.size() > 0; ++i) absl::SleepFor(absl::Milliseconds(10));
  EXPECT_EQ(store.size(), 0);
}

TEST(SessionStore, WithRefusesDuplicatesAndUnknownIdsWithoutCallingFn) {
  SessionStoreOptions options;
  options.sweep_interval = absl::ZeroDuration();
  SessionStore store(options);
  std::vector<std::string> ids = *store.Insert(States(2));
  bool called = false;
  auto fn = [&](absl::Span<DecodeState* const>) {
    called = true;
    return absl::OkStatus();
  };
  absl::Status dup = store.With({ids[0], ids[1], ids[0]}, "session_ids", fn);
  EXPECT_EQ(dup.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FieldPathOf(dup), "session_ids[2]");
  absl::Status missing = store.With({ids[1], "nope"}, "session_ids", fn);
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(called);
  EXPECT_TRUE(store.With(ids, "session_ids", fn).ok());
  EXPECT_TRUE(called);
}

// One session's fn blocks until `open` is set; the helpers below run beside it. All sessions
// share one shard, so a With that held its shards' locks during fn would block every other.
struct BlockedWith {
  explicit BlockedWith(SessionStore* store, std::string id) {
    done = std::async(std::launch::async, [this, store, id] {
      return store->With({id}, "session_ids", [this](absl::Span<DecodeState* const>) {
        entered.set_value();
        open.get_future().wait();
        finished.store(true);
        return absl::OkStatus();
      });
    });
    entered.get_future().wait();
  }
  absl::Status Finish() {
    open.set_value();
    return done.get();
  }
  std::promise<void> entered, open;
  std::atomic<bool> finished{false};
  std::future<absl::Status> done;
};

SessionStoreOptions OneShard() {
  SessionStoreOptions options;
  options.sweep_interval = absl::ZeroDuration();
  options.num_shards = 1;
  return options;
}

TEST(SessionStore, WithHoldsNoLockAnotherSessionNeedsWhileFnRuns) {
  SessionStore store(OneShard());
  const std::vector<std::string> ids = *store.Insert(States(2));
  BlockedWith blocked(&store, ids[0]);
  // A bound on liveness, not on speed: the old shard lock made this wait for Finish().
  std::future<absl::Status> other = std::async(std::launch::async, [&] {
    return store.With({ids[1]}, "session_ids", [](auto) { return absl::OkStatus(); });
  });
  if (other.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
    EXPECT_TRUE(blocked.Finish().ok());
    FAIL() << "another session's With waited for a long fn";
  }
  EXPECT_FALSE(blocked.finished.load());
  // Insert, Get and Release of other sessions go on too.
  EXPECT_TRUE(store.Insert(States(1)).ok());
  EXPECT_TRUE(store.Get({ids[1]}, "session_ids").ok());
  EXPECT_EQ(store.Release({ids[1]}), 1);
  EXPECT_TRUE(blocked.Finish().ok());
  EXPECT_TRUE(other.get().ok());
}

TEST(SessionStore, TwoCallsOnOneSessionRunOneAfterTheOther) {
  SessionStore store(OneShard());
  const std::vector<std::string> ids = *store.Insert(States(1));
  BlockedWith blocked(&store, ids[0]);
  std::future<bool> second = std::async(std::launch::async, [&] {
    bool saw_first_finished = false;
    EXPECT_TRUE(store.With({ids[0]}, "session_ids", [&](auto) {
      saw_first_finished = blocked.finished.load();
      return absl::OkStatus();
    }).ok());
    return saw_first_finished;
  });
  // Time for a second call that did not wait to run its fn (and fail); one that waits passes.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_TRUE(blocked.Finish().ok());
  EXPECT_TRUE(second.get()) << "the second call ran while the first held the session";
}

TEST(SessionStore, AReleaseDuringFnWinsAfterIt) {
  SessionStore store(OneShard());
  const std::vector<std::string> ids = *store.Insert(States(1));
  BlockedWith blocked(&store, ids[0]);
  const int64_t held = store.bytes();
  EXPECT_EQ(store.Release({ids[0]}), 1);  // does not wait for fn
  EXPECT_EQ(store.Release({ids[0]}), 0);  // gone for everyone at once
  EXPECT_EQ(store.size(), 0);
  EXPECT_EQ(store.bytes(), held);      // its memory is still the call's
  EXPECT_TRUE(blocked.Finish().ok());  // fn's state lived until it returned
  EXPECT_EQ(store.bytes(), 0);
  EXPECT_EQ(store.Sweep(), 0);
  EXPECT_EQ(store.With({ids[0]}, "session_ids", [](auto) { return absl::OkStatus(); }).code(),
            absl::StatusCode::kNotFound);
}

// A one-shard store with a 10 s TTL, on a clock the test moves.
struct TenSecondTtl {
  absl::Time now = absl::UnixEpoch();
  SessionStore store{[this] {
    SessionStoreOptions options = OneShard();
    options.ttl = absl::Seconds(10);
    options.clock = [this] { return now; };
    return options;
  }()};
};

TEST(SessionStore, AnExpiryDuringFnCountsOnceAndFreesAfterIt) {
  TenSecondTtl t;
  absl::Time& now = t.now;
  SessionStore& store = t.store;
  const std::vector<std::string> ids = *store.Insert(States(2));
  BlockedWith blocked(&store, ids[0]);
  now += absl::Seconds(11);
  // The held one expires on access (another call names it): counted gone now, and once.
  EXPECT_EQ(store.With({ids[0]}, "session_ids", [](auto) { return absl::OkStatus(); }).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store.Release({ids[0]}), 0);
  EXPECT_EQ(store.Sweep(), 1);  // the other one
  EXPECT_EQ(store.Sweep(), 0);
  EXPECT_EQ(store.size(), 0);
  EXPECT_GT(store.bytes(), 0);  // until the call lets it go
  EXPECT_TRUE(blocked.Finish().ok());
  EXPECT_EQ(store.bytes(), 0);
  EXPECT_EQ(store.created_total(), store.evicted_total());
  EXPECT_EQ(store.evicted_total(), 2);
  // A new session may take the freed place.
  EXPECT_TRUE(store.Insert(States(1)).ok());
  EXPECT_EQ(store.size(), 1);
}

TEST(SessionStore, ARefusedWithDoesNotRefreshTheTtl) {
  TenSecondTtl t;
  absl::Time& now = t.now;
  SessionStore& store = t.store;
  const std::vector<std::string> ids = *store.Insert(States(2));
  now += absl::Seconds(6);
  EXPECT_EQ(store.With({ids[0], "nope"}, "session_ids", [](auto) { return absl::OkStatus(); })
                .code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(store.With({ids[1]}, "session_ids", [](auto) { return absl::OkStatus(); }).ok());
  now += absl::Seconds(6);  // 12 s after the insert, 6 s after ids[1]'s call
  EXPECT_EQ(store.Sweep(), 1);
  EXPECT_TRUE(store.With({ids[1]}, "session_ids", [](auto) { return absl::OkStatus(); }).ok());
}

// With's answer as a scan in order gives it: the first id named twice, else the first unknown.
absl::Status ScanAnswer(const std::vector<std::string>& ids, const std::set<std::string>& live) {
  std::map<std::string, size_t> seen;
  for (size_t i = 0; i < ids.size(); ++i) {
    auto [it, fresh] = seen.emplace(ids[i], i);
    if (!fresh) {
      return FieldStatus(absl::StatusCode::kInvalidArgument, absl::StrCat("session_ids[", i, "]"),
                         absl::StrCat("session '", ids[i], "' is named twice (also at session_ids[",
                                      it->second, "])"));
    }
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    if (!live.contains(ids[i])) {
      return FieldStatus(absl::StatusCode::kNotFound, absl::StrCat("session_ids[", i, "]"),
                         absl::StrCat("session '", ids[i],
                                      "' does not exist (unknown, released or expired)"));
    }
  }
  return absl::OkStatus();
}

TEST(SessionStore, WithReportsTheFirstRepeatAsAScanInOrderWould) {
  SessionStoreOptions options;
  options.sweep_interval = absl::ZeroDuration();
  options.num_shards = 4;  // several ids per shard
  SessionStore store(options);
  const std::vector<std::string> live = *store.Insert(States(6));
  std::vector<std::string> pool = live;
  std::string upper = live[0];  // not lowercase hex: no key, and not live[0]
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (std::string junk : {upper, std::string("nope"), std::string(33, 'a'), NewSessionId()}) {
    pool.push_back(junk);
  }
  const std::set<std::string> live_set(live.begin(), live.end());
  std::mt19937 rng(7);
  for (int trial = 0; trial < 3000; ++trial) {
    std::vector<std::string> ids(1 + rng() % 12);
    for (std::string& id : ids) id = pool[rng() % pool.size()];
    const absl::Status want = ScanAnswer(ids, live_set);
    const absl::Status got = store.With(ids, "session_ids", [](absl::Span<DecodeState* const>) {
      return absl::OkStatus();
    });
    ASSERT_EQ(got.code(), want.code()) << got;
    ASSERT_EQ(FieldPathOf(got), FieldPathOf(want)) << got;
    ASSERT_EQ(got.message(), want.message());
  }
}

TEST(SessionStore, SessionKeyTakesExactly32LowercaseHexDigits) {
  const std::string id = "0123456789abcdef00ff10fe20ed30dc";
  EXPECT_EQ(SessionKey(id), absl::MakeUint128(0x0123456789abcdefu, 0x00ff10fe20ed30dcu));
  EXPECT_EQ(SessionKey(std::string(32, 'f')), absl::Uint128Max());
  EXPECT_EQ(SessionKey(std::string(32, '0')), absl::uint128(0));
  for (size_t i = 0; i < id.size(); ++i) {  // every byte at every place
    for (int byte = 0; byte < 256; ++byte) {
      std::string s = id;
      s[i] = static_cast<char>(byte);
      const bool hex = (byte >= '0' && byte <= '9') || (byte >= 'a' && byte <= 'f');
      const int shift = 4 * (31 - static_cast<int>(i));
      const absl::uint128 digit = hex ? (byte <= '9' ? byte - '0' : byte - 'a' + 10) : 0;
      const absl::uint128 want =
          (*SessionKey(id) & ~(absl::uint128(0xf) << shift)) | (digit << shift);
      ASSERT_EQ(SessionKey(s), hex ? std::optional<absl::uint128>(want) : std::nullopt)
          << i << " " << byte;
    }
  }
  EXPECT_EQ(SessionKey(id.substr(1)), std::nullopt);
  EXPECT_EQ(SessionKey(id + "0"), std::nullopt);
}

TEST(SessionStore, DiscardFreesLikeReleaseButCountsApart) {
  SessionStore store(SessionStoreOptions{});
  std::vector<std::string> ids = *store.Insert(States(3));
  EXPECT_EQ(store.Discard({ids[0], ids[1], "unknown"}), 2);
  EXPECT_EQ(store.Discard({ids[2]}, "another tenant"), 0);  // not its session
  EXPECT_EQ(store.size(), 1);
  EXPECT_EQ(store.discarded_total(), 2);
  EXPECT_EQ(store.released_total(), 0);
  EXPECT_EQ(store.Release({ids[2]}), 1);
  EXPECT_EQ(store.size(), 0);
  EXPECT_EQ(store.bytes(), 0);
  EXPECT_EQ(store.created_total(),
            store.released_total() + store.evicted_total() + store.discarded_total());
}

TEST(SessionStore, TotalsCountCreatedReleasedAndEvicted) {
  absl::Time now = absl::UnixEpoch();
  SessionStoreOptions options;
  options.max_sessions = 4;
  options.ttl = absl::Seconds(10);
  options.sweep_interval = absl::ZeroDuration();
  options.clock = [&now] { return now; };
  SessionStore store(options);
  std::vector<std::string> ids = *store.Insert(States(3));
  EXPECT_FALSE(store.Insert(States(2)).ok());  // over the cap: nothing created
  EXPECT_EQ(store.Release({ids[0], ids[0], "unknown"}), 1);
  now += absl::Seconds(11);
  EXPECT_FALSE(store.Get({ids[1]}, "session_ids").ok());  // expired, evicted on access
  EXPECT_EQ(store.Sweep(), 1);                           // ids[2]
  EXPECT_EQ(store.created_total(), 3);
  EXPECT_EQ(store.released_total(), 1);
  EXPECT_EQ(store.evicted_total(), 2);
  EXPECT_EQ(store.size(), 0);
  EXPECT_EQ(store.max_sessions(), 4);
}

// Insert retries an id already in use; the state must survive the failed try (it used to be
// moved into a temporary first, so the retry stored a moved-from state).
TEST(SessionStore, AnIdCollisionIsRetriedWithTheStateIntact) {
  const std::string taken(32, 'a');
  const std::string fresh(32, 'b');
  int calls = 0;
  SessionStoreOptions options;
  options.sweep_interval = absl::ZeroDuration();
  // The first session gets `taken`; the second draws `taken` again, then `fresh`.
  options.new_id = [&] { return ++calls <= 2 ? taken : fresh; };
  SessionStore store(options);
  ASSERT_EQ(*store.Insert(States(1)), std::vector<std::string>{taken});
  const std::shared_ptr<const Engine> engine = *Engine::Create(DecodeConfig{});
  InitRequest request;
  request.max_len = 77;
  std::vector<DecodeState> states;
  states.push_back(*InitState(engine, request));
  absl::StatusOr<std::vector<std::string>> ids = store.Insert(std::move(states));
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_EQ(*ids, std::vector<std::string>{fresh});
  EXPECT_EQ(calls, 3);
  absl::StatusOr<std::vector<DecodeState>> got = store.Get({fresh}, "session_ids");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ((*got)[0].max_len(), 77);
  EXPECT_EQ(&(*got)[0].engine(), engine.get());
  EXPECT_EQ(store.size(), 2);
}

// Past its capacity the cache drops the least recently used engine, not everything.
TEST(EngineCache, EvictsTheLeastRecentlyUsedEngine) {
  std::vector<int> built;
  EngineCache cache(2, [&built](const DecodeConfig& c) {
    built.push_back(c.max_locals);
    return Engine::Create(c);
  });
  auto config = [](int locals) {
    DecodeConfig c;
    c.max_locals = locals;
    return c;
  };
  const Engine* a = cache.Get(config(1))->get();
  ASSERT_TRUE(cache.Get(config(2)).ok());
  EXPECT_EQ(cache.Get(config(1))->get(), a);  // a hit: 1 is now the most recent
  ASSERT_TRUE(cache.Get(config(3)).ok());     // evicts 2, the least recent
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.Get(config(1))->get(), a);  // still cached
  ASSERT_TRUE(cache.Get(config(2)).ok());     // built again
  EXPECT_EQ(built, (std::vector<int>{1, 2, 3, 2}));
  EXPECT_EQ(cache.builds(), 4);
  // A failed build is not cached, and the error is the config's.
  DecodeConfig bad;
  bad.max_locals = -1;
  EXPECT_EQ(cache.Get(bad).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(cache.size(), 2u);
}

}  // namespace
}  // namespace astcd::server
