// Tests for serve/http/push_service.hpp: the mock push service's answers, driven with real
// encryption and VAPID tokens and a real Hub, without sockets.
#include "core/encoding.hpp"
#include "proto/ece.hpp"
#include "proto/vapid.hpp"
#include "serve/http/http_format.hpp"
#include "serve/http/push_service.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

namespace ece = rtx::proto::ece;
namespace p256 = rtx::proto::p256;
namespace vapid = rtx::proto::vapid;
namespace http = rtx::serve::http;
using rtx::serve::Hub;
using rtx::serve::HubMessage;

namespace {

constexpr std::int64_t k_now = 1'800'000'000;
constexpr std::string_view k_host = "127.0.0.1:8080";

struct Listener : rtx::serve::Subscriber {
    std::vector<std::string> payloads;
    void on_hub_message(const std::shared_ptr<const HubMessage>& message) override {
        payloads.push_back(message->payload);
    }
};

std::string b64(std::string_view bytes) {
    std::string out;
    rtx::core::append_base64url(out, bytes);
    return out;
}

std::string header(const http::Response& response, std::string_view name) {
    for (const auto& [key, value] : response.headers) {
        if (key == name) {
            return value;
        }
    }
    return {};
}

struct Fixture {
    Hub hub;
    http::PushService service{hub};
    p256::KeyPair vapid_key = p256::generate();

    ece::Subscription subscribe(const std::string& options = {}) {
        http::Response response = service.subscribe(k_host, options);
        REQUIRE(response.status == 201);
        auto parsed = ece::parse_subscription(response.body);
        REQUIRE(parsed.ok());
        return parsed.value();
    }
    static std::string id_of(const ece::Subscription& subscription) {
        return subscription.endpoint.substr(subscription.endpoint.rfind('/') + 1);
    }
    http::PushRequest request(const ece::Subscription& subscription, std::string_view text,
                              std::int64_t expires = k_now + 3600,
                              std::string audience = "http://127.0.0.1:8080") {
        http::PushRequest request;
        request.host = std::string(k_host);
        request.content_encoding = "aes128gcm";
        request.ttl = "60";
        request.body = ece::webpush_encrypt(text, subscription.p256dh, subscription.auth,
                                            p256::generate(), std::string(16, 's'))
                           .value();
        std::string token =
            vapid::sign_token({audience, expires, "mailto:t@example.org"}, vapid_key);
        request.authorization = vapid::authorization(token, vapid_key.public_key);
        return request;
    }
};

} // namespace

TEST_CASE("push service: subscribe, deliver to the hub, list, delete") {
    Fixture f;
    ece::Subscription subscription = f.subscribe();
    CHECK(subscription.endpoint.rfind("http://127.0.0.1:8080/push/", 0) == 0);
    const std::string id = Fixture::id_of(subscription);
    Listener listener;
    auto handle = f.hub.subscribe("push/" + id, listener);
    REQUIRE(handle.ok());

    http::Response answer = f.service.deliver(id, f.request(subscription, "hello"), k_now);
    CHECK(answer.status == 201);
    CHECK(header(answer, "location") == "http://127.0.0.1:8080/push/" + id + "/messages/1");
    CHECK(header(answer, "ttl") == "60");
    CHECK(listener.payloads == std::vector<std::string>{"hello"});

    auto list = nlohmann::json::parse(f.service.messages(id).body);
    REQUIRE(list["messages"].size() == 1);
    CHECK(list["messages"][0]["payload"] == "hello");
    CHECK(list["messages"][0]["urgency"] == "normal");

    CHECK(f.service.remove(id).status == 204);
    CHECK(f.service.deliver(id, f.request(subscription, "late"), k_now).status == 410);
    CHECK(f.service.deliver("nope", f.request(subscription, "x"), k_now).status == 404);
    CHECK(f.service.messages("nope").status == 404);
}

TEST_CASE("push service: the RFC 8030 and RFC 8292 checks") {
    Fixture f;
    const std::string key = b64(f.vapid_key.public_key);
    ece::Subscription subscription = f.subscribe(R"({"applicationServerKey":")" + key + "\"}");
    const std::string id = Fixture::id_of(subscription);
    auto status = [&](const http::PushRequest& request) {
        return f.service.deliver(id, request, k_now).status;
    };
    CHECK(status(f.request(subscription, "ok")) == 201);

    auto request = f.request(subscription, "x");
    request.ttl.reset();
    CHECK(status(request) == 400);
    request = f.request(subscription, "x");
    request.urgency = "urgent";
    CHECK(status(request) == 400);
    request = f.request(subscription, "x");
    request.topic = "has space";
    CHECK(status(request) == 400);
    request = f.request(subscription, "x");
    request.content_encoding = "aesgcm";
    CHECK(status(request) == 415);
    request = f.request(subscription, "x");
    request.body.append(4096, '\0');
    CHECK(status(request) == 413);
    request = f.request(subscription, "x");
    request.authorization.reset();
    CHECK(status(request) == 401);
    CHECK(status(f.request(subscription, "x", k_now - 1)) == 401);
    CHECK(status(f.request(subscription, "x", k_now + 3600, "https://elsewhere.example")) == 401);
    request = f.request(subscription, "x");
    request.body[100] = static_cast<char>(request.body[100] ^ 1);
    CHECK(status(request) == 400);
    f.vapid_key = p256::generate();
    CHECK(status(f.request(subscription, "x")) == 403);
}

TEST_CASE("push service: fault modes and TTL 0") {
    Fixture f;
    ece::Subscription faulty = f.subscribe(R"({"fault":429,"faultCount":2,"retryAfter":3})");
    const std::string id = Fixture::id_of(faulty);
    http::Response first = f.service.deliver(id, f.request(faulty, "x"), k_now);
    CHECK(first.status == 429);
    CHECK(header(first, "retry-after") == "3");
    CHECK(f.service.deliver(id, f.request(faulty, "x"), k_now).status == 429);
    CHECK(f.service.deliver(id, f.request(faulty, "x"), k_now).status == 201);

    CHECK(f.service.subscribe(k_host, R"({"fault":200})").status == 400);
    CHECK(f.service.subscribe(k_host, R"({"applicationServerKey":"AAAA"})").status == 400);
    CHECK(f.service.subscribe(k_host, "[]").status == 400);
    CHECK(f.service.subscribe("", "").status == 400);

    ece::Subscription quiet = f.subscribe();
    auto request = f.request(quiet, "now or never");
    request.ttl = "0";
    CHECK(f.service.deliver(Fixture::id_of(quiet), request, k_now).status == 201);
    CHECK(
        nlohmann::json::parse(f.service.messages(Fixture::id_of(quiet)).body)["messages"].empty());
}

TEST_CASE("push service: routes") {
    CHECK(http::route("/push/subscribe").endpoint == http::Endpoint::push);
    CHECK(http::route("/push/ab/messages").topic == "ab/messages");
    CHECK(http::allowed_methods(http::Endpoint::push) == "GET, POST, DELETE, OPTIONS");
    CHECK(http::route("/push.html").endpoint == http::Endpoint::push_page);
    CHECK(http::allowed_methods(http::Endpoint::push_page) == "GET, OPTIONS");
}
