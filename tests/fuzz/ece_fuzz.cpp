// libFuzzer target for proto/ece.hpp's decryptors: any body either decrypts or fails with
// protocol_error or too_large and a one-line reason, never crashes; a body that decrypts
// re-encrypts (same salt, keyid and rs) to a body that decrypts to the same text.
#include "fuzz_check.hpp"
#include "proto/ece.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

using namespace std::string_view_literals;

namespace {

using rtx::core::ExitCode;
using rtx::fuzz::check;
namespace ece = rtx::proto::ece;
namespace p256 = rtx::proto::p256;

void check_failure(const rtx::core::Error& error) {
    check(error.code == ExitCode::protocol_error || error.code == ExitCode::too_large);
    check(!error.message.empty() && error.message.find('\n') == std::string::npos);
}

const p256::KeyPair& receiver() {
    // RFC 8291 Appendix A's user agent, so seeds built from its example decrypt.
    static const p256::KeyPair pair = [] {
        std::string scalar("\xab\x57\x57\xa7\x0d\xd4\xa5\x3e\x55\x3a\x6b\xbf\x71\xff\xef\xea"
                           "\x28\x74\xec\x07\xa6\xb3\x79\xe3\xc4\x8f\x89\x5a\x02\xdc\x33\xde"sv);
        return p256::from_private_key(scalar).value();
    }();
    return pair;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view body(reinterpret_cast<const char*>(data), size);
    // The RFC 8188 section 3.1 key, and RFC 8291's auth secret.
    const std::string ikm("\xca\xa7\x65\x67\xeb\x58\x7a\x67\xe8\x81\x29\xaf\xed\x6b\x39\x3d"sv);
    const std::string auth("\x05\x30\x59\x32\xa1\xc7\xea\xbe\x13\xb6\xce\xc9\xfd\xa4\x88\x82"sv);

    auto header = ece::parse_header(body);
    if (header) {
        check(header->salt.size() == ece::salt_size);
        check(header->record_size >= ece::min_record_size);
        check(header->size == ece::header_size_without_keyid + header->keyid.size());
        check(header->size <= body.size());
    } else {
        check_failure(header.error());
    }

    auto plain = ece::decrypt(body, ikm);
    if (plain) {
        check(header.ok());
        ece::EncryptParams params;
        params.ikm = ikm;
        params.salt = header->salt;
        params.keyid = header->keyid;
        params.record_size = header->record_size;
        auto again = ece::encrypt(*plain, params);
        check(again.ok());
        auto round = ece::decrypt(*again, ikm);
        check(round.ok() && *round == *plain);
    } else {
        check_failure(plain.error());
    }

    auto pushed = ece::webpush_decrypt(body, receiver(), auth);
    if (pushed) {
        check(pushed->size() <= ece::webpush_max_plaintext);
    } else {
        check_failure(pushed.error());
    }
    return 0;
}
