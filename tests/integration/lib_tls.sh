# lib_tls.sh - certificates and STARTTLS for TLS scenarios: a private
# test CA made with openssl, certificates it signs (for a name, for a
# wildcard, expired) or self-signed ones, and a switch that turns
# STARTTLS on in a Postfix started by lib_mx.sh's start_postfix.
# Source after lib.sh and lib_mx.sh:
#
#   tls_ca                                  # $TLS_DIR/ca.crt, the anchor
#   tls_cert mx mx.example.test             # $TLS_DIR/mx.{key,crt}
#   tls_cert star '*.example.test'
#   tls_cert_selfsigned self mx.example.test
#   tls_cert_expired old mx.example.test
#   start_postfix mx1 127.0.6.1 example.test
#   postfix_tls mx1 mx                      # STARTTLS with $TLS_DIR/mx.crt
#
# Keys are RSA 2048 unless TLS_KEY=ec (P-256). Every certificate of the
# CA is issued by `openssl ca`, which takes -startdate/-enddate: that is
# how an expired one is made with OpenSSL 3.0 (x509 -req has no way to
# backdate).
command -v openssl >/dev/null || skip "openssl is not installed"

TLS_DIR=""
TLS_KEY=${TLS_KEY:-rsa}

# tls__newkey OUT: a private key of the TLS_KEY type.
tls__newkey() {
    case "$TLS_KEY" in
    ec) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null ;;
    *) openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null ;;
    esac || fail "openssl genpkey $1"
}

# tls__stamp DAYS: an openssl ca date, DAYS from now (negative: past).
tls__stamp() { date -u -d "$1 days" +%Y%m%d%H%M%SZ; }

# tls_ca: a CA in $T/tls ("Test CA", valid 10 years), $TLS_DIR set.
tls_ca() {
    TLS_DIR="$T/tls"
    mkdir -p "$TLS_DIR/issued"
    : >"$TLS_DIR/index.txt"
    echo 1000 >"$TLS_DIR/serial"
    cat >"$TLS_DIR/ca.cnf" <<EOF
[ ca ]
default_ca = testca
[ testca ]
dir = $TLS_DIR
database = \$dir/index.txt
new_certs_dir = \$dir/issued
certificate = \$dir/ca.crt
private_key = \$dir/ca.key
serial = \$dir/serial
default_md = sha256
policy = policy_any
unique_subject = no
[ policy_any ]
commonName = supplied
[ server ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = \${ENV::TLS_SAN}
EOF
    tls__newkey "$TLS_DIR/ca.key"
    openssl req -x509 -new -key "$TLS_DIR/ca.key" -out "$TLS_DIR/ca.crt" -subj "/CN=Test CA" \
        -days 3650 -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>"$TLS_DIR/ca.log" ||
        fail "openssl req (CA): $(cat "$TLS_DIR/ca.log")"
}

# tls__issue FILE DNSNAME START_DAYS END_DAYS: FILE.{key,crt} for DNSNAME
# (CN and subjectAltName), signed by the CA, valid between the two offsets.
tls__issue() {
    local f="$TLS_DIR/$1" name=$2
    [ -n "$TLS_DIR" ] || fail "tls_ca first"
    tls__newkey "$f.key"
    openssl req -new -key "$f.key" -out "$f.csr" -subj "/CN=$name" 2>"$f.log" ||
        fail "openssl req $1: $(cat "$f.log")"
    TLS_SAN="DNS:$name" openssl ca -batch -config "$TLS_DIR/ca.cnf" -extensions server \
        -in "$f.csr" -out "$f.crt" -notext -startdate "$(tls__stamp "$3")" \
        -enddate "$(tls__stamp "$4")" >>"$f.log" 2>&1 || fail "openssl ca $1: $(cat "$f.log")"
}

# tls_cert FILE DNSNAME: valid since yesterday, for 30 days. DNSNAME may
# be a wildcard ('*.example.test').
tls_cert() { tls__issue "$1" "$2" -1 30; }

# tls_cert_expired FILE DNSNAME: issued by the CA, expired 30 days ago.
tls_cert_expired() { tls__issue "$1" "$2" -60 -30; }

# tls_cert_selfsigned FILE DNSNAME: its own issuer, otherwise fine.
tls_cert_selfsigned() {
    local f="$TLS_DIR/$1"
    [ -n "$TLS_DIR" ] || fail "tls_ca first"
    tls__newkey "$f.key"
    openssl req -x509 -new -key "$f.key" -out "$f.crt" -subj "/CN=$2" -days 30 \
        -addext "subjectAltName=DNS:$2" -addext "basicConstraints=critical,CA:FALSE" \
        2>"$f.log" || fail "openssl req -x509 $1: $(cat "$f.log")"
}

# postfix_tls NAME FILE: STARTTLS in Postfix NAME (lib_mx.sh) with the
# certificate FILE (from the functions above), the TLS version and cipher
# in the Received header, and reloads it.
postfix_tls() {
    local dir="$T/$1/etc" f="$TLS_DIR/$2"
    # smtpd reads the key as root before it drops privileges
    chmod 600 "$f.key"
    postconf -c "$dir" -e "smtpd_tls_cert_file = $f.crt" "smtpd_tls_key_file = $f.key" \
        "smtpd_tls_security_level = may" "smtpd_tls_received_header = yes" \
        "smtpd_tls_loglevel = 1" || fail "postconf $1"
    # tlsmgr seeds smtpd's PRNG; without it smtpd logs warnings per session
    postconf -c "$dir" -M "tlsmgr/unix=tlsmgr unix - - n 1000? 1 tlsmgr" || fail "postconf -M $1"
    postfix -c "$dir" reload >>"$T/$1/start.log" 2>&1 || fail "postfix reload $1"
    # smtpd processes started before the reload still run the old config,
    # and tlsmgr starts with it: wait until a TLS session really works.
    sleep 1
    local addr i
    addr=$(awk '$1 ~ /:'"$MX_PORT"'$/ {print $1; exit}' "$dir/master.cf")
    [ -n "$addr" ] || fail "postfix_tls $1: no listener in master.cf"
    for i in $(seq 40); do
        timeout 5 openssl s_client -starttls smtp -connect "$addr" -brief </dev/null 2>&1 |
            grep -qE "^(CONNECTION ESTABLISHED|Protocol version)" && return 0
        sleep 0.25
    done
    fail "postfix $1 does not complete a TLS handshake on $addr"
}

# smtpd_sessions NAME: the "disconnect from" lines of NAME's smtpd, which
# count the commands each session got ("ehlo=1 quit=1 commands=2").
smtpd_sessions() {
    grep "postfix-$1/smtpd\[[0-9]*\]: disconnect from" "$T/$1/maillog" 2>/dev/null |
        sed 's/.*disconnect from [^ ]* //'
}
