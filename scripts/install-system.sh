#!/bin/sh
# install-system.sh - after `meson install`: the group that may write the
# maildrop, the user mtad runs as, the setgid bit on the helper, the queue
# directory.
#
#   mtadrop   group; only mta-postdrop runs with it (setgid), so that
#             sendmail can queue mail while mtad is not running
#   mta       system user (no login, no home) mtad becomes once its ports
#             are bound; it owns the queue and is in mtadrop to read the
#             maildrop
#   PREFIX/libexec/mta/mta-postdrop   root:mtadrop 2755
#   /var/spool/mta                    root 0755 (mtad creates the rest:
#             db/ 0700 mta, public/ 0755 mta, maildrop/ 1770 mta:mtadrop,
#             corrupt/ 0700 mta)
set -eu
PREFIX=${PREFIX:-/usr/local}
GROUP=${GROUP:-mtadrop}
QUEUE_DIR=${QUEUE_DIR:-/var/spool/mta}

USER_NAME=${USER_NAME:-mta}
getent group "$GROUP" >/dev/null || groupadd --system "$GROUP"
getent passwd "$USER_NAME" >/dev/null ||
    useradd --system --user-group --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin "$USER_NAME"
usermod -a -G "$GROUP" "$USER_NAME"
chown root:"$GROUP" "$PREFIX/libexec/mta/mta-postdrop"
chmod 2755 "$PREFIX/libexec/mta/mta-postdrop"
install -d -m 0755 -o root -g root "$QUEUE_DIR"
echo "install-system: group $GROUP, user $USER_NAME, setgid $PREFIX/libexec/mta/mta-postdrop, $QUEUE_DIR"
