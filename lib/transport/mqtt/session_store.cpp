#include "transport/mqtt/session_store.hpp"

#include "proto/mqtt_codec.hpp"

#include <mqtt/exception.h>

#include <algorithm>
#include <cstring>
#include <utility>

namespace rtx::transport::mqtt {

namespace {

bool starts_with(const std::string& key, const char* prefix) {
    return key.rfind(prefix, 0) == 0;
}

/// Paho's command type for PUBLISH (MQTTPacket.h), the first int of a persisted command.
constexpr int k_paho_publish_command = 3;

} // namespace

bool SessionStore::is_sent_publish(const std::string& key) {
    return starts_with(key, "s-") || starts_with(key, "s5-");
}

bool SessionStore::is_command(const std::string& key) {
    return starts_with(key, "c-") || starts_with(key, "c5-");
}

bool SessionStore::counts_outbound(const std::string& key, const std::string& value) {
    if (is_sent_publish(key)) {
        return true;
    }
    if (is_command(key) && value.size() >= sizeof(int)) {
        int type = 0;
        std::memcpy(&type, value.data(), sizeof type); // written by Paho on this machine
        return type == k_paho_publish_command;
    }
    return false;
}

void SessionStore::put(const std::string& key, std::string value) {
    // Paho rewrites a key only with a record of the same kind: a put never ends a message,
    // so it wakes nobody.
    std::lock_guard lock(m_mutex);
    auto [it, inserted] = m_records.try_emplace(key);
    std::string& record = it->second;
    if (!inserted && counts_outbound(key, record)) {
        --m_outbound;
        m_outbound_bytes -= record.size();
    }
    record = std::move(value);
    if (counts_outbound(key, record)) {
        ++m_outbound;
        m_outbound_bytes += record.size();
    }
}

void SessionStore::remove(const std::string& key) {
    bool fell = false;
    {
        std::lock_guard lock(m_mutex);
        auto it = m_records.find(key);
        if (it == m_records.end()) {
            return;
        }
        if (counts_outbound(key, it->second)) {
            --m_outbound;
            m_outbound_bytes -= it->second.size();
            // A processed command becomes a sent PUBLISH at once: only a completed message
            // (or the last record) is worth waking the loop for.
            fell = is_sent_publish(key) || m_outbound == 0;
        }
        m_records.erase(it);
    }
    if (fell && m_on_outbound_fall) {
        m_on_outbound_fall();
    }
}

void SessionStore::clear() {
    bool fell = false;
    {
        std::lock_guard lock(m_mutex);
        m_records.clear();
        fell = m_outbound.exchange(0) > 0;
        m_outbound_bytes = 0;
    }
    if (fell && m_on_outbound_fall) {
        m_on_outbound_fall();
    }
}

std::size_t SessionStore::size() const {
    std::lock_guard lock(m_mutex);
    return m_records.size();
}

std::vector<std::string> SessionStore::sent_payloads(int version) const {
    namespace codec = proto::mqtt;
    std::vector<std::pair<std::uint16_t, std::string>> sent;
    {
        std::lock_guard lock(m_mutex);
        for (const auto& [key, record] : m_records) {
            if (!is_sent_publish(key)) {
                continue;
            }
            std::size_t header_size = 0;
            std::uint32_t remaining = 0;
            if (codec::parse_fixed_header(record, header_size, remaining) !=
                    codec::HeaderStatus::complete ||
                header_size + remaining != record.size()) {
                continue; // not a packet Paho wrote: nothing to recover from it
            }
            codec::Packet packet;
            codec::DecodeError error;
            std::string_view body(record.data() + header_size, remaining);
            if (codec::decode_packet(static_cast<std::uint8_t>(record[0]), body,
                                     version == 5 ? codec::Version::v5 : codec::Version::v311,
                                     packet, error) &&
                packet.type == codec::PacketType::publish) {
                sent.emplace_back(packet.packet_id, std::string(packet.payload));
            }
        }
    }
    std::sort(sent.begin(), sent.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    std::vector<std::string> payloads;
    payloads.reserve(sent.size());
    for (auto& [id, payload] : sent) {
        payloads.push_back(std::move(payload));
    }
    return payloads;
}

// --- View: what Paho calls, on its threads ---

void SessionStore::View::clear() {
    if (m_attached) {
        m_store->clear();
    }
}

bool SessionStore::View::contains_key(const std::string& key) {
    if (!m_attached) {
        return false;
    }
    std::lock_guard lock(m_store->m_mutex);
    return m_store->m_records.count(key) > 0;
}

::mqtt::string_collection SessionStore::View::keys() const {
    ::mqtt::string_collection keys;
    if (m_attached) {
        std::lock_guard lock(m_store->m_mutex);
        for (const auto& record : m_store->m_records) {
            keys.push_back(record.first);
        }
    }
    return keys;
}

void SessionStore::View::put(const std::string& key, const std::vector<::mqtt::string_view>& bufs) {
    if (!m_attached) {
        return;
    }
    std::string value;
    for (const auto& buf : bufs) {
        value.append(buf.data(), buf.size());
    }
    m_store->put(key, std::move(value));
}

std::string SessionStore::View::get(const std::string& key) const {
    if (m_attached) {
        std::lock_guard lock(m_store->m_mutex);
        auto it = m_store->m_records.find(key);
        if (it != m_store->m_records.end()) {
            return it->second;
        }
    }
    throw ::mqtt::persistence_exception(); // Paho's wrapper turns it into an error code
}

void SessionStore::View::remove(const std::string& key) {
    if (m_attached) {
        m_store->remove(key);
    }
}

} // namespace rtx::transport::mqtt
