#pragma once
// The grammar of `rtx serve --fault SPEC` (man/rtx-serve.1, "Fault injection"). Pure: no I/O.
//
//   SPEC     = [PROTOCOL ":"] NAME "=" VALUE
//   PROTOCOL = "tcp" | "ws" | "sse" | "stream" | "poll" | "mqtt"     (none: every protocol)
//   drop-after=N        close the connection instead of sending its message N+1
//   drop-after=T        close the connection T after it was accepted (T has a unit: 2s, 500ms)
//   drop-p=P            close the connection instead of a message, with probability P each
//   delay=D             hold each message D; D1..D2 uniform; normal:MEAN,SD (never below 0)
//   throttle=RATE/s     at most RATE bytes a second per connection (65536/s, 64KiB/s, 1MiB/s)
//   refuse=P            refuse a new connection with probability P
//   reconnect=gap|dup   (sse) a reconnect with Last-Event-ID misses an event / gets one twice
//
// A rule for one protocol replaces the same rule given for every protocol.
#include "core/duration.hpp"
#include "core/error.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace rtx::serve::fault {

/// The protocols a fault can be aimed at; the order is that of /stats.
enum class Protocol : std::uint8_t { tcp, ws, sse, stream, poll, mqtt };
inline constexpr std::size_t k_protocol_count = 6;

/// "tcp", "ws", ...
std::string_view protocol_name(Protocol protocol);

/// How each message is held back before it goes out.
struct DelaySpec {
    enum class Kind : std::uint8_t { none, fixed, uniform, normal };
    Kind kind = Kind::none;
    core::Duration a{0}; ///< fixed: the delay; uniform: the least; normal: the mean.
    core::Duration b{0}; ///< uniform: the most; normal: the standard deviation.
};

/// What an SSE reconnect (a request with Last-Event-ID) gets.
enum class Reconnect : std::uint8_t { none, gap, dup };

/// The faults of one protocol.
struct FaultRules {
    std::optional<std::uint64_t> drop_after_messages;
    std::optional<core::Duration> drop_after_time;
    double drop_p = 0;
    DelaySpec delay;
    std::uint64_t throttle = 0; ///< bytes per second; 0: none
    double refuse = 0;
    Reconnect reconnect = Reconnect::none;

    /// Any rule at all.
    bool any() const;
    /// Messages may be held back (delay, throttle).
    bool shapes() const { return delay.kind != DelaySpec::Kind::none || throttle != 0; }
};

/// Which rule a spec sets.
enum class FaultKind : std::uint8_t {
    drop_after_messages,
    drop_after_time,
    drop_p,
    delay,
    throttle,
    refuse,
    reconnect
};

/// One parsed --fault: a rule for one protocol or (nullopt) for all.
struct FaultSpec {
    std::optional<Protocol> protocol;
    FaultKind kind = FaultKind::delay;
    FaultRules value; ///< Only the field of `kind` is set.
};

/// Every protocol's rules.
struct FaultPlan {
    std::array<FaultRules, k_protocol_count> rules{};
    const FaultRules& operator[](Protocol protocol) const {
        return rules[static_cast<std::size_t>(protocol)];
    }
    bool any() const;
};

/// Parses one SPEC; the error (usage) is one line: "--fault 'SPEC': why".
core::Result<FaultSpec> parse_fault_spec(std::string_view text);

/// Parses every --fault and joins them; a rule given twice for the same protocols is an error.
core::Result<FaultPlan> parse_fault_plan(std::span<const std::string> specs);

/// `FaultRules::delay` as the user wrote it: "10ms", "10ms..40ms", "normal:20ms,5ms".
std::string describe_delay(const DelaySpec& delay);

} // namespace rtx::serve::fault
