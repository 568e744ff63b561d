#!/bin/sh
# `make install PREFIX=...` gives a usable tree: a program built with
# pkg-config against the installed header and library runs, the CLI runs,
# and python finds the package and its library.
set -eu
BUILD=$1
PREFIX=$(mktemp -d)
trap 'rm -rf "$PREFIX"' EXIT
cmake --install "$BUILD" --prefix "$PREFIX" >/dev/null
export PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig"
cat > "$PREFIX/use.c" <<'C'
#include <joule/joule.h>
#include <stdio.h>
int main(void)
{
    joule_options *o;
    joule_ctx *c;
    joule_result *r;
    joule_options_create(&o);
    joule_options_set_devices(o, "sim:1:a100");
    if (joule_open(o, &c))
        return 1;
    joule_window_begin(c, "x", 0);
    joule_window_end(c, "x", 0, &r);
    printf("%s %d\n", joule_version(), joule_result_device_count(r));
    joule_result_free(r);
    joule_close(c);
    joule_options_destroy(o);
    return 0;
}
C
cc "$PREFIX/use.c" $(pkg-config --cflags --libs joule) -o "$PREFIX/use"
out=$(LD_LIBRARY_PATH="$PREFIX/lib" "$PREFIX/use")
[ "$out" = "$(pkg-config --modversion joule) 1" ] || { echo "installed library: got '$out'"; exit 1; }
LD_LIBRARY_PATH="$PREFIX/lib" "$PREFIX/bin/joule" --version | grep -q '^joule '
grep -q '"joule_gpu_power_watts' "$PREFIX/share/joule/grafana/joule.json" ||
    { echo "no Grafana dashboard at $PREFIX/share/joule/grafana/joule.json"; exit 1; }
[ -f "$PREFIX/share/doc/joule/LICENSE" ] || { echo "LICENSE not installed"; exit 1; }
if command -v python3 >/dev/null; then
    env -u JOULE_LIBRARY PYTHONPATH="$PREFIX/lib/python3/dist-packages" \
        python3 -c 'import joule; assert joule.library_version' 
fi
echo "install check passed: $PREFIX"
