#include "bench/foreign.hpp"

#include "core/encoding.hpp"
#include "transport/http/curl_multi.hpp"

#include <nlohmann/json.hpp>

#include <cmath>

namespace rtx::bench {

namespace {

/// Days from 1970-01-01 to the civil date (proleptic Gregorian), after H. Hinnant's
/// days_from_civil.
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
    y -= m <= 2 ? 1 : 0;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

/// Reads exactly `n` digits at `pos`.
std::optional<unsigned> digits(std::string_view text, std::size_t& pos, std::size_t n) {
    if (pos + n > text.size()) {
        return std::nullopt;
    }
    unsigned value = 0;
    for (std::size_t i = 0; i < n; ++i) {
        char c = text[pos + i];
        if (c < '0' || c > '9') {
            return std::nullopt;
        }
        value = value * 10 + static_cast<unsigned>(c - '0');
    }
    pos += n;
    return value;
}

bool expect(std::string_view text, std::size_t& pos, std::string_view one_of) {
    if (pos < text.size() && one_of.find(text[pos]) != std::string_view::npos) {
        ++pos;
        return true;
    }
    return false;
}

std::optional<std::int64_t> number_time_us(double value, TimeUnit unit) {
    if (!std::isfinite(value)) {
        return std::nullopt;
    }
    if (unit == TimeUnit::detect) {
        // By magnitude: seconds until the year 5138, then ms, us, ns.
        const double magnitude = std::fabs(value);
        unit = magnitude < 1e11   ? TimeUnit::s
               : magnitude < 1e14 ? TimeUnit::ms
               : magnitude < 1e17 ? TimeUnit::us
                                  : TimeUnit::ns;
    }
    switch (unit) {
    case TimeUnit::s:
        return static_cast<std::int64_t>(value * 1e6);
    case TimeUnit::ms:
        return static_cast<std::int64_t>(value * 1e3);
    case TimeUnit::us:
        return static_cast<std::int64_t>(value);
    case TimeUnit::ns:
        return static_cast<std::int64_t>(value / 1e3);
    default:
        return std::nullopt;
    }
}

} // namespace

std::optional<TimeUnit> parse_time_unit(std::string_view text) {
    if (text == "detect" || text == "auto") {
        return TimeUnit::detect;
    }
    if (text == "s") {
        return TimeUnit::s;
    }
    if (text == "ms") {
        return TimeUnit::ms;
    }
    if (text == "us") {
        return TimeUnit::us;
    }
    if (text == "ns") {
        return TimeUnit::ns;
    }
    if (text == "rfc3339") {
        return TimeUnit::rfc3339;
    }
    return std::nullopt;
}

std::optional<std::int64_t> parse_rfc3339_us(std::string_view text) {
    std::size_t pos = 0;
    auto year = digits(text, pos, 4);
    if (!year || !expect(text, pos, "-")) {
        return std::nullopt;
    }
    auto month = digits(text, pos, 2);
    if (!month || !expect(text, pos, "-")) {
        return std::nullopt;
    }
    auto day = digits(text, pos, 2);
    if (!day || !expect(text, pos, "Tt ")) {
        return std::nullopt;
    }
    auto hour = digits(text, pos, 2);
    if (!hour || !expect(text, pos, ":")) {
        return std::nullopt;
    }
    auto minute = digits(text, pos, 2);
    if (!minute || !expect(text, pos, ":")) {
        return std::nullopt;
    }
    auto second = digits(text, pos, 2);
    if (!second || *month < 1 || *month > 12 || *day < 1 || *day > 31 || *hour > 23 ||
        *minute > 59 || *second > 60) {
        return std::nullopt;
    }
    std::int64_t fraction_us = 0;
    if (expect(text, pos, ".")) {
        std::int64_t scale = 100000;
        std::size_t start = pos;
        while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
            fraction_us += (text[pos] - '0') * scale;
            scale /= 10;
            ++pos;
        }
        if (pos == start) {
            return std::nullopt;
        }
    }
    std::int64_t offset_s = 0;
    if (!expect(text, pos, "Zz")) {
        if (pos >= text.size() || (text[pos] != '+' && text[pos] != '-')) {
            return std::nullopt;
        }
        const int sign = text[pos++] == '-' ? -1 : 1;
        auto off_h = digits(text, pos, 2);
        if (!off_h || !expect(text, pos, ":")) {
            return std::nullopt;
        }
        auto off_m = digits(text, pos, 2);
        if (!off_m || *off_h > 23 || *off_m > 59) {
            return std::nullopt;
        }
        offset_s = sign * (std::int64_t{*off_h} * 3600 + std::int64_t{*off_m} * 60);
    }
    if (pos != text.size()) {
        return std::nullopt;
    }
    const std::int64_t seconds = days_from_civil(*year, *month, *day) * 86400 +
                                 std::int64_t{*hour} * 3600 + std::int64_t{*minute} * 60 +
                                 std::int64_t{*second} - offset_s;
    return seconds * 1000000 + fraction_us;
}

std::optional<std::int64_t> message_time_us(std::string_view payload, const std::string& pointer,
                                            TimeUnit unit) {
    auto document = nlohmann::json::parse(payload, nullptr, false);
    if (document.is_discarded()) {
        return std::nullopt;
    }
    const nlohmann::json* value = nullptr;
    try {
        value = &document.at(nlohmann::json::json_pointer(pointer));
    } catch (const nlohmann::json::exception&) {
        return std::nullopt;
    }
    if (value->is_number()) {
        if (unit == TimeUnit::rfc3339) {
            return std::nullopt;
        }
        if (value->is_number_integer() && (unit == TimeUnit::ns || unit == TimeUnit::us)) {
            const auto whole = value->get<std::int64_t>(); // exact: a double has 53 bits
            return unit == TimeUnit::ns ? whole / 1000 : whole;
        }
        return number_time_us(value->get<double>(), unit);
    }
    if (value->is_string()) {
        const auto& text = value->get_ref<const std::string&>();
        if (unit == TimeUnit::rfc3339 || unit == TimeUnit::detect) {
            if (auto us = parse_rfc3339_us(text)) {
                return us;
            }
            if (unit == TimeUnit::rfc3339) {
                return std::nullopt;
            }
        }
        // A number written as a string ("1765074600123").
        char* end = nullptr;
        double number = std::strtod(text.c_str(), &end);
        if (text.empty() || end != text.c_str() + text.size()) {
            return std::nullopt;
        }
        return number_time_us(number, unit);
    }
    return std::nullopt;
}

void apply_foreign_http(const ForeignOptions& foreign, transport::http::HttpRequest& request) {
    request.headers.insert(request.headers.end(), foreign.headers.begin(), foreign.headers.end());
    request.user = foreign.user;
    request.bearer = foreign.bearer;
    request.tls = foreign.tls;
}

std::vector<std::pair<std::string, std::string>> foreign_ws_headers(const ForeignOptions& foreign) {
    std::vector<std::pair<std::string, std::string>> headers;
    for (const auto& line : foreign.headers) {
        auto colon = line.find(':');
        std::string name = line.substr(0, colon);
        std::string value = colon == std::string::npos ? "" : line.substr(colon + 1);
        value.erase(0, value.find_first_not_of(" \t"));
        headers.emplace_back(std::move(name), std::move(value));
    }
    if (!foreign.user.empty()) {
        std::string encoded;
        core::append_base64(encoded, foreign.user);
        headers.emplace_back("Authorization", "Basic " + encoded);
    } else if (!foreign.bearer.empty()) {
        headers.emplace_back("Authorization", "Bearer " + foreign.bearer);
    }
    return headers;
}

} // namespace rtx::bench
