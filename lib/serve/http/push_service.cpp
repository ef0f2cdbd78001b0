#include "serve/http/push_service.hpp"

#include "core/encoding.hpp"
#include "proto/ece.hpp"
#include "proto/vapid.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <openssl/rand.h>

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
            if (status != 404 && status != 410 && status != 413 && status != 429 &&
                (status < 500 || status > 599)) {
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
    std::string id;
    core::append_hex(id, random_bytes(16));
    subscription.keys = proto::p256::generate();
    subscription.auth = random_bytes(proto::ece::auth_secret_size);
    proto::ece::Subscription json;
    json.endpoint = fmt::format("http://{}/push/{}", host, id);
    json.p256dh = subscription.keys.public_key;
    json.auth = subscription.auth;
    Response response = json_response(201, proto::ece::subscription_json(json));
    response.headers.emplace_back("location", json.endpoint);
    m_subscriptions.emplace(std::move(id), std::move(subscription));
    return response;
}

Response PushService::deliver(std::string_view id, const PushRequest& request, std::int64_t now) {
    auto it = m_subscriptions.find(std::string(id));
    if (it == m_subscriptions.end()) {
        return error_response(404, "not found: no such push subscription");
    }
    Subscription& subscription = it->second;
    if (subscription.gone) {
        return error_response(410, "gone: the push subscription was deleted");
    }
    if (subscription.fault != 0) {
        unsigned status = subscription.fault;
        if (subscription.faults_left > 0 && --subscription.faults_left == 0) {
            subscription.fault = 0; // the next push goes through
        }
        Response response = error_response(status, "fault mode of this subscription");
        if (subscription.retry_after > 0) {
            response.headers.emplace_back("retry-after", std::to_string(subscription.retry_after));
        }
        return response;
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
        auto claims = proto::vapid::verify_token(credentials->token, credentials->public_key,
                                                 "http://" + request.host, now);
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

    Message message;
    message.number = subscription.next_number++;
    message.ttl = std::stoull(*request.ttl);
    message.urgency = request.urgency.value_or("normal");
    message.topic = request.topic.value_or("");
    const std::string topic = fmt::format("push/{}", id);
    // TTL 0: deliver now or never (RFC 8030 section 5.2): with nobody listening on the hub
    // topic the message is dropped, though still accepted.
    const bool listening = m_hub.subscriber_count(topic) > 0;
    if (message.ttl > 0 || listening) {
        PublishOptions options;
        options.binary = !core::is_valid_utf8(*plaintext);
        options.source = "push";
        m_hub.publish(topic, *plaintext, std::move(options));
        message.payload = std::move(plaintext.value());
        subscription.messages.push_back(std::move(message));
        if (subscription.messages.size() > max_kept_messages) {
            subscription.messages.pop_front();
        }
    }
    Response response;
    response.status = 201;
    response.headers.emplace_back("location",
                                  fmt::format("http://{}/push/{}/messages/{}", request.host, id,
                                              subscription.next_number - 1));
    response.headers.emplace_back("ttl", *request.ttl);
    return response;
}

Response PushService::messages(std::string_view id) const {
    auto it = m_subscriptions.find(std::string(id));
    if (it == m_subscriptions.end()) {
        return error_response(404, "not found: no such push subscription");
    }
    nlohmann::json list = nlohmann::json::array();
    for (const Message& message : it->second.messages) {
        nlohmann::json entry = {
            {"id", message.number},
            {"ttl", message.ttl},
            {"urgency", message.urgency},
            {"topic", message.topic.empty() ? nlohmann::json() : nlohmann::json(message.topic)}};
        if (core::is_valid_utf8(message.payload)) {
            entry["payload"] = message.payload;
        } else {
            entry["payload"] = base64url(message.payload);
            entry["encoding"] = "base64url";
        }
        list.push_back(std::move(entry));
    }
    return json_response(200, nlohmann::json{{"messages", std::move(list)}}.dump());
}

Response PushService::remove(std::string_view id) {
    auto it = m_subscriptions.find(std::string(id));
    if (it == m_subscriptions.end()) {
        return error_response(404, "not found: no such push subscription");
    }
    it->second.gone = true;
    it->second.messages.clear();
    Response response;
    response.status = 204;
    return response;
}

} // namespace rtx::serve::http

namespace rtx::serve::http {

Next answer_push(lws* wsi, PushService& service, std::string_view id, const PushRequest& request,
                 bool close) {
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    Response response = id.empty() ? service.subscribe(request.host, request.body)
                                   : service.deliver(id, request, now);
    response.close = response.close || close;
    if (!write_response(wsi, response) || response.close) {
        return Next::close;
    }
    return Next::done;
}

PushExchange::PushExchange(lws* wsi, PushService& service, std::string id, PushRequest request,
                           std::size_t max_body)
    : Exchange(wsi)
    , m_service(service)
    , m_id(std::move(id))
    , m_request(std::move(request))
    , m_max_body(max_body) {}

Next PushExchange::on_body(std::string_view bytes) {
    return collect_body(wsi(), m_request.body, bytes, m_max_body);
}

Next PushExchange::on_body_complete() {
    return answer_push(wsi(), m_service, m_id, m_request, m_finishing);
}

} // namespace rtx::serve::http
