#!/usr/bin/env python3
"""Man pages and bash completion from the programs' own --help text.

    help2man.py --joule BIN --jouled BIN --version V --out DIR

writes DIR/man1/joule.1, DIR/man1/joule-CMD.1 (one per command that
`joule --help` lists), DIR/man8/jouled.8 and DIR/completions/{joule,jouled}.
Everything comes from running the built programs, so the pages and the
completion cannot drift from the help. Python standard library only.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys

OPTION_LINE = re.compile(r"^\s*(-[A-Za-z0-9], )?--[a-z]")
LONG_OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


def run_help(argv, must=True):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True, timeout=60)
    if p.returncode != 0 and not must:
        return None
    if p.returncode != 0:
        sys.exit("help2man.py: %s exited %d:\n%s" % (" ".join(argv), p.returncode, p.stdout))
    return p.stdout.rstrip("\n").split("\n")


def roff_text(s):
    """Escapes a line for roff: backslashes, leading control characters and
    anything outside ASCII (groff reads bytes, not UTF-8)."""
    s = s.replace("\\", "\\e")
    s = "".join(c if ord(c) < 128 else "\\[u%04X]" % ord(c) for c in s)
    s = s.replace("-", "\\-")
    if s.startswith((".", "'")):
        s = "\\&" + s
    return s


def split_usage(lines):
    """The usage block (first paragraph, 'usage: ' dropped) and the rest."""
    usage = []
    i = 0
    while i < len(lines) and lines[i].strip():
        # "usage: " goes, and with it as much of the continuation indent
        line = lines[i] if i == 0 else re.sub(r"^ {7}", "", lines[i])
        usage.append(re.sub(r"^usage: ", "", line).rstrip())
        i += 1
    return usage, lines[i:]


def paragraphs(lines):
    block = []
    for line in lines + [""]:
        if line.strip():
            block.append(line.rstrip())
        elif block:
            yield block
            block = []


def body(lines):
    """Prose paragraphs are filled; indented ones (options, tables, examples)
    keep their layout."""
    out = []
    for block in paragraphs(lines):
        if block[0].startswith("\x00"):  # a subcommand's section
            out.append(".SH %s" % roff_text(block[0][1:].upper()))
            block = block[1:]
            out += [".nf"] + [roff_text(l) for l in block] + [".fi"]
        elif all(not l[0].isspace() for l in block) and not block[0].endswith(":"):
            out.append(".PP")
            out += [roff_text(l) for l in block]
        else:
            out += [".PP", ".nf"] + [roff_text(l) for l in block] + [".fi"]
    return out


def page(name, section, version, summary, usage, rest, see_also):
    out = ['.TH %s %s "" "%s" "joule manual"' % (name.upper().replace("-", "\\-"), section,
                                                  roff_text(version)),
           ".SH NAME", "%s \\- %s" % (roff_text(name), roff_text(summary)),
           ".SH SYNOPSIS", ".nf"] + [roff_text(u) for u in usage] + [".fi",
           ".SH DESCRIPTION"] + body(rest)
    if see_also:
        out += [".SH SEE ALSO", ",\n".join(".BR %s (%s)" % s for s in see_also)]
    return "\n".join(out) + "\n"


def options_of(lines):
    usage, rest = split_usage(lines)
    opts = []
    for line in usage + [l for l in rest if OPTION_LINE.match(l)]:
        for o in LONG_OPTION.findall(line):
            if o not in opts:
                opts.append(o)
    return opts


def subcommands_of(prog, usage):
    subs = []
    for u in usage:
        m = re.match(r"\s*%s (\w[\w-]*)" % re.escape(prog), u)
        if m and m.group(1) not in subs and m.group(1).islower():
            subs.append(m.group(1))
    return subs


def completion(func, prog, top_words, per_word):
    """A bash completion function: top_words at position 1; for each first
    word its subcommands (position 2) and long options; files otherwise."""
    cases = []
    for word, (subs, opts) in per_word.items():
        cases.append('    %s) subs="%s"; opts="%s" ;;' % (word, " ".join(subs), " ".join(opts)))
    return """# bash completion for %(prog)s; generated from `%(prog)s --help` by
# tools/help2man.py at build time: do not edit.
%(func)s()
{
    local cur=${COMP_WORDS[COMP_CWORD]} subs="" opts="" i
    COMPREPLY=()
    for ((i = 1; i < COMP_CWORD; i++)); do
        # After `--` comes the measured command: complete commands and files.
        [ "${COMP_WORDS[i]}" = "--" ] && { COMPREPLY=($(compgen -c -- "$cur")); return 0; }
    done
    if [ "$COMP_CWORD" -eq 1 ]; then
        COMPREPLY=($(compgen -W "%(top)s" -- "$cur"))
        return 0
    fi
    case ${COMP_WORDS[1]} in
%(cases)s
    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$opts --help" -- "$cur"))
    elif [ "$COMP_CWORD" -eq 2 ] && [ -n "$subs" ]; then
        COMPREPLY=($(compgen -W "$subs" -- "$cur"))
    fi
    return 0
}
complete -o bashdefault -o default -F %(func)s %(prog)s
""" % {"prog": prog, "func": func, "top": " ".join(top_words), "cases": "\n".join(cases)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--joule", required=True)
    ap.add_argument("--jouled", required=True)
    ap.add_argument("--version", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    version = "joule " + a.version
    man1, man8, comp = (os.path.join(a.out, d) for d in ("man1", "man8", "completions"))
    for d in (man1, man8, comp):
        shutil.rmtree(d, ignore_errors=True)  # no page of a removed command stays
        os.makedirs(d)

    top = run_help([a.joule, "--help"])
    usage, rest = split_usage(top)
    commands = []  # (name, summary)
    in_list = False
    for line in rest:
        if line.startswith("Commands:"):
            in_list = True
        elif in_list and not line.strip():
            break
        elif in_list:
            m = re.match(r"\s+(\S+)\s+(.*)", line)
            if m:
                commands.append((m.group(1), m.group(2).strip()))
    if not commands:
        sys.exit("help2man.py: no 'Commands:' list in `joule --help`")
    summary = next((l for l in rest if l.strip()), "energy of GPUs and CPUs")
    summary = summary.rstrip(".")
    summary = summary[0].lower() + summary[1:]
    see = [("joule-" + c, 1) for c, _ in commands] + [("jouled", 8)]
    with open(os.path.join(man1, "joule.1"), "w") as f:
        f.write(page("joule", 1, version, summary, usage, rest, see))

    per_command = {}
    for name, what in commands:
        lines = run_help([a.joule, name, "--help"])
        u, r = split_usage(lines)
        subs, opts = subcommands_of("joule " + name, u), options_of(lines)
        # A subcommand with help of its own (bench serve) gets a section.
        for sub in subs:
            sl = run_help([a.joule, name, sub, "--help"], must=False)
            if not sl or sl == lines:
                continue
            su, sr = split_usage(sl)
            r = r + ["", "\x00" + sub] + su + [""] + sr
            opts += [o for o in options_of(sl) if o not in opts]
        with open(os.path.join(man1, "joule-%s.1" % name), "w") as f:
            f.write(page("joule-" + name, 1, version, what, u, r, [("joule", 1)]))
        per_command[name] = (subs, opts)
    top_words = [c for c, _ in commands] + ["help"] + options_of(top)
    with open(os.path.join(comp, "joule"), "w") as f:
        f.write(completion("_joule", "joule", top_words, per_command))

    d = run_help([a.jouled, "--help"])
    du, dr = split_usage(d)
    dsubs = subcommands_of("jouled", du)
    # `jouled --help` shows each subcommand's usage: take its words and
    # options from there (a usage line and the indented lines after it).
    dper, owner = {}, None
    for u in du:
        m = re.match(r"\s*jouled (\w+)", u)
        if m or not u.startswith(" " * 14):
            owner = m.group(1) if m and m.group(1) in dsubs else None
        if owner:
            subs, opts = dper.setdefault(owner, ([], []))
            subs += [w for w in subcommands_of("jouled " + owner, [u]) if w not in subs]
            opts += [o for o in LONG_OPTION.findall(u) if o not in opts]
    with open(os.path.join(man8, "jouled.8"), "w") as f:
        f.write(page("jouled", 8, version,
                     "the privileged daemon of joule: GPU control, RAPL reads, /metrics",
                     du, dr, [("joule", 1)]))
    with open(os.path.join(comp, "jouled"), "w") as f:
        f.write(completion("_jouled", "jouled", dsubs + options_of(d), dper))


if __name__ == "__main__":
    main()
