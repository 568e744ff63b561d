/* PowerMonitor's queries of the sampler's history without ctypes: a
 * timeline comes back as a list of (t, value) tuples built here, not read
 * element by element out of ctypes arrays, and the energy of every device
 * in one call.
 *
 *   timeline(sampler_address, device, domain, t0, t1, offset=0.0,
 *            strict=False) -> [(t + offset, value), ...]
 *       joule_sampler_timeline; strict drops the sample in force at t0
 *       when it is older than t0 (Zeus's timelines start at t0).
 *   energy(sampler_address, devices: tuple, t0, t1) -> [J or None, ...]
 *       joule_sampler_energy_j per device; None where the device has no
 *       power reading (JOULE_ENOTSUP).
 *
 * Errors are the binding's exceptions (error_for). The caller keeps the
 * sampler alive across the call (PowerMonitor._call). */
#include "fast.h"

#include <limits.h>

static joule_sampler *sampler_arg(PyObject *o)
{
    joule_sampler *s = PyLong_AsVoidPtr(o);
    if (!s && !PyErr_Occurred())
        PyErr_SetString(PyExc_ValueError, "joule._fast: NULL sampler");
    return s;
}

PyObject *fast_timeline(PyObject *self, PyObject *args)
{
    PyObject *addr;
    int dev, dom, strict = 0;
    double t0, t1, offset = 0.0;
    if (!PyArg_ParseTuple(args, "Oiidd|dp", &addr, &dev, &dom, &t0, &t1, &offset, &strict))
        return NULL;
    joule_sampler *s = sampler_arg(addr);
    if (!s)
        return NULL;
    double *ts = NULL, *vs = NULL;
    int n, cap = 0;
    for (;;) { /* count, then fill; samples may arrive between the calls */
        Py_BEGIN_ALLOW_THREADS
        n = F.sampler_timeline(s, dev, dom, t0, t1, ts, vs, cap);
        Py_END_ALLOW_THREADS
        if (n < 0 || n == 0 || (cap && n <= cap))
            break;
        cap = n + 64;
        PyMem_Free(ts);
        PyMem_Free(vs);
        ts = PyMem_Malloc((size_t)cap * sizeof *ts);
        vs = PyMem_Malloc((size_t)cap * sizeof *vs);
        if (!ts || !vs) {
            PyMem_Free(ts);
            PyMem_Free(vs);
            return PyErr_NoMemory();
        }
    }
    int first = 0;
    while (strict && first < n && ts[first] < t0)
        first++;
    PyObject *out = n < 0 ? fast_raise(n, F.last_error()) : PyList_New(n - first);
    for (int i = first; out && i < n; i++) {
        PyObject *t = PyFloat_FromDouble(ts[i] + offset), *v = PyFloat_FromDouble(vs[i]);
        PyObject *pair = t && v ? PyTuple_New(2) : NULL;
        if (!pair) {
            Py_XDECREF(t);
            Py_XDECREF(v);
            Py_CLEAR(out);
            break;
        }
        PyTuple_SET_ITEM(pair, 0, t);
        PyTuple_SET_ITEM(pair, 1, v);
        PyList_SET_ITEM(out, i - first, pair);
    }
    PyMem_Free(ts);
    PyMem_Free(vs);
    return out;
}

PyObject *fast_energy(PyObject *self, PyObject *args)
{
    PyObject *addr, *devices;
    double t0, t1;
    if (!PyArg_ParseTuple(args, "OO!dd", &addr, &PyTuple_Type, &devices, &t0, &t1))
        return NULL;
    joule_sampler *s = sampler_arg(addr);
    if (!s)
        return NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(devices);
    PyObject *out = PyList_New(n);
    for (Py_ssize_t i = 0; out && i < n; i++) {
        long dev = PyLong_AsLong(PyTuple_GET_ITEM(devices, i));
        if ((dev == -1 && PyErr_Occurred()) || dev < 0 || dev > INT_MAX) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_ValueError, "joule._fast.energy: bad device");
            Py_CLEAR(out);
            break;
        }
        double j = 0;
        int rc;
        Py_BEGIN_ALLOW_THREADS
        rc = F.sampler_energy_j(s, (int)dev, t0, t1, &j);
        Py_END_ALLOW_THREADS
        PyObject *v = rc == JOULE_ENOTSUP ? Py_NewRef(Py_None)
                      : rc < 0            ? fast_raise(rc, F.last_error())
                                          : PyFloat_FromDouble(j);
        if (!v)
            Py_CLEAR(out);
        else
            PyList_SET_ITEM(out, i, v);
    }
    return out;
}
