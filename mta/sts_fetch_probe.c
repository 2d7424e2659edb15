/*
 * sts_fetch_probe.c - a test-only driver of sts_fetch: fetches the
 * MTA-STS policy of DOMAIN from IP:PORT, trusting the CAs in CAFILE, and
 * prints the parsed policy (in the cache format) or the error.
 *
 * Usage: sts_fetch_probe IP PORT DOMAIN CAFILE [TIMEOUT_MS]
 * Exits 0 with the policy on stdout, 1 with "fetch: ..." or "policy: ..."
 * on stderr, 2 for bad arguments. Not installed.
 *
 * Trust: the arguments are the tester's; what the server sends goes
 * through sts_fetch and sts_policy_parse, which trust nothing.
 */
#include "sts.h"
#include "../smtp/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int usage(void)
{
    fprintf(stderr, "usage: sts_fetch_probe IP PORT DOMAIN CAFILE [TIMEOUT_MS]\n");
    return 2;
}

int main(int argc, char **argv)
{
    struct sockaddr_storage ss;
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    struct tls_trust *trust = NULL;
    struct sts_policy policy;
    char err[512] = "", *body = NULL, *end = NULL, enc[STS_ENCODED_MAX];
    unsigned long port, timeout_ms = 10000;
    size_t len = 0;
    int rc, status = 1;

    if (argc != 5 && argc != 6)
        return usage();
    port = strtoul(argv[2], &end, 10);
    if (*argv[2] == '\0' || *end != '\0' || port == 0 || port > 65535)
        return usage();
    if (argc == 6) {
        timeout_ms = strtoul(argv[5], &end, 10);
        if (*argv[5] == '\0' || *end != '\0' || timeout_ms > 600000)
            return usage();
    }
    memset(&ss, 0, sizeof ss);
    if (inet_pton(AF_INET, argv[1], &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons((unsigned short)port);
    } else if (inet_pton(AF_INET6, argv[1], &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((unsigned short)port);
    } else {
        return usage();
    }
    if ((rc = tls_trust_load(argv[4], &trust, err, sizeof err)) < 0) {
        fprintf(stderr, "trust: %s: %s\n", argv[4], err);
        return 2;
    }

    rc = sts_fetch((struct sockaddr *)&ss, argv[3], trust, (unsigned)timeout_ms, &body, &len, err,
                   sizeof err);
    if (rc < 0) {
        fprintf(stderr, "fetch: %d (%s): %s\n", rc, strerror(-rc), err);
        goto fail;
    }
    rc = sts_policy_parse(body, len, &policy, err, sizeof err);
    if (rc < 0) {
        fprintf(stderr, "policy: %d (%s): %s\n", rc, strerror(-rc), err);
        goto fail;
    }
    policy.fetched = (int64_t)time(NULL);
    rc = sts_policy_encode(&policy, enc, sizeof enc);
    if (rc < 0) {
        fprintf(stderr, "encode: %d (%s)\n", rc, strerror(-rc));
        goto fail;
    }
    fputs(enc, stdout);
    status = 0;
fail:
    free(body);
    tls_trust_free(trust);
    return status;
}
