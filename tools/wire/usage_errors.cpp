// CLI11's own messages ("A subcommand is required", "At Most 1 required but received 2", a value
// echoed back whole however long) rewritten as wire's: the problem and the fix in one line,
// with netcat habits (`wire -l 8888`) pointed at the command that does it.
#include "usage_errors.hpp"

#include <fmt/core.h>
#include <fmt/format.h>

#include <algorithm>
#include <regex>

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

// Long values (a 300-digit number) are cut to their first digits and their length.
std::string shorten(std::string text) {
  static const std::regex long_token("[^ ']{33,}");
  std::smatch m;
  std::string out;
  while (std::regex_search(text, m, long_token)) {
    out += m.prefix().str() + m.str().substr(0, 12) + fmt::format("...({} characters)", m.length());
    text = m.suffix().str();
  }
  return out + text;
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
  static const std::regex at_most(R"((\S+): At Most (\d+) required but received (\d+))");
  std::smatch m;
  if (std::regex_search(what, m, at_most))
    return fmt::format("{}: {} takes {} value{} but was given {}: give it once", name, m[1].str(),
                       m[2].str(), m[2].str() == "1" ? "" : "s", m[3].str());
  if (what.starts_with("The following argument")) {  // "...arguments were" / "...argument was"
    std::vector<std::string> extra = deepest.remaining();
    if (extra.empty()) extra = app.remaining();
    return shorten(fmt::format("{}: unexpected argument{} '{}': quote a message that has spaces, "
                               "or see wire {} --help",
                               name, extra.size() == 1 ? "" : "s", fmt::join(extra, "' '"), name));
  }
  static const std::regex not_converted(R"(Could not convert: (\S+) = (.*))");
  if (std::regex_search(what, m, not_converted))
    return shorten(fmt::format("{}: {}: '{}' is not a number it takes (see wire {} --help)", name,
                               m[1].str(), m[2].str(), name));
  static const std::regex required(R"(^(\S+) is required$)");
  if (std::regex_search(what, m, required))
    return fmt::format("{}: {} is required (see wire {} --help)", name, m[1].str(), name);
  if (name.empty()) return shorten(fmt::format("{} (try wire --help)", what));
  return shorten(fmt::format("{}: {} (try wire {} --help)", name, what, name));
}

}  // namespace wire::cli
