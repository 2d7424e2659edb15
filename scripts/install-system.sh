#!/bin/sh
# install-system.sh - after `meson install`: the group that may write the
# maildrop, the setgid bit on the helper, the queue directory.
#
#   mtadrop   group; only mta-postdrop runs with it (setgid), so that
#             sendmail can queue mail while mtad is not running
#   PREFIX/libexec/mta/mta-postdrop   root:mtadrop 2755
#   /var/spool/mta                    root 0755 (mtad creates the rest:
#             db/ 0700, public/ 0755, maildrop/ 1770 root:mtadrop, corrupt/ 0700)
#
# mtad itself runs as root for now; nothing in the queue is world-writable.
set -eu
PREFIX=${PREFIX:-/usr/local}
GROUP=${GROUP:-mtadrop}
QUEUE_DIR=${QUEUE_DIR:-/var/spool/mta}

getent group "$GROUP" >/dev/null || groupadd --system "$GROUP"
chown root:"$GROUP" "$PREFIX/libexec/mta/mta-postdrop"
chmod 2755 "$PREFIX/libexec/mta/mta-postdrop"
install -d -m 0755 -o root -g root "$QUEUE_DIR"
echo "install-system: group $GROUP, setgid $PREFIX/libexec/mta/mta-postdrop, $QUEUE_DIR"
