#pragma once
// The fault machinery of `rtx serve --fault` at run time: one Injector per server, one
// ConnectionFaults per accepted connection. Each protocol calls it at two points only: when
// it accepts a connection (refuse?) and when it sends a message (drop, delay, throttle).
#include "core/loop.hpp"
#include "core/timer.hpp"
#include "serve/fault/fault_spec.hpp"
#include "serve/fault/random.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace rtx::serve::fault {

/// Makes closing `handle` (a TCP socket) send a reset instead of a FIN (SO_LINGER 0).
void reset_on_close(uv_handle_t* handle);

/// What happened on one protocol, for GET /stats.
struct ProtocolStats {
    std::uint64_t connections = 0; ///< Accepted (refused ones included).
    std::uint64_t messages = 0;    ///< Sent to clients (not counting those a drop replaced).
    std::uint64_t refused = 0;
    std::uint64_t dropped = 0;
    std::uint64_t delayed = 0;   ///< Messages held back by `delay`.
    std::uint64_t throttled = 0; ///< Messages held back by `throttle` beyond their delay.
    std::uint64_t reconnect_gap = 0;
    std::uint64_t reconnect_dup = 0;
};

class ConnectionFaults;

/// The server's faults and counters. Loop thread only; must outlive every ConnectionFaults.
class Injector {
public:
    /// `specs` are the --fault texts `plan` was parsed from (shown by /stats).
    Injector(core::Loop& loop, FaultPlan plan, std::uint64_t seed, std::vector<std::string> specs);

    /// A new connection of `protocol`: counts it and draws its faults, refusal first.
    std::unique_ptr<ConnectionFaults> open(Protocol protocol);
    const FaultRules& rules(Protocol protocol) const { return m_plan[protocol]; }
    ProtocolStats& stats(Protocol protocol) { return m_stats[static_cast<std::size_t>(protocol)]; }
    std::uint64_t seed() const { return m_seed; }
    core::Loop& loop() { return m_loop; }
    /// The GET /stats body: {"seed":..,"faults":[..],"protocols":{"tcp":{..},..}}.
    std::string stats_json() const;

private:
    core::Loop& m_loop;
    FaultPlan m_plan;
    std::uint64_t m_seed;
    std::vector<std::string> m_specs;
    std::array<ProtocolStats, k_protocol_count> m_stats{};
    std::array<std::uint64_t, k_protocol_count> m_next_id{};
};

/// One connection's faults. Its random numbers come from its own generator, seeded from the
/// server's seed, the protocol and the connection's number (1, 2, ... per protocol), so what
/// connection N gets does not depend on how the loop interleaved the connections.
/// Owned by the connection; loop thread only.
class ConnectionFaults {
public:
    ConnectionFaults(Injector& injector, Protocol protocol, std::uint64_t id);
    ~ConnectionFaults();
    ConnectionFaults(const ConnectionFaults&) = delete;
    ConnectionFaults& operator=(const ConnectionFaults&) = delete;

    /// The connection is to be refused (decided and counted when it opened).
    bool refused() const { return m_refused; }
    /// Messages may be held back (delay, throttle): send() then keeps `deliver`, which must
    /// own what it sends.
    bool shapes() const { return m_rules.shapes(); }
    /// How the connection is dropped; called from a timer of this object (never from inside
    /// send()), and may destroy it. Starts drop-after=TIME's clock.
    void on_drop(std::function<void()> callback);
    /// Offers one message of `bytes` bytes: true when `deliver` ran or will run (in order,
    /// after its delay and throttle); false when the message is swallowed because the
    /// connection is dropped (on_drop's callback comes on a later loop turn).
    template <class Deliver> bool send(std::size_t bytes, Deliver&& deliver) {
        if (m_dropping || (m_checks_drop && drop_instead())) {
            return false;
        }
        ++m_stats.messages;
        if (!m_rules.shapes()) {
            deliver();
            return true;
        }
        hold(bytes, std::function<void()>(std::forward<Deliver>(deliver)));
        return true;
    }
    /// What an SSE reconnect gets (counted by the caller through count_reconnect).
    Reconnect reconnect() const { return m_rules.reconnect; }
    void count_reconnect(Reconnect applied);
    /// "sse #3", for logs.
    std::string name() const;

private:
    using Clock = std::chrono::steady_clock;
    struct Held {
        Clock::time_point due;
        std::function<void()> deliver;
    };
    /// Whether this message is replaced by a drop (drop-after=N, drop-p).
    bool drop_instead();
    void drop(std::string why, bool wait_for_held);
    void schedule_drop();
    void hold(std::size_t bytes, std::function<void()> deliver);
    core::Duration sample_delay();
    void arm();
    void release_due();

    Injector& m_injector;
    Protocol m_protocol;
    std::uint64_t m_id;
    const FaultRules& m_rules;
    ProtocolStats& m_stats;
    Random m_random;
    bool m_refused = false;
    bool m_checks_drop = false;
    bool m_dropping = false; ///< A drop is decided; nothing more is sent.
    bool m_logged_delay = false;
    std::uint64_t m_sent = 0;
    std::function<void()> m_drop;
    std::deque<Held> m_held;
    Clock::time_point m_last_due{};
    Clock::time_point m_throttle_free{};
    core::Timer m_timer;      ///< The first held message's due time.
    core::Timer m_drop_timer; ///< drop-after=TIME, or the drop decided by send().
    /// Expires with this object: a delivery that destroyed it stops the release loop.
    std::shared_ptr<bool> m_alive = std::make_shared<bool>(true);
};

} // namespace rtx::serve::fault
