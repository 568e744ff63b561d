/* joule._fast: the window hot path of joule.Monitor without ctypes.
 *
 * A window's begin and end, and reading its result into a Measurement,
 * are a few C calls each; through ctypes every call costs about a
 * microsecond of argument conversion. Here they are direct calls, and
 * Monitor.begin_window/end_window hand over to them at once.
 *
 * The module does not link libjoule: bind() takes the addresses of the
 * library functions from the copy ctypes loaded (joule/_lib.py), so both
 * paths always talk to the same library instance and its contexts.
 *
 *   bind(functions: {name: address}, error_for, measurement_class,
 *        quality_names: tuple, closed_error)
 *   Windows(ctx_address, labels, kinds, indices, open_names=None,
 *           sync_fn=None) -> w
 *   w.begin(name: str, sync: bool, restart: bool) -> None
 *   w.end(name: str, sync: bool) -> Measurement
 *   w.close()  waits for calls in flight, then refuses new ones
 *   timeline(...), energy(...)  PowerMonitor's queries (sampler.c)
 *
 * kinds: 0 GPU, 1 CPU package, 2 DRAM (joule.h's order), anything else is
 * in `energy` by label only. open_names: a set that holds the names begun
 * and not yet ended (Monitor.reset_windows cancels them). sync_fn: called
 * at each edge with sync set, before the library's own sync; when it
 * raises at an end, the window is cancelled. Errors are the binding's own
 * exceptions (error_for(code, message)); a failed end that still measured
 * carries the Measurement in the exception's `measurement`. The
 * Measurement's per-device dicts are built on first use (pending.c). The
 * GIL is released around each library call, as ctypes does. */
#include "fast.h"

#include <structmember.h>
#include <string.h>

struct fast_functions F;

static const char *const attr_names[NATTR] = {
    "name", "time", "start_time", "total_energy", "energy", "quality", "status",
    "gpu_energy", "cpu_energy", "dram_energy", "energy_uncertainty", "uncertainty",
    "cpu_uncertainty", "dram_uncertainty", "_pending", "measurement"};
PyObject *fast_attr[NATTR];
Py_ssize_t fast_slot[NATTR];

/* The offset of cls's __slots__ member `name`, or -1. */
static Py_ssize_t member_offset(PyObject *cls, PyObject *name)
{
    PyObject *d = PyObject_GetAttr(cls, name);
    Py_ssize_t off = -1;
    if (d && Py_IS_TYPE(d, &PyMemberDescr_Type)) {
        PyMemberDef *md = ((PyMemberDescrObject *)d)->d_member;
        if (md->type == T_OBJECT_EX && !(md->flags & READONLY))
            off = md->offset;
    }
    Py_XDECREF(d);
    PyErr_Clear();
    return off;
}

#define MAX_DEVICES 4096

static PyObject *sym(PyObject *d, const char *name, void **out)
{
    PyObject *v = PyDict_GetItemString(d, name);
    if (!v)
        return PyErr_Format(PyExc_KeyError, "joule._fast.bind: no address for %s", name);
    void *p = PyLong_AsVoidPtr(v);
    if (!p) {
        if (!PyErr_Occurred())
            PyErr_Format(PyExc_ValueError, "joule._fast.bind: %s is NULL", name);
        return NULL;
    }
    *out = p;
    return v;
}

static PyObject *fast_bind(PyObject *self, PyObject *args)
{
    PyObject *d, *error_for, *measurement, *qnames, *closed_error;
    if (!PyArg_ParseTuple(args, "O!OOO!O", &PyDict_Type, &d, &error_for, &measurement,
                          &PyTuple_Type, &qnames, &closed_error))
        return NULL;
    if (!PyType_Check(measurement))
        return PyErr_Format(PyExc_TypeError, "joule._fast.bind: a class for Measurement");
    struct { const char *name; void **slot; } fns[] = {
        {"joule_window_begin", (void **)&F.begin},
        {"joule_window_end", (void **)&F.end},
        {"joule_window_cancel", (void **)&F.cancel},
        {"joule_result_free", (void **)&F.result_free},
        {"joule_result_time_s", (void **)&F.time_s},
        {"joule_result_start_unix_s", (void **)&F.start_unix_s},
        {"joule_result_read", (void **)&F.read},
        {"joule_result_read_uncertainty", (void **)&F.read_uncertainty},
        {"joule_result_total_all_j", (void **)&F.total_all_j},
        {"joule_last_error", (void **)&F.last_error},
        {"joule_strerror", (void **)&F.strerror_},
        {"joule_sampler_timeline", (void **)&F.sampler_timeline},
        {"joule_sampler_energy_j", (void **)&F.sampler_energy_j},
    };
    for (size_t i = 0; i < sizeof fns / sizeof *fns; i++)
        if (!sym(d, fns[i].name, fns[i].slot))
            return NULL;
    Py_INCREF(error_for);
    Py_INCREF(measurement);
    Py_INCREF(qnames);
    Py_INCREF(closed_error);
    Py_XSETREF(F.error_for, error_for);
    Py_XSETREF(F.measurement, measurement);
    Py_XSETREF(F.quality_names, qnames);
    Py_XSETREF(F.closed_error, closed_error);
    for (int i = 0; i < A_MEASUREMENT; i++)
        fast_slot[i] = member_offset(measurement, fast_attr[i]);
    F.bound = 1;
    Py_RETURN_NONE;
}

/* ---- Windows ---------------------------------------------------------- */

static int windows_init(Windows *w, PyObject *args, PyObject *kw)
{
    PyObject *addr, *labels, *kinds, *indices, *open_names = Py_None, *sync_fn = Py_None;
    if (!PyArg_ParseTuple(args, "OO!O!O!|OO", &addr, &PyTuple_Type, &labels, &PyTuple_Type,
                          &kinds, &PyTuple_Type, &indices, &open_names, &sync_fn))
        return -1;
    if (open_names != Py_None && !PySet_Check(open_names)) {
        PyErr_SetString(PyExc_TypeError, "joule._fast.Windows: open_names is a set or None");
        return -1;
    }
    if (sync_fn != Py_None && !PyCallable_Check(sync_fn)) {
        PyErr_SetString(PyExc_TypeError, "joule._fast.Windows: sync_fn is callable or None");
        return -1;
    }
    if (!F.bound) {
        PyErr_SetString(PyExc_RuntimeError, "joule._fast: bind() first");
        return -1;
    }
    if (w->ctx) {
        PyErr_SetString(PyExc_RuntimeError, "joule._fast.Windows: already initialized");
        return -1;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(labels);
    if (PyTuple_GET_SIZE(kinds) != n || PyTuple_GET_SIZE(indices) != n || n > MAX_DEVICES) {
        PyErr_SetString(PyExc_ValueError, "joule._fast.Windows: labels, kinds and indices "
                                          "must be tuples of one length (at most 4096)");
        return -1;
    }
    joule_ctx *ctx = PyLong_AsVoidPtr(addr);
    if (!ctx) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "joule._fast.Windows: NULL context");
        return -1;
    }
    w->kinds = PyMem_Calloc((size_t)n + 1, sizeof *w->kinds);
    w->indices = PyMem_Calloc((size_t)n + 1, sizeof *w->indices);
    if (!w->kinds || !w->indices) {
        PyErr_NoMemory();
        return -1;
    }
    w->n = n; /* dealloc drops the indices taken so far (the rest are NULL) */
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!PyUnicode_Check(PyTuple_GET_ITEM(labels, i))) {
            PyErr_SetString(PyExc_TypeError, "joule._fast.Windows: labels are str");
            return -1;
        }
        long k = PyLong_AsLong(PyTuple_GET_ITEM(kinds, i));
        if (k == -1 && PyErr_Occurred())
            return -1;
        w->kinds[i] = (int)k;
        w->indices[i] = PyTuple_GET_ITEM(indices, i);
        Py_INCREF(w->indices[i]);
    }
    w->labels = Py_NewRef(labels);
    w->open_names = open_names == Py_None ? NULL : Py_NewRef(open_names);
    w->sync_fn = sync_fn == Py_None ? NULL : Py_NewRef(sync_fn);
    w->ctx = ctx;
    return 0;
}

static PyObject *windows_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    Windows *w = (Windows *)type->tp_alloc(type, 0);
    if (w) {
        pthread_mutex_init(&w->lock, NULL);
        pthread_cond_init(&w->idle, NULL);
    }
    return (PyObject *)w;
}

static void windows_dealloc(Windows *w)
{
    for (Py_ssize_t i = 0; w->indices && i < w->n; i++)
        Py_XDECREF(w->indices[i]);
    PyMem_Free(w->indices);
    PyMem_Free(w->kinds);
    Py_XDECREF(w->labels);
    Py_XDECREF(w->open_names);
    Py_XDECREF(w->sync_fn);
    pthread_cond_destroy(&w->idle);
    pthread_mutex_destroy(&w->lock);
    Py_TYPE(w)->tp_free((PyObject *)w);
}

static void leave(Windows *w)
{
    if (atomic_fetch_sub(&w->inflight, 1) == 1 && atomic_load(&w->closed)) {
        pthread_mutex_lock(&w->lock); /* close() is waiting, or about to */
        pthread_cond_broadcast(&w->idle);
        pthread_mutex_unlock(&w->lock);
    }
}

/* Counts a call in flight; 0 if the windows are closed (error set). The
 * count goes up before closed is read, and close() sets closed before it
 * reads the count (both sequentially consistent), so either close() waits
 * for this call or this call sees closed. */
static int enter(Windows *w)
{
    atomic_fetch_add(&w->inflight, 1);
    if (!atomic_load(&w->closed) && w->ctx)
        return 1;
    leave(w);
    PyObject *e = PyObject_CallObject(F.closed_error, NULL);
    if (e) {
        PyErr_SetObject((PyObject *)Py_TYPE(e), e);
        Py_DECREF(e);
    }
    return 0;
}

static PyObject *windows_close(Windows *w, PyObject *unused)
{
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&w->lock);
    atomic_store(&w->closed, 1);
    while (atomic_load(&w->inflight))
        pthread_cond_wait(&w->idle, &w->lock);
    pthread_mutex_unlock(&w->lock);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

/* The binding's exception for code rc: error_for(rc, message), not yet
 * raised (a new reference, NULL with an error set if building it failed).
 * Steals msg. */
static PyObject *error_obj(int rc, PyObject *msg)
{
    PyObject *e = msg ? PyObject_CallFunction(F.error_for, "iO", rc, msg) : NULL;
    Py_XDECREF(msg);
    return e;
}

static void raise_exc(PyObject *e)
{
    if (e) {
        PyErr_SetObject((PyObject *)Py_TYPE(e), e);
        Py_DECREF(e);
    }
}

/* The library's message, read on this thread right after the call. */
static PyObject *error_code(int rc, const char *msg)
{
    return error_obj(rc, PyUnicode_DecodeUTF8(msg, (Py_ssize_t)strlen(msg), "replace"));
}

PyObject *fast_raise(int rc, const char *msg)
{
    raise_exc(error_code(rc, msg));
    return NULL;
}

/* The name as UTF-8, checked as the ctypes path checks it: a str
 * (TypeError), without NUL (InvalidArgumentError: C would cut it there). */
static const char *name_utf8(PyObject *name)
{
    if (!PyUnicode_Check(name)) {
        PyErr_Format(PyExc_TypeError, "joule: window name must be a str, not %s",
                     Py_TYPE(name)->tp_name);
        return NULL;
    }
    Py_ssize_t len;
    const char *s = PyUnicode_AsUTF8AndSize(name, &len);
    if (s && (Py_ssize_t)strlen(s) != len) {
        raise_exc(error_obj(JOULE_EINVAL, PyUnicode_FromFormat(
                                              "window name %R contains a NUL character", name)));
        return NULL;
    }
    return s;
}

/* Calls the sync hook when sync is set; -1 if it raised. */
static int sync_edge(Windows *w, int sync)
{
    if (!sync || !w->sync_fn)
        return 0;
    PyObject *r = PyObject_CallNoArgs(w->sync_fn);
    Py_XDECREF(r);
    return r ? 0 : -1;
}

/* The arguments of begin/end: the name as UTF-8 and the sync flag. */
static const char *edge_args(PyObject *const *args, Py_ssize_t nargs, Py_ssize_t want,
                             const char *usage, int *sync)
{
    if (nargs != want) {
        PyErr_Format(PyExc_TypeError, "%s", usage);
        return NULL;
    }
    const char *name = name_utf8(args[0]);
    if (name && (*sync = PyObject_IsTrue(args[1])) < 0)
        return NULL;
    return name;
}

static PyObject *windows_begin(Windows *w, PyObject *const *args, Py_ssize_t nargs)
{
    int sync, restart = 0;
    const char *name = edge_args(args, nargs, 3, "begin(name, sync, restart)", &sync);
    if (!name || (restart = PyObject_IsTrue(args[2])) < 0 || !enter(w))
        return NULL;
    if (sync_edge(w, sync)) { /* raises before the window exists */
        leave(w);
        return NULL;
    }
    unsigned flags = (sync ? 0 : JOULE_WINDOW_NO_SYNC) | (restart ? JOULE_WINDOW_RESTART : 0);
    int rc;
    char msg[512] = "";
    Py_BEGIN_ALLOW_THREADS
    rc = F.begin(w->ctx, name, flags);
    if (rc < 0)
        snprintf(msg, sizeof msg, "%s", F.last_error());
    Py_END_ALLOW_THREADS
    leave(w);
    if (rc < 0)
        return fast_raise(rc, msg);
    if (w->open_names && PySet_Add(w->open_names, args[0]) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *windows_end(Windows *w, PyObject *const *args, Py_ssize_t nargs)
{
    int sync;
    const char *name = edge_args(args, nargs, 2, "end(name, sync)", &sync);
    if (!name || (w->open_names && PySet_Discard(w->open_names, args[0]) < 0) || !enter(w))
        return NULL;
    if (sync_edge(w, sync)) { /* the window is unmeasurable now */
        F.cancel(w->ctx, name); /* a bad name: keep the sync error */
        leave(w);
        return NULL;
    }
    int rc;
    joule_result *r = NULL;
    char msg[512] = "";
    Py_BEGIN_ALLOW_THREADS
    rc = F.end(w->ctx, name, sync ? 0 : JOULE_WINDOW_NO_SYNC, &r);
    if (rc < 0)
        snprintf(msg, sizeof msg, "%s", F.last_error());
    Py_END_ALLOW_THREADS
    leave(w);
    PyObject *m = NULL;
    if (r) {
        m = fast_measurement(w, args[0], r);
        F.result_free(r);
    }
    if (rc < 0) {
        if (r && !m) /* measured, but building the Measurement failed */
            return NULL;
        PyObject *e = error_code(rc, msg);
        if (e && PyObject_SetAttr(e, fast_attr[A_MEASUREMENT], m ? m : Py_None) < 0)
            Py_CLEAR(e);
        Py_XDECREF(m);
        raise_exc(e);
        return NULL;
    }
    return m;
}

static PyObject *windows_closed(Windows *w, void *unused)
{
    return PyBool_FromLong(atomic_load(&w->closed));
}

static PyMethodDef windows_methods[] = {
    {"begin", (PyCFunction)(void (*)(void))windows_begin, METH_FASTCALL,
     "begin(name, sync, restart): the sync hook, then joule_window_begin"},
    {"end", (PyCFunction)(void (*)(void))windows_end, METH_FASTCALL,
     "end(name, sync) -> Measurement: the sync hook, joule_window_end, the result"},
    {"close", (PyCFunction)windows_close, METH_NOARGS,
     "Waits for calls in flight, then refuses new ones (before joule_close)."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef windows_getset[] = {
    {"closed", (getter)windows_closed, NULL, "close() was called", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject WindowsType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "joule._fast.Windows",
    .tp_basicsize = sizeof(Windows),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Windows(ctx_address, labels, kinds, indices, open_names=None, sync_fn=None): "
              "one joule_ctx's window calls",
    .tp_new = windows_new,
    .tp_init = (initproc)windows_init,
    .tp_dealloc = (destructor)windows_dealloc,
    .tp_methods = windows_methods,
    .tp_getset = windows_getset,
};

static PyMethodDef module_methods[] = {
    {"bind", fast_bind, METH_VARARGS,
     "bind(functions, error_for, measurement_class, quality_names, closed_error)"},
    {"timeline", fast_timeline, METH_VARARGS,
     "timeline(sampler, device, domain, t0, t1, offset=0.0, strict=False) -> [(t, v)]"},
    {"energy", fast_energy, METH_VARARGS,
     "energy(sampler, devices, t0, t1) -> [joules or None per device]"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_fast",
    "joule's window hot path in C (see joule/_fastpath.py).", -1, module_methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__fast(void)
{
    for (int i = 0; i < NATTR; i++)
        if (!(fast_attr[i] = PyUnicode_InternFromString(attr_names[i])))
            return NULL;
    if (PyType_Ready(&WindowsType) < 0 || fast_pending_ready() < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m)
        return NULL;
    Py_INCREF(&WindowsType);
    if (PyModule_AddObject(m, "Windows", (PyObject *)&WindowsType) < 0) {
        Py_DECREF(&WindowsType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
