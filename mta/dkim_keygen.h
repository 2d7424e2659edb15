/*
 * dkim_keygen.h - `mtad dkim-keygen`: makes a DKIM key and tells the
 * operator what to publish and what to configure.
 */
#ifndef MTA_DKIM_KEYGEN_H
#define MTA_DKIM_KEYGEN_H

#include <stdio.h>

#include "config.h"

/*
 * mtad dkim-keygen [--type rsa|ed25519] [--bits N] [--force] DOMAIN SELECTOR
 * argv[0] is "dkim-keygen". Writes cfg->dkim_key_dir/DOMAIN.SELECTOR.key
 * (mode 0600; the directory is made 0700 when missing; an existing key is
 * kept unless --force), then prints the DNS TXT record and the dkim_key
 * line to out. Returns the exit status (0, 1 on failure, 64 on usage).
 */
int dkim_keygen_main(const struct config *cfg, int argc, char **argv, FILE *out);

#endif
