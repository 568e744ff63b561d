"""Zeus's ``zeus.monitor.carbon`` without a network: carbon intensity per
UTC hour from a file (Electricity Maps CSV, WattTime JSON) or a constant.

::

    from joule.monitor.carbon import CarbonEmissionMonitor
    from joule.hourly import read_electricity_maps_csv
    cm = CarbonEmissionMonitor(read_electricity_maps_csv("DE_2024_hourly.csv"),
                               gpu_indices=[0], pue=1.2)
    cm.begin_window("train")
    ...
    m = cm.end_window("train")
    print(m.gpu_carbon_emission, m.missing_hours)   # gCO2eq per GPU
"""

from .. import hourly
from ._split import SplitMeasurement, SplitMonitor, as_series

__all__ = ["CarbonEmissionMonitor", "CarbonEmissionMeasurement",
           "read_carbon_intensity"]


def read_carbon_intensity(path):
    """A WattTime JSON (``.json``) or an Electricity Maps CSV."""
    if str(path).lower().endswith(".json"):
        return hourly.read_watttime_json(path)
    return hourly.read_electricity_maps_csv(path)


class CarbonEmissionMeasurement(SplitMeasurement):
    """Zeus's fields (energy in J, emissions in gCO2eq) plus joule's:
    ``missing_hours`` (UTC hours the intensity series lacks; their energy
    is not in the emissions), ``energy_by_hour`` ({hour: {label: J}}),
    ``pue`` and ``measurement`` (the window's Measurement)."""

    def __init__(self, time, gpu_energy, gpu_carbon_emission, cpu_energy=None,
                 cpu_carbon_emission=None, dram_energy=None,
                 dram_carbon_emission=None, missing_hours=(),
                 energy_by_hour=None, pue=1.0, measurement=None):
        super().__init__(time, gpu_energy, cpu_energy, dram_energy,
                         missing_hours, energy_by_hour, pue, measurement)
        self.gpu_carbon_emission = gpu_carbon_emission
        self.cpu_carbon_emission = cpu_carbon_emission
        self.dram_carbon_emission = dram_carbon_emission

    def __repr__(self):
        return ("CarbonEmissionMeasurement(time=%.3f s, gpu_carbon_emission="
                "%r, missing_hours=%d)" % (self.time, self.gpu_carbon_emission,
                                           len(self.missing_hours)))


class CarbonEmissionMonitor(SplitMonitor):
    """``CarbonEmissionMonitor(carbon_intensity_provider, gpu_indices=None,
    cpu_indices=None, sync_execution_with=None, *, pue=1.0, devices=None,
    monitor=None)``. The provider is an :class:`joule.hourly.HourlySeries`,
    a constant gCO2eq/kWh, a file path, or an object with Zeus's
    ``get_recent_carbon_intensity()``."""

    def __init__(self, carbon_intensity_provider, gpu_indices=None,
                 cpu_indices=None, sync_execution_with=None, **kw):
        self.carbon_intensity = as_series(carbon_intensity_provider,
                                          read_carbon_intensity, "gCO2eq/kWh")
        super().__init__(gpu_indices, cpu_indices, sync_execution_with, **kw)

    def end_window(self, key, sync_execution=True):
        m, by_hour = self._end(key, sync_execution)
        totals, missing = hourly.apply_hourly(by_hour, self.carbon_intensity,
                                              self.pue)
        em = self._by_kind(totals)
        return CarbonEmissionMeasurement(
            time=m.time, gpu_energy=m.gpu_energy,
            gpu_carbon_emission=em["gpu"],
            cpu_energy=m.cpu_energy or None,
            cpu_carbon_emission=em["cpu"] or None,
            dram_energy=m.dram_energy or None,
            dram_carbon_emission=em["dram"] or None,
            missing_hours=missing, energy_by_hour=by_hour, pue=self.pue,
            measurement=m)
