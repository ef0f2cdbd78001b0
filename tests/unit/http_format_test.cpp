// serve/http/http_format: what rtx serve writes must read back exactly through rtx's own
// clients' parsers (SseParser for SSE, nlohmann::json for the JSON bodies).
#include "proto/sse_parser.hpp"
#include "serve/http/http_format.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

using rtx::proto::SseEvent;
using rtx::proto::SseParser;
using rtx::serve::HubMessage;
namespace http = rtx::serve::http;

namespace {

HubMessage message(std::uint64_t id, std::string payload, std::string event = "") {
    HubMessage m;
    m.id = id;
    m.topic = "t";
    m.payload = std::move(payload);
    m.event = std::move(event);
    return m;
}

struct Parsed {
    std::string type;
    std::string data;
    std::string id;
};

std::vector<Parsed> parse_sse(const std::string& stream) {
    std::vector<Parsed> events;
    SseParser parser;
    REQUIRE(parser.feed(stream,
                        [&](const SseEvent& e) {
                            events.push_back({std::string(e.type), std::string(e.data),
                                              std::string(e.last_event_id)});
                        },
                        {}));
    return events;
}

} // namespace

TEST_CASE("append_sse_event: what the client's parser reads back") {
    SUBCASE("one line") {
        std::string out;
        http::append_sse_event(out, message(7, "hello"));
        CHECK(out == "id: 7\ndata: hello\n\n");
        auto events = parse_sse(out);
        REQUIRE(events.size() == 1);
        CHECK(events[0].data == "hello");
        CHECK(events[0].type == "message");
        CHECK(events[0].id == "7");
    }
    SUBCASE("event name") {
        std::string out;
        http::append_sse_event(out, message(8, "x", "update"));
        auto events = parse_sse(out);
        REQUIRE(events.size() == 1);
        CHECK(events[0].type == "update");
    }
    SUBCASE("LF, CR and CRLF in the payload all arrive as LF") {
        std::string out;
        http::append_sse_event(out, message(9, "a\nb\rc\r\nd"));
        auto events = parse_sse(out);
        REQUIRE(events.size() == 1);
        CHECK(events[0].data == "a\nb\nc\nd");
    }
    SUBCASE("leading spaces, colons and an empty payload survive") {
        for (std::string payload : {"  two spaces", ": not a comment", "", "\n", "x\n"}) {
            std::string out;
            http::append_sse_event(out, message(1, payload));
            auto events = parse_sse(out);
            REQUIRE(events.size() == 1);
            CHECK(events[0].data == payload);
        }
    }
    SUBCASE("several events in one stream keep their order and ids") {
        std::string out;
        for (std::uint64_t i = 1; i <= 5; ++i) {
            http::append_sse_event(out, message(i, "m" + std::to_string(i)));
        }
        auto events = parse_sse(out);
        REQUIRE(events.size() == 5);
        CHECK(events[4].data == "m5");
        CHECK(events[4].id == "5");
    }
}

TEST_CASE("route: endpoints and topics") {
    CHECK(http::route("/sse/news").endpoint == http::Endpoint::sse);
    CHECK(http::route("/sse/news").topic == "news");
    CHECK(http::route("/stream/a/b").topic == "a/b");
    CHECK(http::route("/poll/x").endpoint == http::Endpoint::poll);
    CHECK(http::route("/publish/x").endpoint == http::Endpoint::publish);
    CHECK(http::route("/").endpoint == http::Endpoint::index);
    CHECK(http::route("/websocket.html").endpoint == http::Endpoint::websocket_page);
    CHECK(http::route("/echo").endpoint ==
          http::Endpoint::not_found); // the WebSocket router takes it
    CHECK(http::route("/nope").endpoint == http::Endpoint::not_found);
    SUBCASE("a prefix without a topic is the endpoint with an empty topic") {
        CHECK(http::route("/sse/").endpoint == http::Endpoint::sse);
        CHECK(http::route("/sse/").topic.empty());
        CHECK(http::route("/sse").topic.empty());
    }
}

TEST_CASE("parse_id: digits only, no overflow") {
    CHECK(http::parse_id("0") == 0u);
    CHECK(http::parse_id("18446744073709551615") == UINT64_MAX);
    CHECK_FALSE(http::parse_id("18446744073709551616").has_value());
    CHECK_FALSE(http::parse_id("").has_value());
    CHECK_FALSE(http::parse_id("-1").has_value());
    CHECK_FALSE(http::parse_id("1a").has_value());
    CHECK_FALSE(http::parse_id(" 1").has_value());
}

TEST_CASE("poll_body and publish_body are the JSON the clients read") {
    auto a = std::make_shared<const HubMessage>(message(4, "one"));
    auto b = std::make_shared<const HubMessage>(message(5, "two \"quoted\"\n", "e"));
    std::vector<std::shared_ptr<const HubMessage>> messages{a, b};
    auto body = nlohmann::json::parse(http::poll_body(5, messages, false));
    CHECK(body["cursor"] == 5);
    REQUIRE(body["messages"].size() == 2);
    CHECK(body["messages"][1]["payload"] == "two \"quoted\"\n");
    CHECK(body["messages"][1]["event"] == "e");
    CHECK_FALSE(body.contains("gap"));
    CHECK(nlohmann::json::parse(http::poll_body(5, messages, true))["gap"] == true);

    auto reply = nlohmann::json::parse(http::publish_body(*a, 3));
    CHECK(reply["id"] == 4);
    CHECK(reply["topic"] == "t");
    CHECK(reply["subscribers"] == 3);
}

TEST_CASE("frame_chunk: an HTTP/1.1 chunk in place") {
    std::string buffer(http::k_chunk_header_room, '\0');
    buffer += "hello world";
    std::size_t start = http::frame_chunk(buffer, http::k_chunk_header_room);
    CHECK(buffer.substr(start) == "b\r\nhello world\r\n");
}
