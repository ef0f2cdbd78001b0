// Tests for transport/webrtc/trickle_json.hpp: the {"type":"candidate"} signalling messages.
#include "transport/webrtc/trickle_json.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

using rtx::transport::webrtc::candidate_from_message;
using rtx::transport::webrtc::candidate_message;
using rtx::transport::webrtc::TrickledCandidate;

TEST_CASE("trickle json: our candidates carry the data section's mid and index") {
    TrickledCandidate candidate{"1 1 UDP 2013266431 127.0.0.1 40000 typ host", "2", 2};
    CHECK(candidate_message(candidate) ==
          R"({"candidate":"candidate:1 1 UDP 2013266431 127.0.0.1 40000 typ host",)"
          R"("sdpMLineIndex":2,"sdpMid":"2","type":"candidate"})");
    // The end of candidates: an empty "candidate", still tagged.
    CHECK(candidate_message(TrickledCandidate{"", "data", 0}) ==
          R"({"candidate":"","sdpMLineIndex":0,"sdpMid":"data","type":"candidate"})");
}

TEST_CASE("trickle json: a browser's candidate reads back with its tags") {
    auto read = candidate_from_message(nlohmann::json::parse(
        R"({"type":"candidate","candidate":"candidate:9 1 udp 1 127.0.0.1 5 typ host",)"
        R"("sdpMid":"2","sdpMLineIndex":2,"usernameFragment":"abcd"})"));
    CHECK(read.candidate == "candidate:9 1 udp 1 127.0.0.1 5 typ host");
    CHECK(read.mid == std::optional<std::string>("2"));
    CHECK(read.mline_index == std::optional<std::size_t>(2));
}

TEST_CASE("trickle json: null, missing or mistyped fields are left unsaid") {
    auto read = candidate_from_message(
        nlohmann::json::parse(R"({"type":"candidate","candidate":null,"sdpMid":null})"));
    CHECK(read.candidate.empty()); // null: the end of candidates
    CHECK_FALSE(read.mid.has_value());
    CHECK_FALSE(read.mline_index.has_value());
    read = candidate_from_message(
        nlohmann::json::parse(R"({"type":"candidate","sdpMid":2,"sdpMLineIndex":-1})"));
    CHECK(read.candidate.empty());
    CHECK_FALSE(read.mid.has_value());
    CHECK_FALSE(read.mline_index.has_value());
    read = candidate_from_message(nlohmann::json::parse(R"({"sdpMLineIndex":"2"})"));
    CHECK_FALSE(read.mline_index.has_value());
}
