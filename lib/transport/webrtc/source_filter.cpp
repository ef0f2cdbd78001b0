#include "transport/webrtc/source_filter.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace rtx::transport::webrtc {

namespace {

// The IPv4 source address is at byte 12 of the IP header, the IPv6 one at byte 8 (RFC 791,
// RFC 8200); SKF_NET_OFF makes the load relative to the network header, wherever the
// socket's view of the packet starts.
constexpr std::uint32_t k_ipv4_source = 12;
constexpr std::uint32_t k_ipv6_source = 8;
constexpr std::uint32_t k_accept = 0xffffffff; // keep the whole datagram

sock_filter statement(std::uint16_t code, std::uint32_t k) {
    return sock_filter{code, 0, 0, k};
}

sock_filter jump(std::uint16_t code, std::uint32_t k, std::uint8_t if_true, std::uint8_t if_false) {
    return sock_filter{code, if_true, if_false, k};
}

std::uint32_t load_offset(std::uint32_t offset) {
    return static_cast<std::uint32_t>(SKF_NET_OFF) + offset;
}

// IPv4: load the source, one equality test per allowed address, accept or drop.
std::vector<sock_filter> ipv4_program(const std::vector<in_addr>& allowed) {
    std::vector<sock_filter> program;
    program.push_back(statement(BPF_LD | BPF_W | BPF_ABS, load_offset(k_ipv4_source)));
    const auto count = allowed.size();
    for (std::size_t i = 0; i < count; ++i) {
        // On a match, jump over the remaining tests and the drop to the accept.
        const auto to_accept = static_cast<std::uint8_t>(count - i);
        program.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, ntohl(allowed[i].s_addr), to_accept, 0));
    }
    program.push_back(statement(BPF_RET | BPF_K, 0));
    program.push_back(statement(BPF_RET | BPF_K, k_accept));
    return program;
}

// IPv6: for each allowed address, four word comparisons; the first that differs goes on to
// the next address, the last that matches to the accept.
std::vector<sock_filter> ipv6_program(const std::vector<in6_addr>& allowed) {
    std::vector<sock_filter> program;
    const auto count = allowed.size();
    for (std::size_t i = 0; i < count; ++i) {
        std::uint32_t words[4];
        std::memcpy(words, allowed[i].s6_addr, sizeof words);
        // Instructions left after each block: the later blocks (8 each), the drop.
        const auto after_block = static_cast<std::uint8_t>((count - i - 1) * 8 + 1);
        for (int w = 0; w < 4; ++w) {
            program.push_back(statement(BPF_LD | BPF_W | BPF_ABS,
                                        load_offset(k_ipv6_source + 4 * static_cast<unsigned>(w))));
            // A word that differs: on to the next block (or the drop), 2 instructions per
            // word left in this one. The last word matching: to the accept.
            const auto on_mismatch = static_cast<std::uint8_t>(2 * (3 - w));
            const auto on_match = w == 3 ? after_block : std::uint8_t{0};
            program.push_back(
                jump(BPF_JMP | BPF_JEQ | BPF_K, ntohl(words[w]), on_match, on_mismatch));
        }
    }
    program.push_back(statement(BPF_RET | BPF_K, 0));
    program.push_back(statement(BPF_RET | BPF_K, k_accept));
    return program;
}

bool attach(int fd, std::vector<sock_filter>& program, std::string& error) {
    sock_fprog fprog{static_cast<unsigned short>(program.size()), program.data()};
    if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fprog, sizeof fprog) != 0) {
        error = fmt::format("cannot filter the ICE socket's sources: {}", std::strerror(errno));
        return false;
    }
    return true;
}

} // namespace

int filter_datagram_sources(const std::vector<BoundAddress>& sockets,
                            const std::vector<std::string>& allowed_sources, std::string& error) {
    std::vector<in_addr> v4;
    std::vector<in6_addr> v6;
    for (const auto& text : allowed_sources) {
        in_addr a4{};
        in6_addr a6{};
        if (inet_pton(AF_INET, text.c_str(), &a4) == 1) {
            v4.push_back(a4);
        } else if (inet_pton(AF_INET6, text.c_str(), &a6) == 1) {
            v6.push_back(a6);
        }
    }
    // A jump offset is 8 bits: far more addresses than anyone names on a command line.
    if (v4.size() > 200 || v6.size() > 30) {
        error = "too many allowed ICE addresses to filter";
        return -1;
    }
    auto program4 = ipv4_program(v4);
    auto program6 = ipv6_program(v6);
    DIR* fds = opendir("/proc/self/fd");
    if (fds == nullptr) {
        error = fmt::format("cannot list /proc/self/fd: {}", std::strerror(errno));
        return -1;
    }
    int filtered = 0;
    while (dirent* entry = readdir(fds)) {
        char* end = nullptr;
        long fd = std::strtol(entry->d_name, &end, 10);
        if (end == entry->d_name || *end != '\0' || fd == dirfd(fds)) {
            continue;
        }
        int type = 0;
        socklen_t type_size = sizeof type;
        if (getsockopt(static_cast<int>(fd), SOL_SOCKET, SO_TYPE, &type, &type_size) != 0 ||
            type != SOCK_DGRAM) {
            continue;
        }
        sockaddr_storage bound{};
        socklen_t size = sizeof bound;
        if (getsockname(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&bound), &size) != 0) {
            continue;
        }
        char text[INET6_ADDRSTRLEN] = {};
        std::uint16_t port = 0;
        if (bound.ss_family == AF_INET) {
            const auto* in = reinterpret_cast<const sockaddr_in*>(&bound);
            inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
            port = ntohs(in->sin_port);
        } else if (bound.ss_family == AF_INET6) {
            const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&bound);
            inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
            port = ntohs(in6->sin6_port);
        } else {
            continue;
        }
        for (const auto& socket : sockets) {
            if (socket.port != port || socket.address != text) {
                continue;
            }
            auto& program = bound.ss_family == AF_INET ? program4 : program6;
            if (!attach(static_cast<int>(fd), program, error)) {
                closedir(fds);
                return -1;
            }
            ++filtered;
            break;
        }
    }
    closedir(fds);
    return filtered;
}

} // namespace rtx::transport::webrtc
