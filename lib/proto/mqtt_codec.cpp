#include "proto/mqtt_codec.hpp"

#include <algorithm>

namespace rtx::proto::mqtt {

namespace {

constexpr std::size_t k_max_string = 65535;

/// Where a property may appear; a property outside its packets makes the packet malformed
/// (MQTT 5 section 2.2.2.2).
enum PropertyContext : std::uint16_t {
    ctx_connect = 1 << 0,
    ctx_connack = 1 << 1,
    ctx_publish = 1 << 2,
    ctx_will = 1 << 3,
    ctx_ack = 1 << 4, // PUBACK, PUBREC, PUBREL, PUBCOMP
    ctx_subscribe = 1 << 5,
    ctx_suback = 1 << 6,
    ctx_unsubscribe = 1 << 7,
    ctx_unsuback = 1 << 8,
    ctx_disconnect = 1 << 9,
    ctx_auth = 1 << 10,
};

enum class PropertyType : std::uint8_t { none, byte, u16, u32, varint, utf8, binary, pair };

struct PropertyInfo {
    PropertyType type = PropertyType::none;
    std::uint16_t contexts = 0;
};

constexpr std::uint16_t ctx_all_reason_string =
    ctx_connack | ctx_ack | ctx_suback | ctx_unsuback | ctx_disconnect | ctx_auth;
constexpr std::uint16_t ctx_user_property = 0x7FF;

constexpr PropertyInfo property_info(std::uint8_t id) {
    switch (static_cast<PropertyId>(id)) {
    case PropertyId::payload_format_indicator:
        return {PropertyType::byte, ctx_publish | ctx_will};
    case PropertyId::message_expiry_interval:
        return {PropertyType::u32, ctx_publish | ctx_will};
    case PropertyId::content_type:
        return {PropertyType::utf8, ctx_publish | ctx_will};
    case PropertyId::response_topic:
        return {PropertyType::utf8, ctx_publish | ctx_will};
    case PropertyId::correlation_data:
        return {PropertyType::binary, ctx_publish | ctx_will};
    case PropertyId::subscription_identifier:
        return {PropertyType::varint, ctx_publish | ctx_subscribe};
    case PropertyId::session_expiry_interval:
        return {PropertyType::u32, ctx_connect | ctx_connack | ctx_disconnect};
    case PropertyId::assigned_client_identifier:
        return {PropertyType::utf8, ctx_connack};
    case PropertyId::server_keep_alive:
        return {PropertyType::u16, ctx_connack};
    case PropertyId::authentication_method:
        return {PropertyType::utf8, ctx_connect | ctx_connack | ctx_auth};
    case PropertyId::authentication_data:
        return {PropertyType::binary, ctx_connect | ctx_connack | ctx_auth};
    case PropertyId::request_problem_information:
        return {PropertyType::byte, ctx_connect};
    case PropertyId::will_delay_interval:
        return {PropertyType::u32, ctx_will};
    case PropertyId::request_response_information:
        return {PropertyType::byte, ctx_connect};
    case PropertyId::response_information:
        return {PropertyType::utf8, ctx_connack};
    case PropertyId::server_reference:
        return {PropertyType::utf8, ctx_connack | ctx_disconnect};
    case PropertyId::reason_string:
        return {PropertyType::utf8, ctx_all_reason_string};
    case PropertyId::receive_maximum:
        return {PropertyType::u16, ctx_connect | ctx_connack};
    case PropertyId::topic_alias_maximum:
        return {PropertyType::u16, ctx_connect | ctx_connack};
    case PropertyId::topic_alias:
        return {PropertyType::u16, ctx_publish};
    case PropertyId::maximum_qos:
        return {PropertyType::byte, ctx_connack};
    case PropertyId::retain_available:
        return {PropertyType::byte, ctx_connack};
    case PropertyId::user_property:
        return {PropertyType::pair, ctx_user_property};
    case PropertyId::maximum_packet_size:
        return {PropertyType::u32, ctx_connect | ctx_connack};
    case PropertyId::wildcard_subscription_available:
    case PropertyId::subscription_identifier_available:
    case PropertyId::shared_subscription_available:
        return {PropertyType::byte, ctx_connack};
    }
    return {};
}

/// A bounds-checked cursor over a packet body. Every read fails (returns false) past the end.
struct Reader {
    std::string_view rest;

    bool u8(std::uint8_t& out) {
        if (rest.empty()) {
            return false;
        }
        out = static_cast<std::uint8_t>(rest[0]);
        rest.remove_prefix(1);
        return true;
    }
    bool u16(std::uint16_t& out) {
        if (rest.size() < 2) {
            return false;
        }
        out = static_cast<std::uint16_t>(static_cast<std::uint8_t>(rest[0]) << 8 |
                                         static_cast<std::uint8_t>(rest[1]));
        rest.remove_prefix(2);
        return true;
    }
    bool u32(std::uint32_t& out) {
        if (rest.size() < 4) {
            return false;
        }
        out = 0;
        for (int i = 0; i < 4; ++i) {
            out = out << 8 | static_cast<std::uint8_t>(rest[static_cast<std::size_t>(i)]);
        }
        rest.remove_prefix(4);
        return true;
    }
    /// A Variable Byte Integer, minimally encoded, at most 4 bytes.
    bool varint(std::uint32_t& out) {
        out = 0;
        for (std::size_t i = 0; i < 4; ++i) {
            if (i >= rest.size()) {
                return false;
            }
            const auto byte = static_cast<std::uint8_t>(rest[i]);
            out |= static_cast<std::uint32_t>(byte & 0x7F) << (7 * i);
            if ((byte & 0x80) == 0) {
                if (i > 0 && byte == 0) {
                    return false; // not the shortest encoding
                }
                rest.remove_prefix(i + 1);
                return true;
            }
        }
        return false;
    }
    bool binary(std::string_view& out) {
        std::uint16_t size = 0;
        if (!u16(size) || rest.size() < size) {
            return false;
        }
        out = rest.substr(0, size);
        rest.remove_prefix(size);
        return true;
    }
    bool utf8(std::string_view& out) { return binary(out) && valid_utf8_string(out); }
    bool take(std::size_t size, std::string_view& out) {
        if (rest.size() < size) {
            return false;
        }
        out = rest.substr(0, size);
        rest.remove_prefix(size);
        return true;
    }
};

struct Failure {
    DecodeError& error;
    bool operator()(std::uint8_t reason, std::string_view what) const {
        error = DecodeError{reason, what};
        return false;
    }
    bool malformed(std::string_view what) const { return (*this)(reason::malformed_packet, what); }
    bool protocol(std::string_view what) const { return (*this)(reason::protocol_error, what); }
};

/// Reads a property length and the properties it covers into `props`.
bool read_properties(Reader& reader, std::uint16_t context, Properties& props,
                     const Failure& fail) {
    props.clear();
    std::uint32_t length = 0;
    if (!reader.varint(length)) {
        return fail.malformed("bad property length");
    }
    std::string_view block;
    if (!reader.take(length, block)) {
        return fail.malformed("property length past the end of the packet");
    }
    props.raw = block;
    Reader in{block};
    while (!in.rest.empty()) {
        std::uint32_t wide_id = 0;
        if (!in.varint(wide_id) || wide_id > 0x7F) {
            return fail.malformed("bad property identifier");
        }
        const auto id = static_cast<std::uint8_t>(wide_id);
        const PropertyInfo info = property_info(id);
        if (info.type == PropertyType::none || (info.contexts & context) == 0) {
            return fail.malformed("property not allowed in this packet");
        }
        const std::uint64_t bit = std::uint64_t{1} << id;
        const auto pid = static_cast<PropertyId>(id);
        if ((props.present & bit) != 0 && pid != PropertyId::user_property &&
            pid != PropertyId::subscription_identifier) {
            return fail.protocol("property given twice");
        }
        props.present |= bit;
        std::uint8_t b = 0;
        std::uint16_t s = 0;
        std::uint32_t l = 0;
        std::string_view text;
        bool ok = true;
        switch (info.type) {
        case PropertyType::byte:
            ok = in.u8(b);
            break;
        case PropertyType::u16:
            ok = in.u16(s);
            break;
        case PropertyType::u32:
            ok = in.u32(l);
            break;
        case PropertyType::varint:
            ok = in.varint(l);
            break;
        case PropertyType::utf8:
            ok = in.utf8(text);
            break;
        case PropertyType::binary:
            ok = in.binary(text);
            break;
        case PropertyType::pair: {
            std::string_view name;
            ok = in.utf8(name) && in.utf8(text);
            if (ok) {
                props.user_properties.emplace_back(name, text);
            }
            break;
        }
        case PropertyType::none:
            break;
        }
        if (!ok) {
            return fail.malformed("bad property value");
        }
        switch (pid) {
        case PropertyId::payload_format_indicator:
            if (b > 1) {
                return fail.protocol("bad payload format indicator");
            }
            props.payload_format_indicator = b;
            break;
        case PropertyId::message_expiry_interval:
            props.message_expiry_interval = l;
            break;
        case PropertyId::content_type:
            props.content_type = text;
            break;
        case PropertyId::response_topic:
            if (text.empty() || text.find_first_of("+#") != std::string_view::npos) {
                return fail.protocol("bad response topic");
            }
            props.response_topic = text;
            break;
        case PropertyId::correlation_data:
            props.correlation_data = text;
            break;
        case PropertyId::subscription_identifier:
            if (l == 0) {
                return fail.protocol("subscription identifier 0");
            }
            props.subscription_identifiers.push_back(l);
            break;
        case PropertyId::session_expiry_interval:
            props.session_expiry_interval = l;
            break;
        case PropertyId::assigned_client_identifier:
            props.assigned_client_identifier = text;
            break;
        case PropertyId::server_keep_alive:
            props.server_keep_alive = s;
            break;
        case PropertyId::authentication_method:
            props.authentication_method = text;
            break;
        case PropertyId::authentication_data:
            props.authentication_data = text;
            break;
        case PropertyId::request_problem_information:
            if (b > 1) {
                return fail.protocol("bad request problem information");
            }
            props.request_problem_information = b;
            break;
        case PropertyId::will_delay_interval:
            props.will_delay_interval = l;
            break;
        case PropertyId::request_response_information:
            if (b > 1) {
                return fail.protocol("bad request response information");
            }
            props.request_response_information = b;
            break;
        case PropertyId::response_information:
            props.response_information = text;
            break;
        case PropertyId::server_reference:
            props.server_reference = text;
            break;
        case PropertyId::reason_string:
            props.reason_string = text;
            break;
        case PropertyId::receive_maximum:
            if (s == 0) {
                return fail.protocol("receive maximum 0");
            }
            props.receive_maximum = s;
            break;
        case PropertyId::topic_alias_maximum:
            props.topic_alias_maximum = s;
            break;
        case PropertyId::topic_alias:
            props.topic_alias = s;
            break;
        case PropertyId::maximum_qos:
            if (b > 1) {
                return fail.protocol("bad maximum qos");
            }
            props.maximum_qos = b;
            break;
        case PropertyId::retain_available:
            props.retain_available = b;
            break;
        case PropertyId::user_property:
            break;
        case PropertyId::maximum_packet_size:
            if (l == 0) {
                return fail.protocol("maximum packet size 0");
            }
            props.maximum_packet_size = l;
            break;
        case PropertyId::wildcard_subscription_available:
            props.wildcard_subscription_available = b;
            break;
        case PropertyId::subscription_identifier_available:
            props.subscription_identifier_available = b;
            break;
        case PropertyId::shared_subscription_available:
            props.shared_subscription_available = b;
            break;
        }
    }
    return true;
}

bool decode_connect(Reader& in, Packet& packet, const Failure& fail) {
    ConnectFields& c = packet.connect;
    c = ConnectFields{};
    c.will_properties.clear();
    if (!in.binary(c.protocol_name) || !in.u8(c.protocol_level)) {
        return fail.malformed("truncated CONNECT");
    }
    const bool mqtt = c.protocol_name == "MQTT";
    if (!(mqtt || c.protocol_name == "MQIsdp")) {
        return fail.malformed("unknown protocol name");
    }
    if (!mqtt || (c.protocol_level != 4 && c.protocol_level != 5)) {
        return fail(reason::unsupported_protocol_version, "unsupported protocol level");
    }
    const bool v5 = c.protocol_level == 5;
    std::uint8_t flags = 0;
    if (!in.u8(flags) || !in.u16(c.keep_alive)) {
        return fail.malformed("truncated CONNECT");
    }
    if ((flags & 0x01) != 0) {
        return fail.malformed("reserved CONNECT flag set");
    }
    c.clean_start = (flags & 0x02) != 0;
    c.will = (flags & 0x04) != 0;
    c.will_qos = static_cast<std::uint8_t>(flags >> 3 & 0x03);
    c.will_retain = (flags & 0x20) != 0;
    c.has_password = (flags & 0x40) != 0;
    c.has_username = (flags & 0x80) != 0;
    if (c.will_qos == 3 || (!c.will && (c.will_qos != 0 || c.will_retain))) {
        return fail.malformed("bad will flags");
    }
    if (!v5 && c.has_password && !c.has_username) {
        return fail.malformed("password without user name");
    }
    if (v5 && !read_properties(in, ctx_connect, packet.properties, fail)) {
        return false;
    }
    if (!in.utf8(c.client_id)) {
        return fail.malformed("bad client identifier");
    }
    if (c.will) {
        if (v5 && !read_properties(in, ctx_will, c.will_properties, fail)) {
            return false;
        }
        if (!in.utf8(c.will_topic) || !in.binary(c.will_payload)) {
            return fail.malformed("bad will");
        }
        if (c.will_topic.empty() || c.will_topic.find_first_of("+#") != std::string_view::npos) {
            return fail(reason::topic_name_invalid, "bad will topic");
        }
    }
    if (c.has_username && !in.utf8(c.username)) {
        return fail.malformed("bad user name");
    }
    if (c.has_password && !in.binary(c.password)) {
        return fail.malformed("bad password");
    }
    return true;
}

bool decode_body(Reader& in, Version version, Packet& packet, const Failure& fail) {
    const bool v5 = version == Version::v5;
    switch (packet.type) {
    case PacketType::connect:
        return decode_connect(in, packet, fail);
    case PacketType::connack: {
        std::uint8_t flags = 0;
        if (!in.u8(flags) || !in.u8(packet.reason_code)) {
            return fail.malformed("truncated CONNACK");
        }
        if ((flags & 0xFE) != 0) {
            return fail.malformed("reserved CONNACK flag set");
        }
        packet.session_present = (flags & 0x01) != 0;
        return !v5 || read_properties(in, ctx_connack, packet.properties, fail);
    }
    case PacketType::publish: {
        packet.dup = (packet.flags & 0x08) != 0;
        packet.qos = static_cast<std::uint8_t>(packet.flags >> 1 & 0x03);
        packet.retain = (packet.flags & 0x01) != 0;
        if (packet.qos == 3) {
            return fail.malformed("PUBLISH with QoS 3");
        }
        if (packet.qos == 0 && packet.dup) {
            return fail.protocol("PUBLISH QoS 0 with DUP");
        }
        if (!in.utf8(packet.topic)) {
            return fail.malformed("bad topic name");
        }
        packet.packet_id = 0;
        if (packet.qos > 0) {
            if (!in.u16(packet.packet_id)) {
                return fail.malformed("truncated PUBLISH");
            }
            if (packet.packet_id == 0) {
                return fail.protocol("packet identifier 0");
            }
        }
        if (v5 && !read_properties(in, ctx_publish, packet.properties, fail)) {
            return false;
        }
        if (packet.topic.find_first_of("+#") != std::string_view::npos) {
            return fail(reason::topic_name_invalid, "wildcard in topic name");
        }
        if (packet.topic.empty() && !packet.properties.has(PropertyId::topic_alias)) {
            return fail.protocol("empty topic name");
        }
        packet.payload = in.rest;
        in.rest = {};
        return true;
    }
    case PacketType::puback:
    case PacketType::pubrec:
    case PacketType::pubrel:
    case PacketType::pubcomp:
        if (!in.u16(packet.packet_id)) {
            return fail.malformed("truncated acknowledgement");
        }
        if (packet.packet_id == 0) {
            return fail.protocol("packet identifier 0");
        }
        packet.reason_code = 0;
        if (v5 && !in.rest.empty()) {
            in.u8(packet.reason_code);
            if (!in.rest.empty()) {
                return read_properties(in, ctx_ack, packet.properties, fail);
            }
        }
        return true;
    case PacketType::subscribe:
    case PacketType::unsubscribe: {
        const bool subscribe = packet.type == PacketType::subscribe;
        if (!in.u16(packet.packet_id)) {
            return fail.malformed("truncated SUBSCRIBE");
        }
        if (packet.packet_id == 0) {
            return fail.protocol("packet identifier 0");
        }
        if (v5 && !read_properties(in, subscribe ? ctx_subscribe : ctx_unsubscribe,
                                   packet.properties, fail)) {
            return false;
        }
        packet.topics.clear();
        while (!in.rest.empty()) {
            SubscribeTopic topic;
            if (!in.utf8(topic.filter)) {
                return fail.malformed("bad topic filter");
            }
            if (subscribe) {
                std::uint8_t options = 0;
                if (!in.u8(options)) {
                    return fail.malformed("missing subscription options");
                }
                if ((options & (v5 ? 0xC0 : 0xFC)) != 0) {
                    return fail.malformed("reserved subscription option bits set");
                }
                topic.qos = options & 0x03;
                topic.no_local = (options & 0x04) != 0;
                topic.retain_as_published = (options & 0x08) != 0;
                topic.retain_handling = static_cast<std::uint8_t>(options >> 4 & 0x03);
                if (topic.qos == 3) {
                    return fail.malformed("subscription QoS 3");
                }
                if (topic.retain_handling == 3) {
                    return fail.protocol("retain handling 3");
                }
            }
            packet.topics.push_back(topic);
        }
        if (packet.topics.empty()) {
            return fail.protocol(subscribe ? "SUBSCRIBE without topic filters"
                                           : "UNSUBSCRIBE without topic filters");
        }
        return true;
    }
    case PacketType::suback:
    case PacketType::unsuback: {
        if (!in.u16(packet.packet_id)) {
            return fail.malformed("truncated SUBACK");
        }
        if (v5 &&
            !read_properties(in, packet.type == PacketType::suback ? ctx_suback : ctx_unsuback,
                             packet.properties, fail)) {
            return false;
        }
        packet.reason_codes.assign(in.rest.begin(), in.rest.end());
        in.rest = {};
        return true;
    }
    case PacketType::pingreq:
    case PacketType::pingresp:
        return true;
    case PacketType::disconnect:
    case PacketType::auth:
        packet.reason_code = 0;
        if (!v5) {
            return true;
        }
        if (!in.rest.empty()) {
            in.u8(packet.reason_code);
            if (!in.rest.empty()) {
                return read_properties(in,
                                       packet.type == PacketType::auth ? ctx_auth : ctx_disconnect,
                                       packet.properties, fail);
            }
        }
        return true;
    }
    return fail.malformed("unknown packet type");
}

/// The fixed-header flags every type but PUBLISH must carry (section 2.1.3).
std::uint8_t required_flags(PacketType type) {
    switch (type) {
    case PacketType::pubrel:
    case PacketType::subscribe:
    case PacketType::unsubscribe:
        return 0x02;
    default:
        return 0x00;
    }
}

void put_u16(std::string& out, std::size_t value) {
    out.push_back(static_cast<char>(value >> 8 & 0xFF));
    out.push_back(static_cast<char>(value & 0xFF));
}

void put_u32(std::string& out, std::uint32_t value) {
    for (int shift = 24; shift >= 0; shift -= 8) {
        out.push_back(static_cast<char>(value >> shift & 0xFF));
    }
}

void put_string(std::string& out, std::string_view text) {
    put_u16(out, text.size());
    out.append(text);
}

/// Writes the fixed header; false if `body` is past the largest remaining length.
bool put_header(std::string& out, std::uint8_t first_byte, std::size_t body, std::size_t extra) {
    if (body > k_max_remaining_length) {
        return false;
    }
    out.reserve(out.size() + 5 + body + extra);
    out.push_back(static_cast<char>(first_byte));
    put_varint(out, static_cast<std::uint32_t>(body));
    return true;
}

std::size_t properties_field(std::string_view properties) {
    return varint_size(static_cast<std::uint32_t>(properties.size())) + properties.size();
}

void put_properties(std::string& out, std::string_view properties) {
    put_varint(out, static_cast<std::uint32_t>(properties.size()));
    out.append(properties);
}

bool fits(std::string_view text) {
    return text.size() <= k_max_string;
}

std::uint8_t first_byte(PacketType type, std::uint8_t flags = 0) {
    return static_cast<std::uint8_t>(static_cast<std::uint8_t>(type) << 4 | flags);
}

} // namespace

std::string_view packet_type_name(PacketType type) {
    static constexpr std::string_view names[] = {"RESERVED",  "CONNECT",  "CONNACK",     "PUBLISH",
                                                 "PUBACK",    "PUBREC",   "PUBREL",      "PUBCOMP",
                                                 "SUBSCRIBE", "SUBACK",   "UNSUBSCRIBE", "UNSUBACK",
                                                 "PINGREQ",   "PINGRESP", "DISCONNECT",  "AUTH"};
    const auto index = static_cast<std::size_t>(type);
    return index < std::size(names) ? names[index] : "UNKNOWN";
}

void Properties::clear() {
    auto user = std::move(user_properties);
    auto ids = std::move(subscription_identifiers);
    user.clear();
    ids.clear();
    *this = Properties{};
    user_properties = std::move(user);
    subscription_identifiers = std::move(ids);
}

std::uint8_t SubscribeTopic::options_byte() const {
    return static_cast<std::uint8_t>((qos & 0x03) | (no_local ? 0x04 : 0) |
                                     (retain_as_published ? 0x08 : 0) |
                                     (retain_handling & 0x03) << 4);
}

bool valid_utf8_string(std::string_view text) {
    if (text.size() > k_max_string) {
        return false;
    }
    const auto* p = reinterpret_cast<const unsigned char*>(text.data());
    const auto* end = p + text.size();
    while (p < end) {
        const unsigned char c = *p;
        if (c >= 0x01 && c < 0x80) {
            ++p;
            continue;
        }
        std::size_t length = 0;
        std::uint32_t code = 0;
        if (c == 0x00) {
            return false;
        } else if ((c & 0xE0) == 0xC0) {
            length = 2;
            code = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            length = 3;
            code = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            length = 4;
            code = c & 0x07;
        } else {
            return false;
        }
        if (static_cast<std::size_t>(end - p) < length) {
            return false;
        }
        for (std::size_t i = 1; i < length; ++i) {
            if ((p[i] & 0xC0) != 0x80) {
                return false;
            }
            code = code << 6 | (p[i] & 0x3F);
        }
        static constexpr std::uint32_t k_min[] = {0, 0, 0x80, 0x800, 0x10000};
        if (code < k_min[length] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) {
            return false; // overlong, past Unicode, or a surrogate
        }
        p += length;
    }
    return true;
}

std::size_t varint_size(std::uint32_t value) {
    return value < 128 ? 1 : value < 16384 ? 2 : value < 2097152 ? 3 : 4;
}

void put_varint(std::string& out, std::uint32_t value) {
    do {
        auto byte = static_cast<std::uint8_t>(value & 0x7F);
        value >>= 7;
        if (value != 0) {
            byte |= 0x80;
        }
        out.push_back(static_cast<char>(byte));
    } while (value != 0);
}

HeaderStatus parse_fixed_header(std::string_view input, std::size_t& header_size,
                                std::uint32_t& remaining_length) {
    if (input.size() < 2) {
        return HeaderStatus::incomplete;
    }
    Reader reader{input.substr(1)};
    std::uint32_t value = 0;
    if (reader.varint(value)) {
        header_size = input.size() - reader.rest.size();
        remaining_length = value;
        return HeaderStatus::complete;
    }
    // Failed: for want of bytes, or for good (a fifth byte, or a zero last byte)?
    const std::string_view bytes = input.substr(1, 4);
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        if ((static_cast<std::uint8_t>(bytes[i]) & 0x80) == 0) {
            return HeaderStatus::malformed; // terminated but not minimal
        }
    }
    return bytes.size() == 4 ? HeaderStatus::malformed : HeaderStatus::incomplete;
}

bool decode_packet(std::uint8_t first, std::string_view body, Version version, Packet& packet,
                   DecodeError& error) {
    const Failure fail{error};
    const auto type_number = static_cast<std::uint8_t>(first >> 4);
    packet.flags = first & 0x0F;
    if (type_number == 0 || (type_number == 15 && version != Version::v5)) {
        return fail.malformed("reserved packet type");
    }
    packet.type = static_cast<PacketType>(type_number);
    if (packet.type != PacketType::publish && packet.flags != required_flags(packet.type)) {
        return fail.malformed("bad fixed header flags");
    }
    packet.properties.clear();
    Reader in{body};
    if (!decode_body(in, version, packet, fail)) {
        return false;
    }
    if (!in.rest.empty()) {
        return fail.malformed("bytes after the end of the packet");
    }
    return true;
}

Decoder::Decoder(Version version, std::size_t max_packet_size)
    : m_version(version)
    , m_max_packet_size(max_packet_size) {}

DecodeStatus Decoder::fail(std::uint8_t reason, std::string_view what) {
    m_failed = true;
    m_error = DecodeError{reason, what};
    m_buffer.clear();
    return DecodeStatus::error;
}

DecodeStatus Decoder::finish(std::string_view frame, std::size_t header_size, Packet& packet) {
    if (!decode_packet(static_cast<std::uint8_t>(frame[0]), frame.substr(header_size), m_version,
                       packet, m_error)) {
        m_failed = true;
        m_buffer.clear();
        return DecodeStatus::error;
    }
    if (packet.type == PacketType::connect) {
        m_version = static_cast<Version>(packet.connect.protocol_level);
    }
    return DecodeStatus::packet;
}

DecodeStatus Decoder::decode(std::string_view& input, Packet& packet) {
    if (m_failed) {
        return DecodeStatus::error;
    }
    if (m_done) {
        m_buffer.clear();
        m_done = false;
    }
    std::size_t header_size = 0;
    std::uint32_t remaining = 0;
    if (m_buffer.empty()) {
        // The fast path: a packet whole in `input` is decoded in place.
        const HeaderStatus header = parse_fixed_header(input, header_size, remaining);
        if (header == HeaderStatus::malformed) {
            return fail(reason::malformed_packet, "bad remaining length");
        }
        if (header == HeaderStatus::complete) {
            const std::size_t total = header_size + remaining;
            if (total > m_max_packet_size) {
                return fail(reason::packet_too_large, "packet larger than the maximum");
            }
            if (input.size() >= total) {
                const std::string_view frame = input.substr(0, total);
                input.remove_prefix(total);
                return finish(frame, header_size, packet);
            }
            // Not all of `total`: a peer announcing a huge packet must send it to cost that.
            m_buffer.reserve(std::min<std::size_t>(total, 64 * 1024));
        }
        m_buffer.append(input);
        input = {};
        return DecodeStatus::need_more;
    }
    // A packet is split across feeds: complete its header a byte at a time, then its body.
    HeaderStatus header = parse_fixed_header(m_buffer, header_size, remaining);
    while (header == HeaderStatus::incomplete && !input.empty()) {
        m_buffer.push_back(input[0]);
        input.remove_prefix(1);
        header = parse_fixed_header(m_buffer, header_size, remaining);
    }
    if (header == HeaderStatus::malformed) {
        return fail(reason::malformed_packet, "bad remaining length");
    }
    if (header == HeaderStatus::incomplete) {
        return DecodeStatus::need_more;
    }
    const std::size_t total = header_size + remaining;
    if (total > m_max_packet_size) {
        return fail(reason::packet_too_large, "packet larger than the maximum");
    }
    const std::size_t take = std::min(total - m_buffer.size(), input.size());
    m_buffer.append(input.substr(0, take));
    input.remove_prefix(take);
    if (m_buffer.size() < total) {
        return DecodeStatus::need_more;
    }
    m_done = true;
    return finish(m_buffer, header_size, packet);
}

std::size_t property_size(std::string_view block) {
    Reader in{block};
    std::uint32_t id = 0;
    if (!in.varint(id) || id > 0x7F) {
        return 0;
    }
    std::uint8_t b = 0;
    std::uint16_t s = 0;
    std::uint32_t l = 0;
    std::string_view text;
    bool ok = false;
    switch (property_info(static_cast<std::uint8_t>(id)).type) {
    case PropertyType::none:
        return 0;
    case PropertyType::byte:
        ok = in.u8(b);
        break;
    case PropertyType::u16:
        ok = in.u16(s);
        break;
    case PropertyType::u32:
        ok = in.u32(l);
        break;
    case PropertyType::varint:
        ok = in.varint(l);
        break;
    case PropertyType::utf8:
    case PropertyType::binary:
        ok = in.binary(text);
        break;
    case PropertyType::pair:
        ok = in.binary(text) && in.binary(text);
        break;
    }
    return ok ? block.size() - in.rest.size() : 0;
}

void put_property(std::string& out, PropertyId id, std::uint8_t value) {
    out.push_back(static_cast<char>(id));
    out.push_back(static_cast<char>(value));
}

void put_property_u16(std::string& out, PropertyId id, std::uint16_t value) {
    out.push_back(static_cast<char>(id));
    put_u16(out, value);
}

void put_property_u32(std::string& out, PropertyId id, std::uint32_t value) {
    out.push_back(static_cast<char>(id));
    put_u32(out, value);
}

void put_property_varint(std::string& out, PropertyId id, std::uint32_t value) {
    out.push_back(static_cast<char>(id));
    put_varint(out, value);
}

void put_property(std::string& out, PropertyId id, std::string_view value) {
    out.push_back(static_cast<char>(id));
    put_string(out, value.substr(0, k_max_string));
}

void put_user_property(std::string& out, std::string_view name, std::string_view value) {
    out.push_back(static_cast<char>(PropertyId::user_property));
    put_string(out, name.substr(0, k_max_string));
    put_string(out, value.substr(0, k_max_string));
}

bool encode_connect(std::string& out, const ConnectFields& c, std::string_view properties,
                    std::string_view will_properties) {
    const bool v5 = c.protocol_level == 5;
    if (!fits(c.protocol_name) || !fits(c.client_id) || !fits(c.will_topic) ||
        !fits(c.will_payload) || !fits(c.username) || !fits(c.password)) {
        return false;
    }
    std::size_t body = 2 + c.protocol_name.size() + 1 + 1 + 2 + 2 + c.client_id.size();
    if (v5) {
        body += properties_field(properties);
    }
    if (c.will) {
        body += 2 + c.will_topic.size() + 2 + c.will_payload.size();
        if (v5) {
            body += properties_field(will_properties);
        }
    }
    if (c.has_username) {
        body += 2 + c.username.size();
    }
    if (c.has_password) {
        body += 2 + c.password.size();
    }
    if (!put_header(out, first_byte(PacketType::connect), body, 0)) {
        return false;
    }
    put_string(out, c.protocol_name);
    out.push_back(static_cast<char>(c.protocol_level));
    std::uint8_t flags = 0;
    flags |= c.clean_start ? 0x02 : 0;
    if (c.will) {
        flags |=
            static_cast<std::uint8_t>(0x04 | (c.will_qos & 0x03) << 3 | (c.will_retain ? 0x20 : 0));
    }
    flags |= c.has_password ? 0x40 : 0;
    flags |= c.has_username ? 0x80 : 0;
    out.push_back(static_cast<char>(flags));
    put_u16(out, c.keep_alive);
    if (v5) {
        put_properties(out, properties);
    }
    put_string(out, c.client_id);
    if (c.will) {
        if (v5) {
            put_properties(out, will_properties);
        }
        put_string(out, c.will_topic);
        put_string(out, c.will_payload);
    }
    if (c.has_username) {
        put_string(out, c.username);
    }
    if (c.has_password) {
        put_string(out, c.password);
    }
    return true;
}

bool encode_connack(std::string& out, Version version, bool session_present,
                    std::uint8_t reason_code, std::string_view properties) {
    const bool v5 = version == Version::v5;
    const std::size_t body = 2 + (v5 ? properties_field(properties) : 0);
    if (!put_header(out, first_byte(PacketType::connack), body, 0)) {
        return false;
    }
    out.push_back(session_present ? 1 : 0);
    out.push_back(static_cast<char>(reason_code));
    if (v5) {
        put_properties(out, properties);
    }
    return true;
}

bool encode_publish(std::string& out, Version version, std::string_view topic,
                    std::string_view payload, std::uint8_t qos, bool retain, bool dup,
                    std::uint16_t packet_id, std::string_view properties) {
    if (!fits(topic)) {
        return false;
    }
    const bool v5 = version == Version::v5;
    const std::size_t body = 2 + topic.size() + (qos > 0 ? 2 : 0) +
                             (v5 ? properties_field(properties) : 0) + payload.size();
    const auto flags =
        static_cast<std::uint8_t>((dup ? 0x08 : 0) | (qos & 0x03) << 1 | (retain ? 0x01 : 0));
    if (!put_header(out, first_byte(PacketType::publish, flags), body, 0)) {
        return false;
    }
    put_string(out, topic);
    if (qos > 0) {
        put_u16(out, packet_id);
    }
    if (v5) {
        put_properties(out, properties);
    }
    out.append(payload);
    return true;
}

bool encode_ack(std::string& out, Version version, PacketType type, std::uint16_t packet_id,
                std::uint8_t reason_code, std::string_view properties) {
    const bool v5 = version == Version::v5;
    const bool with_reason = v5 && (reason_code != 0 || !properties.empty());
    const bool with_properties = v5 && !properties.empty();
    const std::size_t body =
        2 + (with_reason ? 1 : 0) + (with_properties ? properties_field(properties) : 0);
    if (!put_header(out, first_byte(type, required_flags(type)), body, 0)) {
        return false;
    }
    put_u16(out, packet_id);
    if (with_reason) {
        out.push_back(static_cast<char>(reason_code));
    }
    if (with_properties) {
        put_properties(out, properties);
    }
    return true;
}

bool encode_subscribe(std::string& out, Version version, std::uint16_t packet_id,
                      std::span<const SubscribeTopic> topics, std::string_view properties) {
    const bool v5 = version == Version::v5;
    std::size_t body = 2 + (v5 ? properties_field(properties) : 0);
    for (const SubscribeTopic& topic : topics) {
        if (!fits(topic.filter)) {
            return false;
        }
        body += 2 + topic.filter.size() + 1;
    }
    if (!put_header(out, first_byte(PacketType::subscribe, 0x02), body, 0)) {
        return false;
    }
    put_u16(out, packet_id);
    if (v5) {
        put_properties(out, properties);
    }
    for (const SubscribeTopic& topic : topics) {
        put_string(out, topic.filter);
        const std::uint8_t options = v5 ? topic.options_byte() : topic.qos & 0x03;
        out.push_back(static_cast<char>(options));
    }
    return true;
}

namespace {

bool encode_ack_list(std::string& out, Version version, PacketType type, std::uint16_t packet_id,
                     std::span<const std::uint8_t> codes, std::string_view properties) {
    const bool v5 = version == Version::v5;
    const bool with_codes = v5 || type == PacketType::suback;
    const std::size_t body =
        2 + (v5 ? properties_field(properties) : 0) + (with_codes ? codes.size() : 0);
    if (!put_header(out, first_byte(type), body, 0)) {
        return false;
    }
    put_u16(out, packet_id);
    if (v5) {
        put_properties(out, properties);
    }
    if (with_codes) {
        out.append(reinterpret_cast<const char*>(codes.data()), codes.size());
    }
    return true;
}

} // namespace

bool encode_suback(std::string& out, Version version, std::uint16_t packet_id,
                   std::span<const std::uint8_t> reason_codes, std::string_view properties) {
    return encode_ack_list(out, version, PacketType::suback, packet_id, reason_codes, properties);
}

bool encode_unsubscribe(std::string& out, Version version, std::uint16_t packet_id,
                        std::span<const std::string_view> filters, std::string_view properties) {
    const bool v5 = version == Version::v5;
    std::size_t body = 2 + (v5 ? properties_field(properties) : 0);
    for (std::string_view filter : filters) {
        if (!fits(filter)) {
            return false;
        }
        body += 2 + filter.size();
    }
    if (!put_header(out, first_byte(PacketType::unsubscribe, 0x02), body, 0)) {
        return false;
    }
    put_u16(out, packet_id);
    if (v5) {
        put_properties(out, properties);
    }
    for (std::string_view filter : filters) {
        put_string(out, filter);
    }
    return true;
}

bool encode_unsuback(std::string& out, Version version, std::uint16_t packet_id,
                     std::span<const std::uint8_t> reason_codes, std::string_view properties) {
    return encode_ack_list(out, version, PacketType::unsuback, packet_id, reason_codes, properties);
}

void encode_pingreq(std::string& out) {
    out.push_back(static_cast<char>(first_byte(PacketType::pingreq)));
    out.push_back(0);
}

void encode_pingresp(std::string& out) {
    out.push_back(static_cast<char>(first_byte(PacketType::pingresp)));
    out.push_back(0);
}

namespace {

bool encode_reason_only(std::string& out, PacketType type, std::uint8_t reason_code,
                        std::string_view properties) {
    const bool with_reason = reason_code != 0 || !properties.empty();
    const bool with_properties = !properties.empty();
    const std::size_t body =
        (with_reason ? 1 : 0) + (with_properties ? properties_field(properties) : 0);
    if (!put_header(out, first_byte(type), body, 0)) {
        return false;
    }
    if (with_reason) {
        out.push_back(static_cast<char>(reason_code));
    }
    if (with_properties) {
        put_properties(out, properties);
    }
    return true;
}

} // namespace

bool encode_disconnect(std::string& out, Version version, std::uint8_t reason_code,
                       std::string_view properties) {
    if (version != Version::v5) {
        out.push_back(static_cast<char>(first_byte(PacketType::disconnect)));
        out.push_back(0);
        return true;
    }
    return encode_reason_only(out, PacketType::disconnect, reason_code, properties);
}

bool encode_auth(std::string& out, std::uint8_t reason_code, std::string_view properties) {
    return encode_reason_only(out, PacketType::auth, reason_code, properties);
}

} // namespace rtx::proto::mqtt
