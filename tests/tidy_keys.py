#!/usr/bin/env python3
"""Prints "KEY FILE" for each source FILE given on the command line: a hash of everything a
clang-tidy run on it depends on, so that tests/lint.sh can skip a file whose clean result it
has already seen. The key covers the tool's version, .clang-tidy, the extra arguments, the
file's compile command (the tree's own path left out, so clones share keys), and the path and
content of the file and of every header it includes, as ninja recorded them for BUILD_DIR's
compile. A file without a recorded dependency list gets no line: it is always checked.

Usage: tidy_keys.py BUILD_DIR TOP EXTRA_ARGS FILE...
"""
import hashlib
import json
import os
import shlex
import subprocess
import sys


def sha256_of(path, memo):
    if path not in memo:
        try:
            with open(path, "rb") as handle:
                memo[path] = hashlib.sha256(handle.read()).hexdigest()
        except OSError:
            memo[path] = "missing"
    return memo[path]


def ninja_deps(build):
    """{object path relative to BUILD_DIR: [dependency paths as ninja recorded them]}."""
    text = subprocess.run(["ninja", "-C", build, "-t", "deps"], check=True, capture_output=True,
                          text=True).stdout
    deps, current = {}, None
    for line in text.splitlines():
        if line and not line.startswith(" "):
            name, _, state = line.partition(": #deps")
            current = name if "(VALID)" in state else None
            if current is not None:
                deps[current] = []
        elif current is not None and line.strip():
            deps[current].append(line.strip())
    return deps


def main():
    build, top, extra, files = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    build, top = os.path.abspath(build), os.path.abspath(top)
    version = subprocess.run(["clang-tidy", "--version"], check=True, capture_output=True,
                             text=True).stdout
    with open(os.path.join(top, ".clang-tidy"), "rb") as handle:
        config = handle.read()
    with open(os.path.join(build, "compile_commands.json"), encoding="utf-8") as handle:
        commands = {os.path.abspath(os.path.join(entry["directory"], entry["file"])): entry
                    for entry in json.load(handle)}
    deps = ninja_deps(build)
    memo = {}
    for name in files:
        path = os.path.abspath(name)
        entry = commands.get(path)
        if entry is None:
            continue
        arguments = shlex.split(entry["command"])
        if "-o" not in arguments:
            continue
        objects = deps.get(arguments[arguments.index("-o") + 1])
        if not objects:
            continue
        key = hashlib.sha256()
        for part in (version, config.decode(errors="replace"), extra,
                     entry["command"].replace(top, "<top>")):
            key.update(part.encode() + b"\0")
        for dependency in objects:
            absolute = os.path.normpath(os.path.join(build, dependency))
            key.update((absolute.replace(top, "<top>") + " " + sha256_of(absolute, memo) + "\0").encode())
        print(key.hexdigest(), name)


if __name__ == "__main__":
    main()
