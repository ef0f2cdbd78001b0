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
constexpr std::int64_t k_now_ms = k_now * 1000;
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

    http::Response answer = f.service.deliver(id, f.request(subscription, "hello"), k_now_ms);
    CHECK(answer.status == 201);
    CHECK(header(answer, "location") == "http://127.0.0.1:8080/push/" + id + "/messages/1");
    CHECK(header(answer, "ttl") == "60");
    CHECK(listener.payloads == std::vector<std::string>{"hello"});

    auto list = nlohmann::json::parse(f.service.messages(id, k_now_ms).body);
    REQUIRE(list["messages"].size() == 1);
    CHECK(list["messages"][0]["payload"] == "hello");
    CHECK(list["messages"][0]["urgency"] == "normal");

    CHECK(f.service.remove(id, k_now_ms).status == 204);
    CHECK(f.service.deliver(id, f.request(subscription, "late"), k_now_ms).status == 410);
    CHECK(f.service.deliver("nope", f.request(subscription, "x"), k_now_ms).status == 404);
    CHECK(f.service.messages("nope", k_now_ms).status == 404);
}

TEST_CASE("push service: the RFC 8030 and RFC 8292 checks") {
    Fixture f;
    const std::string key = b64(f.vapid_key.public_key);
    ece::Subscription subscription = f.subscribe(R"({"applicationServerKey":")" + key + "\"}");
    const std::string id = Fixture::id_of(subscription);
    auto status = [&](const http::PushRequest& request) {
        return f.service.deliver(id, request, k_now_ms).status;
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
    http::Response first = f.service.deliver(id, f.request(faulty, "x"), k_now_ms);
    CHECK(first.status == 429);
    CHECK(header(first, "retry-after") == "3");
    CHECK(f.service.deliver(id, f.request(faulty, "x"), k_now_ms).status == 429);
    CHECK(f.service.deliver(id, f.request(faulty, "x"), k_now_ms).status == 201);

    CHECK(f.service.subscribe(k_host, R"({"fault":200})").status == 400);
    CHECK(f.service.subscribe(k_host, R"({"applicationServerKey":"AAAA"})").status == 400);
    CHECK(f.service.subscribe(k_host, "[]").status == 400);
    CHECK(f.service.subscribe("", "").status == 400);

    ece::Subscription quiet = f.subscribe();
    auto request = f.request(quiet, "now or never");
    request.ttl = "0";
    CHECK(f.service.deliver(Fixture::id_of(quiet), request, k_now_ms).status == 201);
    auto list = nlohmann::json::parse(f.service.messages(Fixture::id_of(quiet), k_now_ms).body);
    REQUIRE(list["messages"].size() == 1);
    CHECK(list["messages"][0]["state"] == "dropped");
}

namespace {

std::vector<std::string> states(http::PushService& service, const std::string& id,
                                std::int64_t now_ms) {
    std::vector<std::string> out;
    const auto list = nlohmann::json::parse(service.messages(id, now_ms).body);
    for (const auto& message : list["messages"]) {
        out.push_back(message["payload"].get<std::string>() + ":" +
                      message["state"].get<std::string>());
    }
    return out;
}

} // namespace

TEST_CASE("push service: a subscriber that is not connected gets what is pending") {
    Fixture f;
    ece::Subscription subscription = f.subscribe();
    const std::string id = Fixture::id_of(subscription);
    auto push = [&](std::string_view text, const char* ttl, const char* topic,
                    std::int64_t now_ms) {
        auto request = f.request(subscription, text);
        request.ttl = ttl;
        if (topic != nullptr) {
            request.topic = topic;
        }
        return f.service.deliver(id, request, now_ms).status;
    };
    CHECK(push("short", "1", nullptr, k_now_ms) == 201);
    CHECK(push("score 1", "60", "score", k_now_ms) == 201);
    CHECK(push("long", "60", nullptr, k_now_ms) == 201);
    CHECK(push("score 2", "60", "score", k_now_ms + 10) == 201);
    CHECK(push("now or never", "0", nullptr, k_now_ms + 20) == 201);
    CHECK(f.service.has_pending());
    CHECK(f.service.next_expiry() == k_now_ms + 1000);
    CHECK(states(f.service, id, k_now_ms + 30) ==
          std::vector<std::string>{"short:pending", "score 1:replaced", "long:pending",
                                   "score 2:pending", "now or never:dropped"});

    // TTL 1 has passed when the user agent connects: the rest is delivered, in order.
    f.service.flush(k_now_ms + 1000);
    CHECK(states(f.service, id, k_now_ms + 1000)[0] == "short:expired");
    Listener listener;
    auto handle = f.hub.subscribe("push/" + id, listener);
    REQUIRE(handle.ok());
    CHECK(listener.payloads.empty()); // never from inside subscribe()
    f.service.flush(k_now_ms + 1001);
    CHECK(listener.payloads == std::vector<std::string>{"long", "score 2"});
    CHECK_FALSE(f.service.has_pending());
    CHECK(push("live", "0", "score", k_now_ms + 1002) == 201);
    CHECK(listener.payloads.back() == "live");
    CHECK(states(f.service, id, k_now_ms + 1003).back() == "live:delivered");
}

TEST_CASE("push service: receipts (RFC 8030 section 5.1)") {
    Fixture f;
    ece::Subscription subscription = f.subscribe();
    const std::string id = Fixture::id_of(subscription);
    http::Response made = f.service.subscribe_receipts(k_host);
    REQUIRE(made.status == 201);
    const std::string url = header(made, "location");
    REQUIRE(url.rfind("http://127.0.0.1:8080/push/receipts/", 0) == 0);
    const std::string receipt_id = url.substr(url.rfind('/') + 1);
    Listener receipts;
    auto watch = f.hub.subscribe("push/receipts/" + receipt_id, receipts);
    REQUIRE(watch.ok());

    auto request = f.request(subscription, "expires");
    request.ttl = "1";
    request.prefer = "respond-async";
    request.push_receipt = url;
    http::Response accepted = f.service.deliver(id, request, k_now_ms);
    CHECK(accepted.status == 202);
    const std::string first = header(accepted, "location");
    f.service.flush(k_now_ms + 1000);
    Listener listener;
    auto handle = f.hub.subscribe("push/" + id, listener);
    request = f.request(subscription, "delivered");
    request.prefer = "respond-async";
    request.push_receipt = url;
    http::Response delivered = f.service.deliver(id, request, k_now_ms + 1000);
    CHECK(delivered.status == 202);
    CHECK(receipts.payloads ==
          std::vector<std::string>{R"({"message":")" + first + R"(","status":410})",
                                   R"({"message":")" + header(delivered, "location") +
                                       R"(","status":204})"});
    auto listed = nlohmann::json::parse(f.service.receipts(receipt_id).body)["receipts"];
    CHECK(listed.size() == 2);
    CHECK(listed[1]["status"] == 204);

    // Without Prefer: respond-async, no receipt: 201. An unknown receipt subscription: 400.
    request = f.request(subscription, "x");
    request.push_receipt = url;
    CHECK(f.service.deliver(id, request, k_now_ms).status == 201);
    request = f.request(subscription, "x");
    request.prefer = "respond-async";
    request.push_receipt = "http://127.0.0.1:8080/push/receipts/nope";
    CHECK(f.service.deliver(id, request, k_now_ms).status == 400);
    CHECK(f.service.receipts("nope").status == 404);
    CHECK(header(f.service.subscribe(k_host, ""), "link") ==
          R"(<http://127.0.0.1:8080/push/receipts>; rel="urn:ietf:params:push:receipt")");
}

TEST_CASE("push service: the server-wide fault (--push-fault)") {
    CHECK(http::parse_push_fault("410").value().status == 410);
    auto full = http::parse_push_fault("429:2@0.5");
    REQUIRE(full.ok());
    CHECK(full.value().status == 429);
    CHECK(full.value().retry_after == 2);
    CHECK(full.value().share == doctest::Approx(0.5));
    for (const char* bad :
         {"", "200", "429:", "429:x", "503@0", "503@1.5", "503@x", "4100", ":2", "429@"}) {
        CAPTURE(bad);
        CHECK_FALSE(http::parse_push_fault(bad).ok());
    }

    Fixture f;
    f.service.set_fault(full.value());
    ece::Subscription subscription = f.subscribe();
    const std::string id = Fixture::id_of(subscription);
    std::vector<unsigned> statuses;
    for (int i = 0; i < 4; ++i) {
        http::Response answer = f.service.deliver(id, f.request(subscription, "x"), k_now_ms);
        statuses.push_back(answer.status);
        if (answer.status == 429) {
            CHECK(header(answer, "retry-after") == "2");
        }
    }
    CHECK(statuses == std::vector<unsigned>{201, 429, 201, 429});
    f.service.set_fault({});
    CHECK(f.service.deliver(id, f.request(subscription, "x"), k_now_ms).status == 201);
}

TEST_CASE("push service: routes") {
    CHECK(http::route("/push/subscribe").endpoint == http::Endpoint::push);
    CHECK(http::route("/push/ab/messages").topic == "ab/messages");
    CHECK(http::allowed_methods(http::Endpoint::push) == "GET, POST, DELETE, OPTIONS");
    CHECK(http::route("/push.html").endpoint == http::Endpoint::push_page);
    CHECK(http::allowed_methods(http::Endpoint::push_page) == "GET, OPTIONS");
}
