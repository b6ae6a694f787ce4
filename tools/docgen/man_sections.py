#!/usr/bin/env python3
"""Writes the help2man include file for wire(1) from the command's own --help (cli_help.py):
a SYNOPSIS line per command, a COMMANDS section with every subcommand's positionals and options,
EXAMPLES gathered from each command's "Example:" lines, then exit status and conventions.
Usage: man_sections.py WIRE_BINARY OUTPUT_FILE   (then: help2man --include OUTPUT_FILE ...)
"""
import pathlib
import sys

import cli_help


def roff(text):
    """Escapes text for roff: backslashes, hyphens, and a leading '.' or quote."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join("\\&" + line if line[:1] in (".", "'") else line
                     for line in text.splitlines())


def split_examples(text):
    """A description's prose, and the commands on its "Example:" lines."""
    prose, examples = [], []
    for line in text.splitlines():
        if line.startswith("Example:"):
            examples.append(line[len("Example:"):].strip())
        else:
            prose.append(line)
    return "\n".join(prose).strip(), examples


def first_sentence(text):
    """The text up to its first full stop, joined onto one line."""
    text = " ".join(text.split())
    end = text.find(". ")
    return text if end < 0 else text[: end + 1]


def leaves(root):
    return [c for c in cli_help.all_commands(root) if not c.subcommands and c.path]


def synopsis(root):
    lines = []
    for command in leaves(root):
        usage = command.usage[len(command.name):].strip()
        lines.append(f".B {roff(command.name)}\n{roff(usage)}\n.br")
    return "[SYNOPSIS]\n" + "\n".join(lines) + "\n.B wire\n\\-\\-help | \\-\\-version\n"


def entry(names, value, help_text):
    label = ", ".join(f"\\fB{roff(n)}\\fR" for n in names)
    if value:
        label += f" \\fI{roff(value)}\\fR"
    return f".TP\n{label}\n{roff(help_text)}\n"


def command_section(command):
    prose, _ = split_examples(command.description)
    text = f'.SS "{roff(command.name)}"\n{roff(prose)}\n.PP\nUsage: \\fB{roff(command.usage)}\\fR\n'
    for positional in command.positionals:
        choices = f" (one of: {', '.join(positional.choices)})" if positional.choices else ""
        text += entry([positional.names[0].upper()], "", positional.help + choices +
                      (" (required)" if positional.required else ""))
    for option in command.options:
        if "--help" not in option.names:  # every command has it; said once below
            text += entry(option.names, option.value, option.help)
    return text


def options(root):
    """Replaces help2man's OPTIONS (which runs each subcommand's examples into one paragraph)
    with wire's own options and one line a subcommand; COMMANDS has the details."""
    text = "[=OPTIONS]\n" + "".join(entry(o.names, o.value, o.help) for o in root.options)
    text += '.SS "Subcommands"\n'
    for sub in root.subcommands:
        text += entry(sub.names, "", split_examples(sub.help)[0])
    return text


def commands(root):
    body = "".join(command_section(c) for c in cli_help.all_commands(root)
                   if c.path and not c.subcommands)
    return ("[COMMANDS]\nEvery command also takes \\fB\\-h\\fR, \\fB\\-\\-help\\fR, "
            "which prints its help with an example.\n" + body)


def examples(root):
    text = "[EXAMPLES]\n"
    for command in cli_help.all_commands(root):
        for example in split_examples(command.description)[1]:
            what = first_sentence(split_examples(command.description)[0]).removeprefix("wire: ")
            text += f".TP\n\\fB{roff(example)}\\fR\n{roff(what)}\n"
    return text


CONVENTIONS = r"""[>DESCRIPTION]
.PP
Data goes to standard output and diagnostics to standard error. An error is one line, such as
.B wire: cannot connect to 127.0.0.1:9: Connection refused
.PP
An address is \fIHOST\fR:\fIPORT\fR, [\fIIPV6\fR]:\fIPORT\fR or :\fIPORT\fR; a host name is
resolved and each of its addresses tried in turn. Without a host (\fB:8888\fR) the address is the
loopback one, so nothing is exposed by accident; \fB0.0.0.0:8888\fR or \fB[::]:8888\fR listen on
every interface.
"""

EXIT_STATUS = r"""[EXIT STATUS]
.TP
.B 0
success
.TP
.B 1
a network or runtime error (one line on standard error)
.TP
.B 2
a usage error: an unknown command or option, or a bad value
[SEE ALSO]
.BR nc (1),
.BR socket (7),
.BR ip (7),
.BR ipv6 (7),
.BR udp (7),
.BR tcp (7)
"""


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    root = cli_help.walk(sys.argv[1])
    text = (synopsis(root) + CONVENTIONS + options(root) + commands(root) + EXIT_STATUS
            + examples(root))
    pathlib.Path(sys.argv[2]).write_text(text)


if __name__ == "__main__":
    main()
