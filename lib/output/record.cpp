#include "output/record.hpp"

#include "core/encoding.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <ctime>

namespace rtx::output {

void append_timestamp(std::string& out, std::chrono::system_clock::time_point time) {
    using namespace std::chrono;
    auto micros = duration_cast<microseconds>(time.time_since_epoch()).count();
    auto seconds = static_cast<std::time_t>(micros / 1'000'000);
    auto fraction = micros % 1'000'000;
    if (fraction < 0) {
        fraction += 1'000'000;
        --seconds;
    }
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    fmt::format_to(std::back_inserter(out), "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
                   utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min,
                   utc.tm_sec, fraction);
}

namespace {
void append_optional_string(std::string& out, std::string_view value) {
    if (value.empty()) {
        out.append("null");
    } else {
        core::append_json_string(out, value);
    }
}
} // namespace

bool RecordFilter::accepts(const Record& record) const {
    if (record.lifecycle && !lifecycle) {
        return false;
    }
    return events.empty() || std::find(events.begin(), events.end(), record.event) != events.end();
}

void append_ndjson(std::string& out, const Record& record) {
    out.append("{\"time\":\"");
    append_timestamp(out, record.time);
    out.append("\",\"protocol\":");
    core::append_json_string(out, record.protocol);
    fmt::format_to(std::back_inserter(out), ",\"connection\":{},\"event\":", record.connection);
    core::append_json_string(out, record.event);
    out.append(",\"topic\":");
    append_optional_string(out, core::is_valid_utf8(record.topic) ? record.topic : "");
    out.append(",\"id\":");
    append_optional_string(out, core::is_valid_utf8(record.id) ? record.id : "");
    out.append(",\"payload\":");
    if (!record.binary && core::is_valid_utf8(record.payload)) {
        core::append_json_string(out, record.payload);
        out.append(",\"encoding\":\"utf8\"");
    } else {
        out.push_back('"');
        core::append_base64(out, record.payload);
        out.append("\",\"encoding\":\"base64\"");
    }
    fmt::format_to(std::back_inserter(out), ",\"size\":{}", record.payload.size());
    if (record.qos) {
        fmt::format_to(std::back_inserter(out), ",\"qos\":{},\"retain\":{},\"properties\":{}",
                       *record.qos, record.retain ? "true" : "false",
                       record.properties_json.empty() ? "{}" : record.properties_json);
    }
    if (!record.extra_json.empty()) {
        out += ',';
        out += record.extra_json;
    }
    out += "}\n";
}

} // namespace rtx::output
