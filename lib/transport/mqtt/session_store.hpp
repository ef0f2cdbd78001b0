#pragma once
// The in-flight state of one MQTT session, kept by rtx so that a fresh Paho client can take
// the session over after a connection loss (see MqttClient in mqtt_client.cpp for why).

#include <mqtt/iclient_persistence.h>

#include <atomic>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace rtx::transport::mqtt {

/// Paho's persistence records of one session, in memory for the life of an MqttClient:
/// sent QoS 1/2 PUBLISHes awaiting their acknowledgement ("s-N", v5 "s5-N"), the PUBRELs
/// sent for them ("sc-N", "sc5-N"), received QoS 2 PUBLISHes awaiting their PUBREL ("r-N",
/// "r5-N") and commands not yet processed ("c-N", "c5-N"). Paho writes each record before
/// it writes the packet, so the records are whole even when Paho's own copy is not.
///
/// Each Paho client object gets its own View; a Paho client created with a View restores
/// the session from the records (packet ids and QoS 2 states included). Thread-safe: Paho
/// calls a View from its own threads.
class SessionStore {
public:
    /// Paho's persistence interface over the store. detach() cuts it off for good: a retired
    /// Paho client then neither reads nor changes the session its successor has taken over.
    class View final : public ::mqtt::iclient_persistence {
    public:
        explicit View(std::shared_ptr<SessionStore> store)
            : m_store(std::move(store)) {}
        void detach() { m_attached = false; }

        void open(const std::string&, const std::string&) override {}
        void close() override {}
        void clear() override;
        bool contains_key(const std::string& key) override;
        ::mqtt::string_collection keys() const override;
        void put(const std::string& key, const std::vector<::mqtt::string_view>& bufs) override;
        std::string get(const std::string& key) const override;
        void remove(const std::string& key) override;

    private:
        std::shared_ptr<SessionStore> m_store;
        std::atomic<bool> m_attached{true};
    };

    /// `on_outbound_fall` runs on the calling (Paho) thread, outside the store's lock,
    /// whenever a sent PUBLISH record goes away (its message is complete) or outbound()
    /// falls to zero; not when a queued command turns into a sent PUBLISH.
    explicit SessionStore(std::function<void()> on_outbound_fall = {})
        : m_on_outbound_fall(std::move(on_outbound_fall)) {}

    /// Messages the session still has to deliver: publish commands not yet processed, and
    /// QoS 1/2 PUBLISHes sent and not yet acknowledged (PUBACK, or PUBCOMP for QoS 2).
    std::size_t outbound() const { return m_outbound.load(); }
    /// The bytes of the records counted in outbound().
    std::size_t outbound_bytes() const { return m_outbound_bytes.load(); }
    /// The payloads of the sent, unacknowledged PUBLISH records, in packet-id order.
    /// `version` is the MQTT version the records were written with (4 or 5).
    std::vector<std::string> sent_payloads(int version) const;
    std::size_t size() const;

    /// The record types (a key's prefix, up to the '-').
    static bool is_sent_publish(const std::string& key);
    static bool is_command(const std::string& key);

private:
    void put(const std::string& key, std::string value);
    void remove(const std::string& key);
    void clear();
    /// Whether a record counts in outbound(): a sent PUBLISH, or a queued PUBLISH command.
    static bool counts_outbound(const std::string& key, const std::string& value);

    mutable std::mutex m_mutex;
    std::map<std::string, std::string> m_records; // guarded by m_mutex
    std::atomic<std::size_t> m_outbound{0};
    std::atomic<std::size_t> m_outbound_bytes{0};
    std::function<void()> m_on_outbound_fall;
};

} // namespace rtx::transport::mqtt
