"""Job totals of a window every torch.distributed rank ended
(``Monitor(..., reduce="job")``, docs/cluster.md "Python: job totals").

Each rank sends what it measured (host, window edges on the wall clock,
each device with its UUID) with one ``all_gather_object``; every rank then
combines the same records the same way, as libjoule_mpi does in C: ranks on
one host share its devices, so each device (by UUID, else kind and label)
is counted once per host, taking the measurement of the rank whose window
on it was the longest (ties: the lowest rank). The job's time runs from the
earliest begin to the latest end.

Test-only: ``JOULE_MPI_FAKE_NODES=K`` puts rank r on pretend host
``HOST#(r % K)``, to test the cross-node sum on one machine.
"""

import os
import socket

from ..errors import error_for

_KINDS = ("gpu", "cpu", "dram")


def _host(rank):
    host = socket.gethostname()
    fake = os.environ.get("JOULE_MPI_FAKE_NODES", "")
    k = int(fake) if fake.strip().isdigit() else 1
    return "%s#%d" % (host, rank % k) if k > 1 else host


def _record(m, devices, error, rank, code=-1):
    rec = {"host": _host(rank), "error": error, "code": code}
    if m is None:
        return rec
    rec["begin"] = m.start_time
    rec["end"] = m.start_time + m.time
    rec["devices"] = [
        {"key": ("uuid:" + d.uuid) if d.uuid else "%s:%s" % (d.kind, d.label),
         "label": d.label, "kind": d.kind_name, "index": d.index,
         "energy": m.energy[d.label],
         "uncertainty": m.energy_uncertainty.get(d.label, float("nan")),
         "quality": m.quality[d.label], "status": m.status[d.label]}
        for d in devices if d.label in m.energy]
    return rec


class Node:
    """One host of a job measurement: ``host``, ``ranks`` (how many ranks
    ran there) and ``measurement`` (its devices, each once; labels and
    indices as on the host; time from its earliest begin to latest end)."""

    __slots__ = ("host", "ranks", "measurement")

    def __init__(self, host, ranks, measurement):
        self.host, self.ranks, self.measurement = host, ranks, measurement

    def __repr__(self):
        return "Node(%r, ranks=%d, %r)" % (self.host, self.ranks,
                                           self.measurement)


def _measurement(name, begin, end, picks, prefix):
    """A Measurement of the picked device records; labels get prefix(node)."""
    from . import Measurement
    energy, quality, status, bound = {}, {}, {}, {}
    by_kind = {k: {} for k in _KINDS}
    bound_by_kind = {k: {} for k in _KINDS}
    total = 0.0
    counters = {k: 0 for k in _KINDS}
    for node, d in picks:
        label = prefix(node) + d["label"]
        energy[label] = d["energy"]
        bound[label] = d["uncertainty"]
        quality[label] = d["quality"]
        status[label] = d["status"]
        if d["kind"] in by_kind:
            # Job-wide indices in node order (a host's own indices repeat).
            i = counters[d["kind"]] if prefix(node) else d["index"]
            counters[d["kind"]] += 1
            by_kind[d["kind"]][i] = d["energy"]
            bound_by_kind[d["kind"]][i] = d["uncertainty"]
            if d["status"] is None and d["energy"] == d["energy"]:
                total += d["energy"]
    return Measurement(
        name=name, time=end - begin, start_time=begin, energy=energy,
        quality=quality, status=status, gpu_energy=by_kind["gpu"],
        cpu_energy=by_kind["cpu"], dram_energy=by_kind["dram"],
        total_energy=total, energy_uncertainty=bound,
        uncertainty=bound_by_kind["gpu"],
        cpu_uncertainty=bound_by_kind["cpu"],
        dram_uncertainty=bound_by_kind["dram"])


def combine(name, records):
    """The job Measurement (with ``.nodes``) from every rank's record, in
    rank order. Pure: the tests call it without torch."""
    hosts = []
    for r in records:
        if r["host"] not in hosts:
            hosts.append(r["host"])
    picks, nodes = [], []
    job_begin, job_end = float("inf"), float("-inf")
    for k, host in enumerate(hosts):
        ranks = [r for r in records if r["host"] == host]
        begin = min(r["begin"] for r in ranks)
        end = max(r["end"] for r in ranks)
        job_begin, job_end = min(job_begin, begin), max(job_end, end)
        chosen, order = {}, []
        for r in ranks:
            span = r["end"] - r["begin"]
            for d in r["devices"]:
                old = chosen.get(d["key"])
                if old is None:
                    order.append(d["key"])
                    chosen[d["key"]] = (span, d)
                elif ((d["status"] is None) != (old[1]["status"] is None)
                      and d["status"] is None) or (
                          (d["status"] is None) == (old[1]["status"] is None)
                          and span > old[0]):
                    chosen[d["key"]] = (span, d)
        node_picks = [(k, chosen[key][1]) for key in order]
        picks.extend(node_picks)
        nodes.append(Node(host, len(ranks),
                          _measurement(name, begin, end, node_picks,
                                       lambda _n: "")))
    m = _measurement(name, job_begin, job_end, picks,
                     lambda n: "n%d." % n)
    m._nodes = nodes
    return m


def reduce_job(name, m, devices, error):
    """Every rank's call: gathers the records and returns the job's
    Measurement, or raises on every rank when one rank failed."""
    from ..framework import _dist
    dist = _dist()
    if dist is None:
        if error is not None:
            raise error
        records = [_record(m, devices, None, 0)]
        return combine(name, records)
    rank, size = dist.get_rank(), dist.get_world_size()
    records = [None] * size
    mine = _record(m, devices, None if error is None else
                   "%s: %s" % (type(error).__name__, error), rank,
                   getattr(error, "code", -1) if error is not None else -1)
    dist.all_gather_object(records, mine)
    for r, rec in enumerate(records):
        if rec["error"] is not None:
            if r == rank and error is not None:
                raise error
            raise error_for(rec["code"], "rank %d of %d could not end window %r: %s"
                            % (r, size, name, rec["error"]))
    return combine(name, records)
