#include "bench/foreign.hpp"

#include "core/encoding.hpp"
#include "core/rfc3339.hpp"
#include "transport/http/curl_multi.hpp"

#include <nlohmann/json.hpp>

#include <cmath>

namespace rtx::bench {

namespace {

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
            if (auto us = core::parse_rfc3339_us(text)) {
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
