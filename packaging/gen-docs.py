#!/usr/bin/env python3
"""Regenerates the parts of stackmgr(8) and the bash completion that the binary itself knows:
every command, option, positional argument and per-command exit code, taken from the real
`stackmgr [COMMAND...] --help` output. Everything else in those files is written by hand.

  gen-docs.py STACKMGR_BINARY --write   rewrite packaging/stackmgr.8 and
                                        packaging/stackmgr.bash-completion in place
  gen-docs.py STACKMGR_BINARY --check   exit 1, showing the diff, when either is out of date
                                        (tests/packaging runs this, so the docs cannot drift)
"""

import difflib
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
MAN_PAGE = os.path.join(HERE, "stackmgr.8")
COMPLETION = os.path.join(HERE, "stackmgr.bash-completion")
SECTIONS = ("Options", "Positionals", "Subcommands")
COLUMN = 30  # CLI11's default: names in columns 2..29, descriptions from column 30


class Entry:
    def __init__(self, spec, text):
        self.spec = spec
        self.text = text


class Command:
    def __init__(self, path, description, options, positionals, subcommands, footer):
        self.path = path  # ["hook", "postinst"]
        self.description = description
        self.options = options
        self.positionals = positionals
        self.subcommands = subcommands  # [Command]
        self.footer = footer


def run_help(binary, path):
    result = subprocess.run([binary, *path, "--help"], capture_output=True, text=True, check=False,
                            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8", "COLUMNS": "80"})
    if result.returncode != 0:
        sys.exit(f"gen-docs: '{binary} {' '.join(path)} --help' exited {result.returncode}: {result.stderr}")
    return result.stdout


def parse_help(text):
    """CLI11's help: description, Usage:, then Options/Positionals/Subcommands, then a footer."""
    lines = text.rstrip("\n").split("\n")
    usage = next(i for i, line in enumerate(lines) if line.startswith("Usage:"))
    description = " ".join(line.strip() for line in lines[:usage] if line.strip())
    sections = {name: [] for name in SECTIONS}
    current = None
    footer_start = len(lines)
    for i in range(usage + 1, len(lines)):
        line = lines[i]
        if not line.strip():
            continue
        if line.endswith(":") and line[:-1] in SECTIONS:
            current = sections[line[:-1]]
            continue
        if line.startswith("  ") and current is not None:
            if line.startswith("    ") and current:
                current[-1].text = (current[-1].text + " " + line.strip()).strip()
            elif len(line) <= COLUMN or line[COLUMN - 1] == " ":
                current.append(Entry(line[2:COLUMN].strip(), line[COLUMN:].strip()))
            else:  # the name overflows its column: the description follows on the next lines
                current.append(Entry(line.strip(), ""))
            continue
        footer_start = i
        break
    footer = "\n".join(lines[footer_start:]).strip("\n")
    return description, sections, footer


def load(binary, path, inherited_footer=None):
    description, sections, footer = parse_help(run_help(binary, path))
    if footer == inherited_footer:
        footer = ""  # CLI11 repeats a parent's footer; the man page shows it once
    inherited_footer = footer or inherited_footer
    subcommands = []
    for entry in sections["Subcommands"]:
        subcommands.append(load(binary, path + [entry.spec.split()[0]], inherited_footer))
    return Command(path, description, sections["Options"], sections["Positionals"], subcommands, footer)


def option_names(entry):
    names = entry.spec.split()[0]
    return [name for name in names.split(",") if name.startswith("-")]


def option_argument(entry):
    """'--root TEXT:DIR' -> 'DIR'; '--log-level TEXT:{a,b}' -> '{a,b}'; '--json' -> ''."""
    words = entry.spec.split(None, 1)
    if len(words) < 2:
        return ""
    argument = re.sub(r"\s+(REQUIRED|Excludes:.*|Needs:.*)$", "", words[1])
    return re.sub(r"^(TEXT|INT|UINT|FLOAT):", "", argument)


def positional_name(entry):
    words = entry.spec.split()
    name = words[0].upper()
    repeated = "..." in words
    required = "REQUIRED" in words
    shown = name + (" ..." if repeated else "")
    return shown if required else "[" + shown + "]"


def roff_text(text):
    text = text.replace("\\", "\\e")
    if text.startswith((".", "'")):
        text = "\\&" + text
    return text


def roff_option(text):
    return roff_text(text).replace("-", "\\-")


def synopsis(command):
    words = ["stackmgr"] + command.path
    if command.subcommands:
        words.append("{" + "|".join(sub.path[-1] for sub in command.subcommands) + "}")
    if any(option_names(o) != ["-h", "--help"] for o in command.options):
        words.append("[OPTIONS]")
    words += [positional_name(p) for p in command.positionals]
    return " ".join(words)


def man_options(options):
    out = []
    for entry in options:
        names = option_names(entry)
        if names == ["-h", "--help"]:
            continue
        argument = option_argument(entry)
        label = ", ".join("\\fB" + roff_option(name) + "\\fR" for name in names)
        if argument:
            label += " \\fI" + roff_text(argument) + "\\fR"
        out += [".TP", label, roff_text(entry.text)]
    return out


def man_command(command):
    out = [".SS \"" + roff_option(synopsis(command)) + "\"", roff_text(command.description)]
    for entry in command.positionals:
        out += [".TP", "\\fI" + roff_text(entry.spec.split()[0].upper()) + "\\fR", roff_text(entry.text)]
    out += man_options(command.options)
    if command.footer:
        out += [".PP", ".nf"] + [roff_text(line) for line in command.footer.split("\n")] + [".fi"]
    for sub in command.subcommands:
        out += man_command(sub)
    return out


def generated_man(root):
    out = ['.\\" BEGIN GENERATED OPTIONS (packaging/gen-docs.py from stackmgr --help; do not edit)',
           ".SH OPTIONS",
           "These global options come before the command."]
    out += man_options(root.options)
    out += ['.\\" END GENERATED OPTIONS', '.\\" BEGIN GENERATED COMMANDS', ".SH COMMANDS"]
    for command in root.subcommands:
        out += man_command(command)
    out.append('.\\" END GENERATED COMMANDS')
    return out


def all_commands(command):
    for sub in command.subcommands:
        yield sub
        yield from all_commands(sub)


def generated_completion(root):
    def words(options):
        return " ".join(name for entry in options for name in option_names(entry))

    out = ["# BEGIN GENERATED (packaging/gen-docs.py from stackmgr --help; do not edit)",
           "_stackmgr_global_options='" + words(root.options) + "'",
           "_stackmgr_commands='" + " ".join(c.path[-1] for c in root.subcommands) + "'",
           "declare -gA _stackmgr_command_options=("]
    for command in all_commands(root):
        out.append("\t['" + " ".join(command.path) + "']='" + words(command.options) + "'")
    out += [")", "declare -gA _stackmgr_subcommands=("]
    for command in all_commands(root):
        if command.subcommands:
            out.append("\t['" + " ".join(command.path) + "']='" +
                       " ".join(sub.path[-1] for sub in command.subcommands) + "'")
    out += [")", "declare -gA _stackmgr_option_arguments=("]
    arguments = {}
    for command in [root, *all_commands(root)]:
        for entry in command.options:
            if option_argument(entry):
                for name in option_names(entry):
                    arguments[name] = option_argument(entry)
    for name in sorted(arguments):
        out.append("\t['" + name + "']='" + arguments[name].replace("'", "") + "'")
    out += [")", "# END GENERATED"]
    return out


def replace_block(path, begin, end, block):
    with open(path, encoding="utf-8") as handle:
        lines = handle.read().split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith(begin))
    stop = next(i for i, line in enumerate(lines) if line.startswith(end) and i >= start)
    return "\n".join(lines[:start] + block + lines[stop + 1:])


def main():
    if len(sys.argv) != 3 or sys.argv[2] not in ("--write", "--check"):
        sys.exit(__doc__)
    binary, mode = sys.argv[1], sys.argv[2]
    root = load(binary, [])
    updates = {
        MAN_PAGE: replace_block(MAN_PAGE, '.\\" BEGIN GENERATED OPTIONS', '.\\" END GENERATED COMMANDS',
                                generated_man(root)),
        COMPLETION: replace_block(COMPLETION, "# BEGIN GENERATED", "# END GENERATED", generated_completion(root)),
    }
    stale = False
    for path, wanted in updates.items():
        with open(path, encoding="utf-8") as handle:
            current = handle.read()
        if current == wanted:
            continue
        if mode == "--write":
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(wanted)
            print(f"gen-docs: updated {path}")
        else:
            stale = True
            sys.stdout.writelines(difflib.unified_diff(current.splitlines(True), wanted.splitlines(True), path,
                                                       path + " (from --help)"))
    if stale:
        print("gen-docs: out of date with the binary's --help; run packaging/gen-docs.py BINARY --write",
              file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
