#include "transport/mqtt/mqtt_client.hpp"

#include "core/encoding.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "core/timer.hpp"
#include "transport/connect_probe.hpp"
#include "transport/mqtt/session_store.hpp"

#include <fmt/format.h>
#include <mqtt/async_client.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

namespace rtx::transport::mqtt {

namespace {

using core::ExitCode;

/// The one object Paho's threads touch: it forwards a task to the loop while the client
/// lives, and drops it once the client is being destroyed (so nothing posts to a dead loop).
struct Bridge {
    std::mutex mutex;
    core::Loop* loop = nullptr; // guarded by mutex

    void post(std::function<void()> task) {
        std::lock_guard lock(mutex);
        if (loop != nullptr) {
            loop->post(std::move(task));
        }
    }
    void detach() {
        std::lock_guard lock(mutex);
        loop = nullptr;
    }
};

/// A Paho action listener made of two functions; both run on a Paho thread.
class Listener final : public ::mqtt::iaction_listener {
public:
    using Callback = std::function<void(const ::mqtt::token&)>;
    Listener(Callback success, Callback failure)
        : m_success(std::move(success))
        , m_failure(std::move(failure)) {}
    void on_success(const ::mqtt::token& token) override { m_success(token); }
    void on_failure(const ::mqtt::token& token) override { m_failure(token); }

private:
    Callback m_success;
    Callback m_failure;
};

/// A failed connect as rtx reports it. CONNACK refusals (3.1.1 return codes 1-5, v5 reason
/// codes >= 0x80) are `refused`; TLS and socket failures are told apart by Paho's text.
struct ConnectFailure {
    ExitCode code = ExitCode::connect_failed;
    int protocol_code = 0;
    std::string why;
};

std::string_view connack_v3_text(int rc) {
    switch (rc) {
    case 1:
        return "unacceptable protocol version";
    case 2:
        return "identifier rejected";
    case 3:
        return "server unavailable";
    case 4:
        return "bad user name or password";
    case 5:
        return "not authorized";
    default:
        return "refused";
    }
}

ConnectFailure classify_connect_failure(int rc, int reason, bool tls_failed, bool timed_out) {
    ConnectFailure failure;
    // A v5 refusal arrives as the CONNACK reason code in either field, depending on the path
    // Paho took; a 3.1.1 refusal as return code 1-5.
    if (reason < 0x80 && rc >= 0x80 && rc <= 0xfe) {
        reason = rc;
    }
    if (reason >= 0x80) {
        failure.code = ExitCode::refused;
        failure.protocol_code = reason;
        failure.why = fmt::format("refused: {} (reason code 0x{:02x})",
                                  ::mqtt::exception::reason_code_str(reason), reason);
    } else if (rc >= 1 && rc <= 5) {
        failure.code = ExitCode::refused;
        failure.protocol_code = rc;
        failure.why = fmt::format("refused: {} (CONNACK return code {})", connack_v3_text(rc), rc);
    } else if (timed_out) {
        failure.code = ExitCode::timeout;
        failure.why = "timed out";
    } else if (tls_failed) {
        failure.code = ExitCode::tls_failed;
        failure.why = "TLS handshake or certificate verification failed (see --cacert, -k)";
    } else {
        failure.why =
            rc == MQTTASYNC_FAILURE ? "connection failed" : ::mqtt::exception::error_str(rc);
    }
    return failure;
}

void append_len_string(std::string& out, const MQTTLenString& s) {
    std::string_view bytes(s.data == nullptr ? "" : s.data, static_cast<std::size_t>(s.len));
    if (core::is_valid_utf8(bytes)) {
        core::append_json_string(out, bytes);
    } else {
        out.push_back('"');
        core::append_base64(out, bytes);
        out.push_back('"');
    }
}

/// The MQTT 5 properties of a received PUBLISH as one JSON object (names in snake_case as
/// the spec's section 2.2.2.2 table spells them; user properties as [name, value] pairs).
std::string properties_json(const ::mqtt::properties& properties) {
    const MQTTProperties& c = properties.c_struct();
    std::string out = "{";
    std::string users;
    std::string subscription_ids;
    bool first = true;
    auto key = [&](std::string_view name) {
        if (!first) {
            out.push_back(',');
        }
        first = false;
        core::append_json_string(out, name);
        out.push_back(':');
    };
    for (int i = 0; i < c.count; ++i) {
        const MQTTProperty& p = c.array[i];
        switch (p.identifier) {
        case MQTTPROPERTY_CODE_PAYLOAD_FORMAT_INDICATOR:
            key("payload_format_indicator");
            out += std::to_string(p.value.byte);
            break;
        case MQTTPROPERTY_CODE_MESSAGE_EXPIRY_INTERVAL:
            key("message_expiry_interval");
            out += std::to_string(p.value.integer4);
            break;
        case MQTTPROPERTY_CODE_CONTENT_TYPE:
            key("content_type");
            append_len_string(out, p.value.data);
            break;
        case MQTTPROPERTY_CODE_RESPONSE_TOPIC:
            key("response_topic");
            append_len_string(out, p.value.data);
            break;
        case MQTTPROPERTY_CODE_CORRELATION_DATA:
            key("correlation_data");
            append_len_string(out, p.value.data);
            break;
        case MQTTPROPERTY_CODE_TOPIC_ALIAS:
            key("topic_alias");
            out += std::to_string(p.value.integer2);
            break;
        case MQTTPROPERTY_CODE_SUBSCRIPTION_IDENTIFIER:
            subscription_ids += subscription_ids.empty() ? "" : ",";
            subscription_ids += std::to_string(p.value.integer4);
            break;
        case MQTTPROPERTY_CODE_USER_PROPERTY:
            users += users.empty() ? "[" : ",[";
            append_len_string(users, p.value.data);
            users.push_back(',');
            append_len_string(users, p.value.value);
            users.push_back(']');
            break;
        default:
            break;
        }
    }
    if (!subscription_ids.empty()) {
        key("subscription_identifiers");
        out += "[" + subscription_ids + "]";
    }
    if (!users.empty()) {
        key("user_properties");
        out += "[" + users + "]";
    }
    out.push_back('}');
    return out;
}

class MqttAttempt;

} // namespace

/// Publish results from Paho's threads, handed to the loop in batches: one wake-up for all
/// that arrived since the loop took the last batch, rather than one per acknowledgement.
struct PublishResults {
    struct Result {
        std::uint64_t generation = 0;
        std::uint64_t seq = 0;
        int rc = 0;
        int reason = 0;
        bool ok = false;
    };
    /// Queues a result (Paho's thread); true when the caller must post the batch.
    bool add(const Result& result) {
        std::lock_guard lock(mutex);
        pending.push_back(result);
        return !std::exchange(posted, true);
    }
    /// Takes the batch (loop thread); later results start a new one.
    std::vector<Result> take() {
        std::lock_guard lock(mutex);
        posted = false;
        return std::exchange(pending, {});
    }

private:
    std::mutex mutex;
    std::vector<Result> pending; // guarded by mutex
    bool posted = false;         // guarded by mutex
};

/// One Paho client object and what its callbacks refer to. The listeners and the
/// persistence view outlive the client (members are destroyed in reverse order).
struct PahoClient {
    std::uint64_t generation = 0;
    std::unique_ptr<SessionStore::View> persistence; ///< null for a clean session
    std::unique_ptr<Listener> connect_listener;
    std::unique_ptr<Listener> subscribe_listener;
    std::unique_ptr<Listener> publish_listener;
    std::unique_ptr<Listener> disconnect_listener;
    /// Set on Paho's send thread when a publish write failed. Paho C 1.3.12 then frees the
    /// topic of a publication it still holds (upstream paho.mqtt.c 1621/1622): this client
    /// must never send again, nor be destroyed (that would free it a second time).
    std::atomic<bool> write_failed{false};
    bool ever_connected = false; ///< Loop thread: it got a CONNACK.
    std::unique_ptr<::mqtt::async_client> client;
};

struct MqttClient::Impl {
    Impl(core::Loop& l, MqttOptions o)
        : loop(l)
        , options(std::move(o))
        , bridge(std::make_shared<Bridge>()) {
        bridge->loop = &loop;
    }

    /// Makes a new Paho client for the next connection (the first one: the constructor).
    void create_client(const std::shared_ptr<Impl>& self);
    /// Retires the Paho client of the last connection and makes a fresh one (see attempt()).
    void renew_client(const std::shared_ptr<Impl>& self);
    /// Destroys retired Paho clients that never connected; one that did is kept (see the
    /// definition: destroying it can free memory Paho no longer owns).
    void reap_retired();
    /// Keeps a Paho client, never destroyed, until the process exits (see reap_retired()).
    static void keep_forever(std::unique_ptr<PahoClient> client);
    ::mqtt::connect_options connect_options() const;
    /// Hands the message to Paho, or holds it while Paho has k_max_handed messages (or
    /// has already seen the connection drop).
    void publish(const Message& message);
    /// Hands held messages to Paho while it has room. Throws mqtt::exception.
    void hand_waiting();
    /// Hands one message to Paho. False when Paho refuses it because it has already seen
    /// the connection drop while the loop has not heard yet: the caller keeps the message
    /// for the next connection instead of losing it. Throws mqtt::exception otherwise.
    bool hand(std::string_view payload);
    /// A publish the current Paho client completed (`ok`) or reported failed. The caller
    /// then lets the attempt hand more (MqttAttempt::delivered).
    void publish_done(std::uint64_t seq, int rc, int reason, bool ok);
    /// The session store's outbound count fell (any thread posted it; loop thread).
    void outbound_fell();
    /// Puts messages that must go out again ahead of those never handed, in their order.
    void publish_first(std::vector<std::string> payloads);
    /// After a reconnect: what to do when the broker had no session for us any more.
    void session_resumed(bool session_present);
    /// Messages handed to Paho and not yet complete. For a persistent session (QoS > 0) the
    /// session store's count, which carries over to the next Paho client, joined with the
    /// copies of those handed to the current client (Paho removes a command's record just
    /// before it writes the PUBLISH record, so the store alone can read 0 in between);
    /// otherwise the copies alone, published again on the next connection.
    std::size_t in_flight() const;
    std::size_t in_flight_bytes() const;
    bool tracks_by_store() const { return store && options.publish.qos > 0; }
    bool is_current(std::uint64_t generation) const {
        return paho && paho->generation == generation;
    }
    /// Paho's own command queue holds 100 messages (create option maxBufferedMessages) and
    /// refuses more: rtx holds the rest, and they count in buffered_bytes() so the stdin
    /// pump pauses at the usual high-water mark.
    static constexpr std::size_t k_max_handed = 64;

    core::Loop& loop;
    MqttOptions options;
    std::shared_ptr<Bridge> bridge;
    std::shared_ptr<PublishResults> results = std::make_shared<PublishResults>();
    /// The session's in-flight records when the session is persistent (not --clean).
    std::shared_ptr<SessionStore> store;
    std::unique_ptr<PahoClient> paho; ///< The client of the current connection.
    std::vector<std::unique_ptr<PahoClient>> retired;
    std::uint64_t generations = 0;
    std::size_t attempts = 0;
    MqttAttempt* current = nullptr; ///< The attempt Paho's events go to; loop thread only.
    /// Messages handed to the current Paho client and not reported complete, by hand order.
    /// The payload is kept only when rtx itself publishes it again (no session store).
    struct Handed {
        std::size_t bytes = 0;
        std::string payload;
    };
    std::map<std::uint64_t, Handed> copies;
    std::size_t copies_bytes = 0;
    std::uint64_t next_seq = 0;
    /// Sent, unacknowledged messages the session store held when this connection started;
    /// published again if the broker answers that it has no session for us.
    std::vector<std::string> resend_if_session_lost;
    std::deque<std::string> waiting; ///< Published by the user, not yet handed to Paho.
    std::size_t waiting_bytes = 0;
    std::size_t failed = 0; ///< Publishes the broker refused.
    /// The broker's Maximum Packet Size from the last CONNACK (v5); 0: none announced.
    std::uint32_t broker_max_packet = 0;
    std::chrono::steady_clock::time_point connect_started;
};

namespace {

class MqttAttempt final : public Connection {
public:
    MqttAttempt(std::shared_ptr<MqttClient::Impl> impl, Handler& handler, std::uint64_t id)
        : m_impl(std::move(impl))
        , m_handler(handler)
        , m_id(id)
        , m_connect_timer(m_impl->loop) {}
    ~MqttAttempt() override {
        if (m_impl->current == this) {
            m_impl->current = nullptr;
        }
        if (m_state != State::closed) {
            m_impl->loop.release();
        }
    }

    void start() {
        // Paho works on its own threads: until this attempt ends, the loop waits for them.
        m_impl->loop.hold();
        m_impl->current = this;
        m_impl->connect_started = std::chrono::steady_clock::now();
        // Paho counts its connect timeout in whole seconds and looks at it about once a
        // second (2s gave up at 3): the loop keeps the deadline itself.
        m_connect_timer.start(m_impl->options.connect_timeout, [this] {
            if (m_state == State::connecting) {
                m_probe.reset();
                report_connect_failure(0, 0, false, true);
            }
        });
        try {
            m_impl->paho->client->connect(m_impl->connect_options(), nullptr,
                                          *m_impl->paho->connect_listener);
        } catch (const ::mqtt::exception& e) {
            // on_close never runs inside start(): report on the next loop turn.
            std::string why = e.get_message().empty() ? e.what() : e.get_message();
            m_impl->loop.post([weak = std::weak_ptr(m_impl), why] {
                auto impl = weak.lock();
                if (impl && impl->current) {
                    CloseInfo info;
                    info.exit_code = ExitCode::connect_failed;
                    info.reason = fmt::format("mqtt connect: {}", why);
                    impl->current->finish(info);
                }
            });
        }
    }

    // --- events from Impl, loop thread ---

    void connected(bool session_present, std::uint32_t max_packet) {
        if (m_state != State::connecting) {
            return;
        }
        m_impl->paho->ever_connected = true;
        m_impl->broker_max_packet = max_packet;
        m_connect_timer.stop();
        m_impl->session_resumed(session_present);
        m_impl->reap_retired();
        m_stats.connect_time = std::chrono::duration_cast<core::Duration>(
            std::chrono::steady_clock::now() - m_impl->connect_started);
        const auto& subs = m_impl->options.subscriptions;
        if (subs.empty()) {
            open();
            return;
        }
        m_state = State::subscribing;
        auto filters = std::make_shared<::mqtt::string_collection>();
        ::mqtt::iasync_client::qos_collection qos;
        std::vector<::mqtt::subscribe_options> sub_options;
        for (const auto& s : subs) {
            filters->push_back(s.filter);
            qos.push_back(s.qos);
            sub_options.emplace_back(
                s.no_local, s.retain_as_published,
                static_cast<::mqtt::subscribe_options::RetainHandling>(s.retain_handling));
        }
        try {
            if (m_impl->options.version == 5 && subs.size() == 1) {
                // Paho C reads a single filter's options from a field the collection form of
                // Paho C++ 1.2 leaves unset (its list is used from two filters on): without
                // this, no-local, retain-as-published and retain handling were never sent.
                m_impl->paho->client->subscribe(subs.front().filter, subs.front().qos, nullptr,
                                                *m_impl->paho->subscribe_listener,
                                                sub_options.front());
            } else if (m_impl->options.version == 5) {
                m_impl->paho->client->subscribe(filters, qos, nullptr,
                                                *m_impl->paho->subscribe_listener, sub_options);
            } else {
                m_impl->paho->client->subscribe(filters, qos, nullptr,
                                                *m_impl->paho->subscribe_listener);
            }
        } catch (const ::mqtt::exception& e) {
            fail(ExitCode::protocol_error, fmt::format("mqtt subscribe: {}", e.what()), 0, true);
        }
    }

    void connect_failed(int rc, int reason) {
        if (m_state != State::connecting) {
            return;
        }
        auto elapsed = std::chrono::steady_clock::now() - m_impl->connect_started;
        bool timed_out = elapsed >= m_impl->options.connect_timeout;
        const MqttOptions& o = m_impl->options;
        bool generic = rc == MQTTASYNC_FAILURE && reason < 0x80;
        if (generic && !timed_out && !o.host.empty()) {
            // Paho says "connection failed" for a refused connect, an unknown host and a
            // failed TLS handshake alike: a plain TCP connect to the broker says which, in
            // the words of `rtx tcp`.
            m_probe =
                std::make_unique<TcpProbe>(m_impl->loop, o.host, o.port, o.connect_timeout,
                                           [this, rc, reason](std::optional<CloseInfo> failure) {
                                               probe_done(std::move(failure), rc, reason);
                                           });
            return;
        }
        report_connect_failure(rc, reason, false, timed_out);
    }

    void report_connect_failure(int rc, int reason, bool tls_failed, bool timed_out) {
        ConnectFailure failure = classify_connect_failure(rc, reason, tls_failed, timed_out);
        CloseInfo info;
        info.exit_code = failure.code;
        info.protocol_code = failure.protocol_code;
        info.reason =
            fmt::format("mqtt connect to {}: {}", m_impl->options.server_uri, failure.why);
        finish(info);
    }

    void subscribed(const std::vector<int>& codes) {
        if (m_state != State::subscribing) {
            return;
        }
        for (std::size_t i = 0; i < codes.size(); ++i) {
            if (codes[i] >= 0x80) {
                const auto& subs = m_impl->options.subscriptions;
                std::string filter = i < subs.size() ? subs[i].filter : "?";
                fail(ExitCode::refused,
                     fmt::format("mqtt subscribe to '{}' refused: {} (0x{:02x})", filter,
                                 ::mqtt::exception::reason_code_str(codes[i]), codes[i]),
                     codes[i], true);
                return;
            }
        }
        open();
    }

    void subscribe_failed(int rc, int reason) {
        if (m_state != State::subscribing) {
            return;
        }
        int code = reason >= 0x80 ? reason : 0x80;
        fail(ExitCode::refused,
             fmt::format("mqtt subscribe refused: {}",
                         reason >= 0x80 ? ::mqtt::exception::reason_code_str(reason)
                                        : ::mqtt::exception::error_str(rc)),
             code, true);
    }

    void lost(const std::string& cause) {
        if (m_state == State::closed) {
            return;
        }
        if (m_state == State::closing) {
            finish_closed();
            return;
        }
        CloseInfo info;
        info.exit_code = ExitCode::connection_lost;
        info.by_peer = true;
        info.was_open = m_state == State::open;
        info.reason = fmt::format("mqtt connection lost{}{}", cause.empty() ? "" : ": ", cause);
        finish(info);
    }

    void server_disconnected(int reason) {
        if (m_state == State::closed) {
            return;
        }
        CloseInfo info;
        info.exit_code = reason >= 0x80 ? ExitCode::closed_abnormally : ExitCode::connection_lost;
        info.by_peer = true;
        info.was_open = m_state == State::open;
        info.protocol_code = reason;
        info.reason = fmt::format("mqtt server sent DISCONNECT: {} (0x{:02x})",
                                  ::mqtt::exception::reason_code_str(reason), reason);
        finish(info);
    }

    void deliver(const ::mqtt::const_message_ptr& message) {
        if (m_state == State::closed || m_state == State::closing) {
            return;
        }
        if (m_impl->options.retained_only && !message->is_retained()) {
            // The first live message: every retained one has been delivered (3.3.1.3).
            CloseInfo info;
            info.final = true;
            info.was_open = true;
            info.reason = "retained messages done";
            m_end_info = info;
            begin_close();
            return;
        }
        const std::string& payload = message->get_payload_ref().str();
        std::string properties = m_impl->options.version == 5
                                     ? properties_json(message->get_properties())
                                     : std::string("{}");
        Message out{payload,
                    core::is_valid_utf8(payload) ? PayloadKind::text : PayloadKind::binary};
        out.topic = message->get_topic_ref().str();
        out.qos = message->get_qos();
        out.retain = message->is_retained();
        out.properties_json = properties;
        ++m_stats.messages_in;
        m_stats.bytes_in += payload.size();
        m_handler.on_message(*this, out);
    }

    void delivered() {
        if (m_state == State::open) {
            try {
                m_impl->hand_waiting();
            } catch (const ::mqtt::exception& e) {
                fail(ExitCode::failure, fmt::format("mqtt publish: {}", e.what()), 0, true);
                return;
            }
        }
        check_finished();
    }

    void disconnect_done() {
        if (m_state == State::closing) {
            finish_closed();
        }
    }

    // --- Connection ---

    bool send(const Message& message) override {
        if (m_state != State::open || m_sending_finished) {
            return false;
        }
        std::uint32_t limit = m_impl->broker_max_packet;
        if (limit != 0) {
            std::uint64_t size = publish_packet_size(
                m_impl->options.publish, m_impl->options.version, message.payload.size());
            if (size > limit) {
                // Paho would send it, and the broker would drop the connection: refuse it.
                fail(ExitCode::protocol_error,
                     fmt::format("mqtt publish: a {}-byte message makes a {}-byte packet, over "
                                 "the broker's Maximum Packet Size of {} bytes (CONNACK)",
                                 message.payload.size(), size, limit),
                     0, true);
                return false;
            }
        }
        try {
            m_impl->publish(message);
        } catch (const ::mqtt::exception& e) {
            fail(ExitCode::failure, fmt::format("mqtt publish: {}", e.what()), 0, true);
            return false;
        }
        ++m_stats.messages_out;
        m_stats.bytes_out += message.payload.size();
        return true;
    }

    void finish_sending() override {
        m_sending_finished = true;
        check_finished();
    }

    void close() override {
        if (m_state == State::closed || m_state == State::closing) {
            return;
        }
        CloseInfo info;
        info.was_open = m_state == State::open;
        info.reason = "closed";
        m_end_info = info;
        begin_close();
    }

    bool is_open() const override { return m_state == State::open; }
    std::size_t buffered_bytes() const override {
        return m_impl->in_flight_bytes() + m_impl->waiting_bytes;
    }
    const ConnectionStats& stats() const override { return m_stats; }
    std::uint64_t id() const override { return m_id; }

    /// Marks the attempt closed and reports it; the handler may destroy us, so it is last.
    void finish(const CloseInfo& info) {
        if (m_state == State::closed) {
            return;
        }
        m_state = State::closed;
        m_impl->loop.release();
        if (m_impl->current == this) {
            m_impl->current = nullptr;
        }
        m_handler.on_close(*this, info);
    }

    /// The TCP probe after a generic connect failure. When TCP fails too, its words are
    /// the reason; when it works, TLS failed (mqtts://) or the broker closed the connection.
    void probe_done(std::optional<CloseInfo> tcp_failure, int rc, int reason) {
        if (tcp_failure) {
            finish(*tcp_failure);
            return;
        }
        report_connect_failure(rc, reason, m_impl->options.tls, false);
    }

private:
    enum class State { connecting, subscribing, open, closing, closed };

    void open() {
        m_state = State::open;
        core::log_verbose("mqtt: connected to {} as '{}'{}", m_impl->options.server_uri,
                          m_impl->options.client_id,
                          m_impl->options.subscriptions.empty() ? "" : ", subscribed");
        try {
            m_impl->hand_waiting(); // held from before a reconnect: they go first
        } catch (const ::mqtt::exception& e) {
            fail(ExitCode::failure, fmt::format("mqtt publish: {}", e.what()), 0, true);
            return;
        }
        m_handler.on_open(*this);
        if (m_state == State::open) {
            check_finished();
        }
    }

    void check_finished() {
        bool all_done = m_impl->in_flight() == 0 && m_impl->waiting.empty();
        if (m_state == State::open && m_sending_finished && all_done) {
            m_all_sent = true;
            m_end_info = all_sent_info();
            begin_close();
        } else if (m_state == State::open && m_impl->waiting.empty()) {
            m_handler.on_drain(*this);
        }
    }

    /// How a run ends once every message is complete: 0, or 7 when the broker refused some.
    CloseInfo all_sent_info() const {
        CloseInfo info;
        info.was_open = true;
        info.by_peer = true; // the exchange is complete: a natural end for the wrapper
        if (m_impl->failed > 0) {
            info.final = true; // a reconnect would not deliver them: end here
            info.exit_code = ExitCode::connection_lost;
            info.reason = fmt::format("{} message{} not delivered", m_impl->failed,
                                      m_impl->failed == 1 ? "" : "s");
        } else {
            info.reason = "all messages delivered";
        }
        return info;
    }

    void fail(ExitCode code, std::string reason, int protocol_code, bool disconnect) {
        CloseInfo info;
        info.exit_code = code;
        info.protocol_code = protocol_code;
        info.was_open = m_state == State::open;
        info.reason = std::move(reason);
        m_end_info = info;
        if (disconnect) {
            begin_close();
        } else {
            finish(info);
        }
    }

    /// Sends DISCONNECT (a clean end: the broker drops the will) and reports m_end_info when
    /// Paho is done, or at once when there is no connection to end.
    void begin_close() {
        bool connected = m_state == State::open || m_state == State::subscribing;
        m_state = State::closing;
        if (connected) {
            try {
                m_impl->paho->client->disconnect(0, nullptr, *m_impl->paho->disconnect_listener);
                return;
            } catch (const ::mqtt::exception&) {
                // Already gone: nothing to wait for.
            }
        }
        // Report on the next loop turn: close() may be called from inside a callback.
        m_impl->loop.post([weak = std::weak_ptr(m_impl), self = this] {
            auto impl = weak.lock();
            if (impl && impl->current == self) {
                self->finish_closed();
            }
        });
    }

    void finish_closed() {
        if (m_all_sent) {
            // A refusal reported after the message left the session (the store's count can
            // fall before Paho's failure callback reaches the loop) still decides the end.
            m_end_info = all_sent_info();
        }
        finish(m_end_info);
    }

    std::shared_ptr<MqttClient::Impl> m_impl;
    Handler& m_handler;
    std::uint64_t m_id;
    State m_state = State::connecting;
    bool m_sending_finished = false;
    bool m_all_sent = false;           ///< Every message is complete; closing because of that.
    std::unique_ptr<TcpProbe> m_probe; ///< See connect_failed.
    core::Timer m_connect_timer;       ///< --connect-timeout, until CONNACK.
    CloseInfo m_end_info;
    ConnectionStats m_stats;
};

MqttAttempt* current_attempt(const std::weak_ptr<MqttClient::Impl>& weak,
                             std::shared_ptr<MqttClient::Impl>& keep) {
    keep = weak.lock();
    return keep ? keep->current : nullptr;
}

} // namespace

// Everything Paho calls back is copied out on Paho's thread and handled on the loop, and
// only while it comes from the current Paho client (a retired one's late events are dropped).
void MqttClient::Impl::create_client(const std::shared_ptr<Impl>& self) {
    std::weak_ptr<Impl> weak = self;
    auto paho_client = std::make_unique<PahoClient>();
    PahoClient& p = *paho_client;
    p.generation = ++generations;
    const std::uint64_t generation = p.generation;

    ::mqtt::create_options create(options.version == 5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1);
    if (!options.clean && !store) {
        // Every record that leaves the store's outbound count is a message completed (or
        // dropped with a session the broker lost): the loop looks at what is left.
        // One wake-up covers a burst: the flag is cleared before the loop reads the count,
        // so a fall after that posts again.
        auto posted = std::make_shared<std::atomic<bool>>(false);
        store = std::make_shared<SessionStore>([bridge = bridge, weak, posted] {
            if (posted->exchange(true)) {
                return;
            }
            bridge->post([weak, posted] {
                posted->store(false);
                if (auto impl = weak.lock()) {
                    impl->outbound_fell();
                }
            });
        });
    }
    if (store) {
        // Paho writes the session's records here and, when this client is a successor,
        // restores the session from them before it returns.
        p.persistence = std::make_unique<SessionStore::View>(store);
    }
    try {
        p.client = std::make_unique<::mqtt::async_client>(options.server_uri, options.client_id,
                                                          create, p.persistence.get());
    } catch (const ::mqtt::exception& e) {
        throw core::UsageError(fmt::format(
            "mqtt: {} ({})", e.get_message().empty() ? std::string(e.what()) : e.get_message(),
            options.server_uri));
    }

    auto on_loop = [bridge = bridge, weak, generation](std::function<void(MqttAttempt&)> handle,
                                                       std::function<void(Impl&)> orphan = {}) {
        bridge->post([weak, generation, handle = std::move(handle), orphan = std::move(orphan)] {
            std::shared_ptr<Impl> keep;
            MqttAttempt* attempt = current_attempt(weak, keep);
            if (attempt && keep->is_current(generation)) {
                handle(*attempt);
            } else if (keep && orphan) {
                orphan(*keep);
            }
        });
    };

    p.client->set_message_callback([on_loop](::mqtt::const_message_ptr message) {
        on_loop([message](MqttAttempt& a) { a.deliver(message); });
    });
    p.client->set_connection_lost_handler([on_loop](const std::string& cause) {
        on_loop([cause](MqttAttempt& a) { a.lost(cause); });
    });
    p.client->set_disconnected_handler(
        [on_loop](const ::mqtt::properties&, ::mqtt::ReasonCode reason) {
            on_loop([reason](MqttAttempt& a) { a.server_disconnected(static_cast<int>(reason)); });
        });

    p.connect_listener = std::make_unique<Listener>(
        [on_loop, generation](const ::mqtt::token& token) {
            ::mqtt::connect_response response = token.get_connect_response();
            bool session_present = response.is_session_present();
            // v5 CONNACK Maximum Packet Size: the largest packet the broker accepts.
            std::uint32_t max_packet = 0;
            const MQTTProperties& properties = response.get_properties().c_struct();
            for (int i = 0; i < properties.count; ++i) {
                if (properties.array[i].identifier == MQTTPROPERTY_CODE_MAXIMUM_PACKET_SIZE) {
                    max_packet = static_cast<std::uint32_t>(properties.array[i].value.integer4);
                }
            }
            on_loop([session_present,
                     max_packet](MqttAttempt& a) { a.connected(session_present, max_packet); },
                    [generation](Impl& impl) {
                        // Nobody waits for this connection any more (closed while
                        // connecting, or a retired client): end it.
                        PahoClient* orphan =
                            impl.is_current(generation) ? impl.paho.get() : nullptr;
                        for (auto& r : impl.retired) {
                            orphan = r->generation == generation ? r.get() : orphan;
                        }
                        try {
                            if (orphan != nullptr) {
                                orphan->client->disconnect();
                            }
                        } catch (const ::mqtt::exception&) {
                        }
                    });
        },
        [on_loop](const ::mqtt::token& token) {
            int rc = token.get_return_code();
            // Paho 1.2 leaves the reason code at 0xff (MQTTPP_V3_CODE) for MQTT 3.1.1.
            int reason = static_cast<int>(token.get_reason_code());
            reason = reason == 0xff ? 0 : reason;
            on_loop([rc, reason](MqttAttempt& a) { a.connect_failed(rc, reason); });
        });
    p.subscribe_listener = std::make_unique<Listener>(
        [on_loop](const ::mqtt::token& token) {
            std::vector<int> codes;
            ::mqtt::subscribe_response response = token.get_subscribe_response();
            for (auto code : response.get_reason_codes()) {
                codes.push_back(static_cast<int>(code));
            }
            on_loop([codes](MqttAttempt& a) { a.subscribed(codes); });
        },
        [on_loop](const ::mqtt::token& token) {
            int rc = token.get_return_code();
            int reason = static_cast<int>(token.get_reason_code());
            on_loop([rc, reason](MqttAttempt& a) { a.subscribe_failed(rc, reason); });
        });
    p.disconnect_listener = std::make_unique<Listener>(
        [on_loop](const ::mqtt::token&) { on_loop([](MqttAttempt& a) { a.disconnect_done(); }); },
        [on_loop](const ::mqtt::token&) { on_loop([](MqttAttempt& a) { a.disconnect_done(); }); });
    // Publishes are counted on the client, not the attempt: they outlive a connection. The
    // token's user context is the message's hand sequence number.
    auto publish_done = [bridge = bridge, weak, generation,
                         results = results](const ::mqtt::token& token, bool ok) {
        PublishResults::Result result;
        result.generation = generation;
        result.seq =
            static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(token.get_user_context()));
        result.ok = ok;
        result.rc = ok ? 0 : token.get_return_code();
        int reason = ok ? 0 : static_cast<int>(token.get_reason_code());
        result.reason = reason == 0xff ? 0 : reason; // 0xff: no reason code (3.1.1)
        if (!results->add(result)) {
            return; // the loop has not taken the last batch yet: this one joins it
        }
        bridge->post([weak, results] {
            auto batch = results->take();
            auto impl = weak.lock();
            if (!impl) {
                return;
            }
            for (const auto& r : batch) {
                if (impl->is_current(r.generation)) {
                    impl->publish_done(r.seq, r.rc, r.reason, r.ok);
                }
            }
            if (impl->current != nullptr) {
                impl->current->delivered();
            }
        });
    };
    p.publish_listener = std::make_unique<Listener>(
        [publish_done](const ::mqtt::token& token) { publish_done(token, true); },
        [publish_done, &p](const ::mqtt::token& token) {
            if (token.get_return_code() == MQTTASYNC_FAILURE) {
                p.write_failed = true; // on Paho's thread, before it frees anything
            }
            publish_done(token, false);
        });
    paho = std::move(paho_client);
}

void MqttClient::Impl::renew_client(const std::shared_ptr<Impl>& self) {
    // Why a fresh Paho client for every connection after the first: when a QoS 1/2 write
    // fails at a cut, Paho C 1.3.12 frees the topic of the publication it keeps for the
    // resend, then resends garbage after the reconnect, and the broker drops the
    // connection as malformed, again after every CONNACK. A fresh client restores the
    // session from whole records instead (SessionStore), with the same packet ids, so QoS 2
    // stays exactly once. The old one is never used again.
    if (paho->persistence) {
        paho->persistence->detach();
    }
    try {
        paho->client->disable_callbacks();
    } catch (const ::mqtt::exception&) {
        // Paho refuses while one of its callbacks runs; the generation check drops it.
    }
    retired.push_back(std::move(paho));
    if (store) {
        resend_if_session_lost = store->sent_payloads(options.version);
    }
    if (tracks_by_store()) {
        copies.clear(); // the successor restores them from the store
        copies_bytes = 0;
    } else if (!copies.empty()) {
        // A clean session keeps nothing across connections: what was in flight goes out again
        // first, in the order it was handed (at least once; QoS 2 cannot be exactly once
        // without a session).
        core::log_verbose("mqtt: publishing {} message{} in flight at the drop again",
                          copies.size(), copies.size() == 1 ? "" : "s");
        std::vector<std::string> in_flight_at_drop;
        for (auto& [seq, handed] : copies) {
            in_flight_at_drop.push_back(std::move(handed.payload));
        }
        publish_first(std::move(in_flight_at_drop));
        copies.clear();
        copies_bytes = 0;
    }
    create_client(self);
    // Only now, with the successor registered: destroying Paho's last client stops its
    // threads (MQTTAsync_stop sleeps in 100 ms steps until they end) and the next connect
    // starts them again.
    reap_retired(); // those that never connected (a broker that stays away)
}

void MqttClient::Impl::keep_forever(std::unique_ptr<PahoClient> client) {
    static auto* kept = new std::vector<std::unique_ptr<PahoClient>>();
    if (client) {
        kept->push_back(std::move(client));
    }
}

void MqttClient::Impl::reap_retired() {
    // A client that was ever connected is never destroyed. Paho C 1.3.12 can hold
    // publications whose payload and topic it has already freed, not only after a failed
    // write (write_failed): MQTTAsync_destroy of a retired client whose writes all succeeded
    // then frees them a second time (its trace says "Failed to remove heap item" at
    // MQTTProtocolClient.c 302 and 307). Its heap tracker catches a second free only while
    // the address is unused; once the block belongs to someone else, it frees that live
    // block instead: the current client's payloads, or the socket module's poll array, after
    // which Paho loses the next connection's socket and its CONNACK or drop never reaches
    // rtx. A client that never connected never wrote, so it holds nothing freed. A kept
    // client costs a few KiB and the messages it held, once per drop; reachable, so no leak
    // report either.
    for (auto it = retired.begin(); it != retired.end();) {
        PahoClient& r = **it;
        if (r.ever_connected || r.write_failed) {
            keep_forever(std::move(*it));
            it = retired.erase(it);
        } else if (!r.client->is_connected()) {
            it = retired.erase(it); // ~PahoClient: MQTTAsync_destroy
        } else {
            ++it;
        }
    }
}

void MqttClient::Impl::session_resumed(bool session_present) {
    auto lost = std::move(resend_if_session_lost);
    resend_if_session_lost.clear();
    if (session_present || lost.empty() || !tracks_by_store()) {
        return;
    }
    // The broker had no session for us (it restarted, or the session expired): Paho dropped
    // the messages it had sent and not seen acknowledged. They go out again, first.
    core::log_verbose("mqtt: the broker had no session; publishing {} unacknowledged "
                      "message{} again",
                      lost.size(), lost.size() == 1 ? "" : "s");
    publish_first(std::move(lost));
}

void MqttClient::Impl::publish_first(std::vector<std::string> payloads) {
    for (auto& payload : payloads) {
        waiting_bytes += payload.size();
    }
    waiting.insert(waiting.begin(), std::make_move_iterator(payloads.begin()),
                   std::make_move_iterator(payloads.end()));
}

std::size_t MqttClient::Impl::in_flight() const {
    return tracks_by_store() ? std::max(store->outbound(), copies.size()) : copies.size();
}

std::size_t MqttClient::Impl::in_flight_bytes() const {
    return tracks_by_store() ? std::max(store->outbound_bytes(), copies_bytes) : copies_bytes;
}

void MqttClient::Impl::outbound_fell() {
    if (tracks_by_store() && current != nullptr) {
        current->delivered();
    }
}

::mqtt::connect_options MqttClient::Impl::connect_options() const {
    ::mqtt::connect_options c;
    c.set_mqtt_version(options.version == 5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1);
    if (options.version == 5) {
        c.set_clean_start(options.clean);
        ::mqtt::properties properties;
        std::uint32_t expiry = options.session_expiry.value_or(options.clean ? 0 : 0xFFFFFFFF);
        if (expiry != 0) {
            properties.add(::mqtt::property(::mqtt::property::SESSION_EXPIRY_INTERVAL,
                                            static_cast<int32_t>(expiry)));
        }
        for (const auto& user : options.connect_user_properties) {
            properties.add(
                ::mqtt::property(::mqtt::property::USER_PROPERTY, user.name, user.value));
        }
        c.set_properties(properties);
    } else {
        c.set_clean_session(options.clean);
    }
    c.set_keep_alive_interval(std::chrono::duration_cast<std::chrono::seconds>(options.keepalive));
    c.set_connect_timeout(std::max<std::chrono::seconds>(
        std::chrono::seconds(1),
        std::chrono::duration_cast<std::chrono::seconds>(options.connect_timeout)));
    if (!options.username.empty()) {
        c.set_user_name(options.username);
    }
    if (options.password) {
        c.set_password(*options.password);
    }
    if (options.will) {
        const Will& w = *options.will;
        ::mqtt::will_options will(w.topic, w.payload, w.qos, w.retain);
        if (options.version == 5 && w.delay != 0) {
            ::mqtt::properties properties;
            properties.add(::mqtt::property(::mqtt::property::WILL_DELAY_INTERVAL,
                                            static_cast<int32_t>(w.delay)));
            will.set_properties(properties);
        }
        c.set_will(will);
    }
    if (options.tls) {
        const TlsOptions& t = options.tls_options;
        ::mqtt::ssl_options ssl;
        if (!t.ca_file.empty()) {
            ssl.set_trust_store(t.ca_file);
        }
        if (!t.cert_file.empty()) {
            ssl.set_key_store(t.cert_file);
            ssl.set_private_key(t.key_file.empty() ? t.cert_file : t.key_file);
        }
        ssl.set_enable_server_cert_auth(!t.insecure);
        ssl.set_verify(!t.insecure);
        c.set_ssl(ssl);
    }
    if (options.version != 5) {
        // MQTT 3.1.1 has no Receive Maximum: a broker drops QoS 2 publishes past its own
        // in-flight limit (mosquitto: 20). Paho queues the rest until acknowledgements come.
        // v5 brokers announce theirs in CONNACK, and Paho keeps to it. QoS 1 has no such
        // limit (a broker acknowledges each PUBLISH as it reads it): rtx's own hand-off
        // window bounds it.
        c.set_max_inflight(options.publish.qos == 2 ? 20 : static_cast<int>(k_max_handed));
    }
    // rtx reconnects itself, with the shared backoff (core::Backoff).
    c.set_automatic_reconnect(false);
    return c;
}

void MqttClient::Impl::publish(const Message& message) {
    if (in_flight() >= k_max_handed || !waiting.empty() || !hand(message.payload)) {
        waiting.emplace_back(message.payload);
        waiting_bytes += message.payload.size();
    }
}

void MqttClient::Impl::hand_waiting() {
    while (!waiting.empty() && in_flight() < k_max_handed) {
        if (!hand(waiting.front())) {
            return; // the connection is gone: they wait for the next one
        }
        waiting_bytes -= waiting.front().size();
        waiting.pop_front();
    }
}

void MqttClient::Impl::publish_done(std::uint64_t seq, int rc, int reason, bool ok) {
    auto copy = copies.find(seq);
    bool complete = ok;
    if (ok) {
        // Acknowledged (QoS 1/2), or written (QoS 0).
    } else if (reason == 0x92) {
        // PUBCOMP "Packet Identifier not found" to the PUBREL a successor client resent:
        // the broker had released the message and its PUBCOMP was lost in the drop. MQTT 5
        // (section 3.7.2.1): not an error during recovery. Delivered.
        core::log_debug("mqtt: PUBCOMP 0x92 after a reconnect: the broker had completed it");
        complete = true;
    } else if (reason >= 0x80) {
        // The broker answered and refused it (MQTT 5 PUBACK/PUBREC reason code).
        ++failed;
        complete = true;
        core::log_error("mqtt publish refused: {} (0x{:02x})",
                        ::mqtt::exception::reason_code_str(reason), reason);
    } else {
        // The write failed, or the connection went before the acknowledgement: the message
        // goes out again on the next connection, from the session store's record (which
        // now stands for it), or from our copy.
        core::log_debug("mqtt: publish interrupted ({}); it goes out again after the reconnect",
                        ::mqtt::exception::error_str(rc));
    }
    if ((complete || tracks_by_store()) && copy != copies.end()) {
        copies_bytes -= copy->second.bytes;
        copies.erase(copy);
    }
    core::log_debug("mqtt: publish {}, {} in flight", ok ? "done" : "failed", in_flight());
}

bool MqttClient::Impl::hand(std::string_view payload) {
    const PublishSettings& p = options.publish;
    auto out = ::mqtt::make_message(p.topic, payload.data(), payload.size(), p.qos, p.retain);
    if (options.version == 5) {
        ::mqtt::properties properties;
        if (!p.content_type.empty()) {
            properties.add(::mqtt::property(::mqtt::property::CONTENT_TYPE, p.content_type));
        }
        if (!p.response_topic.empty()) {
            properties.add(::mqtt::property(::mqtt::property::RESPONSE_TOPIC, p.response_topic));
        }
        if (!p.correlation_data.empty()) {
            properties.add(
                ::mqtt::property(::mqtt::property::CORRELATION_DATA, p.correlation_data));
        }
        if (p.message_expiry) {
            properties.add(::mqtt::property(::mqtt::property::MESSAGE_EXPIRY_INTERVAL,
                                            static_cast<int32_t>(*p.message_expiry)));
        }
        for (const auto& user : p.user_properties) {
            properties.add(
                ::mqtt::property(::mqtt::property::USER_PROPERTY, user.name, user.value));
        }
        out->set_properties(properties);
    }
    std::uint64_t seq = ++next_seq;
    try {
        // The hand sequence number travels as the token's user context (publish_done).
        paho->client->publish(out, reinterpret_cast<void*>(static_cast<std::uintptr_t>(seq)),
                              *paho->publish_listener);
    } catch (const ::mqtt::exception& e) {
        if (e.get_return_code() == MQTTASYNC_DISCONNECTED) {
            return false;
        }
        throw;
    }
    // With a session store the successor restores the message: only its size is needed.
    copies.emplace(
        seq, Handed{payload.size(), tracks_by_store() ? std::string() : std::string(payload)});
    copies_bytes += payload.size();
    return true;
}

MqttClient::MqttClient(core::Loop& loop, MqttOptions options)
    : m_impl(std::make_shared<Impl>(loop, std::move(options))) {
    m_impl->create_client(m_impl);
}

MqttClient::~MqttClient() {
    // Stop Paho's threads from posting first, then retire the clients (reap_retired).
    m_impl->bridge->detach();
    if (m_impl->paho) {
        try {
            m_impl->paho->client->disable_callbacks();
        } catch (const ::mqtt::exception&) {
            // Paho refuses while a callback runs; the detached bridge already drops it.
        }
    }
    // Retired like the others: a client that was connected is not destroyed either. The
    // current one is kept even when it never connected (refused, timed out): destroying
    // Paho's last client runs MQTTAsync_stop, which sleeps in 100 ms steps until Paho's
    // threads end, and the process would wait for that before it exits.
    m_impl->reap_retired();
    Impl::keep_forever(std::move(m_impl->paho));
}

std::unique_ptr<Connection> MqttClient::attempt(Handler& handler, std::uint64_t id) {
    if (m_impl->attempts++ > 0) {
        m_impl->renew_client(m_impl);
    }
    auto attempt = std::make_unique<MqttAttempt>(m_impl, handler, id);
    attempt->start();
    return attempt;
}

} // namespace rtx::transport::mqtt
