/*
 * test_server.c - unit tests for the SMTP server's protocol core
 * (smtp/server_core.c, fed bytes without sockets: replies and hook calls
 * are captured), and for the server side of smtp/tls.c (certificate
 * loading, and a client session against a server session in memory, RSA
 * and EC).
 *
 * The certificates are self-signed for mx.example.test, valid 2026-2126,
 * made with openssl req -x509 (RSA 2048 and EC P-256); the keys are in
 * PKCS#1, SEC1 and PKCS#8 forms.
 */
#include "server.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

#include <sodium.h>

#include "check.h"

static const char rsa_crt[] = "-----BEGIN CERTIFICATE-----\n"
                              "MIIDMzCCAhugAwIBAgIUFMjeDp77zrJy83hruSZ+niaDVFUwDQYJKoZIhvcNAQEL\n"
                              "BQAwGjEYMBYGA1UEAwwPbXguZXhhbXBsZS50ZXN0MCAXDTI2MTEyNTAzNTUwMFoY\n"
                              "DzIxMjYxMTAxMDM1NTAwWjAaMRgwFgYDVQQDDA9teC5leGFtcGxlLnRlc3QwggEi\n"
                              "MA0GCSqGSIb3DQEBAQUAA4IBDwAwggEKAoIBAQDUsA52D4vxssPQpITIlcpPYS6f\n"
                              "hBgvUh3wXj2UHHXZlP2LClyIIp2FqysnYYxFK/X/GP4aqPrnt1D4MEevN8Xa29wi\n"
                              "HRuzMG/Bw1QTiN4weaUoF4Mb0Yhmu3OOCgFVX9XKgBLLoSB57hiwPTxlDhZXaYBy\n"
                              "y7KGqykIggtRsCu2z8EsWpg4gDBGJ3vRD7XkaH21oblEsAQNYWsO4d5uWqL794lK\n"
                              "Oqm74mRkt73A9eRx8AA8rPlA0SJlEUVogWuFjie7A4LNOG6nvj9zcGgpZiw90rEq\n"
                              "dSxoaV9N8XvErV4Hf3f+NFD+cegq+M/TC9IS2ejjITeQowjdBDR8K8XAFJvLAgMB\n"
                              "AAGjbzBtMB0GA1UdDgQWBBRUb6UWNwa5apjykeU4QqRXgI0TlzAfBgNVHSMEGDAW\n"
                              "gBRUb6UWNwa5apjykeU4QqRXgI0TlzAPBgNVHRMBAf8EBTADAQH/MBoGA1UdEQQT\n"
                              "MBGCD214LmV4YW1wbGUudGVzdDANBgkqhkiG9w0BAQsFAAOCAQEAMmyHCAbF/3Js\n"
                              "zojB0MwYOXgJ1v2hTxKyfy9eCviqFIEm3aTFsYakj9RYcyaAf1AA9qAXYpNwa/uN\n"
                              "IzM+kec7YqkOUl2CtM26z3toqe90BL3Qv04YibBrWlQp+oCTN4fcH0iztGd13mRp\n"
                              "EE9k1dfeJVF+OaHxFecEIBHeUWp3+XwTZdi76m18pIv19tT68ewwOpYMk9u6N5ay\n"
                              "jnQK7Itf4OqjJFr4ZsA5g6vFAjK7QtEwt7J8hFDV+rvnyjNAdCiH7eIl3boTNjbP\n"
                              "gnwAuxPGuXsDg7Tc+QZla50UE8gqZzRc/Jz7juQ5bvOqRb+oCLbCcJokwx0dIoMO\n"
                              "3AqQxoEFog==\n"
                              "-----END CERTIFICATE-----\n";
static const char rsa_key_pkcs1[] =
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIIEpAIBAAKCAQEA1LAOdg+L8bLD0KSEyJXKT2Eun4QYL1Id8F49lBx12ZT9iwpc\n"
    "iCKdhasrJ2GMRSv1/xj+Gqj657dQ+DBHrzfF2tvcIh0bszBvwcNUE4jeMHmlKBeD\n"
    "G9GIZrtzjgoBVV/VyoASy6Egee4YsD08ZQ4WV2mAcsuyhqspCIILUbArts/BLFqY\n"
    "OIAwRid70Q+15Gh9taG5RLAEDWFrDuHeblqi+/eJSjqpu+JkZLe9wPXkcfAAPKz5\n"
    "QNEiZRFFaIFrhY4nuwOCzThup74/c3BoKWYsPdKxKnUsaGlfTfF7xK1eB393/jRQ\n"
    "/nHoKvjP0wvSEtno4yE3kKMI3QQ0fCvFwBSbywIDAQABAoIBAClAsrVcg5jQQyHL\n"
    "X0PmpdRqtZfUD7rR8yOlq8z4DjWzK9BVpKf1Cteb4SVkyse55J9jkhnKr8vU5xwU\n"
    "hTrrlvFB1rs5KR/C49JR2BNn5yzA03NoyBHTvOCsOBgTQbn0+isqVzru2DU+JMS+\n"
    "Q+IX7uZqfLMHZmuvdCiFzLs97+Snoa3oEV7vXDwqO1I7RdnC980hpc8Rma8/Tm+s\n"
    "LHkqGdxZfnJSAx9BvWiH2GqXrWw/7uqHKVtx+rGAFtGwgWJfjRLaNKr4gIqlmOki\n"
    "jm1q2ZpAEqJzG3wmdDgFIxl8Bgwx8fAr3fN+MDndppbzoAypcjHY9xA8ipIq2gCE\n"
    "hdCSTrECgYEA8Z2PWColQOm03Wr5RHENWTuEDWzW51kB4n+SZKZNZp6BTEiyUadb\n"
    "oOc3G4/XU0UVW1XAx6LOS/3O30bC/g7YEg07wbe5Kuobvngue4St2njDHHRGh+yq\n"
    "36SVArctFjE3uDupMeIugNDCZqJjiTD5LHQyuQQOC9yHfPj6pDL3M5sCgYEA4Vmc\n"
    "fcr5hzNQYd77TcsbOrVv5BPf/A1HLm/mrZ+FHTiCYFV+cmBp83yXUkz9f4ZOMJGH\n"
    "2jNgiFWAPXmiktMPoojel3uZhBAAYbsTDI36Kg2b5LG3a2S8fMWo5h1HGDagZjqE\n"
    "T97OOqwho17Kw1fiRQBvN1KZV50+FygH+EYhs5ECgYBh9oxEJvJr21Yl4FWo1l2f\n"
    "LG5iMxr/Oit1dlwYywTe8q1iDKegS8bu+lBxsGSRspTyL1a2muAiF4plJP+ymroo\n"
    "t4zfAmrlZ35QP9I46pbC2eviAZMHUYIGo2h3bWWudc4tuKLlQtuwBvSLQJQy79RX\n"
    "ndVjBq3bSVL17M1S/gcUuQKBgQDd4k8c6QsynUrrYxPMME0aTGXki9FCK4zH43Sd\n"
    "xfDaqbZtxiBf3CDWlvmkFpyPwR0h41mBdo75Dj7byPVTXjAJ2HxbaV7p0pudnwaN\n"
    "mQoV+BpkXrv8KU8SB8la8r76z2a14a4/umETEkN4ybAaEWGAkYHwVgsYYoItaMQY\n"
    "KG2skQKBgQCNJCnMdfqJVMzYROyyxIkC2IfYLJKZkBW05sofOdpY/dP7+DVtRQ+U\n"
    "iUObmNZALrAh+lWM7DXwZbl+eb5YJTw8OhCiUU6ik9d/YlAbQcMx4VTt0WQp51J6\n"
    "M1L9DirPwkXWGNDKMXlxihj735JlTrVktY2hHcKgh5RzL5xPxSo0iA==\n"
    "-----END RSA PRIVATE KEY-----\n";
static const char rsa_key_pkcs8[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQDUsA52D4vxssPQ\n"
    "pITIlcpPYS6fhBgvUh3wXj2UHHXZlP2LClyIIp2FqysnYYxFK/X/GP4aqPrnt1D4\n"
    "MEevN8Xa29wiHRuzMG/Bw1QTiN4weaUoF4Mb0Yhmu3OOCgFVX9XKgBLLoSB57hiw\n"
    "PTxlDhZXaYByy7KGqykIggtRsCu2z8EsWpg4gDBGJ3vRD7XkaH21oblEsAQNYWsO\n"
    "4d5uWqL794lKOqm74mRkt73A9eRx8AA8rPlA0SJlEUVogWuFjie7A4LNOG6nvj9z\n"
    "cGgpZiw90rEqdSxoaV9N8XvErV4Hf3f+NFD+cegq+M/TC9IS2ejjITeQowjdBDR8\n"
    "K8XAFJvLAgMBAAECggEAKUCytVyDmNBDIctfQ+al1Gq1l9QPutHzI6WrzPgONbMr\n"
    "0FWkp/UK15vhJWTKx7nkn2OSGcqvy9TnHBSFOuuW8UHWuzkpH8Lj0lHYE2fnLMDT\n"
    "c2jIEdO84Kw4GBNBufT6KypXOu7YNT4kxL5D4hfu5mp8swdma690KIXMuz3v5Keh\n"
    "regRXu9cPCo7UjtF2cL3zSGlzxGZrz9Ob6wseSoZ3Fl+clIDH0G9aIfYapetbD/u\n"
    "6ocpW3H6sYAW0bCBYl+NEto0qviAiqWY6SKObWrZmkASonMbfCZ0OAUjGXwGDDHx\n"
    "8Cvd834wOd2mlvOgDKlyMdj3EDyKkiraAISF0JJOsQKBgQDxnY9YKiVA6bTdavlE\n"
    "cQ1ZO4QNbNbnWQHif5Jkpk1mnoFMSLJRp1ug5zcbj9dTRRVbVcDHos5L/c7fRsL+\n"
    "DtgSDTvBt7kq6hu+eC57hK3aeMMcdEaH7KrfpJUCty0WMTe4O6kx4i6A0MJmomOJ\n"
    "MPksdDK5BA4L3Id8+PqkMvczmwKBgQDhWZx9yvmHM1Bh3vtNyxs6tW/kE9/8DUcu\n"
    "b+atn4UdOIJgVX5yYGnzfJdSTP1/hk4wkYfaM2CIVYA9eaKS0w+iiN6Xe5mEEABh\n"
    "uxMMjfoqDZvksbdrZLx8xajmHUcYNqBmOoRP3s46rCGjXsrDV+JFAG83UplXnT4X\n"
    "KAf4RiGzkQKBgGH2jEQm8mvbViXgVajWXZ8sbmIzGv86K3V2XBjLBN7yrWIMp6BL\n"
    "xu76UHGwZJGylPIvVraa4CIXimUk/7Kauii3jN8CauVnflA/0jjqlsLZ6+IBkwdR\n"
    "ggajaHdtZa51zi24ouVC27AG9ItAlDLv1Fed1WMGrdtJUvXszVL+BxS5AoGBAN3i\n"
    "TxzpCzKdSutjE8wwTRpMZeSL0UIrjMfjdJ3F8Nqptm3GIF/cINaW+aQWnI/BHSHj\n"
    "WYF2jvkOPtvI9VNeMAnYfFtpXunSm52fBo2ZChX4GmReu/wpTxIHyVryvvrPZrXh\n"
    "rj+6YRMSQ3jJsBoRYYCRgfBWCxhigi1oxBgobayRAoGBAI0kKcx1+olUzNhE7LLE\n"
    "iQLYh9gskpmQFbTmyh852lj90/v4NW1FD5SJQ5uY1kAusCH6VYzsNfBluX55vlgl\n"
    "PDw6EKJRTqKT139iUBtBwzHhVO3RZCnnUnozUv0OKs/CRdYY0MoxeXGKGPvfkmVO\n"
    "tWS1jaEdwqCHlHMvnE/FKjSI\n"
    "-----END PRIVATE KEY-----\n";
static const char ec_crt[] = "-----BEGIN CERTIFICATE-----\n"
                             "MIIBpzCCAU2gAwIBAgIUSeVbMC7VbMIUAkVhSZBeqxb3zlMwCgYIKoZIzj0EAwIw\n"
                             "GjEYMBYGA1UEAwwPbXguZXhhbXBsZS50ZXN0MCAXDTI2MTEyNTAzNTUwMFoYDzIx\n"
                             "MjYxMTAxMDM1NTAwWjAaMRgwFgYDVQQDDA9teC5leGFtcGxlLnRlc3QwWTATBgcq\n"
                             "hkjOPQIBBggqhkjOPQMBBwNCAASQaf99d0zjZKYsK+3ZF53nRpMDzy93NHasiu9T\n"
                             "D2W9WJmLM4gIFIodxkMmTDu+QQ8nhnulUYvxRtCljCaH/MKBo28wbTAdBgNVHQ4E\n"
                             "FgQU7JMx5TwalzxZua2VN2U1xxzXSnYwHwYDVR0jBBgwFoAU7JMx5TwalzxZua2V\n"
                             "N2U1xxzXSnYwDwYDVR0TAQH/BAUwAwEB/zAaBgNVHREEEzARgg9teC5leGFtcGxl\n"
                             "LnRlc3QwCgYIKoZIzj0EAwIDSAAwRQIhAIU7ARK7c4li3m2e8pJxk3ZHWTH6MLv5\n"
                             "jESVVxyJfsNOAiAmS6em7Ctv9kKkvV6yVgIc2zYfCkKqZNoodkP4XTwEeQ==\n"
                             "-----END CERTIFICATE-----\n";
static const char ec_key_sec1[] =
    "-----BEGIN EC PRIVATE KEY-----\n"
    "MHcCAQEEIBd5g8ACWN/yTyCZn5aZ8GiMiEicG7txwjKs4mMFKsVNoAoGCCqGSM49\n"
    "AwEHoUQDQgAEkGn/fXdM42SmLCvt2Red50aTA88vdzR2rIrvUw9lvViZizOICBSK\n"
    "HcZDJkw7vkEPJ4Z7pVGL8UbQpYwmh/zCgQ==\n"
    "-----END EC PRIVATE KEY-----\n";
static const char ec_key_pkcs8[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgF3mDwAJY3/JPIJmf\n"
    "lpnwaIyISJwbu3HCMqziYwUqxU2hRANCAASQaf99d0zjZKYsK+3ZF53nRpMDzy93\n"
    "NHasiu9TD2W9WJmLM4gIFIodxkMmTDu+QQ8nhnulUYvxRtCljCaH/MKB\n"
    "-----END PRIVATE KEY-----\n";

/* ---- the harness ---- */

struct t {
    struct smtp_server_config cfg;
    struct smtp_server_hooks hooks;
    struct smtp_server_client cl;
    struct smtp_server_core *core;
    char *pending; /* fed bytes the core has not taken yet */
    size_t npending;
    char out[65536];
    size_t outlen, outtotal;
    /* hook calls */
    char log[8192];
    int messages, auths, mails, rcpts;
    char content[65536];
    size_t content_len;
    struct smtp_server_envelope env;
    struct smtp_server_rcpt rcpt[8];
    char auth_authzid[300], auth_user[300], auth_password[600];
    const char *refuse_rcpt; /* the rcpt hook refuses this address */
};

static void t_log(struct t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void t_log(struct t *t, const char *fmt, ...)
{
    size_t n = strlen(t->log);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->log + n, sizeof(t->log) - n, fmt, ap);
    va_end(ap);
}

static void hook_auth(void *arg, struct smtp_server_session *s, struct smtp_server_client *cl,
                      const char *authzid, const char *user, const char *password)
{
    struct t *t = arg;
    t->auths++;
    snprintf(t->auth_authzid, sizeof(t->auth_authzid), "%s", authzid);
    snprintf(t->auth_user, sizeof(t->auth_user), "%s", user);
    snprintf(t->auth_password, sizeof(t->auth_password), "%s", password);
    t_log(t, "auth %s/%s;", user, password);
}

static int hook_mail(void *arg, struct smtp_server_client *cl, const char *sender, uint64_t size,
                     struct smtp_server_verdict *v)
{
    struct t *t = arg;
    t->mails++;
    t_log(t, "mail <%s> %llu;", sender, (unsigned long long)size);
    return 0;
}

static int hook_rcpt(void *arg, struct smtp_server_client *cl, const struct smtp_server_rcpt *r,
                     struct smtp_server_verdict *v)
{
    struct t *t = arg;
    t->rcpts++;
    t_log(t, "rcpt <%s>;", r->address);
    if (t->refuse_rcpt && !strcmp(r->address, t->refuse_rcpt)) {
        v->code = 550;
        snprintf(v->text, sizeof(v->text), "5.1.1 No such user");
        return -1;
    }
    return 0;
}

static void hook_message(void *arg, struct smtp_server_session *s, struct smtp_server_client *cl,
                         const struct smtp_server_envelope *env, const char *content, size_t len)
{
    struct t *t = arg;
    t->messages++;
    t->env = *env;
    for (size_t i = 0; i < env->nrcpt && i < 8; i++)
        t->rcpt[i] = env->rcpt[i];
    t->env.rcpt = t->rcpt;
    t->content_len = len < sizeof(t->content) ? len : sizeof(t->content);
    memcpy(t->content, content, t->content_len);
    t_log(t, "message %zu;", len);
}

static struct t *t_new(int offer_tls, int tls)
{
    struct t *t = calloc(1, sizeof(*t));
    t->cfg.hostname = "mx.test";
    t->cfg.max_message_size = 4000;
    t->cfg.max_recipients = 3;
    t->cfg.max_errors = 10;
    t->hooks.arg = t;
    t->hooks.auth = hook_auth;
    t->hooks.mail = hook_mail;
    t->hooks.rcpt = hook_rcpt;
    t->hooks.message = hook_message;
    t->cl.tls = tls;
    CHECK_INT(smtp_server_core_new(&t->cfg, &t->hooks, &t->cl, offer_tls, NULL, &t->core), 0);
    return t;
}

static void t_free(struct t *t)
{
    smtp_server_core_free(t->core);
    free(t->pending);
    free(t);
}

static void collect(struct t *t)
{
    size_t len;
    const char *o = smtp_server_core_output(t->core, &len);
    t->outtotal += len;
    if (len > sizeof(t->out) - 1 - t->outlen)
        len = sizeof(t->out) - 1 - t->outlen;
    memcpy(t->out + t->outlen, o, len);
    t->outlen += len;
    t->out[t->outlen] = '\0';
    smtp_server_core_output_clear(t->core);
}

/* Feeds what is pending while the core takes input, as a session would. */
static void t_pump(struct t *t)
{
    collect(t);
    while (t->npending && smtp_server_core_status(t->core) == SMTP_CORE_INPUT) {
        size_t n = smtp_server_core_feed(t->core, t->pending, t->npending);
        memmove(t->pending, t->pending + n, t->npending - n);
        t->npending -= n;
        collect(t);
    }
}

static void t_feedn(struct t *t, const char *data, size_t len)
{
    t->pending = realloc(t->pending, t->npending + len + 1);
    memcpy(t->pending + t->npending, data, len);
    t->npending += len;
    t_pump(t);
}

static void t_feed(struct t *t, const char *data)
{
    t_feedn(t, data, strlen(data));
}

/* Feeds one byte per call: a client that trickles (TCP may cut anywhere). */
static void t_feed_bytewise(struct t *t, const char *data, size_t len)
{
    for (size_t i = 0; i < len; i++)
        t_feedn(t, data + i, 1);
}

static void t_clear(struct t *t)
{
    t->outlen = 0;
    t->out[0] = '\0';
    t->log[0] = '\0';
}

/* Feeds input and returns the replies it produced. */
static const char *t_say(struct t *t, const char *input)
{
    collect(t);
    t_clear(t);
    t_feed(t, input);
    return t->out;
}

static void t_message_done(struct t *t, int code, const char *text, const char *id)
{
    struct smtp_server_verdict v = {.code = code};
    snprintf(v.text, sizeof(v.text), "%s", text ? text : "");
    smtp_server_core_message_done(t->core, &v, id);
    t_pump(t);
}

/* A greeted session after EHLO, output cleared. */
static struct t *t_ready(int offer_tls, int tls)
{
    struct t *t = t_new(offer_tls, tls);
    smtp_server_core_greet(t->core);
    t_feed(t, "EHLO client.test\r\n");
    t_clear(t);
    return t;
}

static const char *ehlo_plain = "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 4000\r\n250-8BITMIME\r\n"
                                "250-ENHANCEDSTATUSCODES\r\n250-SMTPUTF8\r\n";

/* ---- tests ---- */

static void test_greeting_and_ehlo(void)
{
    char want[512];
    struct t *t = t_new(1, 0);
    smtp_server_core_greet(t->core);
    collect(t);
    CHECK_STR(t->out, "220 mx.test ESMTP\r\n");
    snprintf(want, sizeof(want), "%s250-STARTTLS\r\n250 DSN\r\n", ehlo_plain);
    CHECK_STR(t_say(t, "EHLO client.test\r\n"), want);
    CHECK_STR(t->cl.helo, "client.test");
    CHECK_STR(t_say(t, "HELO other.test\r\n"), "250 mx.test\r\n");
    CHECK_STR(t_say(t, "EHLO\r\n"), "501 5.5.4 Syntax: EHLO hostname\r\n");
    t_free(t);

    /* Over TLS: AUTH, no STARTTLS. */
    t = t_new(1, 1);
    smtp_server_core_greet(t->core);
    snprintf(want, sizeof(want), "%s250-AUTH PLAIN LOGIN\r\n250 DSN\r\n", ehlo_plain);
    CHECK_STR(t_say(t, "EHLO client.test\r\n"), want);
    t_free(t);

    /* No certificate: neither. */
    t = t_new(0, 0);
    smtp_server_core_greet(t->core);
    snprintf(want, sizeof(want), "%s250 DSN\r\n", ehlo_plain);
    CHECK_STR(t_say(t, "ehlo client.test\r\n"), want);
    CHECK_STR(t_say(t, "STARTTLS\r\n"), "502 5.5.1 STARTTLS not available\r\n");
    CHECK_STR(t_say(t, "AUTH PLAIN AGpvZQBzZWNyZXQ=\r\n"),
              "538 5.7.11 Encryption required for requested authentication mechanism\r\n");
    CHECK_INT(t->auths, 0);
    t_free(t);
}

static void test_transaction(void)
{
    struct t *t = t_ready(1, 0);
    /* Pipelined as RFC 2920 allows: MAIL, RCPT, DATA in one group. */
    CHECK_STR(t_say(t, "MAIL FROM:<joe@example.com> SIZE=100\r\nRCPT TO:<a@example.org>\r\n"
                       "RCPT TO:<b@example.org>\r\nDATA\r\n"),
              "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n"
              "354 End data with <CR><LF>.<CR><LF>\r\n");
    CHECK_STR(t->log, "mail <joe@example.com> 100;rcpt <a@example.org>;rcpt <b@example.org>;");
    CHECK(smtp_server_core_in_data(t->core));
    /* QUIT pipelined after the dot waits for the message hook's answer. */
    CHECK_STR(t_say(t, "Subject: hi\r\n\r\n..dot\r\n.\r\nQUIT\r\n"), "");
    CHECK_INT(t->messages, 1);
    CHECK_INT(smtp_server_core_status(t->core), SMTP_CORE_WAIT);
    CHECK_MEM(t->content, t->content_len, "Subject: hi\r\n\r\n.dot\r\n");
    CHECK_STR(t->env.sender, "joe@example.com");
    CHECK_INT(t->env.nrcpt, 2);
    CHECK_STR(t->env.rcpt[1].address, "b@example.org");
    CHECK_INT(t->npending, 6);
    t_message_done(t, 0, NULL, "ABC123");
    CHECK_STR(t->out, "250 2.0.0 Ok: queued as ABC123\r\n221 2.0.0 Bye\r\n");
    CHECK_INT(smtp_server_core_status(t->core), SMTP_CORE_CLOSE);
    t_free(t);

    /* A refusal from the owner; the transaction is over either way. */
    t = t_ready(1, 0);
    t_say(t, "MAIL FROM:<>\r\nRCPT TO:<a@example.org>\r\nDATA\r\n");
    t_say(t, "x\r\n.\r\n");
    CHECK_STR(t->env.sender, "");
    t_message_done(t, 452, "4.3.1 Queue full", NULL);
    CHECK_STR(t->out, "452 4.3.1 Queue full\r\n");
    CHECK_STR(t_say(t, "RCPT TO:<a@example.org>\r\n"), "503 5.5.1 Need MAIL before RCPT\r\n");
    /* An empty message, and id NULL. */
    t_say(t, "MAIL FROM:<>\r\nRCPT TO:<a@example.org>\r\nDATA\r\n");
    t_say(t, ".\r\n");
    CHECK_INT(t->content_len, 0);
    t_message_done(t, 0, NULL, NULL);
    CHECK_STR(t->out, "250 2.0.0 Ok\r\n");
    t_free(t);
}

static void test_simple_commands(void)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"NOOP\r\n", "250 2.0.0 Ok\r\n"},
        {"RSET\r\n", "250 2.0.0 Ok\r\n"},
        {"RSET x\r\n", "501 5.5.4 Syntax: RSET\r\n"},
        {"HELP\r\n", "214 2.0.0 See RFC 5321\r\n"},
        {"VRFY joe\r\n",
         "252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery\r\n"},
        {"EXPN list\r\n", "502 5.5.1 EXPN not available\r\n"},
        {"BDAT 10\r\n", "500 5.5.2 Command unrecognized\r\n"},
        {"FOO\r\n", "500 5.5.2 Command unrecognized\r\n"},
        {"\r\n", "500 5.5.2 Command unrecognized\r\n"},
        {"RCPT TO:<a@b.example>\r\n", "503 5.5.1 Need MAIL before RCPT\r\n"},
        {"DATA\r\n", "503 5.5.1 Need MAIL command\r\n"},
        {"MAIL FROM:<a@b.example>\r\nDATA\r\n", "250 2.1.0 Ok\r\n503 5.5.1 Need RCPT command\r\n"},
        {"MAIL FROM:<a@b.example>\r\nMAIL FROM:<a@b.example>\r\n",
         "250 2.1.0 Ok\r\n503 5.5.1 Nested MAIL command\r\n"},
        {"MAIL FROM:a@b.example\r\n", "501 5.5.2 Syntax: MAIL FROM:<address>\r\n"},
        {"MAIL FROM:<a@b.example\r\n", "501 5.5.2 Syntax: MAIL FROM:<address>\r\n"},
        {"MAIL FROM:<a@b.example>x\r\n", "501 5.5.2 Syntax: MAIL FROM:<address>\r\n"},
        {"MAIL FROM:<nodomain>\r\n", "501 5.1.7 Bad sender address syntax\r\n"},
        {"MAIL FROM:<a..b@x.example>\r\n", "501 5.1.7 Bad sender address syntax\r\n"},
        {"MAIL FROM:<a@x..example>\r\n", "501 5.1.7 Bad sender address syntax\r\n"},
        /* Lenient about a space after the colon, as most servers are. */
        {"MAIL FROM: <a@b.example>\r\n", "250 2.1.0 Ok\r\n"},
        {"MAIL FROM:<\"john doe\"@b.example>\r\n", "250 2.1.0 Ok\r\n"},
        {"MAIL FROM:<a@[192.0.2.1]>\r\n", "250 2.1.0 Ok\r\n"},
        {"MAIL FROM:<>\r\nRCPT TO:<>\r\n",
         "250 2.1.0 Ok\r\n501 5.1.3 Bad recipient address syntax\r\n"},
        {"MAIL FROM:<>\r\nRCPT TO:<Postmaster>\r\n", "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"},
        {"MAIL FROM:<>\r\nRCPT TO:<joe>\r\n",
         "250 2.1.0 Ok\r\n501 5.1.3 Bad recipient address syntax\r\n"},
        {"MAIL FROM:<>\r\nRCPT TO:a@b.example\r\n",
         "250 2.1.0 Ok\r\n501 5.5.2 Syntax: RCPT TO:<address>\r\n"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct t *t = t_ready(1, 0);
        CHECK_STR(t_say(t, cases[i].in), cases[i].out);
        t_free(t);
    }

    /* HELO first. */
    struct t *t = t_new(1, 0);
    smtp_server_core_greet(t->core);
    t_clear(t);
    CHECK_STR(t_say(t, "MAIL FROM:<a@b.example>\r\n"), "503 5.5.1 Send HELO or EHLO first\r\n");
    /* HELO: no parameters. */
    t_say(t, "HELO c.example\r\n");
    CHECK_STR(t_say(t, "MAIL FROM:<a@b.example> SIZE=10\r\n"),
              "555 5.5.4 Parameters need EHLO\r\n");
    CHECK_STR(t_say(t, "QUIT\r\n"), "221 2.0.0 Bye\r\n");
    CHECK_INT(smtp_server_core_status(t->core), SMTP_CORE_CLOSE);
    t_free(t);
}

static void test_source_route(void)
{
    struct t *t = t_ready(1, 0);
    CHECK_STR(t_say(t, "MAIL FROM:<@relay.example,@r2.example:joe@example.com>\r\n"
                       "RCPT TO:<@hop.example:ann@example.org>\r\n"),
              "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n");
    CHECK_STR(t->log, "mail <joe@example.com> 0;rcpt <ann@example.org>;");
    CHECK_STR(t_say(t, "RCPT TO:<@hop.example ann@example.org>\r\n"),
              "501 5.5.2 Syntax: RCPT TO:<address>\r\n");
    t_free(t);

    /* Bounded length: 255 is the most a path holds. */
    char line[600], addr[300];
    memset(addr, 'a', sizeof(addr));
    snprintf(addr + 240, sizeof(addr) - 240, "@example.com"); /* 252 */
    t = t_ready(1, 0);
    snprintf(line, sizeof(line), "MAIL FROM:<%s>\r\n", addr);
    CHECK_STR(t_say(t, line), "250 2.1.0 Ok\r\n");
    snprintf(addr + 240, sizeof(addr) - 240, "@example.example.com"); /* 260 */
    snprintf(line, sizeof(line), "RCPT TO:<%s>\r\n", addr);
    CHECK_STR(t_say(t, line), "501 5.1.3 Recipient address too long\r\n");
    t_free(t);
}

static void test_dsn_params(void)
{
    struct t *t = t_ready(1, 0);
    CHECK_STR(
        t_say(t, "MAIL FROM:<joe@example.com> RET=HDRS ENVID=abc+2Bdef+3D BODY=8BITMIME "
                 "AUTH=joe+40example.com\r\n"
                 "RCPT TO:<a@example.org> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;a+2Bx@example.org\r\n"
                 "RCPT TO:<b@example.org> NOTIFY=never\r\n"
                 "RCPT TO:<c@example.org>\r\nDATA\r\n"),
        "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n"
        "354 End data with <CR><LF>.<CR><LF>\r\n");
    t_say(t, "hi\r\n.\r\n");
    CHECK_INT(t->messages, 1);
    CHECK_INT(t->env.ret_hdrs, 1);
    CHECK_INT(t->env.body_8bit, 1);
    CHECK_INT(t->env.smtputf8, 0);
    CHECK_STR(t->env.envid, "abc+def=");
    CHECK_INT(t->env.nrcpt, 3);
    CHECK_INT(t->rcpt[0].notify, SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_DELAY);
    CHECK_STR(t->rcpt[0].orcpt, "rfc822;a+x@example.org");
    CHECK_INT(t->rcpt[1].notify, SMTP_NOTIFY_NEVER);
    CHECK_INT(t->rcpt[2].notify, 0);
    CHECK_STR(t->rcpt[2].orcpt, "");
    t_message_done(t, 0, NULL, "X");
    t_free(t);

    static const struct {
        const char *in, *out;
    } bad[] = {
        {"MAIL FROM:<a@b.example> RET=ALL\r\n", "501 5.5.4 Bad RET parameter\r\n"},
        {"MAIL FROM:<a@b.example> RET=FULL RET=HDRS\r\n", "501 5.5.4 Bad RET parameter\r\n"},
        {"MAIL FROM:<a@b.example> BODY=BINARYMIME\r\n", "501 5.5.4 Bad BODY parameter\r\n"},
        {"MAIL FROM:<a@b.example> ENVID=a+0Ab\r\n", "501 5.5.4 Bad ENVID parameter\r\n"},
        {"MAIL FROM:<a@b.example> ENVID=a+0\r\n", "501 5.5.4 Bad ENVID parameter\r\n"},
        {"MAIL FROM:<a@b.example> ENVID=a=b\r\n", "501 5.5.4 Bad ENVID parameter\r\n"},
        {"MAIL FROM:<a@b.example> ENVID=\r\n", "501 5.5.4 Bad ENVID parameter\r\n"},
        {"MAIL FROM:<a@b.example> SIZE=12x\r\n", "501 5.5.4 Bad SIZE parameter\r\n"},
        {"MAIL FROM:<a@b.example> SIZE=99999999999999999999999\r\n",
         "501 5.5.4 Bad SIZE parameter\r\n"},
        {"MAIL FROM:<a@b.example> SIZE=4001\r\n", "552 5.3.4 Message size exceeds fixed limit\r\n"},
        {"MAIL FROM:<a@b.example> SIZE=4000\r\n", "250 2.1.0 Ok\r\n"},
        {"MAIL FROM:<a@b.example> FOO=BAR\r\n", "555 5.5.4 Unsupported parameter FOO\r\n"},
        {"MAIL FROM:<a@b.example> SMTPUTF8=yes\r\n",
         "555 5.5.4 Unsupported parameter SMTPUTF8\r\n"},
        {"MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example> NOTIFY=NEVER,SUCCESS\r\n",
         "250 2.1.0 Ok\r\n501 5.5.4 Bad NOTIFY parameter\r\n"},
        {"MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example> NOTIFY=SOMETIMES\r\n",
         "250 2.1.0 Ok\r\n501 5.5.4 Bad NOTIFY parameter\r\n"},
        {"MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example> ORCPT=c@d.example\r\n",
         "250 2.1.0 Ok\r\n501 5.5.4 Bad ORCPT parameter\r\n"},
        {"MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example> ORCPT=rfc822;c+01@d.example\r\n",
         "250 2.1.0 Ok\r\n501 5.5.4 Bad ORCPT parameter\r\n"},
        {"MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example> SIZE=1\r\n",
         "250 2.1.0 Ok\r\n555 5.5.4 Unsupported parameter SIZE\r\n"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        t = t_ready(1, 0);
        CHECK_STR(t_say(t, bad[i].in), bad[i].out);
        CHECK_INT(t->mails, !strncmp(bad[i].out, "250", 3));
        t_free(t);
    }
}

static void test_control_characters(void)
{
    static const struct {
        const char *in;
        size_t len;
        const char *out;
    } cases[] = {
#define C(s, o) {s, sizeof(s) - 1, o}
        C("MAIL FROM:<a\x01"
          "b@example.com>\r\n",
          "501 5.5.2 Syntax error: control character in command line\r\n"),
        C("MAIL FROM:<a\0b@example.com>\r\n",
          "501 5.5.2 Syntax error: control character in command line\r\n"),
        C("MAIL FROM:<ab@example.com>\tSIZE=1\r\n",
          "501 5.5.2 Syntax error: control character in command line\r\n"),
        C("MAIL FROM:<ab@example.com> ENVID=x\x7f\r\n",
          "501 5.5.2 Syntax error: control character in command line\r\n"),
        C("EHLO a\x1b[2Jb\r\n", "501 5.5.2 Syntax error: control character in command line\r\n"),
        /* 8-bit without SMTPUTF8 */
        C("MAIL FROM:<j\xc3\xb6rg@example.com>\r\n", "501 5.1.7 Bad sender address syntax\r\n"),
        C("MAIL FROM:<j\xc3\xb6rg@example.com> SMTPUTF8\r\n", "250 2.1.0 Ok\r\n"),
        /* not UTF-8 at all, even with SMTPUTF8 */
        C("MAIL FROM:<j\xf6rg@example.com> SMTPUTF8\r\n",
          "501 5.1.7 Bad sender address syntax\r\n"),
        C("MAIL FROM:<a@b.example>\r\nRCPT TO:<j\xc3\xb6rg@example.com>\r\n",
          "250 2.1.0 Ok\r\n501 5.1.3 Bad recipient address syntax\r\n"),
        C("MAIL FROM:<a@b.example> SMTPUTF8\r\nRCPT TO:<j\xc3\xb6rg@\xc3\xa9xample.com>\r\n",
          "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"),
        /* A bare LF or CR in a command line: the line is refused, not acted on. */
        C("NOOP\nQUIT\r\n", "500 5.5.2 Bare CR or LF in command line\r\n"),
        C("NOOP\rQUIT\r\n", "500 5.5.2 Bare CR or LF in command line\r\n"),
        C("MAIL FROM:<a@b.example>\n\r\n", "500 5.5.2 Bare CR or LF in command line\r\n"),
#undef C
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct t *t = t_ready(1, 0);
        t_feedn(t, cases[i].in, cases[i].len);
        CHECK_STR(t->out, cases[i].out);
        CHECK_INT(smtp_server_core_status(t->core), SMTP_CORE_INPUT);
        if (!strncmp(cases[i].out, "5", 1))
            CHECK_INT(t->mails, 0);
        t_free(t);
    }
}

static void test_long_command(void)
{
    char line[2000];
    struct t *t = t_ready(1, 0);

    /* 512 octets with CRLF is the limit. */
    memset(line, 'x', sizeof(line));
    memcpy(line, "NOOP ", 5);
    memcpy(line + 510, "\r\n", 3);
    CHECK_STR(t_say(t, line), "250 2.0.0 Ok\r\n");
    memset(line, 'x', sizeof(line));
    memcpy(line, "NOOP ", 5);
    memcpy(line + 511, "\r\n", 3);
    CHECK_STR(t_say(t, line), "500 5.5.6 Line too long\r\n");
    /* Much longer, and its tail never becomes a command. */
    memset(line, 'x', sizeof(line));
    memcpy(line + 1500, "QUIT\r\n", 7);
    CHECK_STR(t_say(t, line), "500 5.5.6 Line too long\r\n");
    CHECK_STR(t_say(t, "NOOP\r\n"), "250 2.0.0 Ok\r\n");
    t_free(t);
}

/* Builds "DATA ... <seq> ... final dot" and checks the outcome. */
static void test_smuggling(void)
{
    static const char *const seqs[] = {
        "\n.\n", "\r.\r",      "\r\n.\n", "\n.\r\n", "\r.\r\n",     "\r\n.\r",
        "\n.\r", "\r\n.\rX\n", "\n..\n",  ".\n",     "\r\n\n.\r\n",
    };
    const char *tail = "MAIL FROM:<evil@attacker.example>\r\nRCPT TO:<victim@example.org>\r\n"
                       "DATA\r\nSubject: smuggled\r\n\r\nevil\r\n";
    for (int normalize = 0; normalize <= 1; normalize++) {
        for (int bytewise = 0; bytewise <= 1; bytewise++) {
            for (size_t i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++) {
                char msg[1024];
                struct t *t = t_ready(1, 0);
                int n;
                t->cfg.normalize_bare_lf = normalize;
                t_say(t, "MAIL FROM:<joe@example.com>\r\nRCPT TO:<a@example.org>\r\nDATA\r\n");
                n = snprintf(msg, sizeof(msg), "Subject: legit\r\n\r\nbody%s%s.\r\nQUIT\r\n",
                             seqs[i], tail);
                t_clear(t);
                if (bytewise)
                    t_feed_bytewise(t, msg, (size_t)n);
                else
                    t_feedn(t, msg, (size_t)n);
                if (normalize) {
                    /* One message, holding everything up to the real end. */
                    CHECK_INT(t->messages, 1);
                    CHECK_STR(t->out, "");
                    CHECK(memmem(t->content, t->content_len, "evil@attacker", 13) != NULL);
                    CHECK(memmem(t->content, t->content_len, "\r\n", 2) != NULL);
                    /* Normalised: no bare CR or LF is left. */
                    for (size_t k = 0; k < t->content_len; k++) {
                        if (t->content[k] == '\n')
                            CHECK(k > 0 && t->content[k - 1] == '\r');
                        if (t->content[k] == '\r')
                            CHECK(k + 1 < t->content_len && t->content[k + 1] == '\n');
                    }
                    t_message_done(t, 0, NULL, "ID");
                    CHECK_STR(t->out, "250 2.0.0 Ok: queued as ID\r\n221 2.0.0 Bye\r\n");
                } else {
                    /* Refused as a whole; nothing after the sequence ran. */
                    CHECK_INT(t->messages, 0);
                    CHECK_STR(t->out, "550 5.6.0 Bare CR or LF in message\r\n221 2.0.0 Bye\r\n");
                }
                CHECK_INT(t->mails, 1); /* the legitimate MAIL only */
                CHECK_INT(smtp_server_core_status(t->core), SMTP_CORE_CLOSE);
                if (check_failures)
                    fprintf(stderr, "  (smuggling case %zu, normalize %d, bytewise %d)\n", i,
                            normalize, bytewise);
                t_free(t);
            }
        }
    }
}

static void test_data_lines(void)
{
    char big[3000];
    struct t *t = t_ready(1, 0);

    /* CR and LF inside lines, a legit line that is just "..". */
    t_say(t, "MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n");
    t_say(t, "a\r\n..\r\n...x\r\n.\r\n");
    CHECK_MEM(t->content, t->content_len, "a\r\n.\r\n..x\r\n");
    t_message_done(t, 0, NULL, NULL);

    /* A text line of 1000 octets with CRLF passes; 1001 does not. */
    t_say(t, "MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n");
    memset(big, 'y', sizeof(big));
    memcpy(big + 998, "\r\n.\r\n", 6);
    CHECK_STR(t_say(t, big), "");
    CHECK_INT(t->messages, 2);
    CHECK_INT(t->content_len, 1000);
    t_message_done(t, 0, NULL, NULL);
    t_say(t, "MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n");
    memset(big, 'y', sizeof(big));
    memcpy(big + 999, "\r\n.\r\n", 6);
    CHECK_STR(t_say(t, big), "550 5.6.0 Line too long\r\n");
    CHECK_INT(t->messages, 2);
    /* A stuffed dot counts: ".yyy" of 1001 octets with CRLF. */
    t_say(t, "MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n");
    memset(big, 'y', sizeof(big));
    big[0] = '.';
    memcpy(big + 999, "\r\n.\r\n", 6);
    CHECK_STR(t_say(t, big), "550 5.6.0 Line too long\r\n");
    /* In step afterwards. */
    CHECK_STR(t_say(t, "NOOP\r\n"), "250 2.0.0 Ok\r\n");
    t_free(t);
}

static void test_size(void)
{
    char big[5000];
    struct t *t = t_ready(1, 0);

    /* 4000 bytes stored is the limit (dot-unstuffed CRLF content). */
    for (int over = 0; over <= 1; over++) {
        size_t n = 0;
        t_say(t, "MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n");
        while (n < 4000 - 100)
            n += (size_t)snprintf(big + n, sizeof(big) - n, "%098d\r\n", 0);
        memset(big + n, 'z', 98 + over);
        n += 98 + (size_t)over;
        n += (size_t)snprintf(big + n, sizeof(big) - n, "\r\n.\r\nNOOP\r\n");
        t_clear(t);
        t_feed_bytewise(t, big, n);
        if (!over) {
            CHECK_INT(t->messages, 1);
            CHECK_INT(t->content_len, 4000);
            t_message_done(t, 0, NULL, NULL);
            CHECK_STR(t->out, "250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n");
        } else {
            CHECK_INT(t->messages, 1);
            CHECK_STR(t->out, "552 5.3.4 Message size exceeds fixed limit\r\n250 2.0.0 Ok\r\n");
        }
    }
    t_free(t);
}

static void test_bare_lf_modes(void)
{
    for (int normalize = 0; normalize <= 1; normalize++) {
        struct t *t = t_ready(1, 0);
        t->cfg.normalize_bare_lf = normalize;
        t_say(t, "MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n");
        t_say(t, "one\ntwo\rthree\r\n.\r\n");
        if (normalize) {
            CHECK_INT(t->messages, 1);
            CHECK_MEM(t->content, t->content_len, "one\r\ntwo\r\nthree\r\n");
            t_message_done(t, 0, NULL, NULL);
        } else {
            CHECK_INT(t->messages, 0);
            CHECK_STR(t->out, "550 5.6.0 Bare CR or LF in message\r\n");
        }
        t_free(t);
    }
}

static void test_recipients(void)
{
    struct t *t = t_ready(1, 0);
    t->refuse_rcpt = "bad@example.org";
    CHECK_STR(t_say(t, "MAIL FROM:<a@b.example>\r\nRCPT TO:<bad@example.org>\r\nDATA\r\n"),
              "250 2.1.0 Ok\r\n550 5.1.1 No such user\r\n554 5.5.1 No valid recipients\r\n");
    CHECK_STR(t_say(t, "RCPT TO:<r1@example.org>\r\nRCPT TO:<r2@example.org>\r\n"
                       "RCPT TO:<r3@example.org>\r\nRCPT TO:<r4@example.org>\r\n"
                       "RCPT TO:<r5@example.org>\r\nDATA\r\n"),
              "250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n452 4.5.3 Too many recipients\r\n"
              "452 4.5.3 Too many recipients\r\n354 End data with <CR><LF>.<CR><LF>\r\n");
    t_say(t, "x\r\n.\r\n");
    CHECK_INT(t->env.nrcpt, 3);
    CHECK_STR(t->rcpt[2].address, "r3@example.org");
    t_message_done(t, 0, NULL, NULL);
    /* RSET forgets the transaction. */
    CHECK_STR(t_say(t, "MAIL FROM:<a@b.example>\r\nRSET\r\nRCPT TO:<c@d.example>\r\n"),
              "250 2.1.0 Ok\r\n250 2.0.0 Ok\r\n503 5.5.1 Need MAIL before RCPT\r\n");
    t_free(t);
}

static void test_pipelining(void)
{
    static const struct {
        int auth; /* authenticated first */
        const char *in, *out;
        int closed;
    } cases[] = {
        {0, "EHLO a.example\r\nMAIL FROM:<a@b.example>\r\n",
         "554 5.5.0 Improper command pipelining, closing connection\r\n", 1},
        {0, "HELO a.example\r\nNOOP\r\n",
         "554 5.5.0 Improper command pipelining, closing connection\r\n", 1},
        {0, "NOOP\r\nNOOP\r\n", "554 5.5.0 Improper command pipelining, closing connection\r\n", 1},
        {0, "QUIT\r\nNOOP\r\n", "554 5.5.0 Improper command pipelining, closing connection\r\n", 1},
        {0, "MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\nSubject: x\r\n",
         "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
         "554 5.5.0 Improper command pipelining, closing connection\r\n",
         1},
        {0, "RSET\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nNOOP\r\n",
         "250 2.0.0 Ok\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.0.0 Ok\r\n", 0},
        {0, "STARTTLS\r\nRSET\r\n", "554 5.5.0 Improper command pipelining, closing connection\r\n",
         1},
        /* Authenticated: NOOP, EHLO may be followed; DATA may not. */
        {1, "NOOP\r\nNOOP\r\n", "250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n", 0},
        {1, "MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n.\r\n",
         "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
         "554 5.5.0 Improper command pipelining, closing connection\r\n",
         1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct t *t = t_ready(1, cases[i].auth);
        if (cases[i].auth) {
            t_say(t, "AUTH PLAIN AGpvZQBzZWNyZXQ=\r\n");
            smtp_server_core_auth_done(t->core, 1);
            t_pump(t);
        }
        CHECK_STR(t_say(t, cases[i].in), cases[i].out);
        CHECK_INT(smtp_server_core_status(t->core) == SMTP_CORE_CLOSE, cases[i].closed);
        CHECK_INT(t->messages, 0);
        t_free(t);
    }

    /* An early talker. */
    struct t *t = t_new(1, 0);
    t_feed(t, "EHLO a.example\r\n");
    CHECK_STR(t->out, "554 5.5.0 Talking before the greeting is not allowed\r\n");
    CHECK_INT(smtp_server_core_status(t->core), SMTP_CORE_CLOSE);
    t_free(t);
}

static void test_starttls(void)
{
    struct t *t = t_new(1, 0);
    smtp_server_core_greet(t->core);
    t_say(t, "EHLO a.example\r\n");
    t_say(t, "MAIL FROM:<a@b.example>\r\n");
    CHECK_STR(t_say(t, "STARTTLS\r\n"), "220 2.0.0 Ready to start TLS\r\n");
    CHECK_INT(smtp_server_core_status(t->core), SMTP_CORE_STARTTLS);
    /* Nothing is taken until the handshake is done (the session drops it). */
    CHECK_INT(smtp_server_core_feed(t->core, "RSET\r\n", 6), 0);
    t->cl.tls = 1;
    smtp_server_core_tls_started(t->core);
    CHECK_INT(smtp_server_core_status(t->core), SMTP_CORE_INPUT);
    CHECK_STR(t->cl.helo, "");
    /* Everything before is forgotten: HELO, and the transaction. */
    CHECK_STR(t_say(t, "MAIL FROM:<a@b.example>\r\n"), "503 5.5.1 Send HELO or EHLO first\r\n");
    t_say(t, "EHLO a.example\r\n");
    CHECK_STR(t_say(t, "RCPT TO:<c@d.example>\r\n"), "503 5.5.1 Need MAIL before RCPT\r\n");
    CHECK_STR(t_say(t, "STARTTLS\r\n"), "503 5.5.1 TLS already active\r\n");
    t_free(t);

    /* The CVE-2011-0411 shape: the injected RSET is never executed. */
    t = t_ready(1, 0);
    CHECK_STR(t_say(t, "STARTTLS\r\nRSET\r\n"),
              "554 5.5.0 Improper command pipelining, closing connection\r\n");
    CHECK_INT(smtp_server_core_status(t->core), SMTP_CORE_CLOSE);
    t_free(t);
}

static void test_auth(void)
{
    char line[700], b64[600];
    struct t *t = t_ready(1, 0);

    CHECK_STR(t_say(t, "AUTH PLAIN AGpvZQBzZWNyZXQ=\r\n"),
              "538 5.7.11 Encryption required for requested authentication mechanism\r\n");
    t_free(t);

    t = t_ready(1, 1);
    CHECK_STR(t_say(t, "AUTH CRAM-MD5\r\n"), "504 5.5.4 Unrecognized authentication type\r\n");
    CHECK_STR(t_say(t, "AUTH\r\n"), "501 5.5.4 Syntax: AUTH mechanism\r\n");
    CHECK_STR(t_say(t, "MAIL FROM:<a@b.example>\r\nAUTH PLAIN AGpvZQBzZWNyZXQ=\r\n"),
              "250 2.1.0 Ok\r\n503 5.5.1 AUTH not permitted during a mail transaction\r\n");
    t_say(t, "RSET\r\n");
    /* Initial response: "\0joe\0secret". */
    CHECK_STR(t_say(t, "AUTH PLAIN AGpvZQBzZWNyZXQ=\r\n"), "");
    CHECK_INT(smtp_server_core_status(t->core), SMTP_CORE_WAIT);
    CHECK_STR(t->auth_user, "joe");
    CHECK_STR(t->auth_password, "secret");
    CHECK_STR(t->auth_authzid, "");
    CHECK_STR(t->cl.user, "");
    smtp_server_core_auth_done(t->core, 1);
    t_pump(t);
    CHECK_STR(t->out, "235 2.7.0 Authentication successful\r\n");
    CHECK_STR(t->cl.user, "joe");
    CHECK_STR(t_say(t, "AUTH PLAIN AGpvZQBzZWNyZXQ=\r\n"), "503 5.5.1 Already authenticated\r\n");
    CHECK_INT(t->auths, 1);
    t_free(t);

    /* The 334 continuation, a failure, "*", LOGIN. */
    t = t_ready(1, 1);
    CHECK_STR(t_say(t, "AUTH PLAIN\r\n"), "334 \r\n");
    CHECK_STR(t_say(t, "YWRtaW4Aam9lAHdyb25n\r\n"), ""); /* "admin\0joe\0wrong" */
    CHECK_STR(t->auth_authzid, "admin");
    smtp_server_core_auth_done(t->core, 0);
    t_pump(t);
    CHECK_STR(t->out, "535 5.7.8 Authentication credentials invalid\r\n");
    CHECK_STR(t->cl.user, "");
    CHECK_STR(t_say(t, "AUTH PLAIN\r\n"), "334 \r\n");
    CHECK_STR(t_say(t, "*\r\n"), "501 5.7.0 Authentication cancelled\r\n");
    CHECK_STR(t_say(t, "AUTH PLAIN !!!!\r\n"), "501 5.5.2 Invalid base64 data\r\n");
    CHECK_STR(t_say(t, "AUTH PLAIN am9l\r\n"), "501 5.5.2 Invalid AUTH PLAIN response\r\n");
    CHECK_STR(t_say(t, "AUTH PLAIN =\r\n"), "501 5.5.2 Invalid AUTH PLAIN response\r\n");
    CHECK_STR(t_say(t, "AUTH LOGIN\r\n"), "334 VXNlcm5hbWU6\r\n");
    CHECK_STR(t_say(t, "am9l\r\n"), "334 UGFzc3dvcmQ6\r\n");
    CHECK_STR(t_say(t, "c2VjcmV0\r\n"), "");
    CHECK_STR(t->auth_user, "joe");
    CHECK_STR(t->auth_password, "secret");
    smtp_server_core_auth_done(t->core, 1);
    t_pump(t);
    CHECK_STR(t->out, "235 2.7.0 Authentication successful\r\n");
    CHECK_INT(t->auths, 2);
    t_free(t);

    /* LOGIN with the user name as initial response; "*" at the password. */
    t = t_ready(1, 1);
    CHECK_STR(t_say(t, "AUTH LOGIN am9l\r\n"), "334 UGFzc3dvcmQ6\r\n");
    CHECK_STR(t_say(t, "*\r\n"), "501 5.7.0 Authentication cancelled\r\n");
    /* A control character in the user name is never passed on. */
    CHECK_STR(t_say(t, "AUTH PLAIN AGpvCmUAc2VjcmV0\r\n"),
              "501 5.5.2 Invalid AUTH PLAIN response\r\n");
    /* Over-long base64: the line limit bounds it. */
    memset(b64, 'Q', sizeof(b64) - 1);
    b64[sizeof(b64) - 1] = '\0';
    snprintf(line, sizeof(line), "AUTH PLAIN %s\r\n", b64);
    CHECK_STR(t_say(t, line), "500 5.5.6 Line too long\r\n");
    CHECK_INT(t->auths, 0);
    /* Pipelined after the credentials: refused before they are checked. */
    CHECK_STR(t_say(t, "AUTH PLAIN AGpvZQBzZWNyZXQ=\r\nMAIL FROM:<a@b.example>\r\n"),
              "554 5.5.0 Improper command pipelining, closing connection\r\n");
    CHECK_INT(t->auths, 0);
    t_free(t);

    /* Too many failures end the session. */
    t = t_ready(1, 1);
    t->cfg.max_errors = 3; /* not read again: set at t_new */
    for (int i = 0; i < 10 && smtp_server_core_status(t->core) == SMTP_CORE_INPUT; i++) {
        t_say(t, "AUTH PLAIN AGpvZQB3cm9uZw==\r\n");
        smtp_server_core_auth_done(t->core, 0);
        t_pump(t);
    }
    CHECK_INT(t->auths, 10);
    CHECK(strstr(t->out, "421 4.7.0 Too many errors") != NULL);
    CHECK_INT(smtp_server_core_status(t->core), SMTP_CORE_CLOSE);
    t_free(t);

    /* The owner's lockout (-1): 421 at once, and the session ends. */
    t = t_ready(1, 1);
    t_say(t, "AUTH PLAIN AGpvZQB3cm9uZw==\r\n");
    smtp_server_core_auth_done(t->core, -1);
    t_pump(t);
    CHECK_STR(t->out, "421 4.7.0 Too many authentication failures, closing connection\r\n");
    CHECK_STR(t->cl.user, "");
    CHECK_INT(smtp_server_core_status(t->core), SMTP_CORE_CLOSE);
    t_free(t);
}

static void test_errors(void)
{
    struct t *t = t_new(1, 0);
    t->cfg.max_errors = 3;
    smtp_server_core_free(t->core);
    CHECK_INT(smtp_server_core_new(&t->cfg, &t->hooks, &t->cl, 1, NULL, &t->core), 0);
    smtp_server_core_greet(t->core);
    t_clear(t);
    CHECK_STR(
        t_say(t, "FOO\r\nBAR\r\nBAZ\r\nNOOP\r\n"),
        "500 5.5.2 Command unrecognized\r\n500 5.5.2 Command unrecognized\r\n"
        "500 5.5.2 Command unrecognized\r\n421 4.7.0 Too many errors, closing connection\r\n");
    CHECK_INT(smtp_server_core_status(t->core), SMTP_CORE_CLOSE);
    t_free(t);

    /* Timeout and shutdown; not while a hook runs. */
    t = t_ready(1, 0);
    smtp_server_core_timeout(t->core);
    collect(t);
    CHECK_STR(t->out, "421 4.4.2 Timeout exceeded, closing connection\r\n");
    t_free(t);
    t = t_ready(1, 0);
    t_say(t, "MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n");
    t_say(t, "x\r\n.\r\n");
    t_clear(t);
    smtp_server_core_shutdown(t->core);
    collect(t);
    CHECK_STR(t->out, "");
    t_message_done(t, 0, NULL, NULL);
    smtp_server_core_shutdown(t->core);
    collect(t);
    CHECK_STR(t->out, "250 2.0.0 Ok\r\n421 4.3.2 Service shutting down, closing connection\r\n");
    t_free(t);

    /* A client gone before the dot leaves nothing: no hook call. */
    t = t_ready(1, 0);
    t_say(t, "MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n");
    t_say(t, "half a mess");
    CHECK(smtp_server_core_in_data(t->core));
    CHECK_INT(t->messages, 0);
    t_free(t);
}

/* Output fills: the core stops, the caller sends, feeding resumes. */
static void test_output_full(void)
{
    struct t *t = t_ready(1, 0);
    size_t n = 0, want = 0;
    char *in = malloc(200000);
    t_say(t, "MAIL FROM:<a@b.example>\r\n");
    while (n < 190000) {
        n += (size_t)sprintf(in + n, "RCPT TO:<c@d.example>\r\n");
        want++;
    }
    t_clear(t);
    t->outtotal = 0;
    t_feedn(t, in, n);
    CHECK_INT(t->npending, 0);
    CHECK_INT(t->outtotal, 3 * strlen("250 2.1.5 Ok\r\n") +
                               (want - 3) * strlen("452 4.5.3 Too many recipients\r\n"));
    free(in);
    t_free(t);
}

/* ---- TLS: the server side of tls.c ---- */

static char *temp_file(const char *text)
{
    char *path = strdup("/tmp/test_server.XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
        abort();
    close(fd);
    return path;
}

/* Moves ciphertext both ways until neither side has more. */
static void tls_pump(struct tls_session *a, struct tls_session *b)
{
    for (int round = 0; round < 1000; round++) {
        int moved = 0;
        struct tls_session *from[2] = {a, b}, *to[2] = {b, a};
        for (int d = 0; d < 2; d++) {
            size_t len;
            const unsigned char *p = tls_session_pending(from[d], &len);
            if (p) {
                size_t n = tls_session_feed(to[d], p, len);
                tls_session_sent(from[d], n);
                moved |= n > 0;
            }
        }
        if (!moved)
            break;
    }
}

static void test_tls_handshake(const char *crt, const char *key, const char *cipher)
{
    char *cp = temp_file(crt), *kp = temp_file(key), err[256] = "", buf[64];
    struct tls_server_cert *cert = NULL;
    struct tls_session *srv = NULL, *cli = NULL;
    struct tls_info info;

    CHECK_INT(tls_server_cert_load(cp, kp, &cert, err, sizeof(err)), 0);
    CHECK_STR(err, "");
    if (!cert)
        goto done;
    CHECK_INT(tls_session_server(cert, &srv), 0);
    /* The session holds its own reference. */
    tls_server_cert_unref(cert);
    CHECK_INT(tls_session_client(NULL, "mx.example.test", TLS_CHECK_RECORD, &cli), 0);
    tls_pump(cli, srv);
    CHECK_INT(tls_session_state(cli), TLS_STATE_OPEN);
    CHECK_INT(tls_session_state(srv), TLS_STATE_OPEN);
    CHECK_INT(tls_session_info(srv, &info), 0);
    CHECK_STR(info.version, "TLSv1.2");
    CHECK_STR(info.cipher, cipher);
    CHECK_INT(info.verified, 0);
    CHECK_STR(info.verify_error, "");
    /* Application data both ways. */
    CHECK_INT(tls_session_write(cli, "EHLO x\r\n", 8), 8);
    tls_session_flush(cli);
    tls_pump(cli, srv);
    CHECK_INT(tls_session_read(srv, buf, sizeof(buf)), 8);
    CHECK_MEM(buf, 8, "EHLO x\r\n");
    CHECK_INT(tls_session_write(srv, "250 ok\r\n", 8), 8);
    tls_session_flush(srv);
    tls_pump(cli, srv);
    CHECK_INT(tls_session_read(cli, buf, sizeof(buf)), 8);
    CHECK_MEM(buf, 8, "250 ok\r\n");
done:
    tls_session_free(cli);
    tls_session_free(srv);
    unlink(cp);
    unlink(kp);
    free(cp);
    free(kp);
}

static void test_cert_load_errors(void)
{
    char *rc_ = temp_file(rsa_crt), *ek = temp_file(ec_key_sec1), *ec = temp_file(ec_crt);
    char *empty = temp_file("nothing here\n"), err[256];
    struct tls_server_cert *cert = (struct tls_server_cert *)1;

    /* An EC key for an RSA certificate, and an EC key of another certificate. */
    CHECK_INT(tls_server_cert_load(rc_, ek, &cert, err, sizeof(err)), -EINVAL);
    CHECK(cert == NULL);
    CHECK(strstr(err, "does not match") != NULL);
    CHECK_INT(tls_server_cert_load("/nonexistent/chain.pem", ek, &cert, err, sizeof(err)), -ENOENT);
    CHECK(strstr(err, "/nonexistent/chain.pem") != NULL);
    CHECK_INT(tls_server_cert_load(empty, ek, &cert, err, sizeof(err)), -EINVAL);
    CHECK(strstr(err, "no certificate") != NULL);
    CHECK_INT(tls_server_cert_load(ec, empty, &cert, err, sizeof(err)), -EINVAL);
    CHECK(strstr(err, "no private key") != NULL);
    /* The chain file given as the key: no key in it. */
    CHECK_INT(tls_server_cert_load(ec, ec, &cert, err, sizeof(err)), -EINVAL);
    /* Both in one file (cert then key) works for the chain and the key. */
    {
        char both[4096];
        snprintf(both, sizeof(both), "%s%s", ec_crt, ec_key_sec1);
        char *bp = temp_file(both);
        CHECK_INT(tls_server_cert_load(bp, bp, &cert, err, sizeof(err)), 0);
        CHECK(tls_server_cert_ref(cert) == cert);
        tls_server_cert_unref(cert);
        tls_server_cert_unref(cert);
        tls_server_cert_unref(NULL);
        unlink(bp);
        free(bp);
    }
    CHECK_INT(tls_session_server(NULL, &(struct tls_session *){NULL}), -EINVAL);
    unlink(rc_);
    unlink(ek);
    unlink(ec);
    unlink(empty);
    free(rc_);
    free(ek);
    free(ec);
    free(empty);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    test_greeting_and_ehlo();
    test_transaction();
    test_simple_commands();
    test_source_route();
    test_dsn_params();
    test_control_characters();
    test_long_command();
    test_smuggling();
    test_data_lines();
    test_size();
    test_bare_lf_modes();
    test_recipients();
    test_pipelining();
    test_starttls();
    test_auth();
    test_errors();
    test_output_full();
    test_tls_handshake(rsa_crt, rsa_key_pkcs1, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
    test_tls_handshake(rsa_crt, rsa_key_pkcs8, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
    test_tls_handshake(ec_crt, ec_key_sec1, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256");
    test_tls_handshake(ec_crt, ec_key_pkcs8, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256");
    test_cert_load_errors();
    CHECK_DONE();
}
