/*
 * test_tls.c - unit tests for smtp/tls.c: loading trust anchors, and
 * client sessions against a BearSSL server in memory (no sockets), one
 * per certificate case: the handshake outcome and the recorded verdict
 * under TLS_CHECK_RECORD and TLS_CHECK_REQUIRE, which pins down the name
 * matching rules that tls.c documents (RFC 6125 as BearSSL 0.6 does it).
 *
 * The certificates below were made once with `openssl ca` (EC P-256, one
 * server key for all): a CA valid 2020-2120; for mx.example.test valid
 * 2020-2120 ("good"), for *.example.test ("star"), expired in 2002,
 * without subjectAltName (CN only), with a SAN for another name but the
 * CN mx.example.test ("sanother"), and self-signed.
 */
#include "tls.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"

static const char ca_pem[] = "-----BEGIN CERTIFICATE-----\n"
                             "MIIBYjCCAQegAwIBAgIBCzAKBggqhkjOPQQDAjAXMRUwEwYDVQQDDAxVbml0IFRl\n"
                             "c3QgQ0EwIBcNMjAwMTAxMDAwMDAwWhgPMjEyMDAxMDEwMDAwMDBaMBcxFTATBgNV\n"
                             "BAMMDFVuaXQgVGVzdCBDQTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABLqdOvX4\n"
                             "DG7zsm7MTplfLhTFdGuO66pcVxLVWEBa+A96nr1QlqGWt3+Rm1vx3yNSnppwuj8T\n"
                             "iC5qyanafOdWxO+jQjBAMA8GA1UdEwEB/wQFMAMBAf8wDgYDVR0PAQH/BAQDAgIE\n"
                             "MB0GA1UdDgQWBBTkMRxoDalpMv1gINyz4TbK/zUSXTAKBggqhkjOPQQDAgNJADBG\n"
                             "AiEA2cdD+XBqGtUNToXXSN6eYPYLONGchzMGSRZ2QhCkbnsCIQCZ8DAeL3xsWzo8\n"
                             "i28MvxtO2hKK8bVc3B3nEXiB+8ytSg==\n"
                             "-----END CERTIFICATE-----\n";
static const char key_pem[] = "-----BEGIN PRIVATE KEY-----\n"
                              "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgtH4yMASewRYp49KJ\n"
                              "n4Tnzr5Y0zRpYBFiR0Y2yOdBtnehRANCAARhJuONqcKocbE5+aM6KMaStdN9NoVy\n"
                              "yErcJCozVMgm7Nx+Kl/GGPyh6/yk9czCsG+Ckt49W3mQRR/gba50RFl3\n"
                              "-----END PRIVATE KEY-----\n";
static const char good_pem[] = "-----BEGIN CERTIFICATE-----\n"
                               "MIIBnjCCAUSgAwIBAgIBDDAKBggqhkjOPQQDAjAXMRUwEwYDVQQDDAxVbml0IFRl\n"
                               "c3QgQ0EwIBcNMjAwMTAxMDAwMDAwWhgPMjEyMDAxMDEwMDAwMDBaMBoxGDAWBgNV\n"
                               "BAMMD214LmV4YW1wbGUudGVzdDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABGEm\n"
                               "442pwqhxsTn5ozooxpK10302hXLIStwkKjNUyCbs3H4qX8YY/KHr/KT1zMKwb4KS\n"
                               "3j1beZBFH+BtrnREWXejfDB6MAwGA1UdEwEB/wQCMAAwDgYDVR0PAQH/BAQDAgeA\n"
                               "MBoGA1UdEQQTMBGCD214LmV4YW1wbGUudGVzdDAdBgNVHQ4EFgQUbBCs9ViDMxxj\n"
                               "DRWV2zjf180djdowHwYDVR0jBBgwFoAU5DEcaA2paTL9YCDcs+E2yv81El0wCgYI\n"
                               "KoZIzj0EAwIDSAAwRQIgPqjzR1EwBASOvmvMGiuWtQAb0PKzmcOp18CoQrUqOTMC\n"
                               "IQCNOLo2Yy/w6w7NaVDiMnzdDvJdMGzD81Zqpmc6+0wgqw==\n"
                               "-----END CERTIFICATE-----\n";
static const char star_pem[] = "-----BEGIN CERTIFICATE-----\n"
                               "MIIBmzCCAUKgAwIBAgIBDTAKBggqhkjOPQQDAjAXMRUwEwYDVQQDDAxVbml0IFRl\n"
                               "c3QgQ0EwIBcNMjAwMTAxMDAwMDAwWhgPMjEyMDAxMDEwMDAwMDBaMBkxFzAVBgNV\n"
                               "BAMMDiouZXhhbXBsZS50ZXN0MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEYSbj\n"
                               "janCqHGxOfmjOijGkrXTfTaFcshK3CQqM1TIJuzcfipfxhj8oev8pPXMwrBvgpLe\n"
                               "PVt5kEUf4G2udERZd6N7MHkwDAYDVR0TAQH/BAIwADAOBgNVHQ8BAf8EBAMCB4Aw\n"
                               "GQYDVR0RBBIwEIIOKi5leGFtcGxlLnRlc3QwHQYDVR0OBBYEFGwQrPVYgzMcYw0V\n"
                               "lds439fNHY3aMB8GA1UdIwQYMBaAFOQxHGgNqWky/WAg3LPhNsr/NRJdMAoGCCqG\n"
                               "SM49BAMCA0cAMEQCIBrdOnlkFsIcFPH9TneH4IZyVdx7WMPq27IH7D0st/VFAiBL\n"
                               "9t/OIWGMJzSNofjvyVIYO5pujFcYMwurERDyxpvwTg==\n"
                               "-----END CERTIFICATE-----\n";
static const char expired_pem[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBnDCCAUKgAwIBAgIBDjAKBggqhkjOPQQDAjAXMRUwEwYDVQQDDAxVbml0IFRl\n"
    "c3QgQ0EwHhcNMDEwMTAxMDAwMDAwWhcNMDIwMTAxMDAwMDAwWjAaMRgwFgYDVQQD\n"
    "DA9teC5leGFtcGxlLnRlc3QwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAARhJuON\n"
    "qcKocbE5+aM6KMaStdN9NoVyyErcJCozVMgm7Nx+Kl/GGPyh6/yk9czCsG+Ckt49\n"
    "W3mQRR/gba50RFl3o3wwejAMBgNVHRMBAf8EAjAAMA4GA1UdDwEB/wQEAwIHgDAa\n"
    "BgNVHREEEzARgg9teC5leGFtcGxlLnRlc3QwHQYDVR0OBBYEFGwQrPVYgzMcYw0V\n"
    "lds439fNHY3aMB8GA1UdIwQYMBaAFOQxHGgNqWky/WAg3LPhNsr/NRJdMAoGCCqG\n"
    "SM49BAMCA0gAMEUCIQCEDhNTvtaa2z9jNH+cROZc8hfr+U+40twCgtI5WdtrUgIg\n"
    "XyhzxGzCV3UmwHIAtwLKemCCN5VCCWbl5CsFsEroFMY=\n"
    "-----END CERTIFICATE-----\n";
static const char cnonly_pem[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBgjCCASigAwIBAgIBDzAKBggqhkjOPQQDAjAXMRUwEwYDVQQDDAxVbml0IFRl\n"
    "c3QgQ0EwIBcNMjAwMTAxMDAwMDAwWhgPMjEyMDAxMDEwMDAwMDBaMBoxGDAWBgNV\n"
    "BAMMD214LmV4YW1wbGUudGVzdDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABGEm\n"
    "442pwqhxsTn5ozooxpK10302hXLIStwkKjNUyCbs3H4qX8YY/KHr/KT1zMKwb4KS\n"
    "3j1beZBFH+BtrnREWXejYDBeMAwGA1UdEwEB/wQCMAAwDgYDVR0PAQH/BAQDAgeA\n"
    "MB0GA1UdDgQWBBRsEKz1WIMzHGMNFZXbON/XzR2N2jAfBgNVHSMEGDAWgBTkMRxo\n"
    "DalpMv1gINyz4TbK/zUSXTAKBggqhkjOPQQDAgNIADBFAiEAwb1d2U7EWHWIhpv9\n"
    "8tCW2n2UT9mpsAd2L0QtizLPJ0cCID4vRizkNh9wdShk6i48JdmAiZHsS42MkLXa\n"
    "3i7s5ZGx\n"
    "-----END CERTIFICATE-----\n";
static const char sanother_pem[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBoTCCAUegAwIBAgIBEDAKBggqhkjOPQQDAjAXMRUwEwYDVQQDDAxVbml0IFRl\n"
    "c3QgQ0EwIBcNMjAwMTAxMDAwMDAwWhgPMjEyMDAxMDEwMDAwMDBaMBoxGDAWBgNV\n"
    "BAMMD214LmV4YW1wbGUudGVzdDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABGEm\n"
    "442pwqhxsTn5ozooxpK10302hXLIStwkKjNUyCbs3H4qX8YY/KHr/KT1zMKwb4KS\n"
    "3j1beZBFH+BtrnREWXejfzB9MAwGA1UdEwEB/wQCMAAwDgYDVR0PAQH/BAQDAgeA\n"
    "MB0GA1UdEQQWMBSCEm90aGVyLmV4YW1wbGUudGVzdDAdBgNVHQ4EFgQUbBCs9ViD\n"
    "MxxjDRWV2zjf180djdowHwYDVR0jBBgwFoAU5DEcaA2paTL9YCDcs+E2yv81El0w\n"
    "CgYIKoZIzj0EAwIDSAAwRQIhAJ8HUaLryKGabwj21HVpNeJ04E144Vrb3BNwGpM1\n"
    "mcZnAiBXUKA0Soomad1mAQfqdhz5srgybkNb8ffV67rjW5g23A==\n"
    "-----END CERTIFICATE-----\n";
static const char self_pem[] = "-----BEGIN CERTIFICATE-----\n"
                               "MIIBozCCAUqgAwIBAgIUJoJ1SovYZr3LbAH2JqV6IoB18JMwCgYIKoZIzj0EAwIw\n"
                               "GjEYMBYGA1UEAwwPbXguZXhhbXBsZS50ZXN0MCAXDTI2MTEyNTAzMTMwOVoYDzIx\n"
                               "MjYxMTAxMDMxMzA5WjAaMRgwFgYDVQQDDA9teC5leGFtcGxlLnRlc3QwWTATBgcq\n"
                               "hkjOPQIBBggqhkjOPQMBBwNCAARhJuONqcKocbE5+aM6KMaStdN9NoVyyErcJCoz\n"
                               "VMgm7Nx+Kl/GGPyh6/yk9czCsG+Ckt49W3mQRR/gba50RFl3o2wwajAdBgNVHQ4E\n"
                               "FgQUbBCs9ViDMxxjDRWV2zjf180djdowHwYDVR0jBBgwFoAUbBCs9ViDMxxjDRWV\n"
                               "2zjf180djdowGgYDVR0RBBMwEYIPbXguZXhhbXBsZS50ZXN0MAwGA1UdEwEB/wQC\n"
                               "MAAwCgYIKoZIzj0EAwIDRwAwRAIgSWGd/tIyGEJ/6JqOHv54l5+hQmV2+6NMl3d/\n"
                               "pIRiHJUCIGMXXFa2cgQByl7AnpPxK8ZdLZqnr0/Ghl99GAWYj2LF\n"
                               "-----END CERTIFICATE-----\n";

struct bytes {
    unsigned char *p;
    size_t len;
};

static void bytes_append(void *ctx, const void *data, size_t len)
{
    struct bytes *b = ctx;
    unsigned char *p = realloc(b->p, b->len + len);
    if (!p)
        abort();
    memcpy(p + b->len, data, len);
    b->p = p;
    b->len += len;
}

/* The DER of the first object in pem (the caller frees out->p). */
static void pem_to_der(const char *pem, struct bytes *out)
{
    br_pem_decoder_context pc;
    size_t len = strlen(pem), off = 0;
    int done = 0;

    out->p = NULL;
    out->len = 0;
    br_pem_decoder_init(&pc);
    while (off < len && !done) {
        off += br_pem_decoder_push(&pc, pem + off, len - off);
        switch (br_pem_decoder_event(&pc)) {
        case BR_PEM_BEGIN_OBJ:
            br_pem_decoder_setdest(&pc, bytes_append, out);
            break;
        case BR_PEM_END_OBJ:
            done = 1;
            break;
        case BR_PEM_ERROR:
            abort();
        }
    }
    CHECK(done);
}

/* Writes text to a temporary file; returns its path (static buffer). */
static const char *temp_file(const char *text)
{
    static char path[64];
    snprintf(path, sizeof(path), "/tmp/test_tls.XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
        abort();
    close(fd);
    return path;
}

/* ---- an in-memory server ---- */

struct server {
    br_ssl_server_context sc;
    br_skey_decoder_context kd;
    br_x509_certificate chain[1];
    struct bytes cert, key;
    unsigned char buf[BR_SSL_BUFSIZE_BIDI];
};

static struct server *server_new(const char *cert_pem)
{
    struct server *s = calloc(1, sizeof(*s));
    if (!s)
        abort();
    pem_to_der(cert_pem, &s->cert);
    pem_to_der(key_pem, &s->key);
    br_skey_decoder_init(&s->kd);
    br_skey_decoder_push(&s->kd, s->key.p, s->key.len);
    CHECK_INT(br_skey_decoder_key_type(&s->kd), BR_KEYTYPE_EC);
    s->chain[0].data = s->cert.p;
    s->chain[0].data_len = s->cert.len;
    br_ssl_server_init_full_ec(&s->sc, s->chain, 1, BR_KEYTYPE_EC, br_skey_decoder_get_ec(&s->kd));
    br_ssl_engine_set_buffer(&s->sc.eng, s->buf, sizeof(s->buf), 1);
    CHECK(br_ssl_server_reset(&s->sc));
    return s;
}

static void server_free(struct server *s)
{
    free(s->cert.p);
    free(s->key.p);
    free(s);
}

/* Moves records both ways until neither side has anything to say.
 * Returns the client's state. */
static enum tls_state pump(struct tls_session *c, struct server *s)
{
    br_ssl_engine_context *se = &s->sc.eng;
    for (int round = 0; round < 1000; round++) {
        int moved = 0;
        size_t len, room;
        const unsigned char *p;
        unsigned char *q;

        if ((p = tls_session_pending(c, &len)) != NULL &&
            (q = br_ssl_engine_recvrec_buf(se, &room)) != NULL) {
            if (room > len)
                room = len;
            memcpy(q, p, room);
            tls_session_sent(c, room);
            br_ssl_engine_recvrec_ack(se, room);
            moved = 1;
        }
        if ((q = br_ssl_engine_sendrec_buf(se, &len)) != NULL) {
            size_t n = tls_session_feed(c, q, len);
            br_ssl_engine_sendrec_ack(se, n);
            moved |= n > 0;
        }
        if (!moved)
            break;
    }
    return tls_session_state(c);
}

/* ---- cases ---- */

struct hs_case {
    const char *what;
    const char *cert_pem;
    const char *name;
    int with_trust;
    enum tls_check check;
    enum tls_state state; /* the client's, after the handshake */
    int verified;
    const char *verify_error; /* "" when verified */
};

static const struct hs_case cases[] = {
    {"valid chain, right name", good_pem, "mx.example.test", 1, TLS_CHECK_REQUIRE, TLS_STATE_OPEN,
     1, ""},
    {"name case differs", good_pem, "MX.Example.TEST", 1, TLS_CHECK_REQUIRE, TLS_STATE_OPEN, 1, ""},
    {"valid chain, another name: recorded", good_pem, "other.example.test", 1, TLS_CHECK_RECORD,
     TLS_STATE_OPEN, 0, "BR_ERR_X509_BAD_SERVER_NAME"},
    {"valid chain, another name: refused", good_pem, "other.example.test", 1, TLS_CHECK_REQUIRE,
     TLS_STATE_CLOSED, 0, "BR_ERR_X509_BAD_SERVER_NAME"},
    {"no name: recorded", good_pem, NULL, 1, TLS_CHECK_RECORD, TLS_STATE_OPEN, 0,
     "no server name to match"},
    {"no name: refused", good_pem, NULL, 1, TLS_CHECK_REQUIRE, TLS_STATE_CLOSED, 0,
     "no server name to match"},
    {"no anchors: recorded", good_pem, "mx.example.test", 0, TLS_CHECK_RECORD, TLS_STATE_OPEN, 0,
     "BR_ERR_X509_NOT_TRUSTED"},
    {"wildcard for one label", star_pem, "mx.example.test", 1, TLS_CHECK_REQUIRE, TLS_STATE_OPEN, 1,
     ""},
    {"wildcard is not the bare domain", star_pem, "example.test", 1, TLS_CHECK_RECORD,
     TLS_STATE_OPEN, 0, "BR_ERR_X509_BAD_SERVER_NAME"},
    {"wildcard is not two labels", star_pem, "a.mx.example.test", 1, TLS_CHECK_REQUIRE,
     TLS_STATE_CLOSED, 0, "BR_ERR_X509_BAD_SERVER_NAME"},
    {"expired: recorded", expired_pem, "mx.example.test", 1, TLS_CHECK_RECORD, TLS_STATE_OPEN, 0,
     "BR_ERR_X509_EXPIRED"},
    {"expired: refused", expired_pem, "mx.example.test", 1, TLS_CHECK_REQUIRE, TLS_STATE_CLOSED, 0,
     "BR_ERR_X509_EXPIRED"},
    {"self-signed: recorded", self_pem, "mx.example.test", 1, TLS_CHECK_RECORD, TLS_STATE_OPEN, 0,
     "BR_ERR_X509_NOT_TRUSTED"},
    {"self-signed: refused", self_pem, "mx.example.test", 1, TLS_CHECK_REQUIRE, TLS_STATE_CLOSED, 0,
     "BR_ERR_X509_NOT_TRUSTED"},
    {"CN used when there is no SAN", cnonly_pem, "mx.example.test", 1, TLS_CHECK_REQUIRE,
     TLS_STATE_OPEN, 1, ""},
    {"CN ignored when a SAN exists", sanother_pem, "mx.example.test", 1, TLS_CHECK_REQUIRE,
     TLS_STATE_CLOSED, 0, "BR_ERR_X509_BAD_SERVER_NAME"},
};

/* After the handshake: a command one way, a reply the other. */
static void check_data(struct tls_session *c, struct server *s)
{
    br_ssl_engine_context *se = &s->sc.eng;
    unsigned char *q;
    char got[64];
    size_t len, n;

    CHECK_INT(tls_session_write(c, "EHLO x\r\n", 8), 8);
    tls_session_flush(c);
    pump(c, s);
    q = br_ssl_engine_recvapp_buf(se, &len);
    CHECK(q != NULL);
    if (q) {
        CHECK_MEM((char *)q, len, "EHLO x\r\n");
        br_ssl_engine_recvapp_ack(se, len);
    }
    q = br_ssl_engine_sendapp_buf(se, &len);
    CHECK(q != NULL && len >= 8);
    if (q) {
        memcpy(q, "250 ok\r\n", 8);
        br_ssl_engine_sendapp_ack(se, 8);
        br_ssl_engine_flush(se, 0);
    }
    pump(c, s);
    n = tls_session_read(c, got, sizeof(got));
    CHECK_MEM(got, n, "250 ok\r\n");
    CHECK_INT(tls_session_read(c, got, sizeof(got)), 0);
}

static void test_handshakes(const struct tls_trust *trust)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct hs_case *k = &cases[i];
        struct server *s = server_new(k->cert_pem);
        struct tls_session *c = NULL;
        struct tls_info info;

        fprintf(stderr, "case: %s\n", k->what);
        CHECK_INT(tls_session_client(k->with_trust ? trust : NULL, k->name, k->check, &c), 0);
        if (!c) {
            server_free(s);
            continue;
        }
        CHECK_INT(tls_session_state(c), TLS_STATE_HANDSHAKE);
        CHECK_INT(pump(c, s), k->state);
        CHECK_INT(tls_session_info(c, &info), k->state == TLS_STATE_OPEN ? 0 : -EAGAIN);
        CHECK_INT(info.verified, k->verified);
        CHECK_STR(info.verify_error, k->verify_error);
        if (k->state == TLS_STATE_OPEN) {
            CHECK_STR(info.version, "TLSv1.2");
            CHECK_STR(info.cipher, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256");
            check_data(c, s);
        } else {
            char name[64];
            CHECK_STR(tls_error_name(tls_session_error(c), name, sizeof(name)),
                      k->verify_error[0] == 'B' ? k->verify_error : "BR_ERR_X509_BAD_SERVER_NAME");
        }
        tls_session_free(c);
        server_free(s);
    }
}

static void test_trust_load(void)
{
    struct tls_trust *t = NULL;
    char err[256];
    size_t n;
    const char *path;
    char *bundle;

    CHECK_INT(tls_trust_load("/nonexistent/ca.pem", &t, err, sizeof(err)), -ENOENT);
    CHECK(t == NULL);
    CHECK(strstr(err, "/nonexistent/ca.pem") != NULL);

    path = temp_file("no certificate here\n");
    CHECK_INT(tls_trust_load(path, &t, err, sizeof(err)), -EINVAL);
    CHECK(strstr(err, "no usable certificate") != NULL);
    unlink(path);

    /* A private key is skipped, two certificates are two anchors; text
     * around the PEM blocks (as in bundles) is ignored. */
    bundle = malloc(strlen(ca_pem) + strlen(key_pem) + strlen(good_pem) + 64);
    sprintf(bundle, "# a comment\n%s%s\nUnit Test CA again:\n%s", ca_pem, key_pem, good_pem);
    path = temp_file(bundle);
    CHECK_INT(tls_trust_load(path, &t, err, sizeof(err)), 0);
    CHECK(tls_trust_anchors(t, &n) != NULL);
    CHECK_INT(n, 2);
    tls_trust_free(t);
    unlink(path);
    free(bundle);

    /* The system bundle, when there is one: every anchor decodes. */
    if (access("/etc/ssl/certs/ca-certificates.crt", R_OK) == 0) {
        CHECK_INT(tls_trust_load("/etc/ssl/certs/ca-certificates.crt", &t, err, sizeof(err)), 0);
        tls_trust_anchors(t, &n);
        CHECK(n > 50);
        fprintf(stderr, "system bundle: %zu anchors\n", n);
        tls_trust_free(t);
    }

    CHECK(tls_trust_anchors(NULL, &n) == NULL);
    CHECK_INT(n, 0);
    tls_trust_free(NULL);
    tls_session_free(NULL);
}

static void test_error_names(void)
{
    char buf[64];
    CHECK_STR(tls_error_name(BR_ERR_X509_EXPIRED, buf, sizeof(buf)), "BR_ERR_X509_EXPIRED");
    CHECK_STR(tls_error_name(BR_ERR_BAD_MAC, buf, sizeof(buf)), "BR_ERR_BAD_MAC");
    CHECK_STR(tls_error_name(BR_ERR_RECV_FATAL_ALERT + 40, buf, sizeof(buf)),
              "BR_ERR_RECV_FATAL_ALERT(40)");
    CHECK_STR(tls_error_name(BR_ERR_SEND_FATAL_ALERT + 42, buf, sizeof(buf)),
              "BR_ERR_SEND_FATAL_ALERT(42)");
    CHECK_STR(tls_error_name(11, buf, sizeof(buf)), "BR_ERR_11");
}

int main(void)
{
    struct tls_trust *trust = NULL;
    char err[256];
    const char *path = temp_file(ca_pem);

    CHECK_INT(tls_trust_load(path, &trust, err, sizeof(err)), 0);
    unlink(path);
    test_trust_load();
    test_error_names();
    test_handshakes(trust);
    struct tls_session *c = NULL;
    CHECK_INT(tls_session_client(NULL, "x", TLS_CHECK_RECORD, &c), 0);
    tls_session_free(c);
    fprintf(stderr, "bytes per TLS session: %zu\n", tls_session_size());
    tls_trust_free(trust);
    CHECK_DONE();
}
