// libFuzzer target for proto/sdp.hpp. The first byte picks a split position; the rest is the
// description. Feeding SdpReader in two pieces must give what parse_sdp gives on the whole;
// an accepted description must satisfy what the parser promises (a data-channel section with
// a mid, a 95-character fingerprint, ICE credentials of legal length), and our answer to it
// must itself parse back to the same transport parameters.
#include "fuzz_check.hpp"
#include "proto/sdp.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace {

using rtx::fuzz::check;
using rtx::proto::DtlsSetup;
using rtx::proto::LocalDescription;
using rtx::proto::SessionDescription;

void check_accepted(const SessionDescription& d) {
    check(d.data_channel_index < d.media.size());
    check(d.media[d.data_channel_index].data_channel);
    check(!d.media[d.data_channel_index].mid.empty());
    check(d.fingerprint.size() == 95);
    check(d.ice_ufrag.size() >= 4 && d.ice_pwd.size() >= 22);
    check(d.sctp_port != 0);

    LocalDescription local;
    local.ice_ufrag = "abcd";
    local.ice_pwd = "0123456789abcdefghijkl";
    local.fingerprint = d.fingerprint;
    local.setup = DtlsSetup::active;
    auto answer = rtx::proto::parse_sdp(rtx::proto::format_answer(d, local));
    // Mids and formats are copied from the offer: one with a space or CR in it may not survive
    // the round trip, but it must never crash, and a clean one must round-trip.
    if (answer.description) {
        check(answer.description->fingerprint == d.fingerprint);
        check(answer.description->setup == DtlsSetup::active);
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
    std::size_t split = data[0] % (input.size() + 1);
    auto whole = rtx::proto::parse_sdp(input);
    check(whole.description.has_value() != !whole.error.empty());
    rtx::proto::SdpReader reader;
    reader.feed(input.substr(0, split));
    reader.feed(input.substr(split));
    auto pieces = reader.finish();
    check(pieces.error == whole.error);
    check(pieces.description.has_value() == whole.description.has_value());
    if (whole.description) {
        check(pieces.description->fingerprint == whole.description->fingerprint);
        check(pieces.description->candidates == whole.description->candidates);
        check_accepted(*whole.description);
    }
    return 0;
}
