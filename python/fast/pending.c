/* A Measurement's per-device values, kept as numbers until first used.
 *
 * Ten dicts of floats cost more than the window itself, and a training
 * loop often reads one total or nothing at all. So the end of a window
 * sets the Measurement's name, time, start and total, and parks the
 * per-device values in its `_pending` slot; Measurement.__getattr__ (only
 * reached for a slot not yet set) calls fill(), which builds every dict at
 * once and empties the slot. */
#include "fast.h"

#include <string.h>

struct value {
    double energy, bound;
    int quality, status;
};

typedef struct {
    PyObject_VAR_HEAD
    Windows *w; /* its labels, kinds and indices */
    struct value v[];
} Pending;

static PyTypeObject PendingType;

int fast_set(PyObject *m, int i, PyObject *v)
{
    if (!v)
        return -1;
    if (fast_slot[i] < 0) {
        int rc = PyObject_SetAttr(m, fast_attr[i], v);
        Py_DECREF(v);
        return rc;
    }
    PyObject **slot = (PyObject **)((char *)m + fast_slot[i]); /* the slot's setter */
    Py_XSETREF(*slot, v);
    return 0;
}

static int set_item(PyObject *d, PyObject *k, PyObject *v)
{
    if (!v)
        return -1;
    int rc = PyDict_SetItem(d, k, v);
    Py_DECREF(v);
    return rc;
}

static PyObject *status_name(int st)
{
    if (st == 0)
        return Py_NewRef(Py_None);
    const char *s = F.strerror_(st);
    return PyUnicode_DecodeUTF8(s, (Py_ssize_t)strlen(s), "replace");
}

/* Builds the dicts (as monitor._from_result does) into m's slots. */
static int fill(Pending *p, PyObject *m)
{
    Windows *w = p->w;
    enum { ENERGY, QUALITY, STATUS, EBOUND, GPU, CPU, DRAM, GPU_B, CPU_B, DRAM_B, ND };
    PyObject *d[ND] = {0};
    int rc = -1;
    for (int i = 0; i < ND; i++)
        if (!(d[i] = PyDict_New()))
            goto out;
    Py_ssize_t nq = PyTuple_GET_SIZE(F.quality_names);
    for (Py_ssize_t i = 0; i < Py_SIZE(p); i++) {
        const struct value *v = &p->v[i];
        PyObject *label = PyTuple_GET_ITEM(w->labels, i);
        /* One float per value, shared by the by-label and by-kind dicts. */
        PyObject *ef = PyFloat_FromDouble(v->energy), *bf = ef ? PyFloat_FromDouble(v->bound) : NULL;
        int k = w->kinds[i];
        int bad = !bf || PyDict_SetItem(d[ENERGY], label, ef) ||
                  PyDict_SetItem(d[EBOUND], label, bf) ||
                  (k >= 0 && k <= 2 && (PyDict_SetItem(d[GPU + k], w->indices[i], ef) ||
                                        PyDict_SetItem(d[GPU_B + k], w->indices[i], bf)));
        Py_XDECREF(ef);
        Py_XDECREF(bf);
        if (bad)
            goto out;
        PyObject *qn = v->quality >= 0 && v->quality < nq
                           ? PyTuple_GET_ITEM(F.quality_names, v->quality) : NULL;
        if (qn ? PyDict_SetItem(d[QUALITY], label, qn)
               : set_item(d[QUALITY], label, PyUnicode_FromFormat("%d", v->quality)))
            goto out;
        if (set_item(d[STATUS], label, status_name(v->status)))
            goto out;
    }
    static const int where[ND] = {A_ENERGY, A_QUALITY, A_STATUS, A_EUNC, A_GPU,
                                  A_CPU,    A_DRAM,    A_UNC,    A_CPU_UNC, A_DRAM_UNC};
    for (int i = 0; i < ND; i++) {
        PyObject *dict = d[i];
        d[i] = NULL;
        if (fast_set(m, where[i], dict))
            goto out;
    }
    rc = 0;
out:
    for (int i = 0; i < ND; i++)
        Py_XDECREF(d[i]);
    return rc;
}

static PyObject *pending_fill(Pending *p, PyObject *m)
{
    if (!PyObject_TypeCheck(m, (PyTypeObject *)F.measurement))
        return PyErr_Format(PyExc_TypeError, "fill(measurement)");
    if (fill(p, m))
        return NULL;
    if (fast_slot[A_PENDING] >= 0) { /* done: the slot reads as unset again */
        PyObject **slot = (PyObject **)((char *)m + fast_slot[A_PENDING]);
        if (*slot == (PyObject *)p)
            Py_CLEAR(*slot);
    }
    Py_RETURN_NONE;
}

static void pending_dealloc(Pending *p)
{
    Py_XDECREF(p->w);
    Py_TYPE(p)->tp_free((PyObject *)p);
}

static PyMethodDef pending_methods[] = {
    {"fill", (PyCFunction)pending_fill, METH_O,
     "fill(measurement): builds its per-device dicts and empties its _pending slot"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject PendingType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "joule._fast.Pending",
    .tp_basicsize = sizeof(Pending),
    .tp_itemsize = sizeof(struct value),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A Measurement's per-device values before first use",
    .tp_dealloc = (destructor)pending_dealloc,
    .tp_methods = pending_methods,
};

int fast_pending_ready(void) { return PyType_Ready(&PendingType); }

/* Reads r into a new Pending of w's devices. */
static Pending *pending_new(Windows *w, joule_result *r)
{
    Py_ssize_t n = w->n;
    Pending *p = PyObject_NewVar(Pending, &PendingType, n);
    if (!p)
        return NULL;
    p->w = (Windows *)Py_NewRef((PyObject *)w);
    enum { STACK = 32 };
    double e_stack[STACK], b_stack[STACK];
    int q_stack[STACK], s_stack[STACK];
    double *e = e_stack, *b = b_stack;
    int *q = q_stack, *st = s_stack;
    if (n > STACK) {
        e = PyMem_Malloc((size_t)n * sizeof *e);
        b = PyMem_Malloc((size_t)n * sizeof *b);
        q = PyMem_Malloc((size_t)n * sizeof *q);
        st = PyMem_Malloc((size_t)n * sizeof *st);
    }
    if (e && b && q && st) {
        F.read(r, e, q, st, (int)n);
        F.read_uncertainty(r, b, (int)n);
        for (Py_ssize_t i = 0; i < n; i++)
            p->v[i] = (struct value){e[i], b[i], q[i], st[i]};
    } else {
        Py_CLEAR(p);
        PyErr_NoMemory();
    }
    if (n > STACK) {
        PyMem_Free(e);
        PyMem_Free(b);
        PyMem_Free(q);
        PyMem_Free(st);
    }
    return p;
}

PyObject *fast_measurement(Windows *w, PyObject *name, joule_result *r)
{
    PyTypeObject *cls = (PyTypeObject *)F.measurement;
    PyObject *empty = PyTuple_New(0);
    PyObject *m = empty ? cls->tp_new(cls, empty, NULL) : NULL;
    Py_XDECREF(empty);
    Pending *p = m ? pending_new(w, r) : NULL;
    if (!p || fast_set(m, A_NAME, Py_NewRef(name)) ||
        fast_set(m, A_TIME, PyFloat_FromDouble(F.time_s(r))) ||
        fast_set(m, A_START, PyFloat_FromDouble(F.start_unix_s(r))) ||
        fast_set(m, A_TOTAL, PyFloat_FromDouble(F.total_all_j(r))))
        goto fail;
    /* Without a _pending slot (another Measurement class), built now. */
    if (fast_slot[A_PENDING] < 0 ? fill(p, m) : fast_set(m, A_PENDING, Py_NewRef((PyObject *)p)))
        goto fail;
    Py_DECREF(p);
    return m;
fail:
    Py_XDECREF(p);
    Py_XDECREF(m);
    return NULL;
}
