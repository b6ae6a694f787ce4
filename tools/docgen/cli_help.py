"""The wire command's own --help, read back as data: every subcommand with its description,
usage, positionals and options. The man page and the bash completion are generated from it at
build time, so they list exactly what the command accepts and follow it as it grows.

Reads CLI11's help layout: a description, a "Usage:" line, then "Positionals:", "Options:" and
"Subcommands:" sections whose entries start at column 2 (a long left column wraps its
description onto the next, deeper-indented line).
"""
import dataclasses
import os
import re
import subprocess

SECTIONS = ("Positionals:", "Options:", "Subcommands:")


@dataclasses.dataclass
class Entry:
    """One line of a help section: a positional, an option or a subcommand."""
    names: list            # "-v", "--verbose" for an option; the name otherwise
    value: str = ""        # the value's type text ("TEXT", "UINT:UINT in [1 - 65535]"); "" for a flag
    choices: list = dataclasses.field(default_factory=list)  # from a "{a,b,c}" type
    required: bool = False
    help: str = ""


@dataclasses.dataclass
class Command:
    """One command or subcommand and everything its --help says."""
    path: list             # [] for wire itself, ["udp", "send"] for wire udp send
    description: str = ""
    usage: str = ""
    positionals: list = dataclasses.field(default_factory=list)
    options: list = dataclasses.field(default_factory=list)
    subcommands: list = dataclasses.field(default_factory=list)
    children: list = dataclasses.field(default_factory=list)

    @property
    def name(self):
        return " ".join(["wire"] + self.path)


def parse_entry(left, help_text, section):
    """Splits an entry's left column ("-c,--count UINT REQUIRED") into names and value."""
    head, _, rest = left.partition(" ")
    # Constraints are not a value: "--raw Excludes: --verbose" is still a flag.
    rest = re.sub(r"\s*(Excludes|Needs):.*$", "", rest).strip()
    required = rest.endswith("REQUIRED")
    if required:
        rest = rest[: -len("REQUIRED")].strip()
    names = head.split(",") if section == "Options:" else [head]
    choices = re.search(r"\{([^}]*)\}", rest)
    return Entry(names, rest, choices.group(1).split(",") if choices else [], required, help_text)


def split_columns(line, column=30):
    """An entry line's left column and description. CLI11 pads the left column to `column`
    characters, or moves the description to the next line when the left column is wider.

    >>> split_columns("  -c,--count UINT             Stop after this many")
    ('-c,--count UINT', 'Stop after this many')
    >>> split_columns("  protocol TEXT:{udp,tcp,all} udp, tcp, or both")
    ('protocol TEXT:{udp,tcp,all}', 'udp, tcp, or both')
    >>> split_columns("  --reorder FLOAT:FLOAT in [0 - 1]")
    ('--reorder FLOAT:FLOAT in [0 - 1]', '')
    >>> split_columns("  --max-connections UINT:UINT in [1 - 16777216]")
    ('--max-connections UINT:UINT in [1 - 16777216]', '')
    """
    left, sep, help_text = line[2:].partition("  ")
    if sep:
        return left.strip(), help_text.strip()
    # A left column that fills the width leaves a single space before the description, unless
    # the left column is wider still and merely has a space there: then the cut leaves a bracket
    # open ("in [0 - 1]") or what follows is more value text (a range, a default, REQUIRED).
    left, rest = line[2:column], line[column:]
    balanced = all(left.count(a) == left.count(b) for a, b in ("[]", "{}", "()"))
    if (len(line) > column and line[column - 1] == " " and line[column - 2] != " " and balanced
            and not re.match(r"(in \[|\[|REQUIRED\b|Excludes:|Needs:)", rest)):
        return left.strip(), rest.strip()
    return line.strip(), ""


def parse_help(path, text):
    """Turns one --help text into a Command (children not yet filled in)."""
    command = Command(path)
    lines = text.splitlines()
    usage_at = next(i for i, line in enumerate(lines) if line.startswith("Usage:"))
    command.description = "\n".join(lines[:usage_at]).strip()
    # argv[0] is a build path; the usage a reader types starts with "wire".
    command.usage = re.sub(r"^Usage: \S+", "wire", lines[usage_at])
    section, entries = None, {s: [] for s in SECTIONS}
    for line in lines[usage_at + 1:]:
        if line in SECTIONS:
            section = line
        elif section and re.match(r"^  \S", line):
            left, help_text = split_columns(line)
            entries[section].append(parse_entry(left, help_text, section))
        elif section and line.strip() and entries[section]:
            last = entries[section][-1]  # a wrapped or second description line
            last.help = (last.help + "\n" + line.strip()).strip()
    command.positionals = entries["Positionals:"]
    command.options = entries["Options:"]
    command.subcommands = entries["Subcommands:"]
    return command


def run_help(binary, path):
    """Runs `wire PATH... --help` with a fixed width and locale, so output is reproducible."""
    env = dict(os.environ, LC_ALL="C", COLUMNS="80")
    run = subprocess.run([binary, *path, "--help"], capture_output=True, text=True, env=env,
                         timeout=30)
    if run.returncode != 0:
        raise SystemExit(f"{binary} {' '.join(path)} --help failed: {run.stderr.strip()}")
    return run.stdout


def walk(binary, path=None):
    """The whole command tree, from `wire --help` down through every subcommand."""
    path = path or []
    command = parse_help(path, run_help(binary, path))
    command.children = [walk(binary, path + [sub.names[0]]) for sub in command.subcommands]
    return command


def all_commands(command):
    """The tree in reading order: a command, then each of its subcommands' trees."""
    yield command
    for child in command.children:
        yield from all_commands(child)
