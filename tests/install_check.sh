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
# libjoule_mpi, where MPI was found: joule-mpi.pc builds a program that
# runs as a one-rank job (singleton MPI_Init).
if [ -f "$PREFIX/lib/pkgconfig/joule-mpi.pc" ]; then
    cat > "$PREFIX/use_mpi.c" <<'C'
#include <joule/joule_mpi.h>
#include <stdio.h>
int main(int argc, char **argv)
{
    joule_options *o;
    joule_ctx *c;
    joule_result *r = NULL;
    MPI_Init(&argc, &argv);
    joule_options_create(&o);
    joule_options_set_devices(o, "sim:2:a100");
    if (joule_open(o, &c))
        return 1;
    joule_mpi_window_begin(c, "x", 0, MPI_COMM_WORLD);
    int rc = joule_mpi_window_end(c, "x", 0, MPI_COMM_WORLD, &r);
    printf("%d %d\n", rc, joule_result_device_count(r));
    joule_result_free(r);
    joule_close(c);
    joule_options_destroy(o);
    MPI_Finalize();
    return 0;
}
C
    cc "$PREFIX/use_mpi.c" $(pkg-config --cflags --libs joule-mpi) -o "$PREFIX/use_mpi"
    out=$(OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,vader \
          LD_LIBRARY_PATH="$PREFIX/lib" "$PREFIX/use_mpi")
    [ "$out" = "0 2" ] || { echo "installed libjoule_mpi: got '$out'"; exit 1; }
fi
LD_LIBRARY_PATH="$PREFIX/lib" "$PREFIX/bin/joule" --version | grep -q '^joule '
grep -q '"joule_gpu_power_watts' "$PREFIX/share/joule/grafana/joule.json" ||
    { echo "no Grafana dashboard at $PREFIX/share/joule/grafana/joule.json"; exit 1; }
# jouled's default config: installed, valid (sim devices: no GPU here), the
# example kept in the docs, and an edited config kept by a second install.
CONF="$PREFIX/etc/joule/jouled.conf"
[ -f "$CONF" ] || { echo "no default config at $CONF"; exit 1; }
[ -f "$PREFIX/share/doc/joule/jouled.conf.example" ] || { echo "jouled.conf.example not installed"; exit 1; }
LD_LIBRARY_PATH="$PREFIX/lib" "$PREFIX/sbin/jouled" --check-config --config "$CONF" \
    --devices sim:1:h100 >/dev/null || { echo "installed $CONF does not validate"; exit 1; }
echo "# edited" >> "$CONF"
cmake --install "$BUILD" --prefix "$PREFIX" >/dev/null
tail -n1 "$CONF" | grep -q '^# edited$' || { echo "a second install overwrote $CONF"; exit 1; }
# Man pages and completion, where python3 generated them.
if [ -f "$BUILD/generated-docs/stamp" ]; then
    for f in share/man/man1/joule.1 share/man/man1/joule-run.1 share/man/man8/jouled.8 \
             share/bash-completion/completions/joule share/bash-completion/completions/jouled; do
        [ -f "$PREFIX/$f" ] || { echo "$f not installed"; exit 1; }
    done
fi
[ -f "$PREFIX/share/doc/joule/LICENSE" ] || { echo "LICENSE not installed"; exit 1; }
if command -v python3 >/dev/null; then
    env -u JOULE_LIBRARY PYTHONPATH="$PREFIX/lib/python3/dist-packages" \
        python3 -c 'import joule; assert joule.library_version' 
fi
echo "install check passed: $PREFIX"
