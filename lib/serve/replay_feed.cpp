#include "serve/replay_feed.hpp"

#include "core/encoding.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>

namespace rtx::serve {

namespace {

bool digits(std::string_view text, std::size_t at, std::size_t n, int& value) {
    if (at + n > text.size()) {
        return false;
    }
    value = 0;
    for (std::size_t i = at; i < at + n; ++i) {
        if (text[i] < '0' || text[i] > '9') {
            return false;
        }
        value = value * 10 + (text[i] - '0');
    }
    return true;
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
    y -= m <= 2 ? 1 : 0;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

core::Error line_error(std::string_view file, std::size_t line, std::string_view why) {
    return core::Error{core::ExitCode::usage, fmt::format("{}:{}: {}", file, line, why)};
}

} // namespace

std::optional<std::int64_t> parse_rfc3339_micros(std::string_view text) {
    int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
    if (!digits(text, 0, 4, year) || text.size() < 19 || text[4] != '-' ||
        !digits(text, 5, 2, month) || text[7] != '-' || !digits(text, 8, 2, day) ||
        (text[10] != 'T' && text[10] != 't' && text[10] != ' ') || !digits(text, 11, 2, hour) ||
        text[13] != ':' || !digits(text, 14, 2, minute) || text[16] != ':' ||
        !digits(text, 17, 2, second)) {
        return std::nullopt;
    }
    if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
        return std::nullopt;
    }
    std::size_t at = 19;
    std::int64_t micros = 0;
    if (at < text.size() && text[at] == '.') {
        ++at;
        std::size_t n = 0;
        std::int64_t scale = 100000;
        while (at < text.size() && text[at] >= '0' && text[at] <= '9') {
            if (n < 6) {
                micros += (text[at] - '0') * scale;
                scale /= 10;
            }
            ++n;
            ++at;
        }
        if (n == 0 || n > 9) {
            return std::nullopt;
        }
    }
    std::int64_t offset_minutes = 0;
    if (at < text.size() && (text[at] == 'Z' || text[at] == 'z')) {
        ++at;
    } else if (at < text.size() && (text[at] == '+' || text[at] == '-')) {
        int oh = 0, om = 0;
        if (!digits(text, at + 1, 2, oh) || at + 3 >= text.size() || text[at + 3] != ':' ||
            !digits(text, at + 4, 2, om) || oh > 23 || om > 59) {
            return std::nullopt;
        }
        offset_minutes = (text[at] == '-' ? -1 : 1) * (oh * 60 + om);
        at += 6;
    } else {
        return std::nullopt;
    }
    if (at != text.size()) {
        return std::nullopt;
    }
    const std::int64_t days =
        days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
    const std::int64_t seconds =
        days * 86400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    return seconds * 1'000'000 + micros;
}

core::Result<ReplayFeed> parse_replay(std::string_view text, std::string_view file,
                                      std::string_view default_topic) {
    ReplayFeed feed;
    feed.file = std::string(file);
    std::optional<std::int64_t> first;
    std::int64_t previous = 0;
    std::size_t line_number = 0;
    while (!text.empty()) {
        ++line_number;
        const std::size_t end = text.find('\n');
        std::string_view line = text.substr(0, end);
        text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
        if (line.find_first_not_of(" \t") == std::string_view::npos) {
            continue;
        }
        const auto json = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
        if (json.is_discarded() || !json.is_object()) {
            return line_error(file, line_number, "not a JSON object");
        }
        auto string_member = [&](const char* key) -> const std::string* {
            auto it = json.find(key);
            return it != json.end() && it->is_string() ? it->get_ptr<const std::string*>()
                                                       : nullptr;
        };
        auto wrong_type = [&](const char* key, bool allow_null) {
            auto it = json.find(key);
            return it != json.end() && !it->is_string() && !(allow_null && it->is_null());
        };
        for (const char* key : {"event", "topic", "id", "time", "encoding"}) {
            if (wrong_type(key, true)) {
                return line_error(file, line_number, fmt::format("\"{}\" is not a string", key));
            }
        }
        const std::string* payload = string_member("payload");
        if (payload == nullptr) {
            return line_error(file, line_number, "no \"payload\" string");
        }
        const std::string* event = string_member("event");
        if (event != nullptr && (*event == "open" || *event == "close")) {
            continue; // a client's connection record, not a message
        }
        ReplayRecord record;
        if (const std::string* time = string_member("time")) {
            auto micros = parse_rfc3339_micros(*time);
            if (!micros) {
                return line_error(file, line_number,
                                  fmt::format("\"time\" is not RFC 3339: '{}'",
                                              core::one_line_excerpt(*time, 40)));
            }
            if (!first) {
                first = *micros;
                previous = *micros;
            }
            previous = std::max(previous, *micros);
        }
        record.at = core::Duration(first ? previous - *first : 0);
        // rtx sse --json repeats the SSE event type as "topic" (rtx(1)): not a hub topic.
        const std::string* protocol = string_member("protocol");
        const bool sse_record = protocol != nullptr && *protocol == "sse";
        const std::string* topic = sse_record ? nullptr : string_member("topic");
        record.topic = topic != nullptr && !topic->empty() ? *topic : std::string(default_topic);
        if (event != nullptr && *event != "message") {
            record.event = *event;
        }
        const std::string* encoding = string_member("encoding");
        if (encoding != nullptr && *encoding == "base64") {
            auto bytes = core::decode_base64(*payload);
            if (!bytes) {
                return line_error(file, line_number, "\"payload\" is not base64");
            }
            record.payload = std::move(*bytes);
            record.binary = true;
        } else if (encoding != nullptr && *encoding != "utf8") {
            return line_error(file, line_number,
                              fmt::format("\"encoding\" must be utf8 or base64, not '{}'",
                                          core::one_line_excerpt(*encoding, 40)));
        } else {
            record.payload = *payload;
        }
        if (auto it = json.find("qos"); it != json.end() && it->is_number_integer()) {
            record.qos =
                static_cast<std::uint8_t>(std::clamp<std::int64_t>(it->get<std::int64_t>(), 0, 2));
        }
        if (auto it = json.find("retain"); it != json.end() && it->is_boolean()) {
            record.retain = it->get<bool>();
        }
        feed.records.push_back(std::move(record));
    }
    if (feed.records.empty()) {
        return core::Error{core::ExitCode::usage, fmt::format("{}: no records to replay", file)};
    }
    return feed;
}

std::map<std::string, std::vector<ReplayRecord>, std::less<>> ReplayFeed::by_topic() const {
    std::map<std::string, std::vector<ReplayRecord>, std::less<>> topics;
    std::map<std::string_view, core::Duration> starts;
    for (const auto& record : records) {
        const core::Duration start = starts.try_emplace(record.topic, record.at).first->second;
        auto& list = topics[record.topic];
        list.push_back(record);
        list.back().at = record.at - start;
    }
    return topics;
}

} // namespace rtx::serve
