"""Zeus's ``zeus.monitor.temperature`` names (joule.power)."""
from ..power import TemperatureMonitor  # noqa: F401
