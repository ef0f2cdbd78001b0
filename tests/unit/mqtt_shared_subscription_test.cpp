// Tests for serve/mqtt/shared_subscription.hpp: the $share/{group}/{filter} syntax (MQTT 5
// section 4.8.2) and the round robin over a group's members.
#include "serve/mqtt/shared_subscription.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace rtx::serve::mqtt;

TEST_CASE("parse_shared_filter") {
    SharedFilter shared;
    SUBCASE("ordinary filters are not shared") {
        for (const char* text : {"a/b", "#", "$SYS/x", "$shared/g/t", "share/g/t", "$share"}) {
            CHECK(parse_shared_filter(text, shared) == ShareParse::not_shared);
        }
    }
    SUBCASE("well-formed") {
        REQUIRE(parse_shared_filter("$share/g/a/+/c", shared) == ShareParse::shared);
        CHECK(shared.group == "g");
        CHECK(shared.filter == "a/+/c");
        REQUIRE(parse_shared_filter("$share/workers/#", shared) == ShareParse::shared);
        CHECK(shared.group == "workers");
        CHECK(shared.filter == "#");
        REQUIRE(parse_shared_filter("$share/g//", shared) == ShareParse::shared);
        CHECK(shared.filter == "/");
    }
    SUBCASE("broken: no share name, wildcards in it, no filter, a bad filter") {
        for (const char* text : {"$share/", "$share/g", "$share//t", "$share/g+/t", "$share/#/t",
                                 "$share/+/t", "$share/g/", "$share/g/a/#/b", "$share/g/a+"}) {
            CAPTURE(text);
            CHECK(parse_shared_filter(text, shared) == ShareParse::invalid);
        }
    }
}

namespace {

std::vector<int> picks(RoundRobin& group, int count, const std::vector<bool>& eligible = {}) {
    std::vector<int> out;
    for (int i = 0; i < count; ++i) {
        const auto* member = static_cast<const int*>(group.pick([&](RoundRobin::Member m) {
            const int id = *static_cast<const int*>(m);
            return eligible.empty() || eligible[static_cast<std::size_t>(id)];
        }));
        out.push_back(member == nullptr ? -1 : *member);
    }
    return out;
}

} // namespace

TEST_CASE("RoundRobin") {
    int ids[] = {0, 1, 2, 3};
    RoundRobin group;
    SUBCASE("empty picks nothing") {
        CHECK(group.pick([](RoundRobin::Member) { return true; }) == nullptr);
    }
    SUBCASE("in turn, each member once") {
        CHECK(group.add(&ids[0]));
        CHECK(group.add(&ids[1]));
        CHECK(group.add(&ids[2]));
        CHECK_FALSE(group.add(&ids[1]));
        CHECK(group.size() == 3);
        CHECK(picks(group, 7) == std::vector<int>{0, 1, 2, 0, 1, 2, 0});
    }
    SUBCASE("the ineligible are skipped; with none eligible, the next in turn") {
        for (int& id : ids) {
            group.add(&id);
        }
        CHECK(picks(group, 4, {true, false, true, false}) == std::vector<int>{0, 2, 0, 2});
        CHECK(picks(group, 3, {false, false, false, false}) == std::vector<int>{3, 0, 1});
    }
    SUBCASE("removing keeps the turn") {
        for (int& id : ids) {
            group.add(&id);
        }
        CHECK(picks(group, 2) == std::vector<int>{0, 1});
        CHECK(group.remove(&ids[0])); // before the turn: 2 is still next
        CHECK(picks(group, 1) == std::vector<int>{2});
        CHECK(group.remove(&ids[3])); // the next one: the turn wraps to 1
        CHECK_FALSE(group.remove(&ids[3]));
        CHECK(picks(group, 3) == std::vector<int>{1, 2, 1});
        CHECK(group.remove(&ids[1]));
        CHECK(group.remove(&ids[2]));
        CHECK(group.empty());
        CHECK(picks(group, 1) == std::vector<int>{-1});
    }
}
