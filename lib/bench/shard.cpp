#include "bench/shard.hpp"

#include "core/duration.hpp"

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

/// Reads exactly `digits` decimal digits at `pos`; -1 when they are not there.
int read_digits(std::string_view text, std::size_t& pos, std::size_t digits) {
    if (pos + digits > text.size()) {
        return -1;
    }
    int value = 0;
    auto [end, ec] = std::from_chars(text.data() + pos, text.data() + pos + digits, value);
    if (ec != std::errc() || end != text.data() + pos + digits) {
        return -1;
    }
    pos += digits;
    return value;
}

bool expect(std::string_view text, std::size_t& pos, std::string_view any_of) {
    if (pos < text.size() && any_of.find(text[pos]) != std::string_view::npos) {
        ++pos;
        return true;
    }
    return false;
}

/// RFC 3339 section 5.6 date-time; nullopt when `text` is not one.
std::optional<std::chrono::system_clock::time_point> parse_rfc3339(std::string_view text) {
    using namespace std::chrono;
    std::size_t pos = 0;
    int year = read_digits(text, pos, 4);
    bool ok = year >= 0 && expect(text, pos, "-");
    int month = ok ? read_digits(text, pos, 2) : -1;
    ok = month >= 1 && month <= 12 && expect(text, pos, "-");
    int day = ok ? read_digits(text, pos, 2) : -1;
    ok = day >= 1 && expect(text, pos, "Tt ");
    int hour = ok ? read_digits(text, pos, 2) : -1;
    ok = hour >= 0 && hour <= 23 && expect(text, pos, ":");
    int minute = ok ? read_digits(text, pos, 2) : -1;
    ok = minute >= 0 && minute <= 59 && expect(text, pos, ":");
    int second = ok ? read_digits(text, pos, 2) : -1;
    // 60: a leap second, taken as the next second's start.
    if (!ok || second < 0 || second > 60) {
        return std::nullopt;
    }
    year_month_day date{std::chrono::year{year}, std::chrono::month{unsigned(month)},
                        std::chrono::day{unsigned(day)}};
    if (!date.ok()) {
        return std::nullopt;
    }
    nanoseconds fraction{0};
    if (expect(text, pos, ".")) {
        long long scale = 100'000'000;
        std::size_t digits = 0;
        while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
            fraction += nanoseconds{(text[pos] - '0') * scale};
            scale /= 10;
            ++pos;
            ++digits;
        }
        if (digits == 0) {
            return std::nullopt;
        }
    }
    minutes offset{0};
    if (!expect(text, pos, "Zz")) {
        if (pos >= text.size() || (text[pos] != '+' && text[pos] != '-')) {
            return std::nullopt;
        }
        const int sign = text[pos++] == '-' ? -1 : 1;
        int off_hour = read_digits(text, pos, 2);
        if (off_hour < 0 || off_hour > 23 || !expect(text, pos, ":")) {
            return std::nullopt;
        }
        int off_minute = read_digits(text, pos, 2);
        if (off_minute < 0 || off_minute > 59) {
            return std::nullopt;
        }
        offset = minutes{sign * (off_hour * 60 + off_minute)};
    }
    if (pos != text.size()) {
        return std::nullopt;
    }
    auto local = sys_days{date} + hours{hour} + minutes{minute} + seconds{second} + fraction;
    return time_point_cast<system_clock::duration>(local - offset);
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
    if (auto time = parse_rfc3339(text)) {
        return *time;
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
