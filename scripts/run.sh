#!/bin/sh
# run.sh - the README's first command: install dependencies, build, install
# under /usr/local, and run mtad in the foreground with its built-in
# defaults (queue in /var/spool/mta, log on stderr). Ctrl-C stops it.
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh
[ -d build ] || meson setup build --prefix=/usr/local
ninja -C build
meson install -C build --quiet
scripts/install-system.sh
exec /usr/local/sbin/mtad run
