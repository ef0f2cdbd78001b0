// serve/fault: the --fault grammar (parse_fault_spec, parse_fault_plan) and the seeded
// generator behind it.
#include "serve/fault/fault_spec.hpp"
#include "serve/fault/random.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <vector>

namespace fault = rtx::serve::fault;
using namespace std::chrono_literals;

namespace {

std::string error_of(std::string_view spec) {
    auto parsed = fault::parse_fault_spec(spec);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.error().code == rtx::core::ExitCode::usage);
    return parsed.error().message;
}

std::string plan_error(std::vector<std::string> specs) {
    auto plan = fault::parse_fault_plan(specs);
    REQUIRE_FALSE(plan.ok());
    return plan.error().message;
}

} // namespace

TEST_CASE("fault specs: each rule") {
    SUBCASE("drop-after a count or a time") {
        auto count = fault::parse_fault_spec("ws:drop-after=100");
        REQUIRE(count.ok());
        CHECK(count->protocol == fault::Protocol::ws);
        CHECK(count->kind == fault::FaultKind::drop_after_messages);
        CHECK(count->value.drop_after_messages == 100u);
        auto time = fault::parse_fault_spec("drop-after=1.5s");
        REQUIRE(time.ok());
        CHECK_FALSE(time->protocol.has_value());
        CHECK(time->kind == fault::FaultKind::drop_after_time);
        CHECK(time->value.drop_after_time == std::chrono::microseconds(1500000));
        CHECK(fault::parse_fault_spec("drop-after=0").value().value.drop_after_messages == 0u);
    }
    SUBCASE("delays") {
        auto fixed = fault::parse_fault_spec("sse:delay=50ms").value();
        CHECK(fixed.protocol == fault::Protocol::sse);
        CHECK(fixed.value.delay.kind == fault::DelaySpec::Kind::fixed);
        CHECK(fixed.value.delay.a == 50ms);
        auto uniform = fault::parse_fault_spec("delay=10ms..40ms").value();
        CHECK(uniform.value.delay.kind == fault::DelaySpec::Kind::uniform);
        CHECK(uniform.value.delay.a == 10ms);
        CHECK(uniform.value.delay.b == 40ms);
        auto normal = fault::parse_fault_spec("mqtt:delay=normal:20ms,5ms").value();
        CHECK(normal.value.delay.kind == fault::DelaySpec::Kind::normal);
        CHECK(normal.value.delay.a == 20ms);
        CHECK(normal.value.delay.b == 5ms);
        CHECK(fault::describe_delay(uniform.value.delay) == "10ms..40ms");
        CHECK(fault::describe_delay(normal.value.delay) == "normal:20ms,5ms");
    }
    SUBCASE("throttle, refuse, drop-p, reconnect") {
        CHECK(fault::parse_fault_spec("throttle=64KiB/s").value().value.throttle == 65536u);
        CHECK(fault::parse_fault_spec("tcp:throttle=1000/s").value().value.throttle == 1000u);
        CHECK(fault::parse_fault_spec("throttle=1MiB/s").value().value.throttle == 1048576u);
        CHECK(fault::parse_fault_spec("refuse=0.2").value().value.refuse == doctest::Approx(0.2));
        CHECK(fault::parse_fault_spec("refuse=1").value().value.refuse == 1.0);
        CHECK(fault::parse_fault_spec("drop-p=0.01").value().value.drop_p == doctest::Approx(0.01));
        auto gap = fault::parse_fault_spec("sse:reconnect=gap").value();
        CHECK(gap.value.reconnect == fault::Reconnect::gap);
        // reconnect is SSE's alone, so it needs no prefix.
        auto dup = fault::parse_fault_spec("reconnect=dup").value();
        CHECK(dup.protocol == fault::Protocol::sse);
        CHECK(dup.value.reconnect == fault::Reconnect::dup);
    }
}

TEST_CASE("fault specs: errors are one line, byte for byte") {
    CHECK(error_of("delay") ==
          "--fault 'delay': expected [PROTOCOL:]NAME=VALUE (ws:drop-after=100, delay=10ms..40ms)");
    CHECK(error_of("") ==
          "--fault '': expected [PROTOCOL:]NAME=VALUE (ws:drop-after=100, delay=10ms..40ms)");
    CHECK(error_of("http:delay=1s") ==
          "--fault 'http:delay=1s': unknown protocol 'http' (tcp, ws, sse, stream, poll, mqtt)");
    CHECK(error_of("lag=1s") == "--fault 'lag=1s': unknown fault 'lag' (drop-after, drop-p, "
                                "delay, throttle, refuse, reconnect)");
    CHECK(error_of("drop-after=soon") == "--fault 'drop-after=soon': drop-after takes a message "
                                         "count (100) or a time with its unit (2s, 500ms)");
    CHECK(error_of("drop-after=0s") == "--fault 'drop-after=0s': drop-after takes a message "
                                       "count (100) or a time with its unit (2s, 500ms)");
    CHECK(error_of("drop-after=99999999999999999999") ==
          "--fault 'drop-after=99999999999999999999': drop-after: the message count is too large");
    CHECK(error_of("drop-p=1.5") ==
          "--fault 'drop-p=1.5': drop-p takes a probability from 0 to 1 (0.01)");
    CHECK(error_of("refuse=-0.1") ==
          "--fault 'refuse=-0.1': refuse takes a probability from 0 to 1 (0.01)");
    CHECK(error_of("refuse=nan") ==
          "--fault 'refuse=nan': refuse takes a probability from 0 to 1 (0.01)");
    CHECK(error_of("delay=10") ==
          "--fault 'delay=10': delay takes a duration with its unit (10ms), MIN..MAX (10ms..40ms) "
          "or normal:MEAN,SD (normal:20ms,5ms)");
    CHECK(error_of("delay=40ms..10ms") == "--fault 'delay=40ms..10ms': delay=MIN..MAX: MAX is "
                                          "less than MIN");
    CHECK(error_of("delay=10ms..") == "--fault 'delay=10ms..': delay=MIN..MAX takes two "
                                      "durations (10ms..40ms)");
    CHECK(error_of("delay=normal:20ms") == "--fault 'delay=normal:20ms': delay=normal:MEAN,SD "
                                           "takes two durations (normal:20ms,5ms)");
    CHECK(error_of("throttle=64KiB") ==
          "--fault 'throttle=64KiB': throttle takes bytes a second (65536/s, 64KiB/s, 1MiB/s)");
    CHECK(error_of("throttle=0/s") ==
          "--fault 'throttle=0/s': throttle takes bytes a second (65536/s, 64KiB/s, 1MiB/s)");
    CHECK(error_of("ws:reconnect=gap") ==
          "--fault 'ws:reconnect=gap': reconnect is for sse only (sse:reconnect=gap)");
    CHECK(error_of("sse:reconnect=skip") ==
          "--fault 'sse:reconnect=skip': reconnect takes gap or dup");
}

TEST_CASE("fault plans: a rule for one protocol replaces the rule for all") {
    auto plan = fault::parse_fault_plan(
        std::vector<std::string>{"ws:delay=5ms", "delay=1s", "refuse=0.5", "tcp:drop-after=3"});
    REQUIRE(plan.ok());
    CHECK((*plan)[fault::Protocol::ws].delay.a == 5ms);
    CHECK((*plan)[fault::Protocol::sse].delay.a == 1s);
    CHECK((*plan)[fault::Protocol::mqtt].refuse == 0.5);
    CHECK((*plan)[fault::Protocol::tcp].drop_after_messages == 3u);
    CHECK_FALSE((*plan)[fault::Protocol::ws].drop_after_messages.has_value());
    CHECK(plan->any());
    CHECK_FALSE(fault::parse_fault_plan(std::vector<std::string>{}).value().any());
    // A count and a time are two rules: both may be given.
    CHECK(fault::parse_fault_plan(std::vector<std::string>{"drop-after=5", "drop-after=2s"}).ok());
    CHECK(plan_error({"delay=1s", "ws:delay=2s", "delay=3s"}) ==
          "--fault 'delay=3s': delay is given twice for every protocol (also 'delay=1s')");
    CHECK(plan_error({"sse:reconnect=gap", "reconnect=dup"}) ==
          "--fault 'reconnect=dup': reconnect is given twice for sse (also 'sse:reconnect=gap')");
    CHECK(plan_error({"delay=1s", "bad"}) ==
          "--fault 'bad': expected [PROTOCOL:]NAME=VALUE (ws:drop-after=100, delay=10ms..40ms)");
}

TEST_CASE("fault generator: the same seed gives the same draws") {
    fault::Random a(42);
    fault::Random b(42);
    fault::Random c(43);
    bool differs = false;
    for (int i = 0; i < 100; ++i) {
        const std::uint64_t x = a.next();
        CHECK(x == b.next());
        differs = differs || x != c.next();
    }
    CHECK(differs);
    // The draws are this generator's own, not the standard library's: fixed on every platform.
    // (xoshiro256** seeded by splitmix64; values computed independently.)
    fault::Random fixed(1);
    CHECK(fixed.next() == 0xc5883e370b0926c3ULL);
    CHECK(fixed.next() == 0x021b74b80f71f81cULL);
    double sum = 0;
    double squares = 0;
    fault::Random normal(7);
    for (int i = 0; i < 20000; ++i) {
        const double x = normal.normal();
        sum += x;
        squares += x * x;
    }
    CHECK(sum / 20000 == doctest::Approx(0).epsilon(0.05).scale(1));
    CHECK(squares / 20000 == doctest::Approx(1).epsilon(0.05));
    fault::Random uniform(9);
    for (int i = 0; i < 1000; ++i) {
        const double u = uniform.uniform();
        CHECK((u >= 0 && u < 1));
    }
}
