#pragma once

#include <cstddef>
#include <functional>
#include <string_view>
#include <vector>

/// MQTT 5 shared subscriptions (section 4.8.2): the `$share/{ShareName}/{filter}` syntax and
/// the round robin that hands each message to one member of a group. Pure.
namespace rtx::serve::mqtt {

/// A topic filter split into its share name and the filter proper.
struct SharedFilter {
    std::string_view group;  ///< The ShareName: at least one character, no '/', '+' or '#'.
    std::string_view filter; ///< A valid topic filter (the part after the ShareName's '/').
};

enum class ShareParse {
    not_shared, ///< Does not start with "$share/": an ordinary filter.
    shared,     ///< A well-formed shared subscription.
    invalid,    ///< Starts with "$share/" but breaks MQTT-4.8.2-1 or -2 (answer 0x8F).
};

/// Reads `text` as a possibly shared topic filter; `out` is set when the result is shared.
ShareParse parse_shared_filter(std::string_view text, SharedFilter& out);

/// The members of one shared subscription and whose turn is next. A member is an opaque key
/// (the broker's subscription record); each is held once.
class RoundRobin {
public:
    using Member = const void*;

    /// Adds `member` (last in turn); false if it was already there.
    bool add(Member member);
    /// Removes `member`; false if it was not there. The turn order of the others is kept.
    bool remove(Member member);
    bool empty() const { return m_members.empty(); }
    std::size_t size() const { return m_members.size(); }

    /// The next member in turn for which `eligible` is true, and the turn moves past it; if
    /// none is eligible, simply the next member in turn. Null when empty.
    Member pick(const std::function<bool(Member)>& eligible);

private:
    std::vector<Member> m_members;
    std::size_t m_next = 0; ///< Index of the member whose turn is next.
};

} // namespace rtx::serve::mqtt
