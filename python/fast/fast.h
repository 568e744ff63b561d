/* What the files of joule._fast share: the library functions bind()
 * found, Measurement's attribute names and slots, and the Windows object
 * a result's values are filed by. */
#ifndef JOULE_FAST_H
#define JOULE_FAST_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <stdatomic.h>

#include <joule/joule.h>

struct fast_functions {
    __typeof__(&joule_window_begin) begin;
    __typeof__(&joule_window_end) end;
    __typeof__(&joule_window_cancel) cancel;
    __typeof__(&joule_result_free) result_free;
    __typeof__(&joule_result_time_s) time_s;
    __typeof__(&joule_result_start_unix_s) start_unix_s;
    __typeof__(&joule_result_read) read;
    __typeof__(&joule_result_read_uncertainty) read_uncertainty;
    __typeof__(&joule_result_total_all_j) total_all_j;
    __typeof__(&joule_last_error) last_error;
    __typeof__(&joule_strerror) strerror_;
    __typeof__(&joule_sampler_timeline) sampler_timeline;
    __typeof__(&joule_sampler_energy_j) sampler_energy_j;
    PyObject *error_for, *measurement, *quality_names, *closed_error;
    int bound;
};
extern struct fast_functions F;

/* Measurement's attributes: set at the window's end (A_NAME..A_TOTAL),
 * built from the pending values on first use (A_ENERGY..A_DRAM_UNC),
 * the pending values themselves, and the exception's `measurement`. */
enum { A_NAME, A_TIME, A_START, A_TOTAL,
       A_ENERGY, A_QUALITY, A_STATUS, A_GPU, A_CPU, A_DRAM,
       A_EUNC, A_UNC, A_CPU_UNC, A_DRAM_UNC,
       A_PENDING, A_MEASUREMENT, NATTR };
#define A_FIRST_LAZY A_ENERGY
extern PyObject *fast_attr[NATTR];
/* Where Measurement keeps each attribute (its __slots__), found at
 * bind(); -1: set through setattr. */
extern Py_ssize_t fast_slot[NATTR];

/* Sets Measurement m's attribute i to v (a new reference, stolen; NULL:
 * a failed build, passed on). -1 with an error set on failure. */
int fast_set(PyObject *m, int i, PyObject *v);

/* Raises the binding's exception for code rc with message msg (the
 * library's, read on this thread right after the failed call); NULL. */
PyObject *fast_raise(int rc, const char *msg);

/* One joule_ctx's window calls (see _fast.c). */
typedef struct {
    PyObject_HEAD
    joule_ctx *ctx;
    Py_ssize_t n;
    PyObject *labels;     /* tuple of str */
    int *kinds;
    PyObject **indices;   /* new references: ints, keys of the per-kind dicts */
    PyObject *open_names; /* a set the names begun and not ended go in, or NULL */
    PyObject *sync_fn;    /* called at each synced edge, or NULL */
    /* Calls in flight, counted without a lock; close() sets closed and
     * waits on idle (under lock) until the last one leaves. */
    atomic_int inflight, closed;
    pthread_mutex_t lock;
    pthread_cond_t idle;
} Windows;

/* A Measurement of result r (not freed here) of w's window `name`: its
 * time, start and total now, the per-device dicts on first use. */
PyObject *fast_measurement(Windows *w, PyObject *name, joule_result *r);
/* The sampler queries (sampler.c), module functions. */
PyObject *fast_timeline(PyObject *self, PyObject *args);
PyObject *fast_energy(PyObject *self, PyObject *args);

/* Readies the pending values' type; -1 on failure. */
int fast_pending_ready(void);

#endif
