/*
 * test_xtext.c - RFC 3461 xtext both ways, and ORCPT's addr-type.
 */
#include "xtext.h"
#include "check.h"

#include <string.h>

static void test_decode(void)
{
    char out[16];

    CHECK_INT(smtp_xtext_decode("abc+2B+3D", 9, out, sizeof(out)), 0);
    CHECK_STR(out, "abc+=");
    CHECK_INT(smtp_xtext_decode("a+2b", 4, out, sizeof(out)), 0); /* lower-case hex, taken */
    CHECK_STR(out, "a+");
    CHECK_INT(smtp_xtext_decode("a+20b", 5, out, sizeof(out)), 0);
    CHECK_STR(out, "a b");
    CHECK_INT(smtp_xtext_decode("", 0, out, sizeof(out)), 0);
    CHECK_STR(out, "");
    CHECK_INT(smtp_xtext_decode("a=b", 3, out, sizeof(out)), -1);
    CHECK_INT(smtp_xtext_decode("a b", 3, out, sizeof(out)), -1);
    CHECK_INT(smtp_xtext_decode("a+2", 3, out, sizeof(out)), -1);
    CHECK_INT(smtp_xtext_decode("a+G0", 4, out, sizeof(out)), -1);
    CHECK_INT(smtp_xtext_decode("a+0A", 4, out, sizeof(out)), -1); /* a control character */
    CHECK_INT(smtp_xtext_decode("a+C3", 4, out, sizeof(out)), -1); /* not ASCII */
    CHECK_INT(smtp_xtext_decode("0123456789abcdef", 16, out, sizeof(out)), -1); /* no room */
    CHECK_INT(smtp_xtext_decode("0123456789abcde", 15, out, sizeof(out)), 0);
}

static void test_encode(void)
{
    char out[16], back[16];

    CHECK_INT(smtp_xtext_encode("id+1=x y", out, sizeof(out)), 0);
    CHECK_STR(out, "id+2B1+3Dx+20y");
    CHECK_INT(smtp_xtext_decode(out, strlen(out), back, sizeof(back)), 0);
    CHECK_STR(back, "id+1=x y");
    CHECK_INT(smtp_xtext_encode("+++++", out, sizeof(out)), 0); /* 15 + NUL */
    CHECK_INT(smtp_xtext_encode("++++++", out, sizeof(out)), -1);
    CHECK_INT(smtp_xtext_encode("a\nb", out, sizeof(out)), -1);
}

static void test_orcpt(void)
{
    char out[64], back[64];

    CHECK_INT(smtp_orcpt_decode("rfc822;a+2Bb@example.org", out, sizeof(out)), 0);
    CHECK_STR(out, "rfc822;a+b@example.org");
    CHECK_INT(smtp_orcpt_encode(out, back, sizeof(back)), 0);
    CHECK_STR(back, "rfc822;a+2Bb@example.org");
    CHECK_INT(smtp_orcpt_decode("x-local;user", out, sizeof(out)), 0);
    CHECK_STR(out, "x-local;user");
    CHECK_INT(smtp_orcpt_decode("rfc822;", out, sizeof(out)), -1);
    CHECK_INT(smtp_orcpt_decode(";a@b", out, sizeof(out)), -1);
    CHECK_INT(smtp_orcpt_decode("a@b", out, sizeof(out)), -1);
    CHECK_INT(smtp_orcpt_decode("rfc 822;a@b", out, sizeof(out)), -1);
    CHECK_INT(smtp_orcpt_encode("rfc822;a b@c", out, 12), -1); /* "rfc822;a+20b@c" */
}

int main(void)
{
    test_decode();
    test_encode();
    test_orcpt();
    CHECK_DONE();
}
