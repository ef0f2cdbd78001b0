#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

/// MQTT 3.1.1 and 5.0 wire format: an incremental decoder and encoders. Pure: no I/O, no
/// clock. Shared by the `rtx serve` broker and anything that speaks MQTT on the core loop.
///
/// Allocation-light by design: the decoder hands out packets whose strings are views into
/// the caller's input (or, for a packet split across feeds, into the decoder's one buffer),
/// and a Packet reused across calls keeps its vectors' capacity; the encoders append to a
/// caller's buffer and compute lengths first, so they write each byte once.
namespace rtx::proto::mqtt {

/// The protocol level byte of CONNECT.
enum class Version : std::uint8_t {
    v311 = 4,
    v5 = 5,
};

enum class PacketType : std::uint8_t {
    connect = 1,
    connack = 2,
    publish = 3,
    puback = 4,
    pubrec = 5,
    pubrel = 6,
    pubcomp = 7,
    subscribe = 8,
    suback = 9,
    unsubscribe = 10,
    unsuback = 11,
    pingreq = 12,
    pingresp = 13,
    disconnect = 14,
    auth = 15, ///< MQTT 5 only.
};

/// "CONNECT", "PUBLISH", ... for logs.
std::string_view packet_type_name(PacketType type);

/// The largest Remaining Length a Variable Byte Integer can hold (MQTT 5 section 1.5.5).
inline constexpr std::uint32_t k_max_remaining_length = 268'435'455;
/// The largest packet: fixed header (1 + 4 bytes) plus the largest remaining length.
inline constexpr std::size_t k_max_packet_size = k_max_remaining_length + 5;

/// MQTT 5 reason codes used by this codec and the broker (section 2.4). MQTT 3.1.1 CONNACK
/// return codes are the separate k_v311_* constants below.
namespace reason {
inline constexpr std::uint8_t success = 0x00;
inline constexpr std::uint8_t granted_qos_1 = 0x01;
inline constexpr std::uint8_t granted_qos_2 = 0x02;
inline constexpr std::uint8_t disconnect_with_will = 0x04;
inline constexpr std::uint8_t no_matching_subscribers = 0x10;
inline constexpr std::uint8_t no_subscription_existed = 0x11;
inline constexpr std::uint8_t unspecified_error = 0x80;
inline constexpr std::uint8_t malformed_packet = 0x81;
inline constexpr std::uint8_t protocol_error = 0x82;
inline constexpr std::uint8_t implementation_specific_error = 0x83;
inline constexpr std::uint8_t unsupported_protocol_version = 0x84;
inline constexpr std::uint8_t client_identifier_not_valid = 0x85;
inline constexpr std::uint8_t bad_user_name_or_password = 0x86;
inline constexpr std::uint8_t not_authorized = 0x87;
inline constexpr std::uint8_t server_unavailable = 0x88;
inline constexpr std::uint8_t server_busy = 0x89;
inline constexpr std::uint8_t bad_authentication_method = 0x8C;
inline constexpr std::uint8_t keep_alive_timeout = 0x8D;
inline constexpr std::uint8_t session_taken_over = 0x8E;
inline constexpr std::uint8_t topic_filter_invalid = 0x8F;
inline constexpr std::uint8_t topic_name_invalid = 0x90;
inline constexpr std::uint8_t packet_identifier_in_use = 0x91;
inline constexpr std::uint8_t packet_identifier_not_found = 0x92;
inline constexpr std::uint8_t receive_maximum_exceeded = 0x93;
inline constexpr std::uint8_t topic_alias_invalid = 0x94;
inline constexpr std::uint8_t packet_too_large = 0x95;
inline constexpr std::uint8_t quota_exceeded = 0x97;
inline constexpr std::uint8_t payload_format_invalid = 0x99;
inline constexpr std::uint8_t retain_not_supported = 0x9A;
inline constexpr std::uint8_t qos_not_supported = 0x9B;
inline constexpr std::uint8_t server_shutting_down = 0x8B;
inline constexpr std::uint8_t shared_subscriptions_not_supported = 0x9E;
inline constexpr std::uint8_t subscription_identifiers_not_supported = 0xA1;
inline constexpr std::uint8_t wildcard_subscriptions_not_supported = 0xA2;
} // namespace reason

/// MQTT 3.1.1 CONNACK return codes (section 3.2.2.3).
inline constexpr std::uint8_t k_v311_unacceptable_protocol_version = 0x01;
inline constexpr std::uint8_t k_v311_identifier_rejected = 0x02;
inline constexpr std::uint8_t k_v311_server_unavailable = 0x03;
inline constexpr std::uint8_t k_v311_bad_user_name_or_password = 0x04;
inline constexpr std::uint8_t k_v311_not_authorized = 0x05;
/// MQTT 3.1.1 SUBACK failure return code.
inline constexpr std::uint8_t k_v311_subscribe_failure = 0x80;

/// MQTT 5 property identifiers (section 2.2.2.2).
enum class PropertyId : std::uint8_t {
    payload_format_indicator = 0x01,
    message_expiry_interval = 0x02,
    content_type = 0x03,
    response_topic = 0x08,
    correlation_data = 0x09,
    subscription_identifier = 0x0B,
    session_expiry_interval = 0x11,
    assigned_client_identifier = 0x12,
    server_keep_alive = 0x13,
    authentication_method = 0x15,
    authentication_data = 0x16,
    request_problem_information = 0x17,
    will_delay_interval = 0x18,
    request_response_information = 0x19,
    response_information = 0x1A,
    server_reference = 0x1C,
    reason_string = 0x1F,
    receive_maximum = 0x21,
    topic_alias_maximum = 0x22,
    topic_alias = 0x23,
    maximum_qos = 0x24,
    retain_available = 0x25,
    user_property = 0x26,
    maximum_packet_size = 0x27,
    wildcard_subscription_available = 0x28,
    subscription_identifier_available = 0x29,
    shared_subscription_available = 0x2A,
};

/// The decoded properties of one packet (or of a CONNECT's will). Strings are views into the
/// decoded input. A property is present when has() says so; the value fields of absent
/// properties are zero or empty.
struct Properties {
    /// The property block as it was on the wire, without its length: what a broker passes
    /// through unchanged.
    std::string_view raw;
    std::uint64_t present = 0; ///< Bit (1 << id) for every property seen.

    std::uint8_t payload_format_indicator = 0;
    std::uint32_t message_expiry_interval = 0;
    std::string_view content_type;
    std::string_view response_topic;
    std::string_view correlation_data;
    std::vector<std::uint32_t> subscription_identifiers;
    std::uint32_t session_expiry_interval = 0;
    std::string_view assigned_client_identifier;
    std::uint16_t server_keep_alive = 0;
    std::string_view authentication_method;
    std::string_view authentication_data;
    std::uint8_t request_problem_information = 0;
    std::uint32_t will_delay_interval = 0;
    std::uint8_t request_response_information = 0;
    std::string_view response_information;
    std::string_view server_reference;
    std::string_view reason_string;
    std::uint16_t receive_maximum = 0;
    std::uint16_t topic_alias_maximum = 0;
    std::uint16_t topic_alias = 0;
    std::uint8_t maximum_qos = 0;
    std::uint8_t retain_available = 0;
    std::vector<std::pair<std::string_view, std::string_view>> user_properties;
    std::uint32_t maximum_packet_size = 0;
    std::uint8_t wildcard_subscription_available = 0;
    std::uint8_t subscription_identifier_available = 0;
    std::uint8_t shared_subscription_available = 0;

    bool has(PropertyId id) const { return (present >> static_cast<unsigned>(id) & 1U) != 0; }
    /// Empties every field; the vectors keep their capacity.
    void clear();
};

/// One topic filter of a SUBSCRIBE with its options (MQTT 5 section 3.8.3.1; in 3.1.1 only
/// the QoS exists and the other fields are zero).
struct SubscribeTopic {
    std::string_view filter;
    std::uint8_t qos = 0;
    bool no_local = false;
    bool retain_as_published = false;
    std::uint8_t retain_handling = 0; ///< 0 send retained, 1 only if new, 2 never.

    /// The options byte as on the wire.
    std::uint8_t options_byte() const;
};

/// The CONNECT fields (section 3.1).
struct ConnectFields {
    std::string_view protocol_name = "MQTT";
    std::uint8_t protocol_level = 4;
    bool clean_start = true;
    std::uint16_t keep_alive = 60;
    std::string_view client_id;
    bool will = false;
    std::uint8_t will_qos = 0;
    bool will_retain = false;
    Properties will_properties; ///< Decoded; ignored by encode_connect (see its arguments).
    std::string_view will_topic;
    std::string_view will_payload;
    bool has_username = false;
    std::string_view username;
    bool has_password = false;
    std::string_view password;
};

/// One decoded packet. Only the fields of its type are meaningful; the others keep whatever
/// an earlier packet left (reuse one Packet across decode() calls: no allocation once the
/// vectors have grown). Views are valid until the next decode() call and only as long as
/// the input handed to that call.
struct Packet {
    PacketType type = PacketType::pingreq;
    std::uint8_t flags = 0; ///< The low nibble of the fixed header.
    /// PUBLISH with QoS > 0, the acks, SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK.
    std::uint16_t packet_id = 0;
    /// CONNACK (the 3.1.1 return code or the 5 reason code), PUBACK..PUBCOMP, DISCONNECT,
    /// AUTH (0 when the packet omits it).
    std::uint8_t reason_code = 0;
    Properties properties; ///< MQTT 5 only.

    // PUBLISH
    bool dup = false;
    std::uint8_t qos = 0;
    bool retain = false;
    std::string_view topic;
    std::string_view payload;

    // CONNACK
    bool session_present = false;

    // CONNECT
    ConnectFields connect;

    /// SUBSCRIBE (filters with options) and UNSUBSCRIBE (filters only).
    std::vector<SubscribeTopic> topics;
    /// SUBACK and UNSUBACK (MQTT 5; a 3.1.1 UNSUBACK has none).
    std::vector<std::uint8_t> reason_codes;
};

/// Why decoding stopped. `reason` is the MQTT 5 reason code to answer with: malformed_packet,
/// protocol_error, packet_too_large, or unsupported_protocol_version (a CONNECT with a level
/// other than 4 or 5; answer with a CONNACK in the client's format, or just close).
struct DecodeError {
    std::uint8_t reason = 0;
    std::string_view what; ///< A static description for logs: "remaining length too long".
};

enum class DecodeStatus {
    packet,    ///< A packet was decoded into the Packet.
    need_more, ///< The input is used up; feed more bytes.
    error,     ///< The stream is broken (see error()); the decoder stays in this state.
};

/// Cuts a byte stream into MQTT packets and decodes them. Fed arbitrary chunks; a packet that
/// arrives whole inside one chunk is decoded in place (never copied). A peer that announces
/// a packet larger than max_packet_size is refused as soon as its fixed header is read.
///
/// Usage:
///     std::string_view in = chunk;
///     while ((status = decoder.decode(in, packet)) == DecodeStatus::packet) { use(packet); }
class Decoder {
public:
    explicit Decoder(Version version = Version::v311,
                     std::size_t max_packet_size = k_max_packet_size);

    /// Decodes the next packet from `input`, consuming what it uses (it may consume all of
    /// `input` into its buffer and return need_more). The previous packet's views become
    /// invalid.
    DecodeStatus decode(std::string_view& input, Packet& packet);

    /// The version the packets are read as. A decoded CONNECT sets it (level 4 or 5).
    Version version() const { return m_version; }
    void set_version(Version version) { m_version = version; }
    std::size_t max_packet_size() const { return m_max_packet_size; }
    void set_max_packet_size(std::size_t size) { m_max_packet_size = size; }
    const DecodeError& error() const { return m_error; }
    /// Bytes held for an unfinished packet.
    std::size_t buffered() const { return m_done ? 0 : m_buffer.size(); }

private:
    DecodeStatus fail(std::uint8_t reason, std::string_view what);
    DecodeStatus finish(std::string_view frame, std::size_t header_size, Packet& packet);

    Version m_version;
    std::size_t m_max_packet_size;
    std::string m_buffer;
    bool m_done = false; ///< m_buffer holds the last packet returned; cleared on next call.
    bool m_failed = false;
    DecodeError m_error;
};

/// Decodes one complete packet body (the bytes after the remaining length) as `version`.
/// The building block of Decoder; exposed for tests and the fuzz target.
bool decode_packet(std::uint8_t first_byte, std::string_view body, Version version, Packet& packet,
                   DecodeError& error);

/// How a fixed header parses: complete (sizes set), incomplete (need more bytes) or
/// malformed (a remaining length longer than 4 bytes or not minimally encoded).
enum class HeaderStatus { complete, incomplete, malformed };
HeaderStatus parse_fixed_header(std::string_view input, std::size_t& header_size,
                                std::uint32_t& remaining_length);

/// Appends `value` as a Variable Byte Integer; it must be at most k_max_remaining_length.
void put_varint(std::string& out, std::uint32_t value);
/// Bytes the Variable Byte Integer of `value` takes (1..4).
std::size_t varint_size(std::uint32_t value);

/// True if `text` is a well-formed MQTT UTF-8 string (section 1.5.4): valid UTF-8, no
/// U+0000, no surrogates, at most 65535 bytes.
bool valid_utf8_string(std::string_view text);

// Property builders: append one property to a property block (the bytes encoders take as
// `properties`, without the length prefix).
void put_property(std::string& out, PropertyId id, std::uint8_t value);
void put_property_u16(std::string& out, PropertyId id, std::uint16_t value);
void put_property_u32(std::string& out, PropertyId id, std::uint32_t value);
void put_property_varint(std::string& out, PropertyId id, std::uint32_t value);
/// A UTF-8 string or binary data property.
void put_property(std::string& out, PropertyId id, std::string_view value);
void put_user_property(std::string& out, std::string_view name, std::string_view value);

/// Calls `visit(id, bytes)` for every property of a well-formed property block (as decoded:
/// Properties::raw), `bytes` being the property's whole encoding, identifier included; a
/// broker uses it to copy some properties and rewrite others. Stops at the first malformed
/// one and returns false.
template <class Visit> bool for_each_property(std::string_view block, Visit&& visit);
/// The size of the encoded property at the front of `block` (identifier included); 0 if
/// malformed. The helper of for_each_property.
std::size_t property_size(std::string_view block);

// Encoders. Each appends one whole packet to `out` and returns false (leaving `out` as it
// was) when a field does not fit the format (a string over 65535 bytes, a packet over the
// largest remaining length). `properties` is an encoded property block (see put_property)
// and is ignored for 3.1.1.

/// CONNECT; the will (if connect.will) carries `will_properties`.
bool encode_connect(std::string& out, const ConnectFields& connect,
                    std::string_view properties = {}, std::string_view will_properties = {});
bool encode_connack(std::string& out, Version version, bool session_present,
                    std::uint8_t reason_code, std::string_view properties = {});
/// PUBLISH; packet_id is written only for QoS 1 and 2.
bool encode_publish(std::string& out, Version version, std::string_view topic,
                    std::string_view payload, std::uint8_t qos, bool retain, bool dup,
                    std::uint16_t packet_id, std::string_view properties = {});
/// PUBACK, PUBREC, PUBREL or PUBCOMP. MQTT 5 omits a success reason code without
/// properties (the 2-byte form).
bool encode_ack(std::string& out, Version version, PacketType type, std::uint16_t packet_id,
                std::uint8_t reason_code = reason::success, std::string_view properties = {});
bool encode_subscribe(std::string& out, Version version, std::uint16_t packet_id,
                      std::span<const SubscribeTopic> topics, std::string_view properties = {});
bool encode_suback(std::string& out, Version version, std::uint16_t packet_id,
                   std::span<const std::uint8_t> reason_codes, std::string_view properties = {});
bool encode_unsubscribe(std::string& out, Version version, std::uint16_t packet_id,
                        std::span<const std::string_view> filters,
                        std::string_view properties = {});
/// UNSUBACK; 3.1.1 has no reason codes (they are ignored).
bool encode_unsuback(std::string& out, Version version, std::uint16_t packet_id,
                     std::span<const std::uint8_t> reason_codes, std::string_view properties = {});
void encode_pingreq(std::string& out);
void encode_pingresp(std::string& out);
/// DISCONNECT; 3.1.1 has no reason code. MQTT 5 omits a success code without properties.
bool encode_disconnect(std::string& out, Version version,
                       std::uint8_t reason_code = reason::success,
                       std::string_view properties = {});
/// AUTH (MQTT 5 only).
bool encode_auth(std::string& out, std::uint8_t reason_code, std::string_view properties = {});

template <class Visit> bool for_each_property(std::string_view block, Visit&& visit) {
    while (!block.empty()) {
        const std::size_t size = property_size(block);
        if (size == 0) {
            return false;
        }
        visit(static_cast<PropertyId>(static_cast<std::uint8_t>(block[0])), block.substr(0, size));
        block.remove_prefix(size);
    }
    return true;
}

} // namespace rtx::proto::mqtt
