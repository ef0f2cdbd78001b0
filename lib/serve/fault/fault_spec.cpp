#include "serve/fault/fault_spec.hpp"

#include "core/size.hpp"

#include <fmt/format.h>

#include <cctype>
#include <charconv>
#include <cmath>
#include <vector>

namespace rtx::serve::fault {

namespace {

constexpr std::array<std::string_view, k_protocol_count> k_protocol_names = {
    "tcp", "ws", "sse", "stream", "poll", "mqtt"};

constexpr std::string_view k_names = "drop-after, drop-p, delay, throttle, refuse, reconnect";

core::Error bad(std::string_view spec, std::string_view why) {
    return core::Error{core::ExitCode::usage, fmt::format("--fault '{}': {}", spec, why)};
}

std::string_view kind_name(FaultKind kind) {
    switch (kind) {
    case FaultKind::drop_after_messages:
    case FaultKind::drop_after_time:
        return "drop-after";
    case FaultKind::drop_p:
        return "drop-p";
    case FaultKind::delay:
        return "delay";
    case FaultKind::throttle:
        return "throttle";
    case FaultKind::refuse:
        return "refuse";
    case FaultKind::reconnect:
        return "reconnect";
    }
    return "";
}

bool all_digits(std::string_view text) {
    if (text.empty()) {
        return false;
    }
    for (char c : text) {
        if (c < '0' || c > '9') {
            return false;
        }
    }
    return true;
}

/// A duration with its unit ("10ms", "1.5s"): a bare number would be seconds, which a
/// delay of "10" almost never means.
std::optional<core::Duration> duration_with_unit(std::string_view text) {
    if (text.empty() || !std::isalpha(static_cast<unsigned char>(text.back()))) {
        return std::nullopt;
    }
    auto parsed = core::parse_duration(text);
    if (!parsed) {
        return std::nullopt;
    }
    return parsed.value();
}

/// A probability: a decimal number from 0 to 1.
std::optional<double> probability(std::string_view text) {
    double value = 0;
    const char* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (text.empty() || ec != std::errc() || ptr != end || !std::isfinite(value) || value < 0 ||
        value > 1) {
        return std::nullopt;
    }
    return value;
}

/// "65536/s", "64KiB/s", "1MiB/s", "1MB/s" (binary units, as --max-body).
std::optional<std::uint64_t> rate(std::string_view text) {
    if (!text.ends_with("/s")) {
        return std::nullopt;
    }
    text.remove_suffix(2);
    return core::parse_size(text);
}

core::Result<DelaySpec> parse_delay(std::string_view spec, std::string_view value) {
    DelaySpec delay;
    if (value.starts_with("normal:")) {
        const std::string_view rest = value.substr(7);
        const std::size_t comma = rest.find(',');
        const auto mean = duration_with_unit(rest.substr(0, comma));
        const auto sd = comma == std::string_view::npos
                            ? std::nullopt
                            : duration_with_unit(rest.substr(comma + 1));
        if (!mean || !sd) {
            return bad(spec, "delay=normal:MEAN,SD takes two durations (normal:20ms,5ms)");
        }
        delay.kind = DelaySpec::Kind::normal;
        delay.a = *mean;
        delay.b = *sd;
        return delay;
    }
    if (const std::size_t dots = value.find(".."); dots != std::string_view::npos) {
        const auto low = duration_with_unit(value.substr(0, dots));
        const auto high = duration_with_unit(value.substr(dots + 2));
        if (!low || !high) {
            return bad(spec, "delay=MIN..MAX takes two durations (10ms..40ms)");
        }
        if (*high < *low) {
            return bad(spec, "delay=MIN..MAX: MAX is less than MIN");
        }
        delay.kind = DelaySpec::Kind::uniform;
        delay.a = *low;
        delay.b = *high;
        return delay;
    }
    const auto fixed = duration_with_unit(value);
    if (!fixed) {
        return bad(spec, "delay takes a duration with its unit (10ms), MIN..MAX (10ms..40ms) or "
                         "normal:MEAN,SD (normal:20ms,5ms)");
    }
    delay.kind = DelaySpec::Kind::fixed;
    delay.a = *fixed;
    return delay;
}

void set_rule(FaultRules& rules, const FaultSpec& spec) {
    const FaultRules& v = spec.value;
    switch (spec.kind) {
    case FaultKind::drop_after_messages:
        rules.drop_after_messages = v.drop_after_messages;
        break;
    case FaultKind::drop_after_time:
        rules.drop_after_time = v.drop_after_time;
        break;
    case FaultKind::drop_p:
        rules.drop_p = v.drop_p;
        break;
    case FaultKind::delay:
        rules.delay = v.delay;
        break;
    case FaultKind::throttle:
        rules.throttle = v.throttle;
        break;
    case FaultKind::refuse:
        rules.refuse = v.refuse;
        break;
    case FaultKind::reconnect:
        rules.reconnect = v.reconnect;
        break;
    }
}

} // namespace

std::string_view protocol_name(Protocol protocol) {
    return k_protocol_names[static_cast<std::size_t>(protocol)];
}

bool FaultRules::any() const {
    return drop_after_messages || drop_after_time || drop_p > 0 || shapes() || refuse > 0 ||
           reconnect != Reconnect::none;
}

bool FaultPlan::any() const {
    for (const FaultRules& r : rules) {
        if (r.any()) {
            return true;
        }
    }
    return false;
}

core::Result<FaultSpec> parse_fault_spec(std::string_view text) {
    FaultSpec spec;
    std::string_view rule = text;
    const std::size_t equals = rule.find('=');
    const std::size_t colon = rule.find(':');
    if (colon != std::string_view::npos && colon < equals) {
        const std::string_view name = rule.substr(0, colon);
        for (std::size_t i = 0; i < k_protocol_count; ++i) {
            if (k_protocol_names[i] == name) {
                spec.protocol = static_cast<Protocol>(i);
            }
        }
        if (!spec.protocol) {
            return bad(text, fmt::format("unknown protocol '{}' (tcp, ws, sse, stream, poll, mqtt)",
                                         name));
        }
        rule.remove_prefix(colon + 1);
    }
    const std::size_t eq = rule.find('=');
    if (eq == std::string_view::npos) {
        return bad(text, "expected [PROTOCOL:]NAME=VALUE (ws:drop-after=100, delay=10ms..40ms)");
    }
    const std::string_view name = rule.substr(0, eq);
    const std::string_view value = rule.substr(eq + 1);
    if (name == "drop-after") {
        if (all_digits(value)) {
            std::uint64_t count = 0;
            auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), count);
            if (ec != std::errc() || ptr != value.data() + value.size()) {
                return bad(text, "drop-after: the message count is too large");
            }
            spec.kind = FaultKind::drop_after_messages;
            spec.value.drop_after_messages = count;
        } else if (auto time = duration_with_unit(value); time && time->count() > 0) {
            spec.kind = FaultKind::drop_after_time;
            spec.value.drop_after_time = *time;
        } else {
            return bad(text, "drop-after takes a message count (100) or a time with its unit "
                             "(2s, 500ms)");
        }
    } else if (name == "drop-p" || name == "refuse") {
        const auto p = probability(value);
        if (!p) {
            return bad(text, fmt::format("{} takes a probability from 0 to 1 (0.01)", name));
        }
        spec.kind = name == "refuse" ? FaultKind::refuse : FaultKind::drop_p;
        (name == "refuse" ? spec.value.refuse : spec.value.drop_p) = *p;
    } else if (name == "delay") {
        auto delay = parse_delay(text, value);
        if (!delay) {
            return delay.error();
        }
        spec.kind = FaultKind::delay;
        spec.value.delay = delay.value();
    } else if (name == "throttle") {
        const auto bytes = rate(value);
        if (!bytes) {
            return bad(text, "throttle takes bytes a second (65536/s, 64KiB/s, 1MiB/s)");
        }
        spec.kind = FaultKind::throttle;
        spec.value.throttle = *bytes;
    } else if (name == "reconnect") {
        if (spec.protocol && *spec.protocol != Protocol::sse) {
            return bad(text, "reconnect is for sse only (sse:reconnect=gap)");
        }
        if (value != "gap" && value != "dup") {
            return bad(text, "reconnect takes gap or dup");
        }
        spec.protocol = Protocol::sse;
        spec.kind = FaultKind::reconnect;
        spec.value.reconnect = value == "gap" ? Reconnect::gap : Reconnect::dup;
    } else {
        return bad(text, fmt::format("unknown fault '{}' ({})", name, k_names));
    }
    return spec;
}

core::Result<FaultPlan> parse_fault_plan(std::span<const std::string> texts) {
    std::vector<FaultSpec> specs;
    for (const std::string& text : texts) {
        auto spec = parse_fault_spec(text);
        if (!spec) {
            return spec.error();
        }
        for (std::size_t i = 0; i < specs.size(); ++i) {
            if (specs[i].kind == spec->kind && specs[i].protocol == spec->protocol) {
                return bad(text, fmt::format("{} is given twice for {} (also '{}')",
                                             kind_name(spec->kind),
                                             spec->protocol ? protocol_name(*spec->protocol)
                                                            : std::string_view("every protocol"),
                                             texts[i]));
            }
        }
        specs.push_back(std::move(spec.value()));
    }
    FaultPlan plan;
    // Rules for every protocol first: a rule for one protocol replaces them.
    for (const bool specific : {false, true}) {
        for (const FaultSpec& spec : specs) {
            if (spec.protocol.has_value() != specific) {
                continue;
            }
            for (std::size_t i = 0; i < k_protocol_count; ++i) {
                if (!spec.protocol || static_cast<std::size_t>(*spec.protocol) == i) {
                    set_rule(plan.rules[i], spec);
                }
            }
        }
    }
    return plan;
}

std::string describe_delay(const DelaySpec& delay) {
    switch (delay.kind) {
    case DelaySpec::Kind::none:
        return "none";
    case DelaySpec::Kind::fixed:
        return core::format_duration(delay.a);
    case DelaySpec::Kind::uniform:
        return fmt::format("{}..{}", core::format_duration(delay.a),
                           core::format_duration(delay.b));
    case DelaySpec::Kind::normal:
        return fmt::format("normal:{},{}", core::format_duration(delay.a),
                           core::format_duration(delay.b));
    }
    return "";
}

} // namespace rtx::serve::fault
