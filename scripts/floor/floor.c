/* The least CPU a load generator can spend on scripts/bench-serve's scenarios, for
 * scripts/bench-floor: MQTT 3.1.1 clients, each on its own TCP connection with
 * TCP_NODELAY (as `mqtk bench`), one thread; publishers paced on bench's 5 ms grid with
 * the messages of a slot in one write; subscribers read as data arrives (one clock read
 * per read, as a latency probe needs); QoS 1/2 acknowledgements of one read in one write.
 * No histogram, no payload timestamps, no checks beyond counting packets.
 *
 * Built twice: with epoll (cc floor.c) and with io_uring (cc -DURING floor.c -luring:
 * the sends of a slot, the receives and the wait in one io_uring_enter).
 *
 * It speaks MQTT 5, as `mqtk bench` does by default, and keeps at most the broker's
 * Receive Maximum of QoS 1/2 messages unacknowledged per publisher (bench's default
 * --inflight; mosquitto announces 20), sending what the window held back as PUBACKs and
 * PUBCOMPs come in.
 *
 * floor HOST PORT SCENARIO(pairs|fan-in|fan-out) CLIENTS QOS RATE MESSAGES
 * prints "sent received user_secs system_secs" (getrusage, the whole process)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#ifdef URING
#include <liburing.h>
#else
#include <sys/epoll.h>
#endif

#define SLOT_NS 5000000ULL
#define MAXC 256
#define PAYLOAD 64
#define OUTBUF 65536
#define OUTSLOTS 4 /* io_uring: buffers a send may still be using */

struct client {
    int fd;
    int sub;
    char topic[32];
    uint16_t pid;
    uint64_t sent, done, due; /* published, acknowledged (QoS 1/2), due by the schedule */
    unsigned char in[65536];
    size_t inlen;
    unsigned char out[OUTSLOTS][OUTBUF];
    unsigned outslot;
};

static struct client cl[MAXC];
static int ncl, qos;
static uint64_t window = 65535; /* the broker's Receive Maximum */
static uint64_t received, completed;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void die(const char *m) {
    perror(m);
    exit(1);
}

static size_t put_len(unsigned char *p, size_t n) {
    size_t i = 0;
    do {
        unsigned char b = n % 128;
        n /= 128;
        if (n) b |= 128;
        p[i++] = b;
    } while (n);
    return i;
}

static void write_all(int fd, const unsigned char *b, size_t n) {
    while (n) {
        ssize_t w = write(fd, b, n);
        if (w < 0 && errno == EAGAIN) {
            usleep(100);
            continue;
        }
        if (w < 0) die("write");
        b += w;
        n -= w;
    }
}

static void read_exact(int fd, unsigned char *b, size_t n) {
    while (n) {
        ssize_t r = read(fd, b, n);
        if (r <= 0) die("read");
        b += r;
        n -= r;
    }
}

/* Reads one packet whole (fixed header included) into p; returns its length. */
static size_t read_packet(int fd, unsigned char *p, size_t cap) {
    size_t i = 0, len = 0, mul = 1;
    read_exact(fd, p, 1);
    do {
        read_exact(fd, p + ++i, 1);
        len += (p[i] & 127) * mul;
        mul *= 128;
    } while (p[i] & 128 && i < 4);
    if (i + 1 + len > cap) {
        fprintf(stderr, "floor: packet too long\n");
        exit(1);
    }
    read_exact(fd, p + i + 1, len);
    return i + 1 + len;
}

/* The Receive Maximum property (0x21) of a CONNACK of `len` bytes, 65,535 if absent. */
static uint64_t receive_maximum(const unsigned char *p, size_t len) {
    size_t h = 2; /* a CONNACK's remaining length fits one byte */
    size_t end = len, i = h + 2;
    size_t plen = 0, mul = 1;
    while (i < end) {
        plen += (p[i] & 127) * mul;
        mul *= 128;
        if (!(p[i++] & 128)) break;
    }
    for (size_t j = i; j < i + plen && j < end;) {
        unsigned char id = p[j++];
        if (id == 0x21 && j + 2 <= end) return (p[j] << 8) | p[j + 1];
        /* mosquitto's CONNACK properties: one-byte (0x24, 0x25, 0x28, 0x29, 0x2A),
         * two-byte (0x21, 0x22, 0x13), four-byte (0x27, 0x11), strings (0x12, 0x1F) */
        if (id == 0x22 || id == 0x13) j += 2;
        else if (id == 0x27 || id == 0x11) j += 4;
        else if (id == 0x12 || id == 0x1F || id == 0x1A || id == 0x1C || id == 0x15)
            j += 2 + ((p[j] << 8) | p[j + 1]);
        else j += 1;
    }
    return 65535;
}

static int dial(const char *host, int port, const char *id) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, host, &a.sin_addr);
    if (connect(fd, (void *)&a, sizeof a) < 0) die("connect");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    unsigned char p[256];
    size_t idl = strlen(id), i = 0;
    p[i++] = 0x10;
    i += put_len(p + i, 10 + 1 + 2 + idl);
    memcpy(p + i, "\0\4MQTT\5\2\0\x3c\0", 11); /* v5, clean start, 60 s, no properties */
    i += 11;
    p[i++] = idl >> 8;
    p[i++] = idl & 255;
    memcpy(p + i, id, idl);
    i += idl;
    write_all(fd, p, i);
    size_t len = read_packet(fd, p, sizeof p);
    if (p[0] != 0x20 || len < 4 || p[3] != 0) {
        fprintf(stderr, "floor: CONNACK refused\n");
        exit(1);
    }
    window = receive_maximum(p, len);
    return fd;
}

static void subscribe(int fd, const char *filter) {
    unsigned char p[256];
    size_t fl = strlen(filter), i = 0;
    p[i++] = 0x82;
    i += put_len(p + i, 2 + 1 + 2 + fl + 1);
    p[i++] = 0;
    p[i++] = 1;
    p[i++] = 0; /* no properties */
    p[i++] = fl >> 8;
    p[i++] = fl & 255;
    memcpy(p + i, filter, fl);
    i += fl;
    p[i++] = qos;
    write_all(fd, p, i);
    size_t len = read_packet(fd, p, sizeof p);
    if (p[0] != 0x90 || p[len - 1] > 2) {
        fprintf(stderr, "floor: SUBACK refused\n");
        exit(1);
    }
}

static unsigned char *out_buffer(struct client *c) {
    return c->out[c->outslot++ % OUTSLOTS];
}

static void send_bytes(int i, unsigned char *b, size_t n);
static void publish_due(int ci, uint64_t due);

/* Takes one read's bytes: counts PUBLISH (and answers PUBACK or PUBREC), answers PUBREC
 * with PUBREL and PUBREL with PUBCOMP, counts PUBACK and PUBCOMP; every answer of the
 * read in one write. */
static void on_bytes(int ci) {
    struct client *c = &cl[ci];
    (void)now_ns(); /* the latency probe's clock read */
    unsigned char *acks = out_buffer(c);
    size_t na = 0, off = 0;
    while (off + 2 <= c->inlen) {
        size_t len = 0, mul = 1, h = off + 1;
        int done = 0;
        while (h < c->inlen) {
            len += (c->in[h] & 127) * mul;
            mul *= 128;
            if (!(c->in[h++] & 128)) {
                done = 1;
                break;
            }
        }
        if (!done || h + len > c->inlen) break;
        unsigned type = c->in[off] >> 4;
        unsigned char reply = 0, id0 = 0, id1 = 0;
        if (type == 3) {
            received++;
            unsigned q = (c->in[off] >> 1) & 3;
            size_t tl = (c->in[h] << 8) | c->in[h + 1];
            if (q) {
                reply = q == 1 ? 0x40 : 0x50;
                id0 = c->in[h + 2 + tl];
                id1 = c->in[h + 3 + tl];
            }
        } else if (type == 4 || type == 7) {
            completed++;
            c->done++;
        } else if (type == 5 || type == 6) {
            reply = type == 5 ? 0x62 : 0x70;
            id0 = c->in[h];
            id1 = c->in[h + 1];
        }
        if (reply && na + 4 <= OUTBUF) {
            acks[na++] = reply;
            acks[na++] = 2;
            acks[na++] = id0;
            acks[na++] = id1;
        }
        off = h + len;
    }
    memmove(c->in, c->in + off, c->inlen - off);
    c->inlen -= off;
    if (na) send_bytes(ci, acks, na);
    if (!c->sub && c->sent < c->due) publish_due(ci, c->due);
}

static void publish_due(int ci, uint64_t due) {
    struct client *c = &cl[ci];
    unsigned char *buf = out_buffer(c);
    size_t i = 0, tl = strlen(c->topic);
    c->due = due;
    while (c->sent < due && (!qos || c->sent - c->done < window) && i + 200 < OUTBUF) {
        buf[i++] = 0x30 | (qos << 1);
        i += put_len(buf + i, 2 + tl + (qos ? 2 : 0) + 1 + PAYLOAD);
        buf[i++] = tl >> 8;
        buf[i++] = tl & 255;
        memcpy(buf + i, c->topic, tl);
        i += tl;
        if (qos) {
            if (++c->pid == 0) c->pid = 1;
            buf[i++] = c->pid >> 8;
            buf[i++] = c->pid & 255;
        }
        buf[i++] = 0; /* no properties */
        memset(buf + i, 'x', PAYLOAD);
        i += PAYLOAD;
        c->sent++;
    }
    if (i) send_bytes(ci, buf, i);
}

#ifdef URING
static struct io_uring ring;

static struct io_uring_sqe *sqe_get(void) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    if (!sqe) {
        io_uring_submit(&ring);
        sqe = io_uring_get_sqe(&ring);
    }
    return sqe;
}

static void queue_recv(int i) {
    struct io_uring_sqe *sqe = sqe_get();
    io_uring_prep_recv(sqe, cl[i].fd, cl[i].in + cl[i].inlen, sizeof cl[i].in - cl[i].inlen, 0);
    io_uring_sqe_set_data64(sqe, ((uint64_t)1 << 32) | i);
}

static void send_bytes(int i, unsigned char *b, size_t n) {
    struct io_uring_sqe *sqe = sqe_get();
    io_uring_prep_send(sqe, cl[i].fd, b, n, 0);
    io_uring_sqe_set_data64(sqe, ((uint64_t)2 << 32) | ((uint64_t)n << 40) | i);
}

static void io_start(void) {
    struct io_uring_params p = {.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN};
    if (io_uring_queue_init_params(1024, &ring, &p) < 0) die("io_uring_queue_init");
    for (int i = 0; i < ncl; i++) queue_recv(i);
}

static void io_wait(int timeout_ms) {
    struct __kernel_timespec ts = {.tv_sec = timeout_ms / 1000,
                                   .tv_nsec = (timeout_ms % 1000) * 1000000LL};
    struct io_uring_cqe *cqe;
    int e = io_uring_submit_and_wait_timeout(&ring, &cqe, 1, &ts, NULL);
    if (e < 0 && e != -ETIME && e != -EINTR) {
        fprintf(stderr, "floor: io_uring wait: %s\n", strerror(-e));
        exit(1);
    }
    unsigned head, seen = 0;
    io_uring_for_each_cqe(&ring, head, cqe) {
        uint64_t d = cqe->user_data;
        int i = d & 0xffffffff, kind = (d >> 32) & 0xff;
        if (kind == 1) {
            if (cqe->res <= 0) {
                fprintf(stderr, "floor: recv: %d\n", cqe->res);
                exit(1);
            }
            cl[i].inlen += cqe->res;
            on_bytes(i);
            queue_recv(i);
        } else if (cqe->res != (int)(d >> 40)) {
            fprintf(stderr, "floor: short send: %d\n", cqe->res);
            exit(1);
        }
        seen++;
    }
    io_uring_cq_advance(&ring, seen);
}
#else
static int ep;

static void send_bytes(int i, unsigned char *b, size_t n) { write_all(cl[i].fd, b, n); }

static void io_start(void) {
    ep = epoll_create1(0);
    for (int i = 0; i < ncl; i++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = i};
        int on = 1;
        ioctl(cl[i].fd, FIONBIO, &on);
        epoll_ctl(ep, EPOLL_CTL_ADD, cl[i].fd, &ev);
    }
}

static void on_readable(int i) {
    struct client *c = &cl[i];
    for (;;) {
        size_t room = sizeof c->in - c->inlen;
        ssize_t r = read(c->fd, c->in + c->inlen, room);
        if (r < 0 && errno == EAGAIN) return;
        if (r <= 0) die("read");
        c->inlen += r;
        on_bytes(i);
        if ((size_t)r < room) return; /* drained: no read that would only say EAGAIN */
    }
}

static void io_wait(int timeout_ms) {
    struct epoll_event evs[MAXC];
    int k = epoll_wait(ep, evs, MAXC, timeout_ms);
    for (int j = 0; j < k; j++) on_readable(evs[j].data.u32);
}
#endif

int main(int argc, char **argv) {
    if (argc != 8) {
        fprintf(stderr, "usage: floor HOST PORT pairs|fan-in|fan-out CLIENTS QOS RATE MESSAGES\n");
        return 2;
    }
    const char *host = argv[1], *scenario = argv[3];
    int port = atoi(argv[2]), n = atoi(argv[4]), pubs, subs;
    qos = atoi(argv[5]);
    double rate = atof(argv[6]);
    uint64_t messages = strtoull(argv[7], 0, 10);
    int pairs = !strcmp(scenario, "pairs"), fan_out = !strcmp(scenario, "fan-out");
    if (pairs) pubs = subs = n;
    else if (!strcmp(scenario, "fan-in")) pubs = n, subs = 1;
    else if (fan_out) pubs = 1, subs = n;
    else return 2;
    if (pubs + subs > MAXC || qos < 0 || qos > 2 || rate <= 0) return 2;
    char id[64], name[32];
    for (int s = 0; s < subs; s++) {
        struct client *c = &cl[ncl++];
        snprintf(id, sizeof id, "floor-s%d-%d", s, getpid());
        c->fd = dial(host, port, id);
        c->sub = 1;
        snprintf(name, sizeof name, pairs ? "floor/%d" : "floor/+", s);
        subscribe(c->fd, name);
    }
    for (int p = 0; p < pubs; p++) {
        struct client *c = &cl[ncl++];
        snprintf(id, sizeof id, "floor-p%d-%d", p, getpid());
        c->fd = dial(host, port, id);
        snprintf(c->topic, sizeof c->topic, "floor/%d", p);
    }
    io_start();
    uint64_t per_pub = messages / pubs;
    double rate_pp = rate / pubs;
    uint64_t expected = per_pub * pubs * (fan_out ? subs : 1);
    uint64_t start = now_ns(), next_slot = start;
    uint64_t deadline = start + (uint64_t)(per_pub / rate_pp * 1e9) + 10000000000ULL;
    for (;;) {
        uint64_t t = now_ns();
        int all_sent = 1;
        if (t >= next_slot) {
            double elapsed = (next_slot - start) / 1e9 + SLOT_NS / 1e9;
            uint64_t due = (uint64_t)(elapsed * rate_pp);
            if (due > per_pub) due = per_pub;
            for (int i = 0; i < ncl; i++)
                if (!cl[i].sub) publish_due(i, due);
            next_slot += SLOT_NS;
            if (next_slot < t) next_slot = t - (t - start) % SLOT_NS + SLOT_NS;
        }
        for (int i = 0; i < ncl; i++)
            if (!cl[i].sub && cl[i].sent < per_pub) all_sent = 0;
        if (received >= expected && (qos == 0 || completed >= per_pub * pubs)) break;
        if (t > deadline) {
            fprintf(stderr, "floor: timed out, received %lu of %lu\n", (unsigned long)received,
                    (unsigned long)expected);
            return 1;
        }
        io_wait(all_sent ? 100 : (int)((next_slot - t + 999999) / 1000000));
    }
    uint64_t sent = 0;
    for (int i = 0; i < ncl; i++) sent += cl[i].sent;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("%lu %lu %.6f %.6f\n", (unsigned long)sent, (unsigned long)received,
           ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6, ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
    return 0;
}
