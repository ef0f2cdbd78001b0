#include "serve/fault/injector.hpp"

#include "core/log.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <sys/socket.h>

#include <algorithm>

namespace rtx::serve::fault {

void reset_on_close(uv_handle_t* handle) {
    uv_os_fd_t fd = -1;
    if (uv_fileno(handle, &fd) == 0) {
        const linger option{1, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &option, sizeof option);
    }
}

Injector::Injector(core::Loop& loop, FaultPlan plan, std::uint64_t seed,
                   std::vector<std::string> specs)
    : m_loop(loop)
    , m_plan(plan)
    , m_seed(seed)
    , m_specs(std::move(specs)) {}

std::unique_ptr<ConnectionFaults> Injector::open(Protocol protocol) {
    const std::uint64_t id = ++m_next_id[static_cast<std::size_t>(protocol)];
    ++stats(protocol).connections;
    return std::make_unique<ConnectionFaults>(*this, protocol, id);
}

std::string Injector::stats_json() const {
    nlohmann::ordered_json out;
    out["seed"] = m_seed;
    out["faults"] = m_specs;
    nlohmann::ordered_json protocols = nlohmann::ordered_json::object();
    for (std::size_t i = 0; i < k_protocol_count; ++i) {
        const ProtocolStats& s = m_stats[i];
        protocols[std::string(protocol_name(static_cast<Protocol>(i)))] = {
            {"connections", s.connections},
            {"messages", s.messages},
            {"refused", s.refused},
            {"dropped", s.dropped},
            {"delayed", s.delayed},
            {"throttled", s.throttled},
            {"reconnect_gap", s.reconnect_gap},
            {"reconnect_dup", s.reconnect_dup},
        };
    }
    out["protocols"] = std::move(protocols);
    return out.dump() + "\n";
}

ConnectionFaults::ConnectionFaults(Injector& injector, Protocol protocol, std::uint64_t id)
    : m_injector(injector)
    , m_protocol(protocol)
    , m_id(id)
    , m_rules(injector.rules(protocol))
    , m_stats(injector.stats(protocol))
    , m_random(mix64(injector.seed()) ^ mix64((static_cast<std::uint64_t>(protocol) << 48) ^ id))
    , m_checks_drop(m_rules.drop_after_messages.has_value() || m_rules.drop_p > 0)
    , m_timer(injector.loop())
    , m_drop_timer(injector.loop()) {
    if (m_rules.refuse > 0 && m_random.uniform() < m_rules.refuse) {
        m_refused = true;
        ++m_stats.refused;
        core::log_verbose("fault: {}: refused (refuse={})", name(), m_rules.refuse);
    }
}

ConnectionFaults::~ConnectionFaults() {
    *m_alive = false;
}

std::string ConnectionFaults::name() const {
    return fmt::format("{} #{}", protocol_name(m_protocol), m_id);
}

void ConnectionFaults::on_drop(std::function<void()> callback) {
    m_drop = std::move(callback);
    if (m_rules.drop_after_time && !m_refused) {
        m_drop_timer.start(*m_rules.drop_after_time, [this] {
            drop(fmt::format("after {}", core::format_duration(*m_rules.drop_after_time)), false);
        });
    }
}

void ConnectionFaults::count_reconnect(Reconnect applied) {
    if (applied == Reconnect::gap) {
        ++m_stats.reconnect_gap;
        core::log_verbose("fault: {}: reconnect answered with a gap (one event skipped)", name());
    } else if (applied == Reconnect::dup) {
        ++m_stats.reconnect_dup;
        core::log_verbose("fault: {}: reconnect answered with a duplicate (the last event again)",
                          name());
    }
}

bool ConnectionFaults::drop_instead() {
    ++m_sent;
    if (m_rules.drop_after_messages && m_sent > *m_rules.drop_after_messages) {
        drop(fmt::format("after {} messages", *m_rules.drop_after_messages), true);
        return true;
    }
    if (m_rules.drop_p > 0 && m_random.uniform() < m_rules.drop_p) {
        drop(fmt::format("at message {} (drop-p={})", m_sent, m_rules.drop_p), true);
        return true;
    }
    return false;
}

void ConnectionFaults::drop(std::string why, bool wait_for_held) {
    if (m_dropping) {
        return;
    }
    m_dropping = true;
    ++m_stats.dropped;
    core::log_verbose("fault: {}: dropped {}", name(), why);
    if (!wait_for_held) {
        m_held.clear();
        m_timer.stop();
    }
    if (m_held.empty()) {
        schedule_drop();
    }
}

void ConnectionFaults::schedule_drop() {
    // Never from inside send(): the caller is in the middle of its own callback.
    m_drop_timer.start(core::Duration{0}, [this] {
        if (m_drop) {
            auto callback = m_drop; // it may destroy this object
            callback();
        }
    });
}

core::Duration ConnectionFaults::sample_delay() {
    const DelaySpec& delay = m_rules.delay;
    switch (delay.kind) {
    case DelaySpec::Kind::none:
        return core::Duration{0};
    case DelaySpec::Kind::fixed:
        return delay.a;
    case DelaySpec::Kind::uniform: {
        const double span = static_cast<double>((delay.b - delay.a).count());
        return delay.a +
               core::Duration{static_cast<core::Duration::rep>(m_random.uniform() * span)};
    }
    case DelaySpec::Kind::normal: {
        const double value = static_cast<double>(delay.a.count()) +
                             m_random.normal() * static_cast<double>(delay.b.count());
        return core::Duration{static_cast<core::Duration::rep>(std::max(0.0, value))};
    }
    }
    return core::Duration{0};
}

void ConnectionFaults::hold(std::size_t bytes, std::function<void()> deliver) {
    const Clock::time_point now = Clock::now();
    const core::Duration delay = sample_delay();
    Clock::time_point due = now + delay;
    if (delay.count() > 0) {
        ++m_stats.delayed;
        if (!m_logged_delay) {
            m_logged_delay = true;
            core::log_verbose("fault: {}: delaying messages ({})", name(),
                              describe_delay(m_rules.delay));
        }
        core::log_debug("fault: {}: message {} delayed {}", name(), m_stats.messages,
                        core::format_duration(delay));
    }
    if (m_rules.throttle != 0) {
        // The message's bytes leave at the throttle's pace after those before it: it is due
        // when its last byte may go.
        const auto cost = std::chrono::nanoseconds(static_cast<std::int64_t>(
            static_cast<double>(bytes) * 1e9 / static_cast<double>(m_rules.throttle)));
        m_throttle_free =
            std::max(m_throttle_free, now) + std::chrono::duration_cast<Clock::duration>(cost);
        if (m_throttle_free > due) {
            due = m_throttle_free;
            ++m_stats.throttled;
        }
    }
    due = std::max(due, m_last_due); // in order, whatever each one's delay
    m_last_due = due;
    m_held.push_back(Held{due, std::move(deliver)});
    if (m_held.size() == 1) {
        arm();
    }
}

void ConnectionFaults::arm() {
    const auto wait = std::chrono::duration_cast<core::Duration>(m_held.front().due - Clock::now());
    m_timer.start(std::max(wait, core::Duration{0}), [this] { release_due(); });
}

void ConnectionFaults::release_due() {
    const std::shared_ptr<bool> alive = m_alive;
    // libuv timers have millisecond resolution: what falls due within it goes now.
    const Clock::time_point horizon = Clock::now() + std::chrono::milliseconds(1);
    while (!m_held.empty() && m_held.front().due <= horizon) {
        std::function<void()> deliver = std::move(m_held.front().deliver);
        m_held.pop_front();
        deliver();
        if (!*alive) {
            return;
        }
    }
    if (!m_held.empty()) {
        arm();
    } else if (m_dropping) {
        schedule_drop(); // the messages before the drop went out
    }
}

} // namespace rtx::serve::fault
