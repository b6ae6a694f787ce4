#!/usr/bin/env python3
"""Writes bash completion for `wire` from the command's own --help (see cli_help.py):
subcommands at every level, each level's options, and the values of options and positionals
that accept a fixed set ({udp,tcp,all}). Usage: completion.py WIRE_BINARY OUTPUT_FILE
"""
import pathlib
import re
import sys

import cli_help

SAFE = re.compile(r"^[A-Za-z0-9_.:+/=-]+$")  # words that need no quoting inside "..."

# The completion function. Tables above it are keyed by the command path ("wire udp send");
# _wire_choices is keyed by path alone (positionals) or by "path --option" (option values).
FUNCTION = r'''
# Every lookup has a default (${...-}): a user's shell may run with set -u.
_wire() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
  local path=wire word skip=0 i
  # Follow the subcommands typed so far, stepping over the values of options that take one.
  for ((i = 1; i < COMP_CWORD; i++)); do
    word=${COMP_WORDS[i]}
    if ((skip)); then skip=0; continue; fi
    if [[ " ${_wire_valued[$path]-} " == *" $word "* ]]; then skip=1; continue; fi
    if [[ " ${_wire_commands[$path]-} " == *" $word "* ]]; then path="$path $word"; fi
  done
  if ((skip)); then
    if [[ " ${_wire_files[$path]-} " == *" $prev "* ]]; then
      mapfile -t COMPREPLY < <(compgen -f -- "$cur")
    else
      mapfile -t COMPREPLY < <(compgen -W "${_wire_choices[$path $prev]-}" -- "$cur")
    fi
  elif [[ $cur == -* ]]; then
    mapfile -t COMPREPLY < <(compgen -W "${_wire_options[$path]-}" -- "$cur")
  else
    mapfile -t COMPREPLY < <(compgen -W "${_wire_commands[$path]-} ${_wire_choices[$path]-}" -- "$cur")
  fi
}
complete -F _wire wire
'''


def words(items):
    return " ".join(item for item in items if SAFE.match(item))


def table(name, rows):
    """A global associative array (-g: bash-completion sources this file inside a function)."""
    body = "".join(f'  ["{key}"]="{value}"\n' for key, value in rows if value)
    return f"declare -gA {name}=(\n{body})\n"


def tables(root):
    commands, options, valued, files, choices = [], [], [], [], []
    for command in cli_help.all_commands(root):
        key = command.name
        commands.append((key, words(sub.names[0] for sub in command.subcommands)))
        options.append((key, words(n for o in command.options for n in o.names)))
        takes_value = [o for o in command.options if o.value]
        valued.append((key, words(n for o in takes_value for n in o.names)))
        files.append((key, words(n for o in takes_value if re.search(r"FILE|PATH|DIR", o.value)
                                 for n in o.names)))
        choices.append((key, words(c for p in command.positionals for c in p.choices)))
        for option in takes_value:
            for n in option.names:
                choices.append((f"{key} {n}", words(option.choices)))
    return "".join(table(name, rows) for name, rows in
                   (("_wire_commands", commands), ("_wire_options", options),
                    ("_wire_valued", valued), ("_wire_files", files), ("_wire_choices", choices)))


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    root = cli_help.walk(sys.argv[1])
    text = ("# bash completion for wire(1). Generated at build time from `wire --help` by\n"
            "# tools/docgen/completion.py: edit the command, not this file.\n"
            + tables(root) + FUNCTION)
    pathlib.Path(sys.argv[2]).write_text(text)


if __name__ == "__main__":
    main()
