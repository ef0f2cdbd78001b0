// libFuzzer target for serve/mqtt/topic_tree.hpp and shared_subscription.hpp: the topic
// filter and shared subscription ($share/{group}/{filter}) parsing of the broker. The input
// is "filter\ntopic name". A shared filter must split into a share name without '/', '+' or
// '#' and a valid filter that put together give the input back; for a valid topic name the
// subscription tree must match, once, exactly when topic_matches says so.
#include "fuzz_check.hpp"
#include "serve/mqtt/shared_subscription.hpp"
#include "serve/mqtt/topic_tree.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

using namespace rtx::serve::mqtt;
using rtx::fuzz::check;

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const std::size_t newline = input.find('\n');
    const std::string_view text = input.substr(0, newline);
    const std::string_view name =
        newline == std::string_view::npos ? std::string_view() : input.substr(newline + 1);

    SharedFilter shared;
    const ShareParse parse = parse_shared_filter(text, shared);
    check((parse == ShareParse::not_shared) == !text.starts_with("$share/"));
    std::string_view filter = text;
    if (parse == ShareParse::shared) {
        check(!shared.group.empty());
        check(shared.group.find_first_of("/+#") == std::string_view::npos);
        check(valid_topic_filter(shared.filter));
        check("$share/" + std::string(shared.group) + "/" + std::string(shared.filter) == text);
        filter = shared.filter;
    }
    // The broker matches only valid topic names (a name with '+' or '#' never gets here).
    if (parse == ShareParse::invalid || !valid_topic_filter(filter) || !valid_topic_name(name)) {
        return 0;
    }
    SubscriptionTree tree;
    const int key = 0;
    check(tree.add(filter, &key, 1));
    bool matched = false;
    tree.match(name, [&](SubscriptionTree::Key k, std::uint8_t options) {
        check(k == &key && options == 1 && !matched);
        matched = true;
    });
    check(matched == topic_matches(filter, name));
    check(tree.remove(filter, &key));
    check(tree.size() == 0);
    return 0;
}
