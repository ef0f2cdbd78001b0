// serve/mqtt/acl: rtx serve --mqtt-acl, the subset of mosquitto's acl_file format.
#include "serve/mqtt/acl.hpp"

#include <doctest/doctest.h>

#include <optional>
#include <string>

using rtx::serve::mqtt::Acl;

namespace {

const std::optional<std::string> anonymous;
const std::optional<std::string> alice = std::string("alice");
const std::optional<std::string> bob = std::string("bob");

} // namespace

TEST_CASE("topic, user and pattern lines") {
    auto acl = Acl::parse("# anonymous clients\n"
                          "topic read public/#\n"
                          "\n"
                          "user alice\n"
                          "topic readwrite sensors/#\n"
                          "topic write commands/+\n"
                          "topic deny sensors/secret\n"
                          "user bob\n"
                          "topic sensors/bob\n" // no access word: readwrite
                          "pattern read devices/%c/#\n"
                          "pattern write users/%u/inbox\r\n",
                          "acl");
    REQUIRE(acl);
    CHECK(acl->rules() == 7);

    CHECK(acl->can_read(anonymous, "c1", "public/news"));
    CHECK_FALSE(acl->can_write(anonymous, "c1", "public/news"));
    CHECK_FALSE(acl->can_read(alice, "c1", "public/news")); // `topic` lines are per user

    CHECK(acl->can_read(alice, "c1", "sensors/t1"));
    CHECK(acl->can_write(alice, "c1", "sensors/t1"));
    CHECK(acl->can_write(alice, "c1", "commands/stop"));
    CHECK_FALSE(acl->can_read(alice, "c1", "commands/stop"));
    CHECK_FALSE(acl->can_read(alice, "c1", "sensors/secret")); // deny wins
    CHECK_FALSE(acl->can_write(alice, "c1", "sensors/secret"));

    CHECK(acl->can_read(bob, "c2", "sensors/bob"));
    CHECK(acl->can_write(bob, "c2", "sensors/bob"));
    CHECK_FALSE(acl->can_read(bob, "c2", "sensors/t1"));

    // Patterns apply to every client, with its own id and user name.
    CHECK(acl->can_read(anonymous, "dev7", "devices/dev7/temp"));
    CHECK_FALSE(acl->can_read(anonymous, "dev7", "devices/dev8/temp"));
    CHECK(acl->can_write(alice, "x", "users/alice/inbox"));
    CHECK_FALSE(acl->can_write(alice, "x", "users/bob/inbox"));
    CHECK_FALSE(acl->can_write(anonymous, "x", "users//inbox")); // %u needs a user name
}

TEST_CASE("bad lines are usage errors naming the line") {
    for (const char* bad : {"topic\n", "topic read\n", "user\n", "allow all\n",
                            "topic read a/#/b\n", "pattern write x/%u/#/y\n"}) {
        CAPTURE(bad);
        auto acl = Acl::parse(std::string("# ok\n") + bad, "f.acl");
        REQUIRE_FALSE(acl);
        CHECK(acl.error().code == rtx::core::ExitCode::usage);
        CHECK(acl.error().message.starts_with("f.acl line 2: "));
    }
}
