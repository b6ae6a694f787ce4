// CLI11's own messages ("A subcommand is required", "At Most 1 required but received 2", a value
// echoed back whole however long) rewritten as wire's: the problem and the fix in one line,
// with netcat habits (`wire -l 8888`) pointed at the command that does it.
#include "usage_errors.hpp"

#include <fmt/core.h>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>

namespace wire::cli {
namespace {

// The chain of subcommands the user got to: "wire tcp connect" -> {tcp, connect}.
std::vector<const CLI::App*> chosen(const CLI::App& app) {
  std::vector<const CLI::App*> path;
  const CLI::App* at = &app;
  for (;;) {
    auto subs = at->get_subcommands();
    if (subs.empty()) break;
    at = subs.front();
    path.push_back(at);
  }
  return path;
}

// "tcp connect" for the line's subject; the caller prefixes "wire: ".
std::string command_name(const std::vector<const CLI::App*>& path) {
  std::string name;
  for (const auto* a : path) name += (name.empty() ? "" : " ") + a->get_name();
  return name;
}

bool has_subcommand(const CLI::App& app, const std::string& name) {
  for (const auto* s : app.get_subcommands([](const CLI::App*) { return true; }))
    if (s->get_name() == name) return true;
  return false;
}

std::string subcommand_names(const CLI::App& app) {
  std::vector<std::string> names;
  for (const auto* s : app.get_subcommands([](const CLI::App*) { return true; }))
    names.push_back(s->get_name());
  return fmt::format("{}", fmt::join(names, ", "));
}

// Long values (a 300-digit number) are cut to their first digits and their length: each run
// of 33 or more characters that are neither a space nor a quote.
std::string shorten(std::string_view text) {
  const auto breaks = [](char c) { return c == ' ' || c == '\''; };
  std::string out;
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t end = i;
    while (end < text.size() && !breaks(text[end])) ++end;
    const std::size_t length = end - i;
    if (length >= 33) out += fmt::format("{}...({} characters)", text.substr(i, 12), length);
    else out += text.substr(i, length);
    if (end < text.size()) out += text[end++];
    i = end;
  }
  return out;
}

// The word (no white space) that ends just before `at` in `text`.
std::string_view word_before(std::string_view text, std::size_t at) {
  std::size_t start = at;
  while (start > 0 && !std::isspace(static_cast<unsigned char>(text[start - 1]))) --start;
  return text.substr(start, at - start);
}

// The digits that start `text` (none: empty).
std::string_view leading_digits(std::string_view text) {
  std::size_t n = 0;
  while (n < text.size() && text[n] >= '0' && text[n] <= '9') ++n;
  return text.substr(0, n);
}

bool is_digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// `wire -l 8888`, `wire -u host port`, `wire host port`: what netcat's user meant.
std::string netcat_habit(const std::vector<std::string>& args, bool have_nc) {
  if (args.empty()) return {};
  const std::string& first = args.front();
  std::string rest;
  for (std::size_t i = 1; i < args.size(); ++i) rest += " " + args[i];
  const std::string nc = have_nc ? fmt::format(" or 'wire nc {}{}'", first, rest) : "";
  if (first == "-l" || first == "-lk" || first == "-kl")
    return fmt::format("-l is netcat's: use 'wire tcp listen{}{}'{}", rest,
                       first == "-l" ? "" : " -k", nc);
  if (first == "-u")
    return fmt::format("-u is netcat's: use 'wire udp send HOST:PORT' and 'wire udp recv "
                       "HOST:PORT'{}",
                       nc);
  if (first.size() > 1 && first[0] == '-' && first[1] != '-')
    return fmt::format("{} is not a wire option{}; see wire --help", first,
                       have_nc ? fmt::format(" (netcat's flags: 'wire nc {}{}')", first, rest)
                               : "");
  if (args.size() >= 2 && is_digits(args[1]))
    return fmt::format("to connect, use 'wire tcp connect {} {}'{}", first, args[1], nc);
  return {};
}

}  // namespace

std::string usage_error_line(const CLI::ParseError& error, const CLI::App& app,
                             const std::vector<std::string>& args) {
  const std::string what = error.what();
  const auto path = chosen(app);
  const CLI::App& deepest = path.empty() ? app : *path.back();
  const std::string name = command_name(path);

  if (what.find("subcommand is required") != std::string::npos ||
      what.find("Subcommand required") != std::string::npos) {
    if (path.empty()) {
      if (auto hint = netcat_habit(args, has_subcommand(app, "nc")); !hint.empty()) return hint;
      if (!args.empty() && args.front()[0] != '-')
        return fmt::format("'{}' is not a wire command: give one of {} (wire --help)",
                           shorten(args.front()), subcommand_names(app));
      return fmt::format("give a command: {} (e.g. wire tcp connect 127.0.0.1 8888; "
                         "wire --help)",
                         subcommand_names(app));
    }
    return fmt::format("{}: give one of {} (e.g. wire {} {} --help)", name,
                       subcommand_names(deepest), name, deepest.get_subcommands([](const CLI::App*) { return true; })
                                 .front()
                                 ->get_name());
  }
  // CLI11: "OPTION: At Most N required but received M".
  if (const auto at = what.find(": At Most "); at != std::string::npos) {
    const std::string_view option = word_before(what, at);
    const std::string_view tail = std::string_view(what).substr(at + 10);
    const std::string_view most = leading_digits(tail);
    constexpr std::string_view received = " required but received ";
    if (!option.empty() && !most.empty() && tail.substr(most.size()).starts_with(received)) {
      const std::string_view given = leading_digits(tail.substr(most.size() + received.size()));
      if (!given.empty())
        return fmt::format("{}: {} takes {} value{} but was given {}: give it once", name, option,
                           most, most == "1" ? "" : "s", given);
    }
  }
  if (what.starts_with("The following argument")) {  // "...arguments were" / "...argument was"
    std::vector<std::string> extra = deepest.remaining();
    if (extra.empty()) extra = app.remaining();
    return shorten(fmt::format("{}: unexpected argument{} '{}': quote a message that has spaces, "
                               "or see wire {} --help",
                               name, extra.size() == 1 ? "" : "s", fmt::join(extra, "' '"), name));
  }
  // CLI11: "Could not convert: OPTION = VALUE" (the value to the end of its line).
  constexpr std::string_view not_converted = "Could not convert: ";
  if (const auto at = what.find(not_converted); at != std::string::npos) {
    const std::string_view rest = std::string_view(what).substr(at + not_converted.size());
    const auto equals = rest.find(" = ");
    const std::string_view option = rest.substr(0, equals);
    if (equals != std::string_view::npos && !option.empty() &&
        option == word_before(option, option.size())) {
      const std::size_t from = equals + 3;
      const std::string_view value = rest.substr(from, rest.find('\n', from) - from);
      return shorten(fmt::format("{}: {}: '{}' is not a number it takes (see wire {} --help)",
                                 name, option, value, name));
    }
  }
  // CLI11: "OPTION is required", the whole message.
  constexpr std::string_view is_required = " is required";
  if (std::string_view(what).ends_with(is_required)) {
    const std::string_view option =
        std::string_view(what).substr(0, what.size() - is_required.size());
    if (!option.empty() && option == word_before(option, option.size()))
      return fmt::format("{}: {} is required (see wire {} --help)", name, option, name);
  }
  if (name.empty()) return shorten(fmt::format("{} (try wire --help)", what));
  return shorten(fmt::format("{}: {} (try wire {} --help)", name, what, name));
}

}  // namespace wire::cli
