/*
 * xtext.c - RFC 3461 section 4 xtext:
 *   xtext = *( xchar / hexchar ), xchar = "!".."~" except "+" and "=",
 *   hexchar = "+" two upper-case hex digits.
 * Decoding is lenient about lower-case hex (some clients send it) and
 * strict about everything else.
 */
#include "xtext.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (unsigned char)toupper(c);
    return c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

int smtp_xtext_decode(const char *in, size_t len, char *out, size_t outlen)
{
    size_t o = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)in[i];
        if (ch == '+') {
            int hi, lo;
            if (len - i < 3 || (hi = hexval((unsigned char)in[i + 1])) < 0 ||
                (lo = hexval((unsigned char)in[i + 2])) < 0)
                return -1;
            ch = (unsigned char)(hi << 4 | lo);
            i += 2;
        } else if (ch < 33 || ch > 126 || ch == '=') {
            return -1;
        }
        if (ch < 32 || ch > 126 || o + 1 >= outlen)
            return -1;
        out[o++] = (char)ch;
    }
    if (outlen == 0)
        return -1;
    out[o] = '\0';
    return 0;
}

int smtp_xtext_encode(const char *in, char *out, size_t outlen)
{
    size_t o = 0;

    for (; *in; in++) {
        unsigned char ch = (unsigned char)*in;
        int plain = ch >= 33 && ch <= 126 && ch != '+' && ch != '=';
        if (ch < 32 || ch > 126 || o + (plain ? 1 : 3) >= outlen)
            return -1;
        if (plain)
            out[o++] = (char)ch;
        else
            o += (size_t)snprintf(out + o, outlen - o, "+%02X", ch);
    }
    if (outlen == 0)
        return -1;
    out[o] = '\0';
    return 0;
}

/* The addr-type and its ';' copied to out; returns its length, or 0. */
static size_t orcpt_type(const char *in, char *out, size_t outlen)
{
    const char *semi = strchr(in, ';');
    size_t tlen;

    if (!semi || semi == in)
        return 0;
    tlen = (size_t)(semi - in);
    if (tlen + 2 > outlen)
        return 0;
    for (size_t i = 0; i < tlen; i++)
        if (!isalnum((unsigned char)in[i]) && in[i] != '-')
            return 0;
    memcpy(out, in, tlen + 1);
    return tlen + 1;
}

int smtp_orcpt_decode(const char *in, char *out, size_t outlen)
{
    size_t n = orcpt_type(in, out, outlen);
    if (!n || !in[n])
        return -1;
    return smtp_xtext_decode(in + n, strlen(in + n), out + n, outlen - n);
}

int smtp_orcpt_encode(const char *in, char *out, size_t outlen)
{
    size_t n = orcpt_type(in, out, outlen);
    if (!n || !in[n])
        return -1;
    return smtp_xtext_encode(in + n, out + n, outlen - n);
}
