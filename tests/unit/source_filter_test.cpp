// Tests for transport/webrtc/source_filter.hpp: the kernel drops datagrams from sources
// outside the allowed list, on loopback only (127.0.0.2 is the stranger; for IPv6, ::1 is
// refused by a list that names another address).
#include "transport/webrtc/source_filter.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <string>

using rtx::transport::webrtc::BoundAddress;
using rtx::transport::webrtc::filter_datagram_sources;

namespace {

struct Udp {
    int fd = -1;
    int family;
    explicit Udp(const char* address)
        : family(std::string(address).find(':') != std::string::npos ? AF_INET6 : AF_INET) {
        fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        REQUIRE(fd >= 0);
        sockaddr_storage storage = make(address, 0);
        REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&storage), length()) == 0);
    }
    ~Udp() { close(fd); }
    Udp(const Udp&) = delete;
    Udp& operator=(const Udp&) = delete;

    socklen_t length() const {
        return family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
    }
    sockaddr_storage make(const char* address, std::uint16_t port) const {
        sockaddr_storage storage{};
        if (family == AF_INET) {
            auto* in = reinterpret_cast<sockaddr_in*>(&storage);
            in->sin_family = AF_INET;
            in->sin_port = htons(port);
            inet_pton(AF_INET, address, &in->sin_addr);
        } else {
            auto* in6 = reinterpret_cast<sockaddr_in6*>(&storage);
            in6->sin6_family = AF_INET6;
            in6->sin6_port = htons(port);
            inet_pton(AF_INET6, address, &in6->sin6_addr);
        }
        return storage;
    }
    std::uint16_t port() const {
        sockaddr_storage storage{};
        socklen_t size = sizeof storage;
        getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &size);
        return family == AF_INET ? ntohs(reinterpret_cast<sockaddr_in*>(&storage)->sin_port)
                                 : ntohs(reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port);
    }
    void send_to(const Udp& to, const char* to_address, const std::string& payload) const {
        sockaddr_storage storage = make(to_address, to.port());
        REQUIRE(sendto(fd, payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&storage),
                       length()) == static_cast<ssize_t>(payload.size()));
    }
    // What arrives within `ms` (empty if nothing).
    std::string receive(int ms) const {
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, ms) != 1) {
            return "";
        }
        char buffer[64];
        auto n = recv(fd, buffer, sizeof buffer, 0);
        return n > 0 ? std::string(buffer, static_cast<std::size_t>(n)) : "";
    }
};

} // namespace

TEST_CASE("source filter: IPv4 datagrams from outside the list are dropped, the rest kept") {
    Udp receiver("127.0.0.1");
    Udp other("127.0.0.1"); // a socket the filter must leave alone
    Udp stranger("127.0.0.2");
    Udp friendly("127.0.0.1");
    std::string error;
    CHECK(filter_datagram_sources({{"127.0.0.1", receiver.port()}}, {"127.0.0.1", "::1"}, error) ==
          1);
    stranger.send_to(receiver, "127.0.0.1", "from 127.0.0.2");
    friendly.send_to(receiver, "127.0.0.1", "from 127.0.0.1");
    // Datagrams on loopback keep their order: the first to arrive is the allowed one.
    CHECK(receiver.receive(2000) == "from 127.0.0.1");
    CHECK(receiver.receive(100).empty());
    stranger.send_to(other, "127.0.0.1", "unfiltered");
    CHECK(other.receive(2000) == "unfiltered");
}

TEST_CASE("source filter: several allowed IPv4 addresses") {
    Udp receiver("127.0.0.1");
    Udp second("127.0.0.2");
    Udp third("127.0.0.3");
    std::string error;
    REQUIRE(filter_datagram_sources({{"127.0.0.1", receiver.port()}},
                                    {"127.0.0.5", "127.0.0.2", "127.0.0.9"}, error) == 1);
    third.send_to(receiver, "127.0.0.1", "3");
    second.send_to(receiver, "127.0.0.1", "2");
    CHECK(receiver.receive(2000) == "2");
    CHECK(receiver.receive(100).empty());
}

TEST_CASE("source filter: IPv6 compares the whole address") {
    Udp receiver("::1");
    Udp sender("::1");
    std::string error;
    // ::1 differs from ::2 in the last word only, and from 1:: in the first.
    REQUIRE(filter_datagram_sources({{"::1", receiver.port()}}, {"::2", "1::"}, error) == 1);
    sender.send_to(receiver, "::1", "refused");
    CHECK(receiver.receive(200).empty());

    Udp receiver2("::1");
    REQUIRE(filter_datagram_sources({{"::1", receiver2.port()}}, {"::2", "::1"}, error) == 1);
    sender.send_to(receiver2, "::1", "kept");
    CHECK(receiver2.receive(2000) == "kept");
}

TEST_CASE("source filter: no socket bound there filters nothing") {
    std::string error;
    CHECK(filter_datagram_sources({{"127.0.0.1", 1}}, {"127.0.0.1"}, error) == 0);
}
