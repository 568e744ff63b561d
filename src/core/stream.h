/* A bounded, compressed history of one (device, domain) series: integer
 * values with microsecond timestamps, delta-of-delta / delta varint coded
 * in 4 KiB blocks. Values that repeat are not stored again (the series is
 * the step function the hardware reports); the time of the last read is
 * kept so the last step's length is known. Samples older than the history
 * length are dropped a block at a time and counted.
 *
 * One writer, any number of readers. Readers copy one block at a time
 * under the lock and decode outside it, so they never hold up the writer
 * for more than a 4 KiB copy. */
#ifndef JOULE_CORE_STREAM_H
#define JOULE_CORE_STREAM_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

struct stream_block;

struct stream {
    pthread_mutex_t lock;
    int64_t history_us;
    struct stream_block **blocks; /* ring of block pointers, oldest first */
    int head, count, cap;
    uint64_t first_seq;           /* sequence number of blocks[head] */
    uint64_t dropped, stored;
    int have_last;
    int64_t last_t_us, last_v;
    int64_t last_read_us;         /* newest read, stored or not */
    size_t bytes;                 /* allocated */
    size_t encoded;               /* of that, holding samples */
};

struct sample {
    int64_t t_us;
    int64_t v;
};

int stream_init(struct stream *s, double history_s);
void stream_destroy(struct stream *s);
/* Records a read at t_us of value v (t_us never goes back). */
int stream_append(struct stream *s, int64_t t_us, int64_t v);

/* The samples with t in [t0_us, t1_us], preceded by the last sample
 * before t0_us when there is one (the step in force at t0). *out is
 * malloc'd; *last_read_us gets the newest read time. Returns the count or
 * a negative JOULE_E* code. */
int stream_read(struct stream *s, int64_t t0_us, int64_t t1_us,
                struct sample **out, int64_t *last_read_us);

uint64_t stream_dropped(struct stream *s);
size_t stream_bytes(struct stream *s);
/* Bytes the samples take, block headers included: what an hour of history
 * grows by, without the partly filled last block. */
size_t stream_encoded_bytes(struct stream *s);

#endif
