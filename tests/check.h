/*
 * check.h - the assertions every unit test uses. Each test is its own
 * program run by meson with a timeout; a failed check prints the file,
 * line and both values, and the program exits 1 at the end (checks go on,
 * so one run shows every failure).
 */
#ifndef MTA_CHECK_H
#define MTA_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int check_failures;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);               \
            check_failures++;                                                                      \
        }                                                                                          \
    } while (0)

#define CHECK_INT(a, b)                                                                            \
    do {                                                                                           \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);                            \
        if (check_a_ != check_b_) {                                                                \
            fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", __FILE__, __LINE__, #a, #b,  \
                    check_a_, check_b_);                                                           \
            check_failures++;                                                                      \
        }                                                                                          \
    } while (0)

#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *check_a_ = (a), *check_b_ = (b);                                               \
        if (!check_a_ || !check_b_ || strcmp(check_a_, check_b_) != 0) {                           \
            fprintf(stderr, "%s:%d: %s == %s failed:\n  got:  \"%s\"\n  want: \"%s\"\n", __FILE__, \
                    __LINE__, #a, #b, check_a_ ? check_a_ : "(null)",                              \
                    check_b_ ? check_b_ : "(null)");                                               \
            check_failures++;                                                                      \
        }                                                                                          \
    } while (0)

/* Compares len bytes of a against the NUL-terminated b. */
#define CHECK_MEM(a, alen, b)                                                                      \
    do {                                                                                           \
        const char *check_a_ = (a), *check_b_ = (b);                                               \
        size_t check_al_ = (alen), check_bl_ = strlen(check_b_);                                   \
        if (check_al_ != check_bl_ || memcmp(check_a_, check_b_, check_al_) != 0) {                \
            fprintf(stderr, "%s:%d: %s == %s failed:\n  got:  \"%.*s\"\n  want: \"%s\"\n",         \
                    __FILE__, __LINE__, #a, #b, (int)check_al_, check_a_, check_b_);               \
            check_failures++;                                                                      \
        }                                                                                          \
    } while (0)

#define CHECK_DONE()                                                                               \
    do {                                                                                           \
        if (check_failures)                                                                        \
            fprintf(stderr, "%d check(s) failed\n", check_failures);                               \
        return check_failures ? 1 : 0;                                                             \
    } while (0)

#endif
