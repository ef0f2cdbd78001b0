// Tests for transport/mqtt publish_packet_size and max_publish_payload: the sizes rtx mqtt pub
// checks against MQTT's largest packet and the broker's Maximum Packet Size agree with the
// bytes the codec encodes for the same PUBLISH.
#include "proto/mqtt_codec.hpp"
#include "transport/mqtt/mqtt_client.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace rtx;
using transport::mqtt::PublishSettings;

namespace {

std::string properties_of(const PublishSettings& p) {
    using proto::mqtt::PropertyId;
    std::string block;
    if (!p.content_type.empty()) {
        proto::mqtt::put_property(block, PropertyId::content_type, p.content_type);
    }
    if (p.message_expiry) {
        proto::mqtt::put_property_u32(block, PropertyId::message_expiry_interval,
                                      *p.message_expiry);
    }
    for (const auto& user : p.user_properties) {
        proto::mqtt::put_user_property(block, user.name, user.value);
    }
    return block;
}

std::size_t encoded_size(const PublishSettings& p, int version, const std::string& payload) {
    std::string out;
    auto v = version == 5 ? proto::mqtt::Version::v5 : proto::mqtt::Version::v311;
    REQUIRE(proto::mqtt::encode_publish(out, v, p.topic, payload, static_cast<std::uint8_t>(p.qos),
                                        p.retain, false, p.qos > 0 ? 1 : 0, properties_of(p)));
    return out.size();
}

} // namespace

TEST_CASE("publish_packet_size is the encoded size of the PUBLISH") {
    PublishSettings p;
    p.topic = "sensors/t1";
    for (int version : {4, 5}) {
        for (int qos : {0, 1, 2}) {
            // 127/128 and 16383/16384 bytes cross a Remaining Length byte.
            for (std::size_t size : {0U, 1U, 100U, 114U, 115U, 116U, 16370U, 16371U, 20000U}) {
                CAPTURE(version);
                CAPTURE(qos);
                CAPTURE(size);
                p.qos = qos;
                std::string payload(size, 'x');
                CHECK(transport::mqtt::publish_packet_size(p, version, size) ==
                      encoded_size(p, version, payload));
            }
        }
    }
    p.content_type = "application/json";
    p.message_expiry = 60;
    p.user_properties = {{"trace", "abc"}, {"k", ""}};
    CHECK(transport::mqtt::publish_packet_size(p, 5, 10) ==
          encoded_size(p, 5, std::string(10, 'x')));
}

TEST_CASE("max_publish_payload leaves room for the topic, the packet id and the properties") {
    PublishSettings p;
    p.topic = "t";
    CHECK(transport::mqtt::max_publish_payload(p, 4) == 268'435'455 - 3);
    p.qos = 1;
    CHECK(transport::mqtt::max_publish_payload(p, 4) == 268'435'455 - 5);
    CHECK(transport::mqtt::max_publish_payload(p, 5) == 268'435'455 - 6); // empty properties
    auto most = transport::mqtt::max_publish_payload(p, 5);
    CHECK(transport::mqtt::publish_packet_size(p, 5, most) == proto::mqtt::k_max_packet_size);
}
