"""Monitor(..., reduce="job"): job totals over torch.distributed ranks,
each host's devices counted once. The combining is checked on its own
(no torch); two gloo processes on CPU check it end to end on simulated
GPUs against the sim model (docs/sim.md: an h100 at load 0.5 draws
385 W)."""

import textwrap
import unittest

import joule
from joule.monitor import _job

from .test_zeus_dropin import run_two_gloo_ranks

H100_HALF_W = 385.0


def _rec(host, begin, end, devices, error=None):
    return {"host": host, "error": error, "code": -1, "begin": begin,
            "end": end, "devices": devices}


def _dev(uuid, label, energy, index=0, status=None):
    return {"key": "uuid:" + uuid, "label": label, "kind": "gpu",
            "index": index, "energy": energy, "uncertainty": 0.1 * energy,
            "quality": "exact", "status": status}


class Combine(unittest.TestCase):
    def test_same_host_counted_once_and_hosts_summed(self):
        records = [
            _rec("a", 10.0, 11.0, [_dev("G0", "gpu0", 100.0),
                                   _dev("G1", "gpu1", 110.0, 1)]),
            # same host, same GPUs, a longer window: its values win
            _rec("a", 9.9, 11.2, [_dev("G0", "gpu0", 130.0),
                                  _dev("G1", "gpu1", 140.0, 1)]),
            _rec("b", 10.0, 11.5, [_dev("G0", "gpu0", 50.0)]),
        ]
        m = _job.combine("step", records)
        self.assertAlmostEqual(m.total_energy, 130 + 140 + 50)
        self.assertEqual(sorted(m.energy), ["n0.gpu0", "n0.gpu1", "n1.gpu0"])
        self.assertEqual(m.gpu_energy, {0: 130.0, 1: 140.0, 2: 50.0})
        self.assertAlmostEqual(m.time, 11.5 - 9.9)
        self.assertAlmostEqual(m.start_time, 9.9)
        self.assertAlmostEqual(sum(m.uncertainty.values()), 13 + 14 + 5)
        self.assertEqual([(n.host, n.ranks) for n in m.nodes],
                         [("a", 2), ("b", 1)])
        self.assertEqual(m.nodes[0].measurement.gpu_energy,
                         {0: 130.0, 1: 140.0})
        self.assertAlmostEqual(m.nodes[1].measurement.time, 1.5)

    def test_a_failed_device_yields_to_a_measured_one(self):
        bad = _dev("G0", "gpu0", float("nan"), status="JOULE_EIO")
        records = [_rec("a", 0.0, 2.0, [bad]),
                   _rec("a", 0.5, 1.0, [_dev("G0", "gpu0", 7.0)])]
        self.assertEqual(_job.combine("w", records).gpu_energy, {0: 7.0})

    def test_without_a_process_group_the_window_is_its_own_job(self):
        with joule.Monitor(devices="sim:2:h100", sync=None,
                           reduce="job") as mon:
            mon.begin_window("w")
            m = mon.end_window("w")
        self.assertEqual(len(m.gpu_energy), 2)
        self.assertEqual([n.ranks for n in m.nodes], [1])

    def test_bad_reduce(self):
        with self.assertRaises(ValueError):
            joule.Monitor(devices="sim:1:h100", reduce="node")


RANK_SCRIPT = textwrap.dedent("""\
    import json, os, time
    import torch.distributed as dist
    rank = int(os.environ["RANK"])
    dist.init_process_group("gloo", rank=rank, world_size=2)
    import joule
    out = {}
    with joule.Monitor(devices="sim:2:h100", sync=None, reduce="job") as mon:
        dist.barrier()
        mon.begin_window("job")
        time.sleep(0.5 + 0.1 * rank)
        m = mon.end_window("job")
        out = {"gpu": m.gpu_energy, "total": m.total_energy, "time": m.time,
               "nodes": [[n.host, n.ranks, len(n.measurement.gpu_energy)]
                         for n in m.nodes],
               "node_times": [n.measurement.time for n in m.nodes],
               "labels": sorted(m.energy),
               "bound": sum(m.uncertainty.values())}
        # rank 1 never opens this one: both ranks hear of it
        if rank == 0:
            mon.begin_window("partial")
        try:
            mon.end_window("partial")
            out["partial"] = "no error"
        except joule.JouleError as e:
            out["partial"] = str(e)
    print("RESULT " + json.dumps(out))
    dist.destroy_process_group()
    """)


class TwoGlooRanks(unittest.TestCase):
    def run_ranks(self, **env_extra):
        env = {"JOULE_SIM_LOAD": "0.5", "JOULE_MPI_FAKE_NODES": None}
        env.update(env_extra)
        outs = run_two_gloo_ranks(self, RANK_SCRIPT, "joule-py-job-", **env)
        # Every rank got the same job result.
        self.assertEqual(outs[0]["total"], outs[1]["total"])
        self.assertEqual(outs[0]["nodes"], outs[1]["nodes"])
        # The rank that failed raises its own error, the others name it.
        self.assertIn("rank 1 of 2 could not end window 'partial'",
                      outs[0]["partial"])
        self.assertIn("no window named 'partial'", outs[1]["partial"])
        return outs[0]

    def check_energy(self, r, hosts):
        # Each host: 2 GPUs at 385 W over its window, within 3 %.
        self.assertEqual(len(r["node_times"]), hosts)
        model = sum(2 * H100_HALF_W * t for t in r["node_times"])
        self.assertLess(abs(r["total"] - model), 0.03 * model + r["bound"],
                        r)
        self.assertGreaterEqual(r["time"], 0.6 - 0.01)

    def test_one_host_counts_its_gpus_once(self):
        r = self.run_ranks()
        self.assertEqual(len(r["gpu"]), 2)  # not 4
        self.assertEqual([n[1:] for n in r["nodes"]], [[2, 2]])
        self.check_energy(r, 1)

    def test_two_pretend_hosts_are_summed(self):
        r = self.run_ranks(JOULE_MPI_FAKE_NODES="2")
        self.assertEqual(len(r["gpu"]), 4)
        self.assertEqual([n[1:] for n in r["nodes"]], [[1, 2], [1, 2]])
        self.assertEqual(r["labels"], ["n0.gpu0", "n0.gpu1",
                                       "n1.gpu0", "n1.gpu1"])
        self.check_energy(r, 2)


if __name__ == "__main__":
    unittest.main()
