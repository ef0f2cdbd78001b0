// Tests for transport/mqtt/session_store.hpp: which of Paho's records count as messages
// still to deliver, the fall notification, a detached view, and the payloads recovered
// from sent PUBLISH records when a broker has lost the session.
#include "transport/mqtt/session_store.hpp"

#include "proto/mqtt_codec.hpp"

#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <vector>

using rtx::transport::mqtt::SessionStore;

namespace {

/// What Paho's persistence wrapper hands put(): the record in pieces.
void put(SessionStore::View& view, const std::string& key, const std::string& value) {
    std::size_t half = value.size() / 2;
    view.put(key, {::mqtt::string_view(value.data(), half),
                   ::mqtt::string_view(value.data() + half, value.size() - half)});
}

/// A persisted Paho command: its type (an int) first, then whatever follows.
std::string command(int type) {
    std::string record(sizeof type, '\0');
    std::memcpy(record.data(), &type, sizeof type);
    return record + "rest of the command";
}

std::string publish_record(rtx::proto::mqtt::Version version, std::uint16_t id,
                           const std::string& payload) {
    std::string out;
    REQUIRE(rtx::proto::mqtt::encode_publish(out, version, "t", payload, 2, false, false, id));
    return out;
}

} // namespace

TEST_CASE("session store: outbound counts queued publish commands and sent PUBLISHes") {
    int falls = 0;
    auto store = std::make_shared<SessionStore>([&] { ++falls; });
    SessionStore::View view(store);
    put(view, "c-1", command(3)); // a PUBLISH command
    put(view, "c-2", command(8)); // a SUBSCRIBE command: not a message
    put(view, "r-7", "inbound");  // a received QoS 2 PUBLISH: not ours to deliver
    CHECK(store->outbound() == 1);
    CHECK(store->outbound_bytes() == command(3).size());

    // Paho processes the command and writes the packet, in this order. Nobody is woken while
    // another message is still counted; this one moves from command to PUBLISH record.
    put(view, "c-3", command(3));
    view.remove("c-1");
    put(view, "s-1", publish_record(rtx::proto::mqtt::Version::v311, 1, "m"));
    view.remove("c-3");
    CHECK(falls == 0);
    CHECK(store->outbound() == 1);

    // PUBREC, PUBREL sent: still one message. PUBCOMP: Paho removes every form of the key.
    put(view, "sc-1", "pubrel");
    CHECK(store->outbound() == 1);
    for (const char* key : {"s5-1", "sc5-1", "s-1", "sc-1"}) {
        view.remove(key);
    }
    CHECK(store->outbound() == 0);
    CHECK(store->outbound_bytes() == 0);
    CHECK(falls == 1);
    CHECK(store->size() == 2); // c-2 and r-7
    CHECK(view.contains_key("r-7"));
    CHECK(view.get("r-7") == "inbound");
    CHECK(view.keys().size() == 2);

    view.clear();
    CHECK(store->size() == 0);
}

TEST_CASE("session store: rewriting a counted record is not a fall") {
    int falls = 0;
    auto store = std::make_shared<SessionStore>([&] { ++falls; });
    SessionStore::View view(store);
    put(view, "s5-4", "first");
    put(view, "s5-4", "second, longer");
    CHECK(store->outbound() == 1);
    CHECK(store->outbound_bytes() == std::string("second, longer").size());
    CHECK(falls == 0);
}

TEST_CASE("session store: a detached view neither reads nor changes the session") {
    auto store = std::make_shared<SessionStore>();
    SessionStore::View old_view(store);
    put(old_view, "s-1", "kept");
    old_view.detach();
    put(old_view, "s-2", "ignored");
    old_view.remove("s-1");
    old_view.clear();
    CHECK_FALSE(old_view.contains_key("s-1"));
    CHECK(old_view.keys().size() == 0);
    CHECK_THROWS(old_view.get("s-1"));

    SessionStore::View successor(store);
    CHECK(successor.get("s-1") == "kept");
    CHECK(store->outbound() == 1);
}

TEST_CASE("session store: sent payloads come back whole, in packet-id order") {
    using rtx::proto::mqtt::Version;
    for (Version version : {Version::v311, Version::v5}) {
        auto store = std::make_shared<SessionStore>();
        SessionStore::View view(store);
        put(view, version == Version::v5 ? "s5-12" : "s-12", publish_record(version, 12, "b"));
        put(view, version == Version::v5 ? "s5-3" : "s-3", publish_record(version, 3, "a"));
        put(view, "c-9", command(3));  // not sent yet: Paho restores it as a command
        put(view, "s-40", "\x32\x7f"); // truncated: nothing to recover
        CHECK(store->sent_payloads(static_cast<int>(version)) ==
              std::vector<std::string>{"a", "b"});
    }
}
