#!/bin/sh
# deps.sh - installs what mta needs from Debian 12 packages.
#   scripts/deps.sh          build and run
#   scripts/deps.sh --test   also what the test suite and benchmarks use
set -eu
export DEBIAN_FRONTEND=noninteractive
[ "$(id -u)" = 0 ] || { echo "deps.sh: run as root (apt-get)" >&2; exit 1; }

# ca-certificates: the CA bundle outbound_tls verify and MTA-STS trust.
BUILD="gcc pkg-config meson ninja-build libuv1-dev libbearssl-dev libc-ares-dev liblmdb-dev
       libsodium-dev libcrypt-dev ca-certificates"
# Tests start real programs: Postfix (receiving MX hosts, smtp-sink and
# smtp-source for benchmarks), bsd-mailx and git send-email as clients,
# LMDB tools, python3 for checks; util-linux/procps for setpriv and pgrep;
# clang's libFuzzer for the fuzz targets; python3-dkim (with python3-nacl
# for Ed25519) and opendkim-tools verify DKIM signatures; openssl makes the
# TLS tests' CA and certificates.
TEST="postfix bsd-mailx git git-email libmailtools-perl swaks python3 lmdb-utils util-linux procps
      dnsmasq-base python3-dkim python3-nacl opendkim-tools openssl msmtp clang libclang-rt-14-dev"

want=$BUILD
[ "${1:-}" = "--test" ] && want="$BUILD $TEST"
# Postfix's installer must not ask questions nor configure a system MTA:
# the tests run private instances.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $want
