#pragma once
// The mock Web Push service of `rtx serve` (RFC 8030 section 5, RFC 8292 section 4): it plays
// both the push service and the user agent, so it holds each subscription's private keys,
// checks VAPID and the push headers, decrypts every message (RFC 8291) and publishes the
// plaintext to hub topic push/{id}. Routes: POST /push/subscribe, POST /push/{id},
// GET /push/{id}/messages, DELETE /push/{id}, POST /push/receipts, GET /push/receipts/{id}.
// Loop thread only.
#include "proto/p256.hpp"
#include "proto/vapid.hpp"
#include "serve/http/exchange.hpp"
#include "serve/http/push_fault.hpp"
#include "serve/hub.hpp"

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace rtx::serve::http {

/// What a push request carries besides its path, copied out of lws's header storage.
struct PushRequest {
    std::string host; ///< Host header: the origin the VAPID aud must name
    std::optional<std::string> content_encoding;
    std::optional<std::string> ttl;
    std::optional<std::string> urgency;
    std::optional<std::string> topic;
    std::optional<std::string> authorization;
    std::optional<std::string> prefer;       ///< "respond-async" asks for a receipt
    std::optional<std::string> push_receipt; ///< the receipt subscription's URL
    std::string body;
};

class PushService {
public:
    static constexpr std::size_t max_kept_messages = 10000;
    static constexpr std::size_t max_kept_receipts = 10000;

    explicit PushService(Hub& hub)
        : m_hub(hub) {}

    /// Whether the listener speaks TLS: endpoints, Locations and the VAPID audience it
    /// expects are then https:// URLs.
    void set_secure(bool secure) { m_scheme = secure ? "https" : "http"; }

    /// The fault every push gets from now on (status 0: none).
    void set_fault(const PushFault& fault) {
        m_fault = fault;
        m_fault_count = 0;
    }

    /// POST /push/subscribe: a new subscription from an optional JSON body with
    /// "applicationServerKey" (base64url; then every push must carry VAPID with that key) and
    /// a fault mode for testing senders: "fault" (a status: 404, 410, 413, 429 or 5xx),
    /// "faultCount" (how many pushes get it; 0 or absent: every one), "retryAfter" (seconds,
    /// with 429 and 503). Answers 201 with the PushSubscription JSON and a Link to the
    /// receipt subscribe resource (RFC 8030 section 4).
    Response subscribe(std::string_view host, std::string_view body);
    /// POST /push/receipts: a new receipt subscription (RFC 8030 section 5.1), 201 with its
    /// URL as Location; a push that names it in Push-Receipt (with Prefer: respond-async) is
    /// answered 202, and its receipt is kept there once the message is delivered (204) or
    /// not (410: expired, replaced by its Topic, TTL 0 with nobody connected, deleted).
    Response subscribe_receipts(std::string_view host);
    /// GET /push/receipts/{id}: {"receipts":[{"message": Location, "status": 204|410}...]}.
    /// Each receipt is also published to hub topic push/receipts/{id}, as that JSON object.
    Response receipts(std::string_view id) const;
    /// POST /push/{id}: checks one push message and answers 201 (202 with a receipt) with a
    /// Location. A subscriber of hub topic push/{id} is the user agent being connected: the
    /// message is published at once. Otherwise it is kept for TTL seconds (TTL 0: dropped),
    /// replacing a pending message with the same Topic (RFC 8030 sections 5.2, 5.4), until
    /// flush() finds a subscriber. `now_ms`: Unix time in milliseconds.
    Response deliver(std::string_view id, const PushRequest& request, std::int64_t now_ms);
    /// GET /push/{id}/messages: {"messages":[{"id","payload","ttl","urgency","topic","state"}
    /// ...]}, state delivered, pending, expired, replaced or dropped; the last
    /// max_kept_messages of them (a long-running mock must not grow without bound).
    Response messages(std::string_view id, std::int64_t now_ms);
    /// DELETE /push/{id}: the subscription ends; later pushes get 410 Gone.
    Response remove(std::string_view id, std::int64_t now_ms);

    /// Publishes the pending messages of every subscription that now has a subscriber on its
    /// hub topic, and expires those whose TTL has passed. Not from inside a hub callback.
    void flush(std::int64_t now_ms);
    /// Messages wait for a subscriber somewhere.
    bool has_pending() const { return !m_with_pending.empty(); }
    /// When the first pending message expires (Unix ms); nullopt: none pending.
    std::optional<std::int64_t> next_expiry() const;

private:
    enum class State { delivered, pending, expired, replaced, dropped };
    struct Message {
        std::uint64_t number = 0;
        std::string payload;
        std::uint64_t ttl = 0;
        std::string urgency;
        std::string topic;
        State state = State::pending;
        std::int64_t expires_ms = 0;
        std::string location; ///< the push message resource (RFC 8030 section 5)
        std::string receipt;  ///< receipt subscription id; empty: none asked for
    };
    struct Subscription {
        proto::p256::KeyPair keys;
        std::string auth;
        std::string server_key; ///< applicationServerKey, raw; empty: VAPID optional
        unsigned fault = 0;
        unsigned faults_left = 0; ///< 0 with a fault: every push
        unsigned retry_after = 0;
        bool gone = false;
        std::uint64_t next_number = 1;
        std::deque<Message> finished; ///< the last max_kept_messages, not pending any more
        std::deque<Message> pending;  ///< oldest first, at most max_kept_messages
    };
    struct ReceiptSubscription {
        std::deque<std::string> receipts; ///< JSON objects, the last max_kept_receipts
    };

    std::optional<Response> fault_response(Subscription& subscription);
    /// Ends a message: keeps it in `finished` with `state`, publishes it when delivered, and
    /// sends its receipt.
    void finish(std::string_view id, Subscription& subscription, Message message, State state);
    /// Expires what is past its TTL, then publishes the rest if someone listens.
    void flush_one(std::string_view id, Subscription& subscription, std::int64_t now_ms);
    void send_receipt(const Message& message, unsigned status);

    Hub& m_hub;
    const char* m_scheme = "http";
    std::unordered_map<std::string, Subscription> m_subscriptions;
    std::unordered_map<std::string, ReceiptSubscription> m_receipts;
    std::unordered_set<std::string> m_with_pending; ///< ids with pending messages
    PushFault m_fault;
    std::uint64_t m_fault_count = 0; ///< pushes the server-wide fault has seen
    /// VAPID tokens already verified: a sender that reuses its token is checked once per token
    /// (exp still on every push), one that signs per push (web-push) on every push.
    proto::vapid::VerifiedTokens m_tokens;
};

} // namespace rtx::serve::http

namespace rtx::serve::http {

/// POST /push/subscribe or /push/{id} with a body: collects it (a body past `max_body` is
/// answered 413 and the connection closed), then lets the PushService answer.
class PushExchange final : public Exchange {
public:
    /// `id` empty: a subscribe. `on_answered` runs after the service has answered.
    PushExchange(lws* wsi, PushService& service, std::string id, PushRequest request,
                 std::size_t max_body, std::function<void()> on_answered);

    Next on_body(std::string_view bytes) override;
    Next on_body_complete() override;
    Next on_writeable() override { return Next::wait; }
    void begin_shutdown() override { m_finishing = true; }

private:
    PushService& m_service;
    std::string m_id;
    PushRequest m_request;
    std::size_t m_max_body;
    std::function<void()> m_on_answered;
    bool m_finishing = false;
};

/// Answers a push request once its body is complete: subscribe when `id` is empty, else
/// deliver. Writes the response; says what the connection does next.
Next answer_push(lws* wsi, PushService& service, std::string_view id, const PushRequest& request,
                 bool close);

} // namespace rtx::serve::http
