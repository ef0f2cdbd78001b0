#include "serve/replay_feed.hpp"

#include "core/encoding.hpp"
#include "core/rfc3339.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>

namespace rtx::serve {

namespace {

core::Error line_error(std::string_view file, std::size_t line, std::string_view why) {
    return core::Error{core::ExitCode::usage, fmt::format("{}:{}: {}", file, line, why)};
}

} // namespace

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
            auto micros = core::parse_rfc3339_us(*time);
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
