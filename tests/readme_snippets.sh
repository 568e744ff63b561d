#!/bin/sh
# The README's snippets run as written, on a machine without a GPU. A fenced
# block after `<!-- test: file NAME -->` is saved as NAME; one after
# `<!-- test: run -->` runs (sh -e) in a scratch directory where `build` is
# this build tree and $PREFIX a fresh `cmake --install` of it.
set -eu
BUILD=$(cd "$1" && pwd)
README=$2
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
ln -s "$BUILD" "$TMP/build"
export PREFIX="$TMP/prefix"
cmake --install "$BUILD" --prefix "$PREFIX" >/dev/null
unset JOULE_DEVICES JOULE_DAEMON || true
# Blocks, in order: TMP/blocks/N.run or TMP/blocks/N.file (first line: NAME).
mkdir "$TMP/blocks"
awk -v dir="$TMP/blocks" '
    /^<!-- test: run -->$/ { want = "run"; name = ""; next }
    /^<!-- test: file [^ ]+ -->$/ { want = "file"; name = $4; next }
    /^```/ {
        if (inblock) { inblock = 0; close(out); next }
        if (want != "") {
            inblock = 1; n++; out = dir "/" n "." want
            if (want == "file") print name > out
            want = ""
        }
        next
    }
    inblock { print > out }
' "$README"
runs=0 files=0
for b in $(ls "$TMP/blocks" | sort -n); do
    case $b in
    *.file)
        name=$(head -n1 "$TMP/blocks/$b")
        tail -n +2 "$TMP/blocks/$b" > "$TMP/$name"
        files=$((files + 1)) ;;
    *.run)
        echo "== README snippet $b:"; cat "$TMP/blocks/$b"
        (cd "$TMP" && sh -e "$TMP/blocks/$b") || { echo "README snippet $b failed"; exit 1; }
        runs=$((runs + 1)) ;;
    esac
done
[ "$runs" -ge 2 ] && [ "$files" -ge 1 ] || { echo "README: expected 2+ run and 1+ file snippets, found $runs and $files"; exit 1; }
# The C example stops with the reason when it finds no device (here: no GPU).
if [ -x "$TMP/step" ] && ! "$BUILD/cli/joule" info --devices gpu >/dev/null 2>&1; then
    if (cd "$TMP" && JOULE_DEVICES=gpu ./step >/dev/null 2>"$TMP/err"); then
        echo "step.c exited 0 with no GPU"; exit 1
    fi
    grep -q '^joule: ' "$TMP/err" || { echo "step.c printed no reason: $(cat "$TMP/err")"; exit 1; }
fi
echo "README snippets: $runs run, $files files: ok"
