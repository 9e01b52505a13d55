#!/usr/bin/env bash
# Installs hearsay's C library for pkg-config users:
#
#   PREFIX/lib/libhearsay_ffi.a          (the static library)
#   PREFIX/lib/libhearsay_ffi.so         (the shared library)
#   PREFIX/include/hearsay.h
#   PREFIX/lib/pkgconfig/hearsay.pc
#
# so that, with PREFIX/lib/pkgconfig on pkg-config's path,
#
#   cc app.c $(pkg-config --cflags --libs hearsay)
#
# compiles and links a C program (sources before the flags: a static
# library only resolves symbols that files before it use).
#
# Usage: ffi/install.sh [--static | --shared] [--from DIR] PREFIX
#
#   --static    install only the static library; hearsay.pc's Libs then
#               carries what Rust's standard library needs from the system
#               (-lpthread -ldl ...), since every link is a static one.
#   --shared    install only the shared library.
#               Without either, both are installed, and `--libs` links the
#               shared one (the linker prefers it); `--static --libs` adds
#               the system libraries the static one needs (Libs.private).
#               Installing one kind removes the other kind's library from
#               PREFIX/lib, so what pkg-config says matches what is there.
#   --from DIR  take libhearsay_ffi.{a,so} from DIR instead of building
#               them (`cargo build --release` of this crate); the tests use
#               it to install the libraries cargo built for the test run.
#
# DESTDIR, when set, is prepended to every installed path but not to the
# prefix written in hearsay.pc (staged installs for packagers).
#
# The shared library is found at run time after `ldconfig` (for a system
# prefix such as /usr/local), or with LD_LIBRARY_PATH or -Wl,-rpath,PREFIX/lib.
#
# Linux only: the list of system libraries in this script is what
#   cargo rustc -p hearsay-ffi --lib --crate-type staticlib -- --print native-static-libs
# printed on Linux (glibc); other systems need their own list.
set -euo pipefail

usage() {
    echo "usage: $0 [--static | --shared] [--from DIR] PREFIX (--help: more)" >&2
    exit 2
}

# --help: the comment at the top of this file.
help() {
    sed -n '2,/^set -euo/{s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}"
    exit 0
}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
kind=both
from=""
prefix=""
while (($# > 0)); do
    case $1 in
        --static) kind=static ;;
        --shared) kind=shared ;;
        --from)
            (($# >= 2)) || usage
            from=$2
            shift
            ;;
        -h | --help) help ;;
        -*)
            echo "unknown option: $1" >&2
            usage
            ;;
        *)
            [[ -z $prefix ]] || usage
            prefix=$1
            ;;
    esac
    shift
done
[[ -n $prefix ]] || usage

if [[ $(uname -s) != Linux ]]; then
    echo "$0: only Linux is supported (the system libraries a static link needs differ elsewhere;" >&2
    echo "cargo rustc -p hearsay-ffi --lib --crate-type staticlib -- --print native-static-libs lists them)" >&2
    exit 1
fi
# What the static library needs from the system, as --print
# native-static-libs lists it (see the top of this file).
native_libs="-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc"

# hearsay.pc names the prefix, so it must be absolute; pkg-config splits
# its fields at spaces, so a prefix with whitespace cannot be written there.
[[ $prefix == /* ]] || prefix=$PWD/$prefix
if [[ $prefix =~ [[:space:]] ]]; then
    echo "$0: the prefix may not contain whitespace (pkg-config cannot express it): '$prefix'" >&2
    exit 1
fi

if [[ -z $from ]]; then
    cargo build --release --manifest-path "$here/Cargo.toml"
    # Where cargo put it (the workspace's target/, or CARGO_TARGET_DIR).
    target=$(cargo metadata --format-version 1 --no-deps --manifest-path "$here/Cargo.toml" |
        sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
    [[ -n $target ]] || {
        echo "$0: cannot find cargo's target directory" >&2
        exit 1
    }
    from=$target/release
fi

# The version hearsay.pc declares: this crate's.
version=$(sed -n 's/^version = "\([^"]*\)"$/\1/p' "$here/Cargo.toml" | head -n 1)
[[ -n $version ]] || {
    echo "$0: no version in $here/Cargo.toml" >&2
    exit 1
}

case $kind in
    static)
        libs="-L\${libdir} -lhearsay_ffi $native_libs"
        private=""
        ;;
    shared)
        libs="-L\${libdir} -lhearsay_ffi"
        private=""
        ;;
    both)
        libs="-L\${libdir} -lhearsay_ffi"
        private=$native_libs
        ;;
esac

for lib in a so; do
    case $kind:$lib in
        static:so | shared:a) continue ;;
    esac
    [[ -f $from/libhearsay_ffi.$lib ]] || {
        echo "$0: $from/libhearsay_ffi.$lib not found" >&2
        exit 1
    }
done

dest=${DESTDIR:-}$prefix
mkdir -p "$dest/lib/pkgconfig" "$dest/include"
case $kind in
    static | both) install -m 644 "$from/libhearsay_ffi.a" "$dest/lib/" ;;
esac
case $kind in
    shared | both) install -m 755 "$from/libhearsay_ffi.so" "$dest/lib/" ;;
esac
case $kind in
    static) rm -f "$dest/lib/libhearsay_ffi.so" ;;
    shared) rm -f "$dest/lib/libhearsay_ffi.a" ;;
esac
install -m 644 "$here/include/hearsay.h" "$dest/include/"

# The prefix with sed's special characters in a replacement escaped.
prefix_sed=$(printf '%s' "$prefix" | sed 's/[&|\\]/\\&/g')
# The template's own comments (lines starting with #) stay out.
pc="# Written by hearsay-ffi's install.sh ($kind)."$'\n'
pc+=$(sed -e '/^#/d' -e "s|@PREFIX@|$prefix_sed|" -e "s|@VERSION@|$version|" \
    -e "s|@LIBS@|$libs|" "$here/hearsay.pc.in")
if [[ -n $private ]]; then
    pc+=$'\n'"Libs.private: $private"
fi
printf '%s\n' "$pc" >"$dest/lib/pkgconfig/hearsay.pc"
chmod 644 "$dest/lib/pkgconfig/hearsay.pc"

echo "installed hearsay $version ($kind) in ${dest}: lib/, include/hearsay.h, lib/pkgconfig/hearsay.pc"
echo "pkg-config finds it with PKG_CONFIG_PATH=$prefix/lib/pkgconfig (unless that is on its default path)"
