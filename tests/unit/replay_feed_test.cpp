// Tests for serve/replay_feed.hpp: reading the NDJSON recordings `rtx serve --replay` plays.
#include "serve/replay_feed.hpp"

#include <doctest/doctest.h>

#include <string>

using rtx::serve::parse_replay;
using namespace std::chrono_literals;

namespace {

constexpr std::string_view k_sse_recording =
    R"({"time":"2026-11-28T15:51:06.000000Z","protocol":"sse","connection":1,"event":"open","topic":null,"id":null,"payload":"","encoding":"utf8","size":0}
{"time":"2026-11-28T15:51:06.100000Z","protocol":"sse","connection":1,"event":"message","topic":null,"id":"1","payload":"{\"n\":1}","encoding":"utf8","size":7}
{"time":"2026-11-28T15:51:06.350000Z","protocol":"sse","connection":1,"event":"update","topic":"update","id":"2","payload":"two","encoding":"utf8","size":3}

{"time":"2026-11-28T15:51:07.100000Z","protocol":"ws","connection":1,"event":"message","topic":"other","id":null,"payload":"AAH/","encoding":"base64","size":3,"opcode":"binary"}
{"time":"2026-11-28T15:51:07.2Z","protocol":"sse","connection":1,"event":"close","topic":null,"id":null,"payload":"stream ended","encoding":"utf8","size":12}
)";

} // namespace

TEST_CASE("replay: what the clients' --json writes, spaced from the first message") {
    auto feed = parse_replay(k_sse_recording, "feed.ndjson", "feed");
    REQUIRE(feed.ok());
    REQUIRE(feed->records.size() == 3); // open and close records are not messages
    CHECK(feed->records[0].at == 0us);
    CHECK(feed->records[0].topic == "feed");
    CHECK(feed->records[0].event.empty());
    CHECK(feed->records[0].payload == R"({"n":1})");
    CHECK(feed->records[1].at == 250ms);
    CHECK(feed->records[1].event == "update");
    CHECK(feed->records[1].topic == "feed"); // an sse record's "topic" is its event type
    CHECK(feed->records[2].at == 1000ms);
    CHECK(feed->records[2].topic == "other");
    CHECK(feed->records[2].binary);
    CHECK(feed->records[2].payload == std::string("\0\x01\xff", 3));
}

TEST_CASE("replay: by_topic times each topic from its own first record") {
    auto feed = parse_replay(k_sse_recording, "feed.ndjson", "feed");
    REQUIRE(feed.ok());
    auto topics = feed->by_topic();
    REQUIRE(topics.size() == 2);
    CHECK(topics["feed"].size() == 2);
    CHECK(topics["feed"][1].at == 250ms);
    CHECK(topics["other"].size() == 1);
    CHECK(topics["other"][0].at == 0us);
}

TEST_CASE("replay: hand-written files need only payloads; time may be absent or go back") {
    auto feed = parse_replay("{\"payload\":\"a\"}\r\n"
                             "{\"time\":\"2026-01-01T00:00:01Z\",\"payload\":\"b\"}\n"
                             "{\"time\":\"2026-01-01T00:00:03+01:00\",\"payload\":\"c\"}\n"
                             "{\"payload\":\"d\",\"qos\":1,\"retain\":true}",
                             "x", "t");
    REQUIRE(feed.ok());
    REQUIRE(feed->records.size() == 4);
    CHECK(feed->records[0].at == 0us);
    CHECK(feed->records[1].at == 0us);
    CHECK(feed->records[2].at == 0us); // an hour earlier: right after the previous one
    CHECK(feed->records[3].at == 0us);
    CHECK(feed->records[3].qos == 1);
    CHECK(feed->records[3].retain);
}

TEST_CASE("replay: a malformed line is a usage error naming file:line") {
    for (auto [text, why] : {
             std::pair{"{\"payload\":\"a\"}\n\nnot json\n", "feed.ndjson:3: not a JSON object"},
             std::pair{"[1]", "feed.ndjson:1: not a JSON object"},
             std::pair{"{\"payload\":1}", "feed.ndjson:1: no \"payload\" string"},
             std::pair{"{\"size\":1}", "feed.ndjson:1: no \"payload\" string"},
             std::pair{"{\"payload\":\"a\",\"time\":\"yesterday\"}",
                       "feed.ndjson:1: \"time\" is not RFC 3339: 'yesterday'"},
             std::pair{"{\"payload\":\"a\",\"time\":5}", "feed.ndjson:1: \"time\" is not a string"},
             std::pair{"{\"payload\":\"%%\",\"encoding\":\"base64\"}",
                       "feed.ndjson:1: \"payload\" is not base64"},
             std::pair{"{\"payload\":\"a\",\"encoding\":\"hex\"}",
                       "feed.ndjson:1: \"encoding\" must be utf8 or base64, not 'hex'"},
             std::pair{"{\"payload\":\"a\",\"topic\":[]}",
                       "feed.ndjson:1: \"topic\" is not a string"},
             std::pair{"", "feed.ndjson: no records to replay"},
             std::pair{"{\"event\":\"open\",\"payload\":\"\"}\n",
                       "feed.ndjson: no records to replay"},
         }) {
        CAPTURE(text);
        auto feed = parse_replay(text, "feed.ndjson", "feed");
        REQUIRE_FALSE(feed.ok());
        CHECK(feed.error().code == rtx::core::ExitCode::usage);
        CHECK(feed.error().message == why);
    }
}
