#include "bench/shard.hpp"

#include "core/duration.hpp"
#include "core/rfc3339.hpp"

#include <fmt/format.h>

#include <charconv>
#include <optional>

namespace rtx::bench {

IndexRange shard_range(std::size_t total, const Shard& shard) {
    // floor(total * i / N) without the product's overflow: total = q * N + r, so it is
    // q * i + floor(r * i / N), where r * i < N * N.
    const std::size_t q = total / shard.count;
    const std::size_t r = total % shard.count;
    auto edge = [&](std::size_t i) {
        return q * i + r * i / shard.count;
    };
    return IndexRange{edge(shard.index), edge(shard.index + 1)};
}

double shard_rate(double rate, std::size_t total, const Shard& shard) {
    if (total == 0) {
        return 0;
    }
    return rate * static_cast<double>(shard_range(total, shard).size()) /
           static_cast<double>(total);
}

namespace {

core::Error usage(std::string message) {
    return core::Error{core::ExitCode::usage, std::move(message)};
}

} // namespace

core::Result<Shard> parse_shard(std::string_view text) {
    const auto slash = text.find('/');
    Shard shard;
    auto number = [](std::string_view digits, std::size_t& out) {
        auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), out);
        return !digits.empty() && ec == std::errc() && end == digits.data() + digits.size();
    };
    if (slash == std::string_view::npos || !number(text.substr(0, slash), shard.index) ||
        !number(text.substr(slash + 1), shard.count) || shard.count == 0 ||
        shard.index >= shard.count) {
        return usage(fmt::format("--shard '{}': I/N with 0 <= I < N (examples: 0/4, 3/4)", text));
    }
    return shard;
}

std::string shard_text(const Shard& shard) {
    return fmt::format("{}/{}", shard.index, shard.count);
}

core::Result<std::chrono::system_clock::time_point>
parse_start_at(std::string_view text, std::chrono::system_clock::time_point now) {
    if (text.starts_with('+')) {
        auto offset = core::parse_duration(text.substr(1));
        if (!offset) {
            return usage(fmt::format("--start-at '{}': {}", text, offset.error().message));
        }
        return now + std::chrono::duration_cast<std::chrono::system_clock::duration>(*offset);
    }
    if (auto us = core::parse_rfc3339_us(text)) {
        return std::chrono::system_clock::time_point{
            std::chrono::duration_cast<std::chrono::system_clock::duration>(
                std::chrono::microseconds{*us})};
    }
    return usage(fmt::format(
        "--start-at '{}': an RFC 3339 time (2026-12-07T03:00:00Z) or an offset (+5s)", text));
}

std::string format_rfc3339(std::chrono::system_clock::time_point time) {
    using namespace std::chrono;
    const auto ms = time_point_cast<milliseconds>(time);
    const auto day = floor<days>(ms);
    const year_month_day date{day};
    const hh_mm_ss clock{ms - day};
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", int(date.year()),
                       unsigned(date.month()), unsigned(date.day()), clock.hours().count(),
                       clock.minutes().count(), clock.seconds().count(),
                       clock.subseconds().count());
}

std::uint32_t shared_run_id(std::chrono::system_clock::time_point start_at, std::size_t shards) {
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(start_at.time_since_epoch()).count();
    // SplitMix64's finaliser: nearby start instants give unrelated ids.
    std::uint64_t mixed = static_cast<std::uint64_t>(ms) ^ (std::uint64_t{shards} << 48);
    mixed = (mixed ^ (mixed >> 30)) * 0xbf58476d1ce4e5b9ULL;
    mixed = (mixed ^ (mixed >> 27)) * 0x94d049bb133111ebULL;
    mixed ^= mixed >> 31;
    return static_cast<std::uint32_t>(mixed & 0xffff);
}

double unix_seconds(std::chrono::system_clock::time_point time) {
    return std::chrono::duration<double>(time.time_since_epoch()).count();
}

} // namespace rtx::bench
