#include "bench/stages.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>

namespace rtx::bench {

core::Result<Stages> Stages::parse(std::string_view text, std::string_view flag, bool whole) {
    auto bad = [&](std::string_view why) {
        return core::Error{
            core::ExitCode::usage,
            fmt::format("{} '{}': {} (example: 30s:1000,2m:1000,30s:0)", flag, text, why)};
    };
    Stages out;
    if (text.empty()) {
        return bad("no stage");
    }
    std::string_view rest = text;
    while (true) {
        const auto comma = rest.find(',');
        const std::string_view item = rest.substr(0, comma);
        const auto colon = item.find(':');
        if (colon == std::string_view::npos) {
            return bad(fmt::format("stage '{}' is not DURATION:TARGET", item));
        }
        auto duration = core::parse_duration(item.substr(0, colon));
        if (!duration || duration->count() <= 0) {
            return bad(fmt::format("stage '{}' has no duration above 0", item));
        }
        const std::string_view number = item.substr(colon + 1);
        double target = -1;
        auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), target);
        if (ec != std::errc() || end != number.data() + number.size() || !std::isfinite(target) ||
            target < 0 || (whole && target != std::floor(target))) {
            return bad(fmt::format("stage '{}' has no target ({} number, 0 or more)", item,
                                   whole ? "a whole" : "a"));
        }
        out.m_stages.push_back(Stage{*duration, target});
        if (comma == std::string_view::npos) {
            break;
        }
        rest = rest.substr(comma + 1);
    }
    return out;
}

core::Duration Stages::total() const {
    core::Duration sum{0};
    for (const Stage& stage : m_stages) {
        sum += stage.duration;
    }
    return sum;
}

double Stages::peak() const {
    double peak = 0;
    for (const Stage& stage : m_stages) {
        peak = std::max(peak, stage.target);
    }
    return peak;
}

double Stages::value_at(core::Duration elapsed) const {
    double from = 0;
    for (const Stage& stage : m_stages) {
        if (elapsed < stage.duration) {
            const double part =
                static_cast<double>(elapsed.count()) / static_cast<double>(stage.duration.count());
            return from + (stage.target - from) * part;
        }
        elapsed -= stage.duration;
        from = stage.target;
    }
    return from;
}

std::size_t Stages::index_at(core::Duration elapsed) const {
    for (std::size_t i = 0; i < m_stages.size(); ++i) {
        if (elapsed < m_stages[i].duration) {
            return i + 1;
        }
        elapsed -= m_stages[i].duration;
    }
    return m_stages.size();
}

} // namespace rtx::bench
