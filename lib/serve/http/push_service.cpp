#include "serve/http/push_service.hpp"

#include "core/encoding.hpp"
#include "proto/ece.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <openssl/rand.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>

namespace rtx::serve::http {

namespace {

std::string random_bytes(std::size_t count) {
    std::string bytes(count, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(bytes.data()), static_cast<int>(count)) != 1) {
        throw std::runtime_error("push service: no random numbers from OpenSSL");
    }
    return bytes;
}

std::string base64url(std::string_view bytes) {
    std::string out;
    core::append_base64url(out, bytes);
    return out;
}

Response json_response(unsigned status, std::string body) {
    Response response;
    response.status = status;
    response.content_type = "application/json";
    response.body = std::move(body);
    return response;
}

bool is_digits(std::string_view text) {
    return !text.empty() && text.size() <= 10 &&
           text.find_first_not_of("0123456789") == std::string_view::npos;
}

std::string new_id() {
    std::string id;
    core::append_hex(id, random_bytes(16));
    return id;
}

Response fault(unsigned status, unsigned retry_after, std::string_view why) {
    Response response = error_response(status, why);
    if (retry_after > 0) {
        response.headers.emplace_back("retry-after", std::to_string(retry_after));
    }
    return response;
}

} // namespace

Response PushService::subscribe(std::string_view host, std::string_view body) {
    Subscription subscription;
    if (!body.empty()) {
        auto options = nlohmann::json::parse(body, nullptr, false);
        if (options.is_discarded() || !options.is_object()) {
            return error_response(400, "bad request: the subscribe body is not a JSON object");
        }
        if (auto key = options.find("applicationServerKey"); key != options.end()) {
            auto raw =
                key->is_string() ? core::decode_base64url(key->get<std::string>()) : std::nullopt;
            if (!raw || !proto::p256::is_valid_public_key(*raw)) {
                return error_response(400, "bad request: applicationServerKey is not a base64url "
                                           "65-octet P-256 public key");
            }
            subscription.server_key = std::move(*raw);
        }
        if (auto fault = options.find("fault"); fault != options.end()) {
            const unsigned status = fault->is_number_unsigned() ? fault->get<unsigned>() : 0;
            if (!is_push_fault_status(status)) {
                return error_response(400, "bad request: fault must be 404, 410, 413, 429 or 5xx");
            }
            subscription.fault = status;
            subscription.faults_left = options.value("faultCount", 0u);
            subscription.retry_after = options.value("retryAfter", 0u);
        }
    }
    if (host.empty()) {
        return error_response(400, "bad request: no Host header to build the endpoint from");
    }
    std::string id = new_id();
    subscription.keys = proto::p256::generate();
    subscription.auth = random_bytes(proto::ece::auth_secret_size);
    proto::ece::Subscription json;
    json.endpoint = fmt::format("{}://{}/push/{}", m_scheme, host, id);
    json.p256dh = subscription.keys.public_key;
    json.auth = subscription.auth;
    Response response = json_response(201, proto::ece::subscription_json(json));
    response.headers.emplace_back("location", json.endpoint);
    // RFC 8030 section 4: where an application server asks for receipt subscriptions.
    response.headers.emplace_back(
        "link", fmt::format("<{}://{}/push/receipts>; rel=\"urn:ietf:params:push:receipt\"",
                            m_scheme, host));
    m_subscriptions.emplace(std::move(id), std::move(subscription));
    return response;
}

Response PushService::subscribe_receipts(std::string_view host) {
    if (host.empty()) {
        return error_response(400, "bad request: no Host header to build the URL from");
    }
    std::string id = new_id();
    Response response;
    response.status = 201;
    response.headers.emplace_back("location",
                                  fmt::format("{}://{}/push/receipts/{}", m_scheme, host, id));
    m_receipts.emplace(std::move(id), ReceiptSubscription{});
    return response;
}

Response PushService::receipts(std::string_view id) const {
    auto it = m_receipts.find(std::string(id));
    if (it == m_receipts.end()) {
        return error_response(404, "not found: no such receipt subscription");
    }
    std::string body = R"({"receipts":[)";
    for (const std::string& receipt : it->second.receipts) {
        body += receipt;
        body += ',';
    }
    if (body.back() == ',') {
        body.pop_back();
    }
    body += "]}";
    return json_response(200, std::move(body));
}

std::optional<Response> PushService::fault_response(Subscription& subscription) {
    if (subscription.fault != 0) {
        const unsigned status = subscription.fault;
        if (subscription.faults_left > 0 && --subscription.faults_left == 0) {
            subscription.fault = 0; // the next push goes through
        }
        return fault(status, subscription.retry_after, "fault mode of this subscription");
    }
    if (m_fault.status != 0) {
        // Deterministic shares: push n fails when floor(n * share) steps up.
        if (push_fault_hits(m_fault, ++m_fault_count)) {
            return fault(m_fault.status, m_fault.retry_after,
                         "fault mode of this server "
                         "(--push-fault)");
        }
    }
    return std::nullopt;
}

Response PushService::deliver(std::string_view id, const PushRequest& request,
                              std::int64_t now_ms) {
    const std::int64_t now = now_ms / 1000;
    auto it = m_subscriptions.find(std::string(id));
    if (it == m_subscriptions.end()) {
        return error_response(404, "not found: no such push subscription");
    }
    Subscription& subscription = it->second;
    if (subscription.gone) {
        return error_response(410, "gone: the push subscription was deleted");
    }
    if (auto faulty = fault_response(subscription)) {
        return std::move(*faulty);
    }
    // RFC 8030 section 5.2: a push without TTL is refused with 400.
    if (!request.ttl || !is_digits(*request.ttl)) {
        return error_response(400, "bad request: a TTL header (seconds) is required "
                                   "(RFC 8030 section 5.2)");
    }
    if (request.urgency && *request.urgency != "very-low" && *request.urgency != "low" &&
        *request.urgency != "normal" && *request.urgency != "high") {
        return error_response(400, "bad request: Urgency must be very-low, low, normal or high "
                                   "(RFC 8030 section 5.3)");
    }
    if (request.topic &&
        (request.topic->empty() || request.topic->size() > 32 ||
         request.topic->find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                          "0123456789-_") != std::string::npos)) {
        return error_response(400, "bad request: Topic must be 1 to 32 base64url characters "
                                   "(RFC 8030 section 5.4)");
    }
    if (request.content_encoding.value_or("") != "aes128gcm") {
        return error_response(415, "unsupported media type: Content-Encoding must be aes128gcm "
                                   "(RFC 8291 section 4)");
    }
    if (request.body.size() > proto::ece::webpush_max_body) {
        return error_response(413, fmt::format("payload too large: {} octets, the limit is 4096 "
                                               "(RFC 8291 section 4)",
                                               request.body.size()));
    }
    // RFC 8292 section 4.2: no or a bad token is 401; a key other than the one the
    // subscription was made with is 403.
    if (request.authorization) {
        auto credentials = proto::vapid::parse_authorization(*request.authorization);
        if (!credentials) {
            return error_response(401, "unauthorized: " + credentials.error().message);
        }
        if (!subscription.server_key.empty() &&
            credentials->public_key != subscription.server_key) {
            return error_response(403, "forbidden: the VAPID key is not the subscription's "
                                       "applicationServerKey");
        }
        auto claims = m_tokens.verify(credentials->token, credentials->public_key,
                                      std::string(m_scheme) + "://" + request.host, now);
        if (!claims) {
            return error_response(401, "unauthorized: " + claims.error().message);
        }
    } else if (!subscription.server_key.empty()) {
        return error_response(401, "unauthorized: the subscription was made with an "
                                   "applicationServerKey, so pushes need VAPID (RFC 8292)");
    }
    auto plaintext =
        proto::ece::webpush_decrypt(request.body, subscription.keys, subscription.auth);
    if (!plaintext) {
        return error_response(400, "bad request: " + plaintext.error().message);
    }

    // RFC 8030 section 5.1: a receipt needs both Prefer: respond-async and the receipt
    // subscription; without them the push is answered 201 as usual.
    std::string receipt;
    if (request.push_receipt && request.prefer &&
        request.prefer->find("respond-async") != std::string::npos) {
        constexpr std::string_view marker = "/push/receipts/";
        const auto at = request.push_receipt->find(marker);
        receipt = at == std::string::npos ? std::string()
                                          : request.push_receipt->substr(at + marker.size());
        if (!m_receipts.contains(receipt)) {
            return error_response(400, "bad request: Push-Receipt names no receipt subscription "
                                       "of this service (POST /push/receipts makes one)");
        }
    }

    Message message;
    message.number = subscription.next_number++;
    message.ttl = std::stoull(*request.ttl);
    message.urgency = request.urgency.value_or("normal");
    message.topic = request.topic.value_or("");
    message.payload = std::move(plaintext.value());
    message.expires_ms =
        now_ms + static_cast<std::int64_t>(
                     std::min<std::uint64_t>(message.ttl, 100ull * 365 * 24 * 3600) * 1000);
    message.location =
        fmt::format("{}://{}/push/{}/messages/{}", m_scheme, request.host, id, message.number);
    message.receipt = std::move(receipt);

    Response response;
    response.status = message.receipt.empty() ? 201 : 202;
    response.headers.emplace_back("location", message.location);
    response.headers.emplace_back("ttl", *request.ttl);

    const std::string topic = fmt::format("push/{}", id);
    if (m_hub.subscriber_count(topic) > 0) {
        // The user agent is connected: what waited goes first, in order.
        flush_one(id, subscription, now_ms);
        finish(id, subscription, std::move(message), State::delivered);
    } else if (message.ttl == 0) {
        // RFC 8030 section 5.2: TTL 0 is delivered now or never; still accepted.
        finish(id, subscription, std::move(message), State::dropped);
    } else {
        // RFC 8030 section 5.4: a newer message with the same Topic replaces a pending one.
        if (!message.topic.empty()) {
            auto& pending = subscription.pending;
            for (auto old = pending.begin(); old != pending.end(); ++old) {
                if (old->topic == message.topic) {
                    Message replaced = std::move(*old);
                    pending.erase(old);
                    finish(id, subscription, std::move(replaced), State::replaced);
                    break;
                }
            }
        }
        subscription.pending.push_back(std::move(message));
        if (subscription.pending.size() > max_kept_messages) {
            Message oldest = std::move(subscription.pending.front());
            subscription.pending.pop_front();
            finish(id, subscription, std::move(oldest), State::dropped);
        }
        m_with_pending.insert(std::string(id));
    }
    return response;
}

void PushService::finish(std::string_view id, Subscription& subscription, Message message,
                         State state) {
    message.state = state;
    if (state == State::delivered) {
        PublishOptions options;
        options.binary = !core::is_valid_utf8(message.payload);
        options.source = "push";
        m_hub.publish(fmt::format("push/{}", id), message.payload, std::move(options));
    }
    // The mock user agent acknowledges what reaches it (RFC 8030 section 6.2): 204; a message
    // that never does is 410 (section 6.3).
    send_receipt(message, state == State::delivered ? 204 : 410);
    subscription.finished.push_back(std::move(message));
    if (subscription.finished.size() > max_kept_messages) {
        subscription.finished.pop_front();
    }
}

void PushService::send_receipt(const Message& message, unsigned status) {
    if (message.receipt.empty()) {
        return;
    }
    auto it = m_receipts.find(message.receipt);
    if (it == m_receipts.end()) {
        return;
    }
    std::string json = R"({"message":)";
    core::append_json_string(json, message.location);
    json += fmt::format(R"(,"status":{}}})", status);
    auto& kept = it->second.receipts;
    kept.push_back(json);
    if (kept.size() > max_kept_receipts) {
        kept.pop_front();
    }
    PublishOptions options;
    options.source = "push";
    m_hub.publish(fmt::format("push/receipts/{}", message.receipt), std::move(json),
                  std::move(options));
}

void PushService::flush_one(std::string_view id, Subscription& subscription, std::int64_t now_ms) {
    auto& pending = subscription.pending;
    for (auto it = pending.begin(); it != pending.end();) {
        if (it->expires_ms <= now_ms) {
            Message expired = std::move(*it);
            it = pending.erase(it);
            finish(id, subscription, std::move(expired), State::expired);
        } else {
            ++it;
        }
    }
    if (!pending.empty() && m_hub.subscriber_count(fmt::format("push/{}", id)) > 0) {
        std::deque<Message> ready = std::move(pending);
        pending.clear();
        for (Message& message : ready) {
            finish(id, subscription, std::move(message), State::delivered);
        }
    }
}

void PushService::flush(std::int64_t now_ms) {
    for (auto it = m_with_pending.begin(); it != m_with_pending.end();) {
        auto found = m_subscriptions.find(*it);
        if (found != m_subscriptions.end()) {
            flush_one(*it, found->second, now_ms);
        }
        if (found == m_subscriptions.end() || found->second.pending.empty()) {
            it = m_with_pending.erase(it);
        } else {
            ++it;
        }
    }
}

std::optional<std::int64_t> PushService::next_expiry() const {
    std::optional<std::int64_t> first;
    for (const std::string& id : m_with_pending) {
        auto found = m_subscriptions.find(id);
        if (found == m_subscriptions.end()) {
            continue;
        }
        for (const Message& message : found->second.pending) {
            if (!first || message.expires_ms < *first) {
                first = message.expires_ms;
            }
        }
    }
    return first;
}

Response PushService::messages(std::string_view id, std::int64_t now_ms) {
    auto it = m_subscriptions.find(std::string(id));
    if (it == m_subscriptions.end()) {
        return error_response(404, "not found: no such push subscription");
    }
    flush_one(id, it->second, now_ms);
    static constexpr std::string_view state_names[] = {"delivered", "pending", "expired",
                                                       "replaced", "dropped"};
    std::vector<const Message*> all;
    for (const Message& message : it->second.finished) {
        all.push_back(&message);
    }
    for (const Message& message : it->second.pending) {
        all.push_back(&message);
    }
    std::sort(all.begin(), all.end(),
              [](const Message* a, const Message* b) { return a->number < b->number; });
    nlohmann::json list = nlohmann::json::array();
    for (const Message* message : all) {
        nlohmann::json entry = {
            {"id", message->number},
            {"ttl", message->ttl},
            {"urgency", message->urgency},
            {"topic", message->topic.empty() ? nlohmann::json() : nlohmann::json(message->topic)},
            {"state", state_names[static_cast<int>(message->state)]}};
        if (core::is_valid_utf8(message->payload)) {
            entry["payload"] = message->payload;
        } else {
            entry["payload"] = base64url(message->payload);
            entry["encoding"] = "base64url";
        }
        list.push_back(std::move(entry));
    }
    return json_response(200, nlohmann::json{{"messages", std::move(list)}}.dump());
}

Response PushService::remove(std::string_view id, std::int64_t now_ms) {
    auto it = m_subscriptions.find(std::string(id));
    if (it == m_subscriptions.end()) {
        return error_response(404, "not found: no such push subscription");
    }
    Subscription& subscription = it->second;
    flush_one(id, subscription, now_ms);
    std::deque<Message> never = std::move(subscription.pending);
    subscription.pending.clear();
    for (Message& message : never) {
        finish(id, subscription, std::move(message), State::dropped);
    }
    subscription.gone = true;
    subscription.finished.clear();
    m_with_pending.erase(std::string(id));
    Response response;
    response.status = 204;
    return response;
}

} // namespace rtx::serve::http

namespace rtx::serve::http {

Next answer_push(lws* wsi, PushService& service, std::string_view id, const PushRequest& request,
                 bool close) {
    const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    Response response = id.empty() ? service.subscribe(request.host, request.body)
                                   : service.deliver(id, request, now_ms);
    response.close = response.close || close;
    if (!write_response(wsi, response) || response.close) {
        return Next::close;
    }
    return Next::done;
}

PushExchange::PushExchange(lws* wsi, PushService& service, std::string id, PushRequest request,
                           std::size_t max_body, std::function<void()> on_answered)
    : Exchange(wsi)
    , m_service(service)
    , m_id(std::move(id))
    , m_request(std::move(request))
    , m_max_body(max_body)
    , m_on_answered(std::move(on_answered)) {}

Next PushExchange::on_body(std::string_view bytes) {
    return collect_body(wsi(), m_request.body, bytes, m_max_body);
}

Next PushExchange::on_body_complete() {
    const Next next = answer_push(wsi(), m_service, m_id, m_request, m_finishing);
    if (m_on_answered) {
        m_on_answered();
    }
    return next;
}

} // namespace rtx::serve::http
