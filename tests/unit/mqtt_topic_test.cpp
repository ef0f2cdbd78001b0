// Tests for serve/mqtt/topic_tree.hpp: topic names, filters, wildcard matching with the '$'
// rule, and the subscription tree agreeing with topic_matches.
#include "serve/mqtt/topic_tree.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

using namespace rtx::serve::mqtt;

TEST_CASE("topic names and filters") {
    CHECK(valid_topic_name("a/b"));
    CHECK(valid_topic_name("/"));
    CHECK(valid_topic_name("$SYS/x"));
    CHECK_FALSE(valid_topic_name(""));
    CHECK_FALSE(valid_topic_name("a/+"));
    CHECK_FALSE(valid_topic_name("a/#"));
    for (const char* ok : {"#", "+", "a/#", "+/+", "a/+/b", "/+", "+/", "$SYS/#", "a//b"}) {
        CAPTURE(ok);
        CHECK(valid_topic_filter(ok));
    }
    for (const char* bad : {"", "a/#/b", "a#", "a/b#", "a+", "+a/b", "#/", "a/##"}) {
        CAPTURE(bad);
        CHECK_FALSE(valid_topic_filter(bad));
    }
}

TEST_CASE("topic_matches: the spec's examples (MQTT 4.7)") {
    struct Case {
        const char* filter;
        const char* name;
        bool match;
    };
    for (const Case& c : {
             Case{"sport/tennis/player1/#", "sport/tennis/player1", true},
             Case{"sport/tennis/player1/#", "sport/tennis/player1/ranking", true},
             Case{"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true},
             Case{"sport/#", "sport", true},
             Case{"#", "a/b/c", true},
             Case{"sport/tennis/+", "sport/tennis/player1", true},
             Case{"sport/tennis/+", "sport/tennis/player1/ranking", false},
             Case{"sport/+", "sport", false},
             Case{"sport/+", "sport/", true},
             Case{"+/+", "/finance", true},
             Case{"/+", "/finance", true},
             Case{"+", "/finance", false},
             Case{"a/b", "a/b", true},
             Case{"a/b", "a/b/c", false},
             Case{"a/b/c", "a/b", false},
             Case{"#", "$SYS/broker", false},
             Case{"+/broker", "$SYS/broker", false},
             Case{"$SYS/#", "$SYS/broker", true},
             Case{"$SYS/+", "$SYS/broker", true},
             Case{"a/+/#", "a/b", true},
             Case{"a/+/#", "a", false},
         }) {
        CAPTURE(c.filter);
        CAPTURE(c.name);
        CHECK(topic_matches(c.filter, c.name) == c.match);
    }
}

TEST_CASE("SubscriptionTree matches like topic_matches") {
    const std::vector<std::string> filters = {"#",   "+",     "a/#",    "a/+",    "a/b",
                                              "+/b", "+/+/c", "$SYS/#", "$SYS/+", "a/b/c",
                                              "/+",  "a/",    "a/+/#",  "+/#"};
    const std::vector<std::string> names = {"a",  "a/b", "a/b/c", "b",     "$SYS/x",  "$SYS",
                                            "/x", "a/",  "x/b",   "q/r/c", "$SYS/x/y"};
    SubscriptionTree tree;
    for (const auto& f : filters) {
        CHECK(tree.add(f, &f, 1));
    }
    CHECK(tree.size() == filters.size());
    for (const auto& name : names) {
        CAPTURE(name);
        std::vector<std::string> got;
        tree.match(name, [&](SubscriptionTree::Key key, std::uint8_t options) {
            CHECK(options == 1);
            got.push_back(*static_cast<const std::string*>(key));
        });
        std::vector<std::string> expected;
        for (const auto& f : filters) {
            if (topic_matches(f, name)) {
                expected.push_back(f);
            }
        }
        std::sort(got.begin(), got.end());
        std::sort(expected.begin(), expected.end());
        CHECK(got == expected);
    }
}

TEST_CASE("SubscriptionTree add replaces, remove prunes") {
    SubscriptionTree tree;
    int a = 0;
    int b = 0;
    CHECK(tree.add("x/+", &a, 0));
    CHECK_FALSE(tree.add("x/+", &a, 2)); // replaced
    CHECK(tree.add("x/+", &b, 1));
    CHECK(tree.size() == 2);
    std::vector<std::uint8_t> options;
    tree.match("x/y", [&](SubscriptionTree::Key, std::uint8_t o) { options.push_back(o); });
    std::sort(options.begin(), options.end());
    CHECK(options == std::vector<std::uint8_t>{1, 2});
    CHECK(tree.remove("x/+", &a));
    CHECK_FALSE(tree.remove("x/+", &a));
    CHECK_FALSE(tree.remove("x/y", &b));
    CHECK(tree.remove("x/+", &b));
    CHECK(tree.size() == 0);
    int calls = 0;
    tree.match("x/y", [&](SubscriptionTree::Key, std::uint8_t) { ++calls; });
    CHECK(calls == 0);
}
