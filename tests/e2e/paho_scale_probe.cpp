// Scale probe for Paho MQTT C++ (libpaho-mqttpp3 on libpaho-mqtt3a), run by
// scripts/bench/paho_scale.py: can one process hold N Paho async clients subscribed to one
// topic and deliver one publisher's messages to all of them at a steady rate? This is the
// measurement behind `rtx bench mqtt` driving its connections with the broker's codec on
// rtx's own loops instead of Paho (docs/ARCHITECTURE.md, docs/benchmarks.md).
//
// usage: paho_scale_probe mqtt://HOST:PORT SUBSCRIBERS SECONDS RATE
// Prints one line of key=value figures; exits 0 when every subscriber connected and every
// delivery arrived, 1 otherwise.
#include <mqtt/async_client.h>

#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

std::uint64_t now_ns() {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
            .count());
}

/// Delivery latency in 1 ms buckets up to 120 s (Paho's threads record concurrently).
struct LatencyBuckets {
    static constexpr std::size_t k_buckets = 120'000;
    std::vector<std::atomic<std::uint64_t>> counts =
        std::vector<std::atomic<std::uint64_t>>(k_buckets);
    std::atomic<std::uint64_t> total{0};

    void record(std::uint64_t latency_ns) {
        std::size_t ms = std::min<std::size_t>(latency_ns / 1'000'000, k_buckets - 1);
        counts[ms].fetch_add(1, std::memory_order_relaxed);
        total.fetch_add(1, std::memory_order_relaxed);
    }
    std::size_t percentile_ms(double p) const {
        std::uint64_t rank = std::max<std::uint64_t>(
            1, static_cast<std::uint64_t>(p / 100.0 * static_cast<double>(total.load())));
        std::uint64_t seen = 0;
        for (std::size_t i = 0; i < k_buckets; ++i) {
            seen += counts[i].load();
            if (seen >= rank) {
                return i;
            }
        }
        return k_buckets;
    }
};

long status_kib(const char* key) {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind(key, 0) == 0) {
            return std::strtol(line.c_str() + std::string(key).size(), nullptr, 10);
        }
    }
    return -1;
}

double cpu_seconds() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
           static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

/// Waits for every token, at most until `deadline`; returns how many succeeded.
std::size_t wait_all(std::vector<mqtt::token_ptr>& tokens, Clock::time_point deadline) {
    std::size_t ok = 0;
    for (auto& token : tokens) {
        if (!token) {
            continue;
        }
        auto left = deadline - Clock::now();
        try {
            if (left > Clock::duration::zero() &&
                token->wait_for(std::chrono::duration_cast<std::chrono::milliseconds>(left))) {
                ok += token->get_return_code() == 0 ? 1U : 0U;
            }
        } catch (const mqtt::exception&) {
        }
    }
    return ok;
}

} // namespace

int main(int argc, char** argv) {
    if (argc != 5) {
        std::fprintf(stderr, "usage: %s mqtt://HOST:PORT SUBSCRIBERS SECONDS RATE\n", argv[0]);
        return 2;
    }
    const std::string uri = argv[1];
    const auto subscribers = static_cast<std::size_t>(std::strtoul(argv[2], nullptr, 10));
    const double seconds = std::strtod(argv[3], nullptr);
    const double rate = std::strtod(argv[4], nullptr);
    const std::string topic = "paho-probe";

    LatencyBuckets latency;
    std::atomic<std::uint64_t> delivered{0};
    std::vector<std::unique_ptr<mqtt::async_client>> clients;
    clients.reserve(subscribers);
    mqtt::create_options create(MQTTVERSION_3_1_1);
    const double cpu_start = cpu_seconds();

    // Connect every subscriber at once (Paho queues the connects on its own threads).
    const auto connect_start = Clock::now();
    std::vector<mqtt::token_ptr> connects;
    std::size_t create_failed = 0;
    for (std::size_t i = 0; i < subscribers; ++i) {
        try {
            auto client = std::make_unique<mqtt::async_client>(
                uri, "paho-probe-" + std::to_string(i), create, nullptr);
            client->set_message_callback([&](mqtt::const_message_ptr message) {
                std::uint64_t sent = std::strtoull(message->get_payload_str().c_str(), nullptr, 10);
                std::uint64_t now = now_ns();
                latency.record(now > sent ? now - sent : 0);
                delivered.fetch_add(1, std::memory_order_relaxed);
            });
            auto options = mqtt::connect_options_builder()
                               .clean_session(true)
                               .keep_alive_interval(std::chrono::seconds(60))
                               .connect_timeout(std::chrono::seconds(60))
                               .finalize();
            connects.push_back(client->connect(options));
            clients.push_back(std::move(client));
        } catch (const mqtt::exception& e) {
            if (create_failed++ == 0) {
                std::fprintf(stderr, "client %zu: %s\n", i, e.what());
            }
        }
    }
    const auto connect_deadline = connect_start + std::chrono::seconds(120);
    std::size_t connected = wait_all(connects, connect_deadline);
    std::vector<mqtt::token_ptr> subscribes;
    for (auto& client : clients) {
        try {
            subscribes.push_back(client->is_connected() ? client->subscribe(topic, 0) : nullptr);
        } catch (const mqtt::exception&) {
            subscribes.push_back(nullptr);
        }
    }
    std::size_t subscribed = wait_all(subscribes, Clock::now() + std::chrono::seconds(120));
    const double connect_seconds =
        std::chrono::duration<double>(Clock::now() - connect_start).count();
    const long threads = status_kib("Threads:");

    // One publisher at `rate` messages/s for `seconds`, payload = its send time.
    mqtt::async_client publisher(uri, "paho-probe-publisher", create, nullptr);
    std::uint64_t published = 0;
    try {
        publisher.connect()->wait_for(std::chrono::seconds(30));
        const auto start = Clock::now();
        const auto total = static_cast<std::uint64_t>(seconds * rate);
        for (; published < total; ++published) {
            std::this_thread::sleep_until(start +
                                          std::chrono::nanoseconds(static_cast<std::int64_t>(
                                              static_cast<double>(published) * 1e9 / rate)));
            publisher.publish(topic, std::to_string(now_ns()), 0, false);
        }
    } catch (const mqtt::exception& e) {
        std::fprintf(stderr, "publisher: %s\n", e.what());
    }
    const std::uint64_t expected = published * subscribed;
    const auto drain_deadline = Clock::now() + std::chrono::seconds(10);
    while (delivered.load() < expected && Clock::now() < drain_deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    const double cpu = cpu_seconds() - cpu_start;

    std::printf("subscribers=%zu connected=%zu subscribed=%zu connect_s=%.2f paho_threads=%ld "
                "published=%llu expected=%llu delivered=%llu p50_ms=%zu p99_ms=%zu max_ms=%zu "
                "cpu_s=%.2f peak_rss_kib=%ld\n",
                subscribers, connected, subscribed, connect_seconds, threads,
                static_cast<unsigned long long>(published),
                static_cast<unsigned long long>(expected),
                static_cast<unsigned long long>(delivered.load()), latency.percentile_ms(50),
                latency.percentile_ms(99), latency.percentile_ms(100), cpu, status_kib("VmHWM:"));
    std::fflush(stdout);
    // Exit without tearing down thousands of clients one disconnect at a time.
    std::_Exit(connected == subscribers && subscribed == subscribers &&
                       delivered.load() >= expected && expected > 0
                   ? 0
                   : 1);
}
