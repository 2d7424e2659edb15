/*
 * submit_load.c - the daemon's side of enqueueing, without the cost of
 * starting a sendmail process per message: C threads, each handing
 * messages to mtad over its socket exactly as sendmail does (one
 * connection per message, answer after the commit).
 *
 *   submit_load SOCKET THREADS N MESSAGE_FILE   prints "submit_load THREADS N msgs/s"
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static const char *sock_path;
static char *request;
static size_t request_len;
static int per_thread;
static int failures;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static int submit_one(void)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    char reply[256];
    size_t off = 0;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0), ok = 0;
    if (fd < 0)
        return 0;
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock_path);
    if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
        while (off < request_len) {
            ssize_t n = write(fd, request + off, request_len - off);
            if (n <= 0)
                break;
            off += (size_t)n;
        }
        ssize_t n = read(fd, reply, sizeof(reply) - 1);
        ok = n > 2 && strncmp(reply, "ok ", 3) == 0;
    }
    close(fd);
    return ok;
}

static void *worker(void *arg)
{
    for (int i = 0; i < per_thread; i++)
        if (!submit_one()) {
            pthread_mutex_lock(&lock);
            failures++;
            pthread_mutex_unlock(&lock);
        }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: submit_load SOCKET THREADS N MESSAGE_FILE\n");
        return 64;
    }
    sock_path = argv[1];
    int threads = atoi(argv[2]), n = atoi(argv[3]);
    FILE *f = fopen(argv[4], "rb");
    char body[1 << 16];
    size_t len = f ? fread(body, 1, sizeof(body), f) : 0;
    if (!f || threads <= 0 || n <= 0)
        return 64;
    fclose(f);
    /* CRLF lines, as sendmail would send them */
    char *crlf = malloc(2 * len + 2);
    size_t m = 0;
    for (size_t i = 0; i < len; i++) {
        if (body[i] == '\n')
            crlf[m++] = '\r';
        crlf[m++] = body[i];
    }
    request = malloc(m + 256);
    request_len = (size_t)snprintf(request, 256,
                                   "submit\nsender bench@bench.example\nrcpt bench@example.com - -\n"
                                   "size %zu\n\n",
                                   m);
    memcpy(request + request_len, crlf, m);
    request_len += m;
    per_thread = n / threads;
    pthread_t tid[threads];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < threads; i++)
        pthread_create(&tid[i], NULL, worker, NULL);
    for (int i = 0; i < threads; i++)
        pthread_join(tid[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double t = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("submit_load %d %d %.0f %d\n", threads, per_thread * threads,
           per_thread * threads / t, failures);
    free(request);
    free(crlf);
    return failures ? 1 : 0;
}
