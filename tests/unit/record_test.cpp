// Tests for output/record.hpp: the NDJSON line every protocol writes with --json.
#include "output/record.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

using namespace std::chrono_literals;
using namespace std::string_view_literals;
using rtx::output::append_ndjson;
using rtx::output::append_timestamp;
using rtx::output::Record;
using TimePoint = std::chrono::system_clock::time_point;

namespace {

TimePoint at(std::chrono::seconds since_epoch, std::chrono::microseconds fraction = {}) {
    return TimePoint(std::chrono::duration_cast<TimePoint::duration>(since_epoch + fraction));
}

// 2026-11-28T15:51:06.123456Z, the example in record.hpp.
const TimePoint k_time = at(1795881066s, 123456us);

Record tcp_message(std::string_view payload) {
    Record r;
    r.time = k_time;
    r.protocol = "tcp";
    r.connection = 1;
    r.payload = payload;
    return r;
}

std::string ndjson(const Record& record) {
    std::string out;
    append_ndjson(out, record);
    return out;
}

std::string timestamp(TimePoint time) {
    std::string out;
    append_timestamp(out, time);
    return out;
}

} // namespace

TEST_CASE("append_timestamp: RFC 3339 UTC with microseconds") {
    SUBCASE("the documented example") {
        CHECK(timestamp(k_time) == "2026-11-28T15:51:06.123456Z");
    }
    SUBCASE("the epoch") {
        CHECK(timestamp(at(0s)) == "1970-01-01T00:00:00.000000Z");
    }
    SUBCASE("whole second keeps six zeros") {
        CHECK(timestamp(at(946684800s)) == "2000-01-01T00:00:00.000000Z");
    }
    SUBCASE("small fraction is zero-padded") {
        CHECK(timestamp(at(946684800s, 7us)) == "2000-01-01T00:00:00.000007Z");
    }
    SUBCASE("leap day, last microsecond") {
        CHECK(timestamp(at(1709251199s, 999999us)) == "2024-02-29T23:59:59.999999Z");
    }
    SUBCASE("sub-microsecond part is truncated") {
        TimePoint t = k_time + std::chrono::duration_cast<TimePoint::duration>(999ns);
        CHECK(timestamp(t) == "2026-11-28T15:51:06.123456Z");
    }
    SUBCASE("before the epoch") {
        CHECK(timestamp(at(0s, -1us)) == "1969-12-31T23:59:59.999999Z");
        CHECK(timestamp(at(-1s)) == "1969-12-31T23:59:59.000000Z");
    }
    SUBCASE("appends to what is already there") {
        std::string out = "t=";
        append_timestamp(out, at(0s));
        CHECK(out == "t=1970-01-01T00:00:00.000000Z");
    }
}

TEST_CASE("append_ndjson: the documented line") {
    CHECK(ndjson(tcp_message("hello")) ==
          R"({"time":"2026-11-28T15:51:06.123456Z","protocol":"tcp","connection":1,)"
          R"("event":"message","topic":null,"id":null,"payload":"hello","encoding":"utf8",)"
          R"("size":5})"
          "\n");
}

TEST_CASE("append_ndjson: fields") {
    SUBCASE("topic and id when set") {
        Record r = tcp_message("x");
        r.protocol = "mqtt";
        r.topic = "sensors/room 1";
        r.id = "42";
        CHECK(ndjson(r) == R"({"time":"2026-11-28T15:51:06.123456Z","protocol":"mqtt",)"
                           R"("connection":1,"event":"message","topic":"sensors/room 1",)"
                           R"("id":"42","payload":"x","encoding":"utf8","size":1})"
                           "\n");
    }
    SUBCASE("empty topic and id are null") {
        std::string line = ndjson(tcp_message("x"));
        CHECK(line.find(R"("topic":null,"id":null,)") != std::string::npos);
    }
    SUBCASE("open and close events") {
        Record r = tcp_message("");
        r.event = "open";
        r.connection = 7;
        CHECK(ndjson(r) == R"({"time":"2026-11-28T15:51:06.123456Z","protocol":"tcp",)"
                           R"("connection":7,"event":"open","topic":null,"id":null,)"
                           R"("payload":"","encoding":"utf8","size":0})"
                           "\n");
    }
    SUBCASE("largest connection number") {
        Record r = tcp_message("x");
        r.connection = std::numeric_limits<std::uint64_t>::max();
        CHECK(ndjson(r).find(R"("connection":18446744073709551615,)") != std::string::npos);
    }
    SUBCASE("strings are JSON-escaped; size counts payload bytes") {
        Record r = tcp_message("say \"hi\"\\\n\x01");
        r.topic = "a\"b";
        r.id = "line\nbreak";
        CHECK(ndjson(r) == R"({"time":"2026-11-28T15:51:06.123456Z","protocol":"tcp",)"
                           R"("connection":1,"event":"message","topic":"a\"b",)"
                           R"("id":"line\nbreak","payload":"say \"hi\"\\\n\u0001",)"
                           R"("encoding":"utf8","size":11})"
                           "\n");
    }
    SUBCASE("UTF-8 text stays text") {
        Record r = tcp_message("caf\xc3\xa9");
        CHECK(ndjson(r).find("\"payload\":\"caf\xc3\xa9\",\"encoding\":\"utf8\",\"size\":5}") !=
              std::string::npos);
    }
}

TEST_CASE("append_ndjson: binary payloads are base64") {
    SUBCASE("binary flag") {
        Record r = tcp_message("\xff\xfe\x00"sv);
        r.binary = true;
        CHECK(ndjson(r) == R"({"time":"2026-11-28T15:51:06.123456Z","protocol":"tcp",)"
                           R"("connection":1,"event":"message","topic":null,"id":null,)"
                           R"("payload":"//4A","encoding":"base64","size":3})"
                           "\n");
    }
    SUBCASE("binary flag wins even for ASCII") {
        Record r = tcp_message("hello");
        r.binary = true;
        CHECK(ndjson(r).find(R"("payload":"aGVsbG8=","encoding":"base64","size":5})") !=
              std::string::npos);
    }
    SUBCASE("text that is not UTF-8 is base64") {
        Record r = tcp_message("caf\xe9"); // Latin-1
        CHECK(ndjson(r).find(R"("payload":"Y2Fm6Q==","encoding":"base64","size":4})") !=
              std::string::npos);
    }
    SUBCASE("truncated UTF-8 is base64") {
        Record r = tcp_message("\xe2\x82");
        CHECK(ndjson(r).find(R"("encoding":"base64")") != std::string::npos);
    }
    SUBCASE("empty binary payload") {
        Record r = tcp_message("");
        r.binary = true;
        CHECK(ndjson(r).find(R"("payload":"","encoding":"base64","size":0})") != std::string::npos);
    }
}

TEST_CASE("append_ndjson: same keys in the same order for every record") {
    Record text = tcp_message("hello");
    Record binary = tcp_message("\x80\x81");
    binary.binary = true;
    binary.topic = "t";
    binary.id = "9";
    binary.protocol = "ws";
    binary.event = "close";
    const std::string_view keys[] = {
        "\"time\":", "\"protocol\":", "\"connection\":", "\"event\":", "\"topic\":",
        "\"id\":",   "\"payload\":",  "\"encoding\":",   "\"size\":"};
    for (const Record* r : {&text, &binary}) {
        std::string line = ndjson(*r);
        CAPTURE(line);
        CHECK(line.front() == '{');
        std::size_t last = 0;
        for (std::string_view key : keys) {
            CAPTURE(key);
            std::size_t pos = line.find(key);
            REQUIRE(pos != std::string::npos);
            CHECK(pos > last);
            last = pos;
        }
    }
}

TEST_CASE("append_ndjson: one line per record, ending with LF") {
    std::string out = "previous\n";
    append_ndjson(out, tcp_message("a\nb"));
    append_ndjson(out, tcp_message("c"));
    CHECK(out.rfind("previous\n{", 0) == 0);
    CHECK(out.back() == '\n');
    std::size_t newlines = 0;
    for (char c : out) {
        newlines += c == '\n' ? 1 : 0;
    }
    CHECK(newlines == 3); // the LF inside the payload is escaped
    CHECK(out.substr(out.size() - 2) == "}\n");
}

TEST_CASE("append_ndjson: MQTT records add qos, retain and properties at the end") {
    Record r = tcp_message("hi");
    r.protocol = "mqtt";
    r.topic = "a/b";
    SUBCASE("with properties") {
        r.qos = 1;
        r.retain = true;
        r.properties_json = R"({"content_type":"text/plain"})";
        std::string out;
        append_ndjson(out, r);
        CHECK(out.ends_with(R"("size":2,"qos":1,"retain":true,)"
                            R"("properties":{"content_type":"text/plain"}})"
                            "\n"));
    }
    SUBCASE("no properties: an empty object") {
        r.qos = 0;
        std::string out;
        append_ndjson(out, r);
        CHECK(out.ends_with(R"("size":2,"qos":0,"retain":false,"properties":{}})"
                            "\n"));
    }
    SUBCASE("other protocols: no extra keys") {
        std::string out;
        append_ndjson(out, tcp_message("hi"));
        CHECK(out.find("qos") == std::string::npos);
    }
}

TEST_CASE("RecordFilter: --event and --no-lifecycle") {
    rtx::output::RecordFilter filter;
    rtx::output::Record message;
    message.event = "update";
    rtx::output::Record open;
    open.event = "open";
    open.lifecycle = true;
    rtx::output::Record close;
    close.event = "close";
    close.lifecycle = true;
    SUBCASE("by default every record") {
        CHECK(filter.accepts(message));
        CHECK(filter.accepts(open));
        CHECK(filter.accepts(close));
    }
    SUBCASE("--event keeps only records with that event, lifecycle records included") {
        filter.events = {"update"};
        CHECK(filter.accepts(message));
        CHECK_FALSE(filter.accepts(open));
        CHECK_FALSE(filter.accepts(close));
        filter.events.push_back("close");
        CHECK(filter.accepts(close));
    }
    SUBCASE("--no-lifecycle keeps only messages") {
        filter.lifecycle = false;
        CHECK(filter.accepts(message));
        CHECK_FALSE(filter.accepts(open));
        CHECK_FALSE(filter.accepts(close));
        SUBCASE("even when --event names them") {
            filter.events = {"update", "close"};
            CHECK_FALSE(filter.accepts(close));
        }
    }
    SUBCASE("an SSE event named like a lifecycle record is still a message") {
        rtx::output::Record named_open;
        named_open.event = "open";
        filter.lifecycle = false;
        CHECK(filter.accepts(named_open));
    }
}
