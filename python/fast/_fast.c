/* joule._fast: the window hot path of joule.Monitor without ctypes.
 *
 * A window's begin and end, and reading its result into a Measurement,
 * are a few C calls each; through ctypes every call costs about a
 * microsecond of argument conversion. Here they are direct calls.
 *
 * The module does not link libjoule: bind() takes the addresses of the
 * library functions from the copy ctypes loaded (joule/_lib.py), so both
 * paths always talk to the same library instance and its contexts.
 *
 *   bind(functions: {name: address}, error_for, measurement_class,
 *        quality_names: tuple, closed_error)
 *   Windows(ctx_address, labels, kinds, indices) -> w
 *   w.begin(name: str, flags: int) -> None
 *   w.end(name: str, flags: int) -> Measurement
 *   w.close()  waits for calls in flight, then refuses new ones
 *
 * kinds: 0 GPU, 1 CPU package, 2 DRAM (joule.h's order), anything else is
 * in `energy` by label only. Errors are the binding's own exceptions
 * (error_for(code, message)); a failed end that still measured carries the
 * Measurement in the exception's `measurement`. The GIL is released around
 * each library call, as ctypes does. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <pthread.h>
#include <string.h>

#include <joule/joule.h>

static struct {
    __typeof__(&joule_window_begin) begin;
    __typeof__(&joule_window_end) end;
    __typeof__(&joule_result_free) result_free;
    __typeof__(&joule_result_time_s) time_s;
    __typeof__(&joule_result_start_unix_s) start_unix_s;
    __typeof__(&joule_result_read) read;
    __typeof__(&joule_result_read_uncertainty) read_uncertainty;
    __typeof__(&joule_result_total_all_j) total_all_j;
    __typeof__(&joule_last_error) last_error;
    __typeof__(&joule_strerror) strerror_;
    PyObject *error_for, *measurement, *quality_names, *closed_error;
    int bound;
} F;

/* Measurement's attributes, interned once. */
enum { A_NAME, A_TIME, A_START, A_ENERGY, A_QUALITY, A_STATUS, A_GPU, A_CPU, A_DRAM, A_TOTAL,
       A_EUNC, A_UNC, A_CPU_UNC, A_DRAM_UNC, A_MEASUREMENT, NATTR };
static const char *const attr_names[NATTR] = {
    "name", "time", "start_time", "energy", "quality", "status", "gpu_energy", "cpu_energy",
    "dram_energy", "total_energy", "energy_uncertainty", "uncertainty", "cpu_uncertainty",
    "dram_uncertainty", "measurement"};
static PyObject *attr[NATTR];
/* Where Measurement keeps each attribute (its __slots__), found at bind();
 * -1: set through setattr. */
static Py_ssize_t slot_offset[NATTR];

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

typedef struct {
    PyObject_HEAD
    joule_ctx *ctx;
    Py_ssize_t n;
    PyObject *labels;  /* tuple of str */
    int *kinds;
    PyObject **indices; /* new references: ints, keys of the per-kind dicts */
    pthread_mutex_t lock;
    pthread_cond_t idle;
    int inflight, closed;
} Windows;

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
        {"joule_result_free", (void **)&F.result_free},
        {"joule_result_time_s", (void **)&F.time_s},
        {"joule_result_start_unix_s", (void **)&F.start_unix_s},
        {"joule_result_read", (void **)&F.read},
        {"joule_result_read_uncertainty", (void **)&F.read_uncertainty},
        {"joule_result_total_all_j", (void **)&F.total_all_j},
        {"joule_last_error", (void **)&F.last_error},
        {"joule_strerror", (void **)&F.strerror_},
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
        slot_offset[i] = member_offset(measurement, attr[i]);
    F.bound = 1;
    Py_RETURN_NONE;
}

/* ---- Windows ---------------------------------------------------------- */

static int windows_init(Windows *w, PyObject *args, PyObject *kw)
{
    PyObject *addr, *labels, *kinds, *indices;
    if (!PyArg_ParseTuple(args, "OO!O!O!", &addr, &PyTuple_Type, &labels, &PyTuple_Type,
                          &kinds, &PyTuple_Type, &indices))
        return -1;
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
    w->n = n;
    Py_INCREF(labels);
    w->labels = labels;
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
    pthread_cond_destroy(&w->idle);
    pthread_mutex_destroy(&w->lock);
    Py_TYPE(w)->tp_free((PyObject *)w);
}

/* Counts a call in flight; 0 if the windows are closed (error set). */
static int enter(Windows *w)
{
    pthread_mutex_lock(&w->lock);
    int ok = !w->closed && w->ctx;
    if (ok)
        w->inflight++;
    pthread_mutex_unlock(&w->lock);
    if (!ok) {
        PyObject *e = PyObject_CallObject(F.closed_error, NULL);
        if (e) {
            PyErr_SetObject((PyObject *)Py_TYPE(e), e);
            Py_DECREF(e);
        }
    }
    return ok;
}

static void leave(Windows *w)
{
    pthread_mutex_lock(&w->lock);
    if (--w->inflight == 0)
        pthread_cond_broadcast(&w->idle);
    pthread_mutex_unlock(&w->lock);
}

static PyObject *windows_close(Windows *w, PyObject *unused)
{
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&w->lock);
    w->closed = 1;
    while (w->inflight)
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

static PyObject *windows_begin(Windows *w, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2)
        return PyErr_Format(PyExc_TypeError, "begin(name, flags)");
    const char *name = name_utf8(args[0]);
    if (!name)
        return NULL;
    unsigned flags = (unsigned)PyLong_AsUnsignedLongMask(args[1]);
    if (PyErr_Occurred() || !enter(w))
        return NULL;
    int rc;
    char msg[512] = "";
    Py_BEGIN_ALLOW_THREADS
    rc = F.begin(w->ctx, name, flags);
    if (rc < 0)
        snprintf(msg, sizeof msg, "%s", F.last_error());
    Py_END_ALLOW_THREADS
    leave(w);
    if (rc < 0) {
        raise_exc(error_code(rc, msg));
        return NULL;
    }
    Py_RETURN_NONE;
}

static int set_item(PyObject *d, PyObject *k, PyObject *v)
{
    if (!v)
        return -1;
    int rc = PyDict_SetItem(d, k, v);
    Py_DECREF(v);
    return rc;
}

/* A Measurement from a result (not freed here), as monitor._from_result. */
static PyObject *measurement(Windows *w, PyObject *name, joule_result *r)
{
    Py_ssize_t n = w->n;
    double e_stack[16], b_stack[16];
    int q_stack[16], s_stack[16];
    double *e = e_stack, *b = b_stack;
    int *q = q_stack, *st = s_stack;
    if (n > 16) {
        e = PyMem_Malloc((size_t)n * sizeof *e);
        b = PyMem_Malloc((size_t)n * sizeof *b);
        q = PyMem_Malloc((size_t)n * sizeof *q);
        st = PyMem_Malloc((size_t)n * sizeof *st);
    }
    PyObject *m = NULL;
    PyObject *d[10] = {0}; /* energy quality status bound, gpu cpu dram, their bounds */
    if (!e || !b || !q || !st) {
        PyErr_NoMemory();
        goto out;
    }
    F.read(r, e, q, st, (int)n);
    F.read_uncertainty(r, b, (int)n);
    for (int i = 0; i < 10; i++)
        if (!(d[i] = PyDict_New()))
            goto out;
    Py_ssize_t nq = PyTuple_GET_SIZE(F.quality_names);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *label = PyTuple_GET_ITEM(w->labels, i);
        /* One float per value, shared by the by-label and by-kind dicts. */
        PyObject *ef = PyFloat_FromDouble(e[i]), *bf = ef ? PyFloat_FromDouble(b[i]) : NULL;
        int k = w->kinds[i];
        int bad = !bf || PyDict_SetItem(d[0], label, ef) || PyDict_SetItem(d[3], label, bf) ||
                  (k >= 0 && k <= 2 && (PyDict_SetItem(d[4 + k], w->indices[i], ef) ||
                                        PyDict_SetItem(d[7 + k], w->indices[i], bf)));
        Py_XDECREF(ef);
        Py_XDECREF(bf);
        if (bad)
            goto out;
        PyObject *qn = q[i] >= 0 && q[i] < nq ? PyTuple_GET_ITEM(F.quality_names, q[i]) : NULL;
        if (qn ? PyDict_SetItem(d[1], label, qn) : set_item(d[1], label, PyUnicode_FromFormat("%d", q[i])))
            goto out;
        if (st[i] == 0 ? PyDict_SetItem(d[2], label, Py_None)
                       : set_item(d[2], label, PyUnicode_DecodeUTF8(F.strerror_(st[i]),
                                                                    (Py_ssize_t)strlen(F.strerror_(st[i])),
                                                                    "replace")))
            goto out;
    }
    PyTypeObject *cls = (PyTypeObject *)F.measurement;
    PyObject *empty = PyTuple_New(0);
    m = empty ? cls->tp_new(cls, empty, NULL) : NULL;
    Py_XDECREF(empty);
    if (!m)
        goto out;
    PyObject *vals[A_MEASUREMENT] = {
        name, PyFloat_FromDouble(F.time_s(r)), PyFloat_FromDouble(F.start_unix_s(r)),
        d[0], d[1], d[2], d[4], d[5], d[6], PyFloat_FromDouble(F.total_all_j(r)),
        d[3], d[7], d[8], d[9]};
    int bad = 0;
    for (int i = 0; i < A_MEASUREMENT && !bad; i++) {
        if (!vals[i]) {
            bad = 1;
        } else if (slot_offset[i] >= 0) { /* what the slot's setter does */
            PyObject **slot = (PyObject **)((char *)m + slot_offset[i]);
            Py_INCREF(vals[i]);
            Py_XSETREF(*slot, vals[i]);
        } else {
            bad = PyObject_SetAttr(m, attr[i], vals[i]) < 0;
        }
    }
    Py_XDECREF(vals[A_TIME]);
    Py_XDECREF(vals[A_START]);
    Py_XDECREF(vals[A_TOTAL]);
    if (bad && !PyErr_Occurred())
        PyErr_NoMemory();
    if (bad)
        Py_CLEAR(m);
out:
    for (int i = 0; i < 10; i++)
        Py_XDECREF(d[i]);
    if (n > 16) {
        PyMem_Free(e);
        PyMem_Free(b);
        PyMem_Free(q);
        PyMem_Free(st);
    }
    return m;
}

static PyObject *windows_end(Windows *w, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2)
        return PyErr_Format(PyExc_TypeError, "end(name, flags)");
    const char *name = name_utf8(args[0]);
    if (!name)
        return NULL;
    unsigned flags = (unsigned)PyLong_AsUnsignedLongMask(args[1]);
    if (PyErr_Occurred() || !enter(w))
        return NULL;
    int rc;
    joule_result *r = NULL;
    char msg[512] = "";
    Py_BEGIN_ALLOW_THREADS
    rc = F.end(w->ctx, name, flags, &r);
    if (rc < 0)
        snprintf(msg, sizeof msg, "%s", F.last_error());
    Py_END_ALLOW_THREADS
    PyObject *m = NULL;
    if (r) {
        m = measurement(w, args[0], r);
        F.result_free(r);
    }
    leave(w);
    if (rc < 0) {
        if (r && !m) /* measured, but building the Measurement failed */
            return NULL;
        PyObject *e = error_code(rc, msg);
        if (e && PyObject_SetAttr(e, attr[A_MEASUREMENT], m ? m : Py_None) < 0)
            Py_CLEAR(e);
        Py_XDECREF(m);
        raise_exc(e);
        return NULL;
    }
    return m;
}

static PyObject *windows_closed(Windows *w, void *unused)
{
    pthread_mutex_lock(&w->lock);
    int c = w->closed;
    pthread_mutex_unlock(&w->lock);
    return PyBool_FromLong(c);
}

static PyMethodDef windows_methods[] = {
    {"begin", (PyCFunction)(void (*)(void))windows_begin, METH_FASTCALL,
     "begin(name, flags): joule_window_begin"},
    {"end", (PyCFunction)(void (*)(void))windows_end, METH_FASTCALL,
     "end(name, flags) -> Measurement: joule_window_end and the result read"},
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
    .tp_doc = "Windows(ctx_address, labels, kinds, indices): one joule_ctx's window calls",
    .tp_new = windows_new,
    .tp_init = (initproc)windows_init,
    .tp_dealloc = (destructor)windows_dealloc,
    .tp_methods = windows_methods,
    .tp_getset = windows_getset,
};

static PyMethodDef module_methods[] = {
    {"bind", fast_bind, METH_VARARGS,
     "bind(functions, error_for, measurement_class, quality_names, closed_error)"},
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
        if (!(attr[i] = PyUnicode_InternFromString(attr_names[i])))
            return NULL;
    if (PyType_Ready(&WindowsType) < 0)
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
