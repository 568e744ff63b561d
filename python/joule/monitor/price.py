"""Zeus's ``zeus.monitor.price`` without a network: electricity price per
UTC hour from a CSV file (``joule.hourly.read_price_csv``) or a constant.

::

    from joule.monitor.price import EnergyCostMonitor
    ecm = EnergyCostMonitor(0.12, gpu_indices=[0])     # 0.12 per kWh
    ecm.begin_window("train"); ...; m = ecm.end_window("train")
    print(m.gpu_energy_cost)
"""

from .. import hourly
from ._split import SplitMeasurement, SplitMonitor, as_series

__all__ = ["EnergyCostMonitor", "EnergyCostMeasurement"]


class EnergyCostMeasurement(SplitMeasurement):
    """Zeus's fields (energy in J, cost in the file's currency) plus
    ``missing_hours``, ``energy_by_hour``, ``pue`` and ``measurement``."""

    def __init__(self, time, gpu_energy, gpu_energy_cost, cpu_energy=None,
                 cpu_energy_cost=None, dram_energy=None, dram_energy_cost=None,
                 missing_hours=(), energy_by_hour=None, pue=1.0,
                 measurement=None):
        super().__init__(time, gpu_energy, cpu_energy, dram_energy,
                         missing_hours, energy_by_hour, pue, measurement)
        self.gpu_energy_cost = gpu_energy_cost
        self.cpu_energy_cost = cpu_energy_cost
        self.dram_energy_cost = dram_energy_cost

    def __repr__(self):
        return ("EnergyCostMeasurement(time=%.3f s, gpu_energy_cost=%r, "
                "missing_hours=%d)" % (self.time, self.gpu_energy_cost,
                                       len(self.missing_hours)))


class EnergyCostMonitor(SplitMonitor):
    """``EnergyCostMonitor(electricity_price_provider, gpu_indices=None,
    cpu_indices=None, sync_execution_with=None, *, pue=1.0, devices=None,
    monitor=None)``: the provider is an HourlySeries, a constant price per
    kWh, or a price CSV path."""

    def __init__(self, electricity_price_provider, gpu_indices=None,
                 cpu_indices=None, sync_execution_with=None, **kw):
        self.electricity_price = as_series(electricity_price_provider,
                                           hourly.read_price_csv, "per kWh")
        super().__init__(gpu_indices, cpu_indices, sync_execution_with, **kw)

    def end_window(self, key, sync_execution=True):
        m, by_hour = self._end(key, sync_execution)
        totals, missing = hourly.apply_hourly(by_hour, self.electricity_price,
                                              self.pue)
        c = self._by_kind(totals)
        return EnergyCostMeasurement(
            time=m.time, gpu_energy=m.gpu_energy, gpu_energy_cost=c["gpu"],
            cpu_energy=m.cpu_energy or None,
            cpu_energy_cost=c["cpu"] or None,
            dram_energy=m.dram_energy or None,
            dram_energy_cost=c["dram"] or None, missing_hours=missing,
            energy_by_hour=by_hour, pue=self.pue, measurement=m)
