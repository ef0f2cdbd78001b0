#include "core/rfc3339.hpp"

namespace rtx::core {

namespace {

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's days_from_civil
/// algorithm, written from its published description).
std::int64_t days_from_civil(std::int64_t year, unsigned month, unsigned day) {
    year -= month <= 2 ? 1 : 0;
    const std::int64_t era = (year >= 0 ? year : year - 399) / 400;
    const auto year_of_era = static_cast<unsigned>(year - era * 400);
    const unsigned day_of_year = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
    const unsigned day_of_era =
        year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    return era * 146097 + static_cast<std::int64_t>(day_of_era) - 719468;
}

bool leap_year(unsigned year) {
    return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
}

unsigned days_in_month(unsigned year, unsigned month) {
    static constexpr unsigned k_days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return month == 2 && leap_year(year) ? 29 : k_days[month - 1];
}

/// The reader's position in the text; each step either consumes what it expects or fails.
struct Cursor {
    std::string_view text;
    std::size_t pos = 0;

    /// Exactly `n` decimal digits.
    std::optional<unsigned> digits(std::size_t n) {
        if (pos + n > text.size()) {
            return std::nullopt;
        }
        unsigned value = 0;
        for (std::size_t i = 0; i < n; ++i) {
            const char c = text[pos + i];
            if (c < '0' || c > '9') {
                return std::nullopt;
            }
            value = value * 10 + static_cast<unsigned>(c - '0');
        }
        pos += n;
        return value;
    }

    /// One of the characters in `one_of`.
    bool expect(std::string_view one_of) {
        if (pos < text.size() && one_of.find(text[pos]) != std::string_view::npos) {
            ++pos;
            return true;
        }
        return false;
    }
};

} // namespace

std::optional<std::int64_t> parse_rfc3339_us(std::string_view text) {
    Cursor at{text};
    const auto year = at.digits(4);
    const auto month = year && at.expect("-") ? at.digits(2) : std::nullopt;
    const auto day = month && at.expect("-") ? at.digits(2) : std::nullopt;
    const auto hour = day && at.expect("Tt ") ? at.digits(2) : std::nullopt;
    const auto minute = hour && at.expect(":") ? at.digits(2) : std::nullopt;
    const auto second = minute && at.expect(":") ? at.digits(2) : std::nullopt;
    if (!second || *month < 1 || *month > 12 || *day < 1 || *day > days_in_month(*year, *month) ||
        *hour > 23 || *minute > 59 || *second > 60) {
        return std::nullopt;
    }
    std::int64_t fraction_us = 0;
    if (at.expect(".")) {
        std::int64_t scale = 100'000;
        std::size_t count = 0;
        while (at.pos < text.size() && text[at.pos] >= '0' && text[at.pos] <= '9') {
            fraction_us += (text[at.pos] - '0') * scale;
            scale /= 10;
            ++at.pos;
            ++count;
        }
        if (count == 0 || count > 9) {
            return std::nullopt;
        }
    }
    std::int64_t offset_s = 0;
    if (!at.expect("Zz")) {
        if (at.pos >= text.size() || (text[at.pos] != '+' && text[at.pos] != '-')) {
            return std::nullopt;
        }
        const std::int64_t sign = text[at.pos++] == '-' ? -1 : 1;
        const auto offset_hour = at.digits(2);
        const auto offset_minute = offset_hour && at.expect(":") ? at.digits(2) : std::nullopt;
        if (!offset_minute || *offset_hour > 23 || *offset_minute > 59) {
            return std::nullopt;
        }
        offset_s = sign * (std::int64_t{*offset_hour} * 3600 + std::int64_t{*offset_minute} * 60);
    }
    if (at.pos != text.size()) {
        return std::nullopt;
    }
    const std::int64_t seconds = days_from_civil(*year, *month, *day) * 86400 +
                                 std::int64_t{*hour} * 3600 + std::int64_t{*minute} * 60 +
                                 std::int64_t{*second} - offset_s;
    return seconds * 1'000'000 + fraction_us;
}

} // namespace rtx::core
