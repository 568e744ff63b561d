#!/bin/sh
# The generated man pages and bash completion (cmake/manpages.cmake): there
# is a page for every command `joule --help` lists, joule.1 names them all,
# groff renders each page without a warning, and the completion completes
# `joule r` and `joule run --j`.
set -eu
BUILD=$1
GEN="$BUILD/generated-docs"
JOULE="$BUILD/cli/joule"
[ -f "$GEN/stamp" ] || { echo "... skipped (no $GEN: python3 was not found at configure time)"; exit 77; }
commands=$("$JOULE" --help | awk '/^Commands:/ {on = 1; next} on && NF == 0 {exit} on {print $1}')
[ -n "$commands" ] || { echo "no commands in joule --help"; exit 1; }
for c in $commands; do
    [ -f "$GEN/man1/joule-$c.1" ] || { echo "no man page joule-$c.1"; exit 1; }
    grep -q "^\.BR joule-$c (1)" "$GEN/man1/joule.1" || { echo "joule.1 does not name joule-$c(1)"; exit 1; }
    grep -q "^  *$c " "$GEN/man1/joule.1" || { echo "joule.1 does not list $c"; exit 1; }
done
[ -f "$GEN/man8/jouled.8" ] || { echo "no jouled.8"; exit 1; }
if command -v groff >/dev/null; then
    for page in "$GEN"/man1/*.1 "$GEN"/man8/*.8; do
        err=$(groff -man -Tutf8 -ww -z "$page" 2>&1)
        [ -z "$err" ] || { echo "groff warns on $page: $err"; exit 1; }
    done
else
    echo "groff not installed: rendering not checked"
fi
if ! command -v bash >/dev/null; then
    echo "... skipped (no bash for the completion check)"; exit 77
fi
complete_words() { # PROG-COMPLETION-FILE FUNCTION WORD...
    file=$1 fn=$2
    shift 2
    bash -c '. "$1"; shift; fn=$1; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); "$fn"; echo "${COMPREPLY[*]}"' \
        sh "$file" "$fn" "$@"
}
got=$(complete_words "$GEN/completions/joule" _joule joule r)
[ "$got" = "run report" ] || { echo "joule r completes to '$got', not 'run report'"; exit 1; }
got=$(complete_words "$GEN/completions/joule" _joule joule run --j)
for want in --json --job-report; do
    case " $got " in *" $want "*) ;; *) echo "joule run --j completes to '$got'"; exit 1 ;; esac
done
got=$(complete_words "$GEN/completions/joule" _joule joule gpu l)
[ "$got" = "limit" ] || { echo "joule gpu l completes to '$got'"; exit 1; }
got=$(complete_words "$GEN/completions/jouled" _jouled jouled token i)
[ "$got" = "issue" ] || { echo "jouled token i completes to '$got'"; exit 1; }
echo "man pages and completion: ok ($(echo $commands | wc -w) commands)"
