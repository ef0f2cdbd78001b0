#pragma once
// The mock Web Push service of `rtx serve` (RFC 8030 section 5, RFC 8292 section 4): it plays
// both the push service and the user agent, so it holds each subscription's private keys,
// checks VAPID and the push headers, decrypts every message (RFC 8291) and publishes the
// plaintext to hub topic push/{id}. Routes: POST /push/subscribe, POST /push/{id},
// GET /push/{id}/messages, DELETE /push/{id}. Loop thread only.
#include "proto/p256.hpp"
#include "serve/http/exchange.hpp"
#include "serve/hub.hpp"

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
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
    std::string body;
};

class PushService {
public:
    static constexpr std::size_t max_kept_messages = 10000;

    explicit PushService(Hub& hub)
        : m_hub(hub) {}

    /// POST /push/subscribe: a new subscription from an optional JSON body with
    /// "applicationServerKey" (base64url; then every push must carry VAPID with that key) and
    /// a fault mode for testing senders: "fault" (a status: 404, 410, 413, 429 or 5xx),
    /// "faultCount" (how many pushes get it; 0 or absent: every one), "retryAfter" (seconds,
    /// with 429 and 503). Answers 201 with the PushSubscription JSON.
    Response subscribe(std::string_view host, std::string_view body);
    /// POST /push/{id}: checks and delivers one push message (201 + Location).
    Response deliver(std::string_view id, const PushRequest& request, std::int64_t now);
    /// GET /push/{id}/messages: {"messages":[{"id","payload","ttl","urgency","topic"}...]},
    /// the last max_kept_messages of them (a long-running mock must not grow without bound).
    Response messages(std::string_view id) const;
    /// DELETE /push/{id}: the subscription ends; later pushes get 410 Gone.
    Response remove(std::string_view id);

private:
    struct Message {
        std::uint64_t number = 0;
        std::string payload;
        std::uint64_t ttl = 0;
        std::string urgency;
        std::string topic;
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
        std::deque<Message> messages; ///< the last max_kept_messages
    };

    Hub& m_hub;
    std::unordered_map<std::string, Subscription> m_subscriptions;
};

} // namespace rtx::serve::http

namespace rtx::serve::http {

/// POST /push/subscribe or /push/{id} with a body: collects it (a body past `max_body` is
/// answered 413 and the connection closed), then lets the PushService answer.
class PushExchange final : public Exchange {
public:
    /// `id` empty: a subscribe.
    PushExchange(lws* wsi, PushService& service, std::string id, PushRequest request,
                 std::size_t max_body);

    Next on_body(std::string_view bytes) override;
    Next on_body_complete() override;
    Next on_writeable() override { return Next::wait; }
    void begin_shutdown() override { m_finishing = true; }

private:
    PushService& m_service;
    std::string m_id;
    PushRequest m_request;
    std::size_t m_max_body;
    bool m_finishing = false;
};

/// Answers a push request once its body is complete: subscribe when `id` is empty, else
/// deliver. Writes the response; says what the connection does next.
Next answer_push(lws* wsi, PushService& service, std::string_view id, const PushRequest& request,
                 bool close);

} // namespace rtx::serve::http
