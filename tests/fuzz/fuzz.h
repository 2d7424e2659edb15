/*
 * fuzz.h - what the libFuzzer targets in this directory share: an
 * assertion that turns a broken documented invariant into a crash
 * libFuzzer records, and a memfd holding the input so that parsers which
 * only take a path can read it.
 *
 * A target must not leak and must not keep state between inputs: every
 * LLVMFuzzerTestOneInput frees and closes all it made before it returns.
 */
#ifndef MTA_FUZZ_H
#define MTA_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/*
 * A plain assert() would vanish under -DNDEBUG; this one never does, and
 * abort() is what libFuzzer reports as a crash with the input saved.
 */
#define FUZZ_ASSERT(cond)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: FUZZ_ASSERT(%s) failed\n", __FILE__, __LINE__, #cond);         \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/*
 * Returns a memfd holding data[0..size), or -1 (with errno set). Opening
 * "/proc/self/fd/N" gives a new open file description, so the readers start
 * at offset 0 whatever this one's offset is. The caller closes the fd.
 */
static inline int fuzz_memfd(const char *name, const uint8_t *data, size_t size)
{
    size_t done = 0;
    int fd = memfd_create(name, MFD_CLOEXEC);

    if (fd < 0)
        return -1;
    while (done < size) {
        ssize_t n = write(fd, data + done, size - done);

        if (n <= 0) {
            close(fd);
            return -1;
        }
        done += (size_t)n;
    }
    return fd;
}

#endif
