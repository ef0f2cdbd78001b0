// Tests for serve/hub.hpp: the topic hub shared by every listener of `rtx serve`. Subscribers
// are plain objects that record what they receive; nothing touches a socket.
#include "serve/hub.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

using rtx::serve::Hub;
using rtx::serve::HubLimits;
using rtx::serve::HubMessage;
using rtx::serve::HubReplay;
using rtx::serve::PublishOptions;
using rtx::serve::Subscriber;
using rtx::serve::Subscription;

namespace {

using MessagePtr = std::shared_ptr<const HubMessage>;

// Records every message; `on_message` runs after recording, to act from inside a delivery.
struct Recorder : Subscriber {
    std::vector<MessagePtr> received;
    std::function<void(const MessagePtr&)> on_message;

    void on_hub_message(const MessagePtr& message) override {
        received.push_back(message);
        if (on_message) {
            on_message(message);
        }
    }

    std::vector<std::string> payloads() const {
        std::vector<std::string> out;
        for (const MessagePtr& message : received) {
            out.push_back(message->payload);
        }
        return out;
    }
    std::vector<std::uint64_t> ids() const {
        std::vector<std::uint64_t> out;
        for (const MessagePtr& message : received) {
            out.push_back(message->id);
        }
        return out;
    }
};

MessagePtr publish(Hub& hub, std::string_view topic, std::string payload,
                   PublishOptions options = {}) {
    auto result = hub.publish(topic, std::move(payload), std::move(options));
    REQUIRE(result.ok());
    return result.value();
}

Subscription subscribe(Hub& hub, std::string_view topic, Subscriber& subscriber) {
    auto result = hub.subscribe(topic, subscriber);
    REQUIRE(result.ok());
    return std::move(result.value());
}

std::vector<std::uint64_t> ids_of(const HubReplay& replay) {
    std::vector<std::uint64_t> out;
    for (const MessagePtr& message : replay.messages) {
        out.push_back(message->id);
    }
    return out;
}

using Ids = std::vector<std::uint64_t>;
using Payloads = std::vector<std::string>;

} // namespace

TEST_SUITE_BEGIN("hub");

TEST_CASE("Hub: ids are monotonic from 1 per topic") {
    Hub hub;
    CHECK(hub.last_id("a") == 0);
    CHECK(publish(hub, "a", "1")->id == 1);
    CHECK(publish(hub, "a", "2")->id == 2);
    CHECK(publish(hub, "b", "1")->id == 1);
    CHECK(publish(hub, "a", "3")->id == 3);
    CHECK(publish(hub, "b", "2")->id == 2);
    CHECK(hub.last_id("a") == 3);
    CHECK(hub.last_id("b") == 2);
    CHECK(hub.last_id("c") == 0);
    CHECK(hub.topic_count() == 2);
}

TEST_CASE("Hub: the message carries what was published") {
    Hub hub;
    PublishOptions options;
    options.binary = true;
    options.event = "tick";
    options.source = "ws";
    options.qos = 1;
    MessagePtr message = publish(hub, "t/1", std::string("\0\xff", 2), options);
    CHECK(message->topic == "t/1");
    CHECK(message->payload == std::string("\0\xff", 2));
    CHECK(message->binary);
    CHECK(message->event == "tick");
    CHECK(message->source == "ws");
    CHECK(message->qos == 1);
    CHECK_FALSE(message->retain);
}

TEST_CASE("Hub: delivery in order to every subscriber of the topic only") {
    Hub hub;
    Recorder a, b, other;
    Subscription sa = subscribe(hub, "news", a);
    Subscription sb = subscribe(hub, "news", b);
    Subscription so = subscribe(hub, "sports", other);
    CHECK(hub.subscriber_count() == 3);
    CHECK(hub.subscriber_count("news") == 2);

    publish(hub, "news", "one");
    publish(hub, "sports", "goal");
    publish(hub, "news", "two");
    publish(hub, "news", "three");

    CHECK(a.payloads() == Payloads{"one", "two", "three"});
    CHECK(b.payloads() == Payloads{"one", "two", "three"});
    CHECK(a.ids() == Ids{1, 2, 3});
    CHECK(other.payloads() == Payloads{"goal"});

    SUBCASE("subscribing later gets only later messages") {
        Recorder late;
        Subscription sl = subscribe(hub, "news", late);
        publish(hub, "news", "four");
        CHECK(late.ids() == Ids{4});
    }
    SUBCASE("subscribing twice receives twice") {
        Subscription again = subscribe(hub, "news", a);
        publish(hub, "news", "four");
        CHECK(a.payloads() == Payloads{"one", "two", "three", "four", "four"});
    }
}

TEST_CASE("Hub: one payload shared by every subscriber") {
    Hub hub;
    std::vector<Recorder> recorders(10000);
    std::vector<Subscription> subscriptions;
    for (Recorder& recorder : recorders) {
        subscriptions.push_back(subscribe(hub, "fan", recorder));
    }
    MessagePtr message = publish(hub, "fan", std::string(4096, 'x'));
    for (const Recorder& recorder : recorders) {
        REQUIRE(recorder.received.size() == 1);
        CHECK(recorder.received[0].get() == message.get());
    }
    // Every recorder, the history and the caller hold the same object.
    CHECK(message.use_count() == 10000 + 2);
}

TEST_CASE("Hub: Subscription is RAII") {
    Hub hub;
    Recorder recorder;
    SUBCASE("destruction unsubscribes") {
        {
            Subscription subscription = subscribe(hub, "t", recorder);
            CHECK(subscription.active());
            publish(hub, "t", "in");
        }
        publish(hub, "t", "out");
        CHECK(recorder.payloads() == Payloads{"in"});
        CHECK(hub.subscriber_count() == 0);
        CHECK(hub.subscriber_count("t") == 0);
    }
    SUBCASE("reset unsubscribes, twice is harmless") {
        Subscription subscription = subscribe(hub, "t", recorder);
        subscription.reset();
        CHECK_FALSE(subscription.active());
        subscription.reset();
        publish(hub, "t", "out");
        CHECK(recorder.received.empty());
    }
    SUBCASE("moving keeps one live subscription") {
        Subscription first = subscribe(hub, "t", recorder);
        Subscription second = std::move(first);
        CHECK_FALSE(first.active()); // NOLINT(bugprone-use-after-move): moved-from is empty
        CHECK(second.active());
        CHECK(hub.subscriber_count() == 1);
        publish(hub, "t", "once");
        CHECK(recorder.payloads() == Payloads{"once"});
    }
    SUBCASE("move-assigning over a live subscription unsubscribes it") {
        Recorder other;
        Subscription kept = subscribe(hub, "t", recorder);
        Subscription replaced = subscribe(hub, "u", other);
        replaced = std::move(kept);
        CHECK(hub.subscriber_count() == 1);
        publish(hub, "u", "gone");
        publish(hub, "t", "here");
        CHECK(other.received.empty());
        CHECK(recorder.payloads() == Payloads{"here"});
    }
    SUBCASE("an empty handle is inactive") {
        Subscription empty;
        CHECK_FALSE(empty.active());
        CHECK_FALSE(static_cast<bool>(empty));
    }
    SUBCASE("a subscription may outlive the hub") {
        auto owned = std::make_unique<Hub>();
        Subscription subscription = subscribe(*owned, "t", recorder);
        owned.reset();
        CHECK_FALSE(subscription.active());
        subscription.reset();
    }
}

TEST_CASE("Hub: unsubscribing during a delivery") {
    Hub hub;
    Recorder a, b, c;
    Subscription sa = subscribe(hub, "t", a);
    Subscription sb = subscribe(hub, "t", b);
    Subscription sc = subscribe(hub, "t", c);

    SUBCASE("itself") {
        b.on_message = [&](const MessagePtr&) {
            sb.reset();
        };
        publish(hub, "t", "1");
        publish(hub, "t", "2");
        CHECK(a.payloads() == Payloads{"1", "2"});
        CHECK(b.payloads() == Payloads{"1"});
        CHECK(c.payloads() == Payloads{"1", "2"});
        CHECK(hub.subscriber_count("t") == 2);
    }
    SUBCASE("a later subscriber does not get the message in flight") {
        a.on_message = [&](const MessagePtr&) {
            sc.reset();
        };
        publish(hub, "t", "1");
        CHECK(b.payloads() == Payloads{"1"});
        CHECK(c.received.empty());
    }
    SUBCASE("an earlier subscriber") {
        c.on_message = [&](const MessagePtr&) {
            sa.reset();
        };
        publish(hub, "t", "1");
        publish(hub, "t", "2");
        CHECK(a.payloads() == Payloads{"1"});
        CHECK(b.payloads() == Payloads{"1", "2"});
    }
    SUBCASE("everyone, including itself") {
        b.on_message = [&](const MessagePtr&) {
            sa.reset();
            sb.reset();
            sc.reset();
        };
        publish(hub, "t", "1");
        publish(hub, "t", "2");
        CHECK(a.payloads() == Payloads{"1"});
        CHECK(b.payloads() == Payloads{"1"});
        CHECK(c.received.empty());
        CHECK(hub.subscriber_count() == 0);
    }
    SUBCASE("by destroying the handle") {
        auto owned = std::make_unique<Subscription>(std::move(sb));
        b.on_message = [&](const MessagePtr&) {
            owned.reset();
        };
        publish(hub, "t", "1");
        publish(hub, "t", "2");
        CHECK(b.payloads() == Payloads{"1"});
        CHECK(c.payloads() == Payloads{"1", "2"});
    }
    SUBCASE("the remaining ones keep working after the slots are compacted") {
        b.on_message = [&](const MessagePtr&) {
            sb.reset();
        };
        publish(hub, "t", "1");
        Recorder d;
        Subscription sd = subscribe(hub, "t", d);
        sa.reset();
        publish(hub, "t", "2");
        CHECK(a.payloads() == Payloads{"1"});
        CHECK(c.payloads() == Payloads{"1", "2"});
        CHECK(d.payloads() == Payloads{"2"});
        sd.reset();
        sc.reset();
        CHECK(hub.subscriber_count() == 0);
    }
}

TEST_CASE("Hub: many subscribers leaving in any order") {
    Hub hub;
    std::vector<Recorder> recorders(100);
    std::vector<Subscription> subscriptions;
    for (Recorder& recorder : recorders) {
        subscriptions.push_back(subscribe(hub, "t", recorder));
    }
    for (std::size_t i = 0; i < subscriptions.size(); i += 3) {
        subscriptions[i].reset();
    }
    for (std::size_t i = subscriptions.size(); i-- > 0;) {
        if (i % 3 == 1) {
            subscriptions[i].reset();
        }
    }
    publish(hub, "t", "x");
    for (std::size_t i = 0; i < recorders.size(); ++i) {
        CAPTURE(i);
        CHECK(recorders[i].received.size() == (i % 3 == 2 ? 1U : 0U));
    }
    CHECK(hub.subscriber_count("t") == 33);
    subscriptions.clear();
    CHECK(hub.subscriber_count() == 0);
}

TEST_CASE("Hub: subscribing during a delivery") {
    Hub hub;
    Recorder a, b, added;
    Subscription sa = subscribe(hub, "t", a);
    Subscription sb = subscribe(hub, "t", b);
    Subscription s_added;

    SUBCASE("to the same topic: not the message in flight, the next one") {
        a.on_message = [&](const MessagePtr&) {
            if (!s_added.active()) {
                s_added = subscribe(hub, "t", added);
            }
        };
        publish(hub, "t", "1");
        CHECK(added.received.empty());
        CHECK(b.payloads() == Payloads{"1"});
        publish(hub, "t", "2");
        CHECK(added.payloads() == Payloads{"2"});
    }
    SUBCASE("growing the list past its capacity") {
        std::vector<Recorder> many(64);
        std::vector<Subscription> subscriptions;
        a.on_message = [&](const MessagePtr&) {
            for (Recorder& recorder : many) {
                subscriptions.push_back(subscribe(hub, "t", recorder));
            }
            a.on_message = nullptr;
        };
        publish(hub, "t", "1");
        CHECK(b.payloads() == Payloads{"1"});
        publish(hub, "t", "2");
        for (const Recorder& recorder : many) {
            CHECK(recorder.payloads() == Payloads{"2"});
        }
    }
    SUBCASE("with subscribe_all") {
        a.on_message = [&](const MessagePtr&) {
            if (!s_added.active()) {
                auto result = hub.subscribe_all(added);
                REQUIRE(result.ok());
                s_added = std::move(result.value());
            }
        };
        publish(hub, "t", "1");
        CHECK(added.received.empty());
        publish(hub, "t", "2");
        CHECK(added.payloads() == Payloads{"2"});
    }
}

TEST_CASE("Hub: publishing during a delivery keeps every subscriber in order") {
    Hub hub;
    Recorder a, b, all;
    Subscription sa = subscribe(hub, "t", a);
    Subscription sb = subscribe(hub, "t", b);
    auto result = hub.subscribe_all(all);
    REQUIRE(result.ok());
    Subscription s_all = std::move(result.value());
    a.on_message = [&](const MessagePtr& message) {
        if (message->id < 3) {
            MessagePtr echoed = publish(hub, "t", "echo of " + message->payload);
            CHECK(echoed->id == message->id + 1); // the id is assigned at once
        }
    };
    publish(hub, "t", "1");
    CHECK(a.ids() == Ids{1, 2, 3});
    CHECK(b.ids() == Ids{1, 2, 3});
    CHECK(all.ids() == Ids{1, 2, 3});
    CHECK(b.payloads() == Payloads{"1", "echo of 1", "echo of echo of 1"});
}

TEST_CASE("Hub: a subscriber gets exactly the messages published after it subscribed") {
    Hub hub;
    Recorder a, added;
    Subscription sa = subscribe(hub, "t", a);
    Subscription s_added;
    SUBCASE("subscribed, then a publish from inside the delivery: receives it") {
        a.on_message = [&](const MessagePtr& message) {
            if (message->id == 1) {
                s_added = subscribe(hub, "t", added);
                publish(hub, "t", "2");
            }
        };
        publish(hub, "t", "1");
        CHECK(added.ids() == Ids{2});
    }
    SUBCASE("a publish from inside the delivery, then subscribed: does not") {
        a.on_message = [&](const MessagePtr& message) {
            if (message->id == 1) {
                publish(hub, "t", "2");
                s_added = subscribe(hub, "t", added);
            }
        };
        publish(hub, "t", "1");
        CHECK(added.received.empty());
        CHECK(a.ids() == Ids{1, 2});
        CHECK(ids_of(hub.since("t", 1)) == Ids{2}); // what since() is for
    }
}

TEST_CASE("Hub: since() replays the history after a cursor") {
    Hub hub;
    for (int i = 1; i <= 5; ++i) {
        publish(hub, "t", std::to_string(i));
    }
    SUBCASE("0: everything") {
        HubReplay replay = hub.since("t", 0);
        CHECK(ids_of(replay) == Ids{1, 2, 3, 4, 5});
        CHECK(replay.messages[0]->payload == "1");
        CHECK_FALSE(replay.gap);
    }
    SUBCASE("exactly the messages after the cursor") {
        HubReplay replay = hub.since("t", 2);
        CHECK(ids_of(replay) == Ids{3, 4, 5});
        CHECK_FALSE(replay.gap);
        CHECK(ids_of(hub.since("t", 4)) == Ids{5});
    }
    SUBCASE("the last id: nothing, no gap") {
        HubReplay replay = hub.since("t", 5);
        CHECK(replay.messages.empty());
        CHECK_FALSE(replay.gap);
    }
    SUBCASE("the same objects that were delivered") {
        Recorder recorder;
        Subscription subscription = subscribe(hub, "t", recorder);
        MessagePtr sixth = publish(hub, "t", "6");
        CHECK(hub.since("t", 5).messages.at(0).get() == sixth.get());
    }
    SUBCASE("an unknown topic") {
        HubReplay replay = hub.since("nothing", 0);
        CHECK(replay.messages.empty());
        CHECK_FALSE(replay.gap);
        CHECK(hub.topic_count() == 1); // asking does not create it
    }
    SUBCASE("a cursor ahead of the topic (an earlier hub): everything, with a gap") {
        HubReplay replay = hub.since("t", 500);
        CHECK(ids_of(replay) == Ids{1, 2, 3, 4, 5});
        CHECK(replay.gap);
        CHECK(hub.since("nothing", 7).gap);
    }
}

TEST_CASE("Hub: since() reports evicted messages as a gap") {
    HubLimits limits;
    limits.history_per_topic = 3;
    Hub hub(limits);
    for (int i = 1; i <= 5; ++i) {
        publish(hub, "t", std::to_string(i));
    }
    CHECK(ids_of(hub.since("t", 0)) == Ids{3, 4, 5});
    CHECK(hub.since("t", 0).gap);
    CHECK(hub.since("t", 1).gap);
    SUBCASE("the cursor just before the oldest kept: no gap") {
        HubReplay replay = hub.since("t", 2);
        CHECK(ids_of(replay) == Ids{3, 4, 5});
        CHECK_FALSE(replay.gap);
    }
    SUBCASE("cursors inside the history") {
        CHECK(ids_of(hub.since("t", 3)) == Ids{4, 5});
        CHECK_FALSE(hub.since("t", 3).gap);
        CHECK_FALSE(hub.since("t", 5).gap);
    }
}

TEST_CASE("Hub: the history is bounded") {
    SUBCASE("by count per topic, topics independent") {
        HubLimits limits;
        limits.history_per_topic = 2;
        Hub hub(limits);
        for (int i = 0; i < 10; ++i) {
            publish(hub, "a", "x");
        }
        publish(hub, "b", "y");
        CHECK(ids_of(hub.since("a", 0)) == Ids{9, 10});
        CHECK(ids_of(hub.since("b", 0)) == Ids{1});
        CHECK(hub.history_bytes() == 3);
    }
    SUBCASE("0: no history, delivery still works") {
        HubLimits limits;
        limits.history_per_topic = 0;
        Hub hub(limits);
        Recorder recorder;
        Subscription subscription = subscribe(hub, "t", recorder);
        publish(hub, "t", "live");
        CHECK(recorder.payloads() == Payloads{"live"});
        CHECK(hub.since("t", 0).messages.empty());
        CHECK(hub.since("t", 0).gap);
        CHECK(hub.history_bytes() == 0);
    }
    SUBCASE("by payload bytes per topic") {
        HubLimits limits;
        limits.history_bytes_per_topic = 10;
        Hub hub(limits);
        publish(hub, "t", "aaaa"); // 4
        publish(hub, "t", "bbbb"); // 8
        publish(hub, "t", "cc");   // 10: fits exactly
        CHECK(ids_of(hub.since("t", 0)) == Ids{1, 2, 3});
        publish(hub, "t", "d"); // 11: the oldest goes
        CHECK(ids_of(hub.since("t", 0)) == Ids{2, 3, 4});
        CHECK(hub.history_bytes() == 7);
        publish(hub, "u", "0123456789"); // another topic has its own bound
        CHECK(ids_of(hub.since("t", 0)) == Ids{2, 3, 4});
        CHECK(hub.history_bytes() == 17);
    }
    SUBCASE("a message larger than the topic bound is delivered, not kept") {
        HubLimits limits;
        limits.history_bytes_per_topic = 10;
        Hub hub(limits);
        Recorder recorder;
        Subscription subscription = subscribe(hub, "t", recorder);
        publish(hub, "t", "small");
        publish(hub, "t", std::string(11, 'L'));
        CHECK(recorder.received.size() == 2);
        CHECK(hub.since("t", 0).messages.empty());
        CHECK(hub.since("t", 1).gap);
        CHECK(hub.history_bytes() == 0);
        publish(hub, "t", "after");
        CHECK(ids_of(hub.since("t", 2)) == Ids{3});
        CHECK_FALSE(hub.since("t", 2).gap);
    }
    SUBCASE("by payload bytes over all topics, oldest of the hub first") {
        HubLimits limits;
        limits.history_bytes_total = 10;
        Hub hub(limits);
        publish(hub, "a", "aaa"); // a1
        publish(hub, "b", "bbb"); // b1
        publish(hub, "a", "aaa"); // a2
        CHECK(hub.history_bytes() == 9);
        publish(hub, "c", "cc"); // 11: a1 goes
        CHECK(hub.history_bytes() == 8);
        CHECK(ids_of(hub.since("a", 0)) == Ids{2});
        CHECK(hub.since("a", 0).gap);
        CHECK(ids_of(hub.since("b", 0)) == Ids{1});
        publish(hub, "c", "cccccc"); // 14: b1 goes, then a2
        CHECK(hub.history_bytes() == 8);
        CHECK(hub.since("b", 0).messages.empty());
        CHECK(hub.since("a", 0).messages.empty());
        CHECK(ids_of(hub.since("c", 0)) == Ids{1, 2});
    }
    SUBCASE("count and total bounds together") {
        HubLimits limits;
        limits.history_per_topic = 2;
        limits.history_bytes_total = 6;
        Hub hub(limits);
        for (int i = 0; i < 4; ++i) {
            publish(hub, "a", "a"); // a3, a4 kept
        }
        publish(hub, "b", "bbbb"); // 6 bytes: fits
        CHECK(hub.history_bytes() == 6);
        publish(hub, "b", "b"); // 7: a3 goes (oldest kept), not an already evicted one
        CHECK(ids_of(hub.since("a", 0)) == Ids{4});
        CHECK(ids_of(hub.since("b", 0)) == Ids{1, 2});
        CHECK(hub.history_bytes() == 6);
    }
}

TEST_CASE("Hub: retained message (MQTT)") {
    Hub hub;
    PublishOptions retain;
    retain.retain = true;
    CHECK(hub.retained("t") == nullptr);

    MessagePtr first = publish(hub, "t", "on", retain);
    CHECK(hub.retained("t").get() == first.get());
    CHECK(first->retain);

    SUBCASE("a message without retain leaves it") {
        publish(hub, "t", "plain");
        CHECK(hub.retained("t")->payload == "on");
    }
    SUBCASE("a later retained message replaces it") {
        publish(hub, "t", "off", retain);
        CHECK(hub.retained("t")->payload == "off");
        CHECK(hub.retained("t")->id == 2);
    }
    SUBCASE("an empty retained payload clears it and is still delivered") {
        Recorder recorder;
        Subscription subscription = subscribe(hub, "t", recorder);
        publish(hub, "t", "", retain);
        CHECK(hub.retained("t") == nullptr);
        REQUIRE(recorder.received.size() == 1);
        CHECK(recorder.received[0]->payload.empty());
        CHECK(recorder.received[0]->retain);
        CHECK(hub.last_id("t") == 2);
    }
    SUBCASE("an empty payload without retain does not clear it") {
        publish(hub, "t", "");
        CHECK(hub.retained("t")->payload == "on");
    }
    SUBCASE("per topic") {
        publish(hub, "u", "u-on", retain);
        CHECK(hub.retained("t")->payload == "on");
        CHECK(hub.retained("u")->payload == "u-on");
        CHECK(hub.retained("v") == nullptr);
    }
}

TEST_CASE("Hub: the retained message survives history eviction") {
    HubLimits limits;
    limits.history_per_topic = 1;
    Hub hub(limits);
    PublishOptions retain;
    retain.retain = true;
    publish(hub, "t", "state", retain);
    publish(hub, "t", "noise");
    publish(hub, "t", "noise");
    CHECK(ids_of(hub.since("t", 0)) == Ids{3});
    REQUIRE(hub.retained("t") != nullptr);
    CHECK(hub.retained("t")->payload == "state");
}

TEST_CASE("Hub: subscribe_all sees every message of every topic") {
    Hub hub;
    Recorder all, topic_only;
    std::vector<std::string> order;
    all.on_message = [&](const MessagePtr&) {
        order.push_back("all");
    };
    topic_only.on_message = [&](const MessagePtr&) {
        order.push_back("topic");
    };
    auto result = hub.subscribe_all(all);
    REQUIRE(result.ok());
    Subscription s_all = std::move(result.value());
    Subscription s_topic = subscribe(hub, "a", topic_only);
    CHECK(hub.subscriber_count() == 2);
    CHECK(hub.subscriber_count("a") == 1);

    publish(hub, "a", "1");
    publish(hub, "b/c", "2");
    publish(hub, "new topic", "3");
    CHECK(all.payloads() == Payloads{"1", "2", "3"});
    CHECK(all.received[1]->topic == "b/c");
    CHECK(order == std::vector<std::string>{"topic", "all", "all", "all"});

    s_all.reset();
    publish(hub, "a", "4");
    CHECK(all.received.size() == 3);
    CHECK(hub.subscriber_count() == 1);
}

TEST_CASE("Hub: limits are errors, not crashes") {
    SUBCASE("max_subscribers, subscribe_all included") {
        HubLimits limits;
        limits.max_subscribers = 2;
        Hub hub(limits);
        Recorder a, b, c;
        Subscription sa = subscribe(hub, "t", a);
        auto all = hub.subscribe_all(b);
        REQUIRE(all.ok());
        auto refused = hub.subscribe("t", c);
        REQUIRE_FALSE(refused.ok());
        CHECK(refused.error().message == "hub: too many subscribers (limit 2)");
        CHECK_FALSE(hub.subscribe_all(c).ok());
        CHECK_FALSE(hub.subscribe("other", c).ok());
        CHECK(hub.topic_count() == 1); // the refused subscribe created no topic
        sa.reset();
        CHECK(hub.subscribe("t", c).ok());
    }
    SUBCASE("max_topics") {
        HubLimits limits;
        limits.max_topics = 2;
        Hub hub(limits);
        Recorder recorder;
        publish(hub, "a", "1");
        Subscription sb = subscribe(hub, "b", recorder);
        auto refused = hub.publish("c", "1");
        REQUIRE_FALSE(refused.ok());
        CHECK(refused.error().message == "hub: too many topics (limit 2)");
        CHECK(hub.last_id("c") == 0);
        auto refused_subscribe = hub.subscribe("c", recorder);
        REQUIRE_FALSE(refused_subscribe.ok());
        CHECK(refused_subscribe.error().message == "hub: too many topics (limit 2)");
        CHECK(hub.publish("a", "2").ok()); // known topics still work
        CHECK(hub.publish("b", "1").ok());
        CHECK(hub.topic_count() == 2);
    }
    SUBCASE("an empty topic name") {
        Hub hub;
        Recorder recorder;
        auto published = hub.publish("", "x");
        REQUIRE_FALSE(published.ok());
        CHECK(published.error().message == "hub: empty topic name");
        CHECK_FALSE(hub.subscribe("", recorder).ok());
        CHECK(hub.topic_count() == 0);
    }
}

TEST_CASE("Hub: which topics are kept") {
    Hub hub;
    Recorder recorder;
    SUBCASE("a topic only subscribed to is forgotten with its last subscriber") {
        Subscription first = subscribe(hub, "t", recorder);
        Subscription second = subscribe(hub, "t", recorder);
        CHECK(hub.topic_count() == 1);
        first.reset();
        CHECK(hub.topic_count() == 1);
        second.reset();
        CHECK(hub.topic_count() == 0);
    }
    SUBCASE("even when it unsubscribes during a delivery of another topic") {
        Subscription quiet = subscribe(hub, "quiet", recorder);
        Recorder trigger;
        trigger.on_message = [&](const MessagePtr&) {
            quiet.reset();
        };
        Subscription st = subscribe(hub, "loud", trigger);
        publish(hub, "loud", "go");
        CHECK(hub.topic_count() == 1);
        CHECK(hub.subscriber_count() == 1);
    }
    SUBCASE("a published topic stays, and its ids go on") {
        Subscription subscription = subscribe(hub, "t", recorder);
        publish(hub, "t", "1");
        subscription.reset();
        CHECK(hub.topic_count() == 1);
        CHECK(publish(hub, "t", "2")->id == 2);
    }
}

TEST_CASE("Hub: for_each_topic lists every topic") {
    Hub hub;
    Recorder recorder;
    publish(hub, "a", "1");
    publish(hub, "b/c", "1");
    Subscription subscription = subscribe(hub, "d", recorder);
    std::vector<std::string> names;
    hub.for_each_topic([&](std::string_view topic) { names.emplace_back(topic); });
    std::sort(names.begin(), names.end());
    CHECK(names == std::vector<std::string>{"a", "b/c", "d"});
}

TEST_SUITE_END();

TEST_CASE("Hub: ids from first_id, and cursors from another run") {
    HubLimits limits;
    limits.first_id = 1000;
    Hub hub(limits);
    CHECK(hub.last_id("t") == 0);
    CHECK(hub.since("t", 0).messages.empty());
    REQUIRE(hub.publish("t", "a", {}).ok());
    REQUIRE(hub.publish("t", "b", {}).ok());
    CHECK(hub.last_id("t") == 1001);
    SUBCASE("0 means the whole history, no gap") {
        auto replay = hub.since("t", 0);
        REQUIRE(replay.messages.size() == 2);
        CHECK(replay.messages[0]->id == 1000);
        CHECK_FALSE(replay.gap);
    }
    SUBCASE("an id from an earlier run replays everything, with a gap") {
        auto replay = hub.since("t", 3);
        CHECK(replay.messages.size() == 2);
        CHECK(replay.gap);
    }
    SUBCASE("a cursor inside this run is exact") {
        auto replay = hub.since("t", 1000);
        REQUIRE(replay.messages.size() == 1);
        CHECK(replay.messages[0]->payload == "b");
        CHECK_FALSE(replay.gap);
    }
}
