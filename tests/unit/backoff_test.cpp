// Tests for core/backoff.hpp: the --reconnect schedule, with an injected clock and random
// source so nothing sleeps.
#include "core/backoff.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <cstddef>
#include <optional>
#include <vector>

using namespace std::chrono_literals;
using rtx::core::Backoff;
using rtx::core::BackoffPolicy;
using rtx::core::Duration;

namespace {

// The clock and the random source a test controls.
struct Fakes {
    std::chrono::steady_clock::time_point now{};
    std::vector<double> randoms{0.0}; // returned in order; the last one repeats
    std::size_t next_random = 0;

    Backoff make(const BackoffPolicy& policy) {
        return Backoff(
            policy, [this] { return now; },
            [this] {
                double r = randoms[std::min(next_random, randoms.size() - 1)];
                ++next_random;
                return r;
            });
    }
};

BackoffPolicy no_jitter() {
    BackoffPolicy policy;
    policy.jitter = 0;
    return policy;
}

Duration next(Backoff& backoff) {
    std::optional<Duration> delay = backoff.next_delay();
    REQUIRE(delay.has_value());
    return *delay;
}

} // namespace

TEST_CASE("BackoffPolicy defaults") {
    BackoffPolicy policy;
    CHECK(policy.initial == 100ms);
    CHECK(policy.max == 30s);
    CHECK(policy.multiplier == 2.0);
    CHECK(policy.jitter == 0.5);
    CHECK(policy.max_attempts == 0);
    CHECK(policy.reset_after == 5s);
}

TEST_CASE("Backoff: exponential growth without jitter") {
    Fakes fakes;
    SUBCASE("doubles from 100ms") {
        Backoff backoff = fakes.make(no_jitter());
        for (Duration expected : {100ms, 200ms, 400ms, 800ms, 1600ms, 3200ms, 6400ms}) {
            CHECK(next(backoff) == expected);
        }
        CHECK(backoff.attempts() == 7);
    }
    SUBCASE("other multiplier") {
        BackoffPolicy policy = no_jitter();
        policy.multiplier = 1.5;
        Backoff backoff = fakes.make(policy);
        CHECK(next(backoff) == 100ms);
        CHECK(next(backoff) == 150ms);
        CHECK(next(backoff) == 225ms);
    }
    SUBCASE("multiplier 1 is a constant delay") {
        BackoffPolicy policy = no_jitter();
        policy.multiplier = 1;
        policy.initial = 2s;
        Backoff backoff = fakes.make(policy);
        CHECK(next(backoff) == 2s);
        CHECK(next(backoff) == 2s);
        CHECK(next(backoff) == 2s);
    }
}

TEST_CASE("Backoff: delays are capped at max") {
    Fakes fakes;
    SUBCASE("default cap") {
        Backoff backoff = fakes.make(no_jitter());
        Duration last{};
        for (int i = 0; i < 12; ++i) {
            last = next(backoff);
        }
        CHECK(last == 30s); // 100ms * 2^11 = 204.8s
    }
    SUBCASE("reaches the cap and stays there") {
        BackoffPolicy policy = no_jitter();
        policy.initial = 1s;
        policy.max = 5s;
        Backoff backoff = fakes.make(policy);
        for (Duration expected : {1s, 2s, 4s, 5s, 5s, 5s}) {
            CHECK(next(backoff) == expected);
        }
    }
    SUBCASE("initial above max") {
        BackoffPolicy policy = no_jitter();
        policy.initial = 10s;
        policy.max = 3s;
        Backoff backoff = fakes.make(policy);
        CHECK(next(backoff) == 3s);
    }
    SUBCASE("still the cap after very many attempts") {
        Backoff backoff = fakes.make(no_jitter());
        Duration last{};
        for (int i = 0; i < 5000; ++i) {
            last = next(backoff);
        }
        CHECK(last == 30s);
    }
}

TEST_CASE("Backoff: jitter keeps each delay in [d * (1 - jitter), d]") {
    Fakes fakes;
    BackoffPolicy policy; // jitter 0.5
    SUBCASE("random 0 gives the full delay") {
        fakes.randoms = {0.0};
        Backoff backoff = fakes.make(policy);
        CHECK(next(backoff) == 100ms);
        CHECK(next(backoff) == 200ms);
    }
    SUBCASE("random close to 1 gives delay * (1 - jitter)") {
        fakes.randoms = {0.999999999};
        Backoff backoff = fakes.make(policy);
        CHECK(next(backoff) == 50ms);
        CHECK(next(backoff) == 100ms);
        CHECK(next(backoff) == 200ms);
    }
    SUBCASE("random 0.5 is in the middle") {
        fakes.randoms = {0.5};
        Backoff backoff = fakes.make(policy);
        CHECK(next(backoff) == 75ms);
    }
    SUBCASE("jitter does not slow the growth") {
        fakes.randoms = {0.9, 0.0, 0.9, 0.0};
        Backoff backoff = fakes.make(policy);
        CHECK(next(backoff) == 55ms);  // 100ms * (1 - 0.45)
        CHECK(next(backoff) == 200ms); // the base still doubled
        CHECK(next(backoff) == 220ms); // 400ms * (1 - 0.45)
        CHECK(next(backoff) == 800ms);
    }
    SUBCASE("jitter applies after the cap") {
        policy.max = 1s;
        fakes.randoms = {0.999999999};
        Backoff backoff = fakes.make(policy);
        for (int i = 0; i < 10; ++i) {
            next(backoff);
        }
        CHECK(next(backoff) == 500ms);
    }
    SUBCASE("full jitter can reach zero") {
        policy.jitter = 1.0;
        fakes.randoms = {0.999999999};
        Backoff backoff = fakes.make(policy);
        CHECK(next(backoff) == 0us);
    }
    SUBCASE("a sweep of random values stays in bounds") {
        for (double r = 0.0; r < 1.0; r += 0.05) {
            fakes.randoms = {r};
            fakes.next_random = 0;
            Backoff backoff = fakes.make(policy);
            Duration full = 100ms;
            for (int i = 0; i < 10; ++i) {
                CAPTURE(r);
                CAPTURE(i);
                Duration d = next(backoff);
                CHECK(d <= full);
                CHECK(d >= full / 2);
                full = std::min<Duration>(full * 2, 30s);
            }
        }
    }
}

TEST_CASE("Backoff: the real clock and random source stay in bounds") {
    Backoff backoff{BackoffPolicy{}};
    for (Duration full : {100ms, 200ms, 400ms}) {
        Duration d = next(backoff);
        CHECK(d <= full);
        CHECK(d >= full / 2);
    }
}

// --max-attempts N: "give up after N failed attempts in a row, the first included". The
// caller asks for a delay after each failure, so N failures get N - 1 delays.
TEST_CASE("Backoff: max_attempts") {
    Fakes fakes;
    SUBCASE("the Nth failure gets no delay") {
        BackoffPolicy policy = no_jitter();
        policy.max_attempts = 3;
        Backoff backoff = fakes.make(policy);
        CHECK(next(backoff) == 100ms);
        CHECK(next(backoff) == 200ms);
        CHECK_FALSE(backoff.next_delay().has_value());
        CHECK_FALSE(backoff.next_delay().has_value());
        CHECK(backoff.attempts() == 2);
    }
    SUBCASE("1: no retry at all") {
        BackoffPolicy policy = no_jitter();
        policy.max_attempts = 1;
        Backoff backoff = fakes.make(policy);
        CHECK_FALSE(backoff.next_delay().has_value());
        CHECK(backoff.attempts() == 0);
    }
    SUBCASE("2: one retry") {
        BackoffPolicy policy = no_jitter();
        policy.max_attempts = 2;
        Backoff backoff = fakes.make(policy);
        CHECK(backoff.next_delay().has_value());
        CHECK_FALSE(backoff.next_delay().has_value());
    }
    SUBCASE("0 never gives up") {
        Backoff backoff = fakes.make(no_jitter());
        for (int i = 0; i < 1000; ++i) {
            REQUIRE(backoff.next_delay().has_value());
        }
        CHECK(backoff.attempts() == 1000);
    }
}

TEST_CASE("Backoff: a healthy connection starts the schedule over") {
    Fakes fakes;
    BackoffPolicy policy = no_jitter();
    policy.max_attempts = 4;
    Backoff backoff = fakes.make(policy);
    next(backoff);
    next(backoff);
    next(backoff);
    REQUIRE(backoff.attempts() == 3);
    backoff.connected();

    SUBCASE("up for exactly reset_after") {
        fakes.now += 5s;
        backoff.disconnected();
        CHECK(backoff.attempts() == 0);
        CHECK(next(backoff) == 100ms);
    }
    SUBCASE("up for longer") {
        fakes.now += 1h;
        backoff.disconnected();
        CHECK(backoff.attempts() == 0);
        CHECK(next(backoff) == 100ms);
        CHECK(next(backoff) == 200ms);
    }
    SUBCASE("max_attempts is available again") {
        fakes.now += 5s;
        backoff.disconnected();
        CHECK(backoff.next_delay().has_value());
        CHECK(backoff.next_delay().has_value());
        CHECK(backoff.next_delay().has_value());
        CHECK_FALSE(backoff.next_delay().has_value());
    }
    SUBCASE("up for less than reset_after: no reset") {
        fakes.now += 5s - 1us;
        backoff.disconnected();
        CHECK(backoff.attempts() == 3);
        CHECK_FALSE(backoff.next_delay().has_value());
    }
    SUBCASE("the time counts from connected(), not from the first attempt") {
        fakes.now += 4s;
        backoff.disconnected();
        backoff.connected();
        fakes.now += 4s;
        backoff.disconnected();
        CHECK(backoff.attempts() == 3);
    }
}

TEST_CASE("Backoff: disconnected() without connected() does not reset") {
    Fakes fakes;
    Backoff backoff = fakes.make(no_jitter());
    next(backoff);
    next(backoff);
    fakes.now += 1h;
    backoff.disconnected();
    CHECK(backoff.attempts() == 2);
    CHECK(next(backoff) == 400ms);
}

TEST_CASE("Backoff: a short connection keeps growing the delay") {
    Fakes fakes;
    Backoff backoff = fakes.make(no_jitter());
    CHECK(next(backoff) == 100ms);
    backoff.connected();
    fakes.now += 1s;
    backoff.disconnected();
    CHECK(next(backoff) == 200ms);
}

TEST_CASE("Backoff: set_reconnection_time (SSE retry:) is the initial delay") {
    Fakes fakes;
    SUBCASE("before the first attempt") {
        Backoff backoff = fakes.make(no_jitter());
        backoff.set_reconnection_time(3s);
        CHECK(backoff.policy().initial == 3s);
        CHECK(next(backoff) == 3s);
        CHECK(next(backoff) == 6s);
    }
    SUBCASE("the cap still applies") {
        Backoff backoff = fakes.make(no_jitter());
        backoff.set_reconnection_time(1min);
        CHECK(next(backoff) == 30s);
    }
    SUBCASE("kept after a reset") {
        Backoff backoff = fakes.make(no_jitter());
        next(backoff);
        backoff.set_reconnection_time(1s);
        backoff.connected();
        fakes.now += 10s;
        backoff.disconnected();
        CHECK(next(backoff) == 1s);
    }
    SUBCASE("other policy fields are untouched") {
        Backoff backoff = fakes.make(no_jitter());
        backoff.set_reconnection_time(1s);
        CHECK(backoff.policy().max == 30s);
        CHECK(backoff.policy().multiplier == 2.0);
    }
}

TEST_CASE("Backoff: after a clean end, the reconnection time without backoff (SSE 9.2.3)") {
    Fakes fakes;
    SUBCASE("the same wait every time, however short the streams were") {
        Backoff backoff = fakes.make(BackoffPolicy{});
        backoff.set_reconnection_time(300ms);
        for (int i = 0; i < 10; ++i) {
            backoff.connected();
            fakes.now += 10ms;
            backoff.disconnected();
            CHECK(backoff.delay_after_clean_end() == 300ms);
        }
        CHECK(backoff.attempts() == 0);
    }
    SUBCASE("jitter only adds, up to clean_end_jitter of the time") {
        fakes.randoms = {0.999};
        Backoff backoff = fakes.make(BackoffPolicy{});
        backoff.set_reconnection_time(3s);
        Duration delay = backoff.delay_after_clean_end();
        CHECK(delay > 3s);
        CHECK(delay <= 3300ms);
    }
    SUBCASE("a clean end ends a failure streak") {
        Backoff backoff = fakes.make(no_jitter());
        backoff.set_reconnection_time(1s);
        CHECK(next(backoff) == 1s);
        CHECK(next(backoff) == 2s);
        CHECK(backoff.delay_after_clean_end() == 1s);
        CHECK(backoff.attempts() == 0);
        CHECK(next(backoff) == 1s);
    }
    SUBCASE("the cap still applies") {
        fakes.randoms = {0.999};
        Backoff backoff = fakes.make(BackoffPolicy{});
        backoff.set_reconnection_time(1min);
        CHECK(backoff.delay_after_clean_end() == 30s);
    }
}

TEST_CASE("Backoff: after a failure, jitter never goes below the reconnection time") {
    Fakes fakes;
    fakes.randoms = {0.999}; // the most jitter: today's schedule would halve the delay
    Backoff backoff = fakes.make(BackoffPolicy{});
    backoff.set_reconnection_time(3s);
    CHECK(next(backoff) == 3s);
    Duration second = next(backoff);
    CHECK(second >= 3s);
    CHECK(second <= 6s);
    SUBCASE("a later retry: moves the floor") {
        backoff.set_reconnection_time(500ms);
        CHECK(backoff.delay_after_clean_end() >= 500ms);
        CHECK(next(backoff) == 500ms);
    }
}
