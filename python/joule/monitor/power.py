"""Zeus's ``zeus.monitor.power`` names (joule.power)."""
from ..power import (PowerDomain, PowerMonitor, PowerSample,  # noqa: F401
                     TemperatureMonitor)
