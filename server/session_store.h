// Live decoder sessions: a sharded map from 128-bit random ids to DecodeStates, with caps on
// their count and their memory, TTL eviction (a sweeper thread plus a check on every access) and an engine cache so that
// sessions of one config share one Engine.
#ifndef ASTCD_SERVER_SESSION_STORE_H_
#define ASTCD_SERVER_SESSION_STORE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/node_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/numeric/int128.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "core/config.h"
#include "core/decoder.h"
#include "core/engine.h"
#include "core/mutex.h"

namespace astcd::server {

// 128 bits from getrandom(2), as 32 lowercase hex digits.
std::string NewSessionId();

// A session id as the store keys it: the 128-bit value of its 32 hex digits, so a slot holds
// 16 bytes and no heap string. nullopt for anything that is not 32 lowercase hex digits.
std::optional<absl::uint128> SessionKey(absl::string_view id);

struct SessionStoreOptions {
  int64_t max_sessions = 100000;
  int64_t max_sessions_per_tenant = 0;  // 0: only the global cap
  // Bytes held by live sessions: token histories and rollback checkpoints
  // (DecodeState::ApproxBytes), plus each engine a session pins (Engine::ApproxBytes) once.
  int64_t max_session_bytes = int64_t{1} << 30;
  absl::Duration ttl = absl::Minutes(10);
  int num_shards = 16;
  // How often the sweeper runs; zero: no sweeper thread (eviction on access and at the cap).
  absl::Duration sweep_interval = absl::Seconds(1);
  std::function<absl::Time()> clock;  // default absl::Now
  // Fresh session ids, 32 lowercase hex digits each; default NewSessionId. Tests inject
  // colliding ids to drive Insert's retry.
  std::function<std::string()> new_id;
};

class SessionStore {
 public:
  explicit SessionStore(SessionStoreOptions options);
  ~SessionStore();
  SessionStore(const SessionStore&) = delete;
  SessionStore& operator=(const SessionStore&) = delete;

  // Every method takes the calling tenant ("" without authentication). A session belongs to
  // the tenant that stored it; to any other tenant it does not exist.

  // Stores every state under a fresh id, or none: ResourceExhausted (field `sessions`) past a
  // cap: the count (global or the tenant's) or --max-session-bytes. A session is counted at
  // the most memory it can grow to (DecodeState::MaxApproxBytes), so Advance never needs more,
  // and each engine the sessions pin is counted once (Engine::ApproxBytes).
  absl::StatusOr<std::vector<std::string>> Insert(std::vector<DecodeState> states,
                                                  absl::string_view tenant = {});

  // What Insert would say now of n more sessions of `bytes` in all, engines aside: a cheap
  // refusal before the states are built (Insert still decides).
  absl::Status Admits(int64_t n, int64_t bytes) const;

  // Runs fn on the named sessions with their locks held (each session's own: other sessions
  // go on meanwhile, and two calls on one session run one after the other), after checking
  // that no id is named twice (InvalidArgument) and every id is live (NotFound); the errors
  // name `field`[i]. fn's error is returned as is; fn must leave the states unchanged when it
  // fails. A session released or expired while fn runs is gone afterwards, as if the call had
  // come just before the release.
  absl::Status With(absl::Span<const std::string> ids, absl::string_view field,
                    absl::FunctionRef<absl::Status(absl::Span<DecodeState* const>)> fn,
                    absl::string_view tenant = {});
  // The same for ids held elsewhere, such as a request's repeated field (no copies).
  absl::Status With(absl::Span<const std::string* const> ids, absl::string_view field,
                    absl::FunctionRef<absl::Status(absl::Span<DecodeState* const>)> fn,
                    absl::string_view tenant = {});

  // Copies of the named states (same checks as With).
  absl::StatusOr<std::vector<DecodeState>> Get(absl::Span<const std::string> ids,
                                               absl::string_view field,
                                               absl::string_view tenant = {});

  // Frees the named sessions; returns how many were live (and the tenant's).
  int Release(absl::Span<const std::string> ids, absl::string_view tenant = {});
  // Frees sessions whose ids the client never received (those a failed call stored, and the
  // results a cancelled Decode did not hand to gRPC): like Release, but counted apart, since
  // no client released them.
  int Discard(absl::Span<const std::string> ids, absl::string_view tenant = {});

  // Drops expired sessions; returns how many.
  int Sweep();

  int64_t size() const { return live_.load(); }
  int64_t bytes() const;  // counted against max_session_bytes
  // Totals since start (for metrics, read at scrape time): sessions stored by Insert, freed by
  // Release, evicted after the TTL (by the sweeper, on access, or at the cap), and freed by
  // Discard. Every session created ends in one of the three.
  int64_t created_total() const { return created_.load(std::memory_order_relaxed); }
  int64_t released_total() const { return released_.load(std::memory_order_relaxed); }
  int64_t evicted_total() const { return evicted_.load(std::memory_order_relaxed); }
  int64_t discarded_total() const { return discarded_.load(std::memory_order_relaxed); }
  int64_t max_sessions() const { return options_.max_sessions; }
  absl::Duration ttl() const { return options_.ttl; }

 private:
  // A session's state behind its own lock. With holds the shard locks only to find and pin
  // its sessions, then runs its work under theirs: a long call (a Rollback of thousands of
  // sessions, a large fork's copies) holds no lock that another session needs. A pinned
  // session is never erased: a Release or expiry meanwhile counts it gone at once and marks
  // it `dropped` (found by no one); the last With to unpin it frees it.
  struct Session {
    Session(DecodeState s, absl::Time now, uint32_t owner, int64_t counted)
        : state(std::move(s)), last_used(now), tenant(owner), bytes(counted) {}
    Mutex mu;
    DecodeState state ABSL_GUARDED_BY(mu);
    // The rest under the shard's lock (the map is guarded by it).
    absl::Time last_used;
    uint32_t tenant;   // TenantIndex: 0 for no tenant
    uint32_t pins = 0;  // With calls holding it
    int64_t bytes;     // counted against max_session_bytes (the engine apart)
    bool dropped = false;
  };
  struct Shard {
    Mutex mu;
    // Sessions out of line: a pinned session stays put while the table grows, and a slot is
    // a pointer, so the empty slots (up to half of them after growth) cost 8 bytes each.
    absl::node_hash_map<absl::uint128, Session> map ABSL_GUARDED_BY(mu);
  };
  absl::Time Now() const { return options_.clock ? options_.clock() : absl::Now(); }
  size_t ShardOf(absl::uint128 key) const;
  // A small number per tenant name, so that a session stores 4 bytes, not a string. With
  // create false, a tenant never seen gets kNoTenant, which owns nothing.
  static constexpr uint32_t kNoTenant = ~uint32_t{0};
  uint32_t TenantIndex(absl::string_view tenant, bool create);
  bool Reserve(int64_t n);
  // The ResourceExhausted of the count cap and of the byte budget for n more sessions.
  absl::Status CountRefusal(int64_t n) const;
  absl::Status BytesRefusal(int64_t n, int64_t bytes) const;
  // Per-tenant counts, kept only when there is a per-tenant cap and a tenant.
  bool ReserveTenant(uint32_t tenant, int64_t n);
  void DropTenant(uint32_t tenant, int64_t n);
  // Counts the states' bytes and pins their engines, or (over the budget) nothing.
  bool ReserveBytes(absl::Span<const DecodeState> states, absl::Span<const int64_t> bytes);
  // Gives back what a freed session counted (the caller holds its shard's lock; no With
  // holds the session).
  void DropBytes(Session& session);
  // Takes the session at `it` out of `shard` (whose lock the caller holds): counted gone now,
  // freed now or, if pinned, by the last With that holds it.
  void Remove(Shard& shard, absl::node_hash_map<absl::uint128, Session>::iterator it);
  // The live session of `key` in shard_index (whose lock the caller holds), or null; an expired
  // one is evicted.
  Session* Find(absl::uint128 key, size_t shard_index, absl::Time now);
  // Frees the named sessions of the tenant; returns how many were live.
  int Drop(absl::Span<const std::string> ids, absl::string_view tenant);

  SessionStoreOptions options_;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::atomic<int64_t> live_{0};
  Mutex tenants_mu_;
  absl::flat_hash_map<std::string, uint32_t> tenant_index_ ABSL_GUARDED_BY(tenants_mu_);
  absl::flat_hash_map<uint32_t, int64_t> tenant_live_ ABSL_GUARDED_BY(tenants_mu_);
  std::atomic<int64_t> created_{0};
  std::atomic<int64_t> released_{0};
  std::atomic<int64_t> evicted_{0};
  std::atomic<int64_t> discarded_{0};
  mutable Mutex bytes_mu_;
  int64_t bytes_ ABSL_GUARDED_BY(bytes_mu_) = 0;
  // Sessions per pinned engine: an engine counts while any session holds it.
  absl::flat_hash_map<const Engine*, int64_t> engine_sessions_ ABSL_GUARDED_BY(bytes_mu_);
  // Locks the shards in `order` (sorted, distinct: one global order, so no deadlock) and
  // unlocks them; the analysis cannot follow locks taken in a loop.
  void LockShards(absl::Span<const size_t> order) ABSL_NO_THREAD_SAFETY_ANALYSIS;
  void UnlockShards(absl::Span<const size_t> order) ABSL_NO_THREAD_SAFETY_ANALYSIS;
  // Runs fn on the sessions' states (in the request's order) with their locks held, taken in
  // `lock_order` (by shard, then key: one global order, so no deadlock).
  static absl::Status RunLocked(
      absl::Span<Session* const> sessions, absl::Span<Session* const> lock_order,
      absl::FunctionRef<absl::Status(absl::Span<DecodeState* const>)> fn)
      ABSL_NO_THREAD_SAFETY_ANALYSIS;

  Mutex stop_mu_;
  CondVar stop_cv_;
  bool stopping_ ABSL_GUARDED_BY(stop_mu_) = false;  // the destructor wakes the sweeper
  std::thread sweeper_;
};

// Engines by config, shared by every request and session of that config. Each config's engine
// is built once: a request that finds another building it waits for that build. Past
// `capacity` configs the least recently used engine is dropped (its sessions keep it alive).
class EngineCache {
 public:
  using Builder =
      std::function<absl::StatusOr<std::shared_ptr<const Engine>>(const DecodeConfig&)>;
  // `build` defaults to Engine::Create; tests inject a slow or counting one.
  explicit EngineCache(size_t capacity = 256, Builder build = nullptr);
  absl::StatusOr<std::shared_ptr<const Engine>> Get(const DecodeConfig& config);

  size_t size() const;     // engines cached
  int64_t builds() const;  // engines built since start (each config once while cached)

 private:
  struct Entry {
    std::shared_ptr<const Engine> engine;  // null while its builder runs
    std::list<std::string>::iterator lru;  // its place in lru_, once built
  };
  const size_t capacity_;
  const Builder build_;
  mutable Mutex mu_;
  CondVar built_;  // signalled when a build ends, well or not
  absl::flat_hash_map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
  std::list<std::string> lru_ ABSL_GUARDED_BY(mu_);  // built keys, most recently used first
  int64_t builds_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace astcd::server

#endif  // ASTCD_SERVER_SESSION_STORE_H_
