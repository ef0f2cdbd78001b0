#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace rtx::transport::webrtc {

/// A local UDP socket, by the address and port it is bound to.
struct BoundAddress {
    std::string address; ///< IP literal.
    std::uint16_t port = 0;
};

/// Makes the kernel drop, on every UDP socket of this process bound to one of `sockets`,
/// each datagram whose source address is not in `allowed_sources` (IP literals): a classic
/// BPF socket filter (SO_ATTACH_FILTER) comparing the IP header's source address. libnice
/// owns its sockets and answers a connectivity check from any address (making it a
/// peer-reflexive candidate); with the filter a check from outside --ice-address never
/// reaches it. The sockets are found by their bound address in /proc/self/fd. Returns how
/// many sockets were filtered; -1 with `error` when a filter could not be attached.
int filter_datagram_sources(const std::vector<BoundAddress>& sockets,
                            const std::vector<std::string>& allowed_sources, std::string& error);

} // namespace rtx::transport::webrtc
