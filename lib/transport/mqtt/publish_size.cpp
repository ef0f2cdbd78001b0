// The size of the PUBLISH packets rtx mqtt pub sends, for the checks against MQTT's largest
// packet and the broker's Maximum Packet Size before a message is handed to Paho.
#include "proto/mqtt_codec.hpp"
#include "transport/mqtt/mqtt_client.hpp"

#include <string>

namespace rtx::transport::mqtt {

namespace {

/// The bytes of the MQTT 5 property block a PUBLISH with these settings carries.
std::uint64_t properties_size(const PublishSettings& p) {
    using proto::mqtt::PropertyId;
    std::string block;
    if (!p.content_type.empty()) {
        proto::mqtt::put_property(block, PropertyId::content_type, p.content_type);
    }
    if (!p.response_topic.empty()) {
        proto::mqtt::put_property(block, PropertyId::response_topic, p.response_topic);
    }
    if (!p.correlation_data.empty()) {
        proto::mqtt::put_property(block, PropertyId::correlation_data, p.correlation_data);
    }
    if (p.message_expiry) {
        proto::mqtt::put_property_u32(block, PropertyId::message_expiry_interval,
                                      *p.message_expiry);
    }
    for (const auto& user : p.user_properties) {
        proto::mqtt::put_user_property(block, user.name, user.value);
    }
    return block.size();
}

/// Everything in the Remaining Length but the payload.
std::uint64_t variable_header_size(const PublishSettings& p, int version) {
    std::uint64_t size = 2 + p.topic.size() + (p.qos > 0 ? 2 : 0);
    if (version == 5) {
        std::uint64_t properties = properties_size(p);
        size += proto::mqtt::varint_size(static_cast<std::uint32_t>(properties)) + properties;
    }
    return size;
}

} // namespace

std::uint64_t publish_packet_size(const PublishSettings& settings, int version,
                                  std::uint64_t payload_size) {
    std::uint64_t remaining = variable_header_size(settings, version) + payload_size;
    std::uint64_t length_bytes =
        remaining <= proto::mqtt::k_max_remaining_length
            ? proto::mqtt::varint_size(static_cast<std::uint32_t>(remaining))
            : 4;
    return 1 + length_bytes + remaining;
}

std::uint64_t max_publish_payload(const PublishSettings& settings, int version) {
    std::uint64_t header = variable_header_size(settings, version);
    return header >= proto::mqtt::k_max_remaining_length
               ? 0
               : proto::mqtt::k_max_remaining_length - header;
}

} // namespace rtx::transport::mqtt
