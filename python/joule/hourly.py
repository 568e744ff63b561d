"""Hourly carbon intensity and electricity price, without a network.

Readers (each returns an :class:`HourlySeries`, keyed by the UTC hour):

* :func:`read_electricity_maps_csv` -- Electricity Maps' hourly CSV export.
  Columns are matched by name, case-insensitively: the time is the column
  whose name holds "datetime" (``Datetime (UTC)``), the intensity the one
  holding "carbon intensity" and "direct" (or "lca" with ``kind="lca"``),
  in gCO2eq/kWh.
* :func:`read_watttime_json` -- WattTime's historical/forecast JSON
  (``{"data": [{"point_time": ..., "value": ...}], "meta": {"units":
  "lbs_co2_per_mwh"}}``); lb/MWh are converted to g/kWh (x 0.45359237)
  and 5-minute points are averaged per hour.
* :func:`read_price_csv` -- a CSV with a time column ("datetime", "time",
  "hour" or "timestamp") and a price column (name holding "price"); a
  name that says "/mwh" is converted to per kWh.

A bad file raises :class:`HourlyFileError` (a ValueError) naming the file,
the line and the column. :func:`split_by_hour` cuts a window's energy at
UTC hour boundaries; :func:`apply_hourly` multiplies it by a PUE and an
hourly series and reports the hours the series does not have.

The CLI (``joule analyze --carbon FILE --price FILE``, ``joule run
--carbon ...``) reads the same files with libjoule's C port of these rules
(include/joule/hourly.h); python/tests/test_hourly_cli.py checks that both
give the same numbers. ``python -m joule.hourly carbon FILE`` prints the
parsed series as CSV (``hour_utc,value``) for checking a file.
"""

import csv
import datetime as _dt
import json
import math
import os

__all__ = ["HourlySeries", "HourlyFileError", "read_electricity_maps_csv",
           "read_watttime_json", "read_price_csv", "split_by_hour",
           "apply_hourly", "hour_of", "LB_PER_MWH_TO_G_PER_KWH"]

HOUR_S = 3600
#: 1 lb/MWh = 453.59237 g / 1000 kWh.
LB_PER_MWH_TO_G_PER_KWH = 0.45359237
UTC = _dt.timezone.utc


class HourlyFileError(ValueError):
    """A bad carbon or price file: ``path``, ``line``, ``column`` (1-based;
    None where not applicable) and the message."""

    def __init__(self, path, message, line=None, column=None):
        where = path
        if line is not None:
            where += ":%d" % line
            if column is not None:
                where += ":%s" % column
        super().__init__("%s: %s" % (where, message))
        self.path, self.line, self.column = path, line, column


def hour_of(t):
    """The UTC hour (an aware datetime) holding Unix time ``t``."""
    return _dt.datetime.fromtimestamp(math.floor(t / HOUR_S) * HOUR_S, UTC)


def _parse_time(text):
    """ISO 8601 and Electricity Maps' ``2023-01-01 00:00:00`` forms; naive
    times are UTC. Returns an aware datetime, or raises ValueError."""
    s = text.strip()
    if not s:
        raise ValueError("empty time")
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    try:
        t = _dt.datetime.fromisoformat(s)
    except ValueError:
        try:  # Unix seconds
            return _dt.datetime.fromtimestamp(float(s), UTC)
        except (ValueError, OverflowError):
            raise ValueError("not a time: %r" % text) from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.astimezone(UTC)


class HourlySeries:
    """Values per UTC hour (gCO2eq/kWh, or price per kWh), or one constant.

    ``series[hour]`` / ``series.get(t)`` take an aware datetime or Unix
    seconds; an hour the series lacks gives None (a constant never does).
    """

    def __init__(self, values=None, constant=None, unit="", source=None):
        self.values = {}
        for k, v in (values or {}).items():
            self.values[hour_of(k.timestamp() if isinstance(k, _dt.datetime)
                                else float(k))] = float(v)
        if constant is not None:
            constant = float(constant)
            if not math.isfinite(constant) or constant < 0:
                raise ValueError("joule: a constant must be a finite number "
                                 ">= 0, not %r" % (constant,))
        self.constant = constant
        self.unit = unit
        self.source = source

    @classmethod
    def const(cls, value, unit=""):
        return cls(constant=value, unit=unit, source="constant")

    def get(self, when):
        if self.constant is not None:
            return self.constant
        t = when.timestamp() if isinstance(when, _dt.datetime) else float(when)
        return self.values.get(hour_of(t))

    __getitem__ = get

    def __len__(self):
        return len(self.values)

    def hours(self):
        return sorted(self.values)

    def __repr__(self):
        if self.constant is not None:
            return "HourlySeries(constant=%g %s)" % (self.constant, self.unit)
        span = ("%s to %s" % (self.hours()[0].isoformat(),
                              self.hours()[-1].isoformat())
                if self.values else "empty")
        return "HourlySeries(%d hours, %s, %s)" % (len(self), span, self.unit)


def _find_column(path, header, want, avoid=(), prefer=(), what=""):
    """Index of the header cell whose lower-cased name holds every string
    of ``want`` (and none of ``avoid``); among several, the first holding
    every string of ``prefer``."""
    names = [h.strip().lower() for h in header]
    hits = [i for i, n in enumerate(names)
            if all(w in n for w in want) and not any(a in n for a in avoid)]
    if prefer:
        best = [i for i in hits if all(p in names[i] for p in prefer)]
        hits = best or hits
    if not hits:
        raise HourlyFileError(path, "no %s column (a name holding %s) among "
                              "%s" % (what, " and ".join(repr(w) for w in want),
                                      ", ".join(repr(h) for h in header)), 1)
    return hits[0]


def _read_csv(path):
    path = os.fspath(path)
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))
    rows = [(n + 1, r) for n, r in enumerate(rows)]
    rows = [(n, r) for n, r in rows if any(c.strip() for c in r)]
    if not rows:
        raise HourlyFileError(path, "empty file")
    return path, rows[0][1], rows[1:]


def _series_from_rows(path, rows, tcol, vcol, header, scale=1.0):
    sums, counts = {}, {}
    for line, row in rows:
        if max(tcol, vcol) >= len(row):
            raise HourlyFileError(path, "row has %d fields; the %r column is "
                                  "field %d" % (len(row), header[max(tcol, vcol)],
                                                max(tcol, vcol) + 1),
                                  line, max(tcol, vcol) + 1)
        try:
            t = _parse_time(row[tcol])
        except ValueError as e:
            raise HourlyFileError(path, "%s (column %r)" % (e, header[tcol]),
                                  line, tcol + 1) from None
        cell = row[vcol].strip()
        if cell == "":
            continue  # a gap: that hour is missing, and flagged when used
        try:
            v = float(cell)
        except ValueError:
            raise HourlyFileError(path, "not a number: %r (column %r)"
                                  % (cell, header[vcol]), line,
                                  vcol + 1) from None
        if not math.isfinite(v) or v < 0:
            raise HourlyFileError(path, "%r is not a value >= 0 (column %r)"
                                  % (cell, header[vcol]), line, vcol + 1)
        h = hour_of(t.timestamp())
        sums[h] = sums.get(h, 0.0) + v * scale
        counts[h] = counts.get(h, 0) + 1
    return {h: sums[h] / counts[h] for h in sums}


def read_electricity_maps_csv(path, kind="direct"):
    """Electricity Maps' hourly CSV: gCO2eq/kWh per UTC hour. ``kind`` is
    "direct" (default) or "lca" (life-cycle)."""
    if kind not in ("direct", "lca"):
        raise ValueError("joule: kind must be 'direct' or 'lca'")
    path, header, rows = _read_csv(path)
    tcol = _find_column(path, header, ["datetime"], prefer=["utc"],
                        what="time")
    vcol = _find_column(path, header, ["carbon intensity"], prefer=[kind],
                        avoid=["lca"] if kind == "direct" else [],
                        what="carbon intensity")
    values = _series_from_rows(path, rows, tcol, vcol, header)
    return HourlySeries(values, unit="gCO2eq/kWh", source=path)


def read_watttime_json(path):
    """WattTime's JSON: lb CO2/MWh converted to gCO2/kWh, averaged per
    UTC hour."""
    path = os.fspath(path)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise HourlyFileError(path, e.msg, e.lineno, e.colno) from None
    data = doc.get("data") if isinstance(doc, dict) else doc
    if not isinstance(data, list):
        raise HourlyFileError(path, 'expected {"data": [...]} or a list of '
                              "points")
    units = ""
    if isinstance(doc, dict) and isinstance(doc.get("meta"), dict):
        units = str(doc["meta"].get("units", "")).lower()
    scale = LB_PER_MWH_TO_G_PER_KWH
    if units and "lb" not in units:
        if "g" in units and "kwh" in units:
            scale = 1.0
        else:
            raise HourlyFileError(path, "meta.units is %r; lbs_co2_per_mwh "
                                  "(or g per kWh) is needed" % units)
    sums, counts = {}, {}
    for i, p in enumerate(data):
        if not isinstance(p, dict):
            raise HourlyFileError(path, "data[%d] is not an object" % i)
        t = p.get("point_time", p.get("timestamp"))
        v = p.get("value")
        try:
            t = _parse_time(str(t)) if t is not None else None
        except ValueError as e:
            raise HourlyFileError(path, "data[%d].point_time: %s" % (i, e)) \
                from None
        if t is None:
            raise HourlyFileError(path, "data[%d] has no point_time" % i)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or \
                not math.isfinite(v) or v < 0:
            raise HourlyFileError(path, "data[%d].value is %r; a number >= 0 "
                                  "is needed" % (i, v))
        h = hour_of(t.timestamp())
        sums[h] = sums.get(h, 0.0) + v * scale
        counts[h] = counts.get(h, 0) + 1
    return HourlySeries({h: sums[h] / counts[h] for h in sums},
                        unit="gCO2eq/kWh", source=path)


def read_price_csv(path):
    """Hourly electricity price per kWh (a column named ".../MWh" is
    divided by 1000)."""
    path, header, rows = _read_csv(path)
    names = [h.strip().lower() for h in header]
    tcol = None
    for key in ("datetime", "timestamp", "time", "hour", "date"):
        hits = [i for i, n in enumerate(names) if key in n]
        if hits:
            tcol = hits[0]
            break
    if tcol is None:
        raise HourlyFileError(path, "no time column (datetime, timestamp, "
                              "time or hour) among %s"
                              % ", ".join(repr(h) for h in header), 1)
    vcol = _find_column(path, header, ["price"], what="price")
    scale = 1e-3 if "mwh" in names[vcol] else 1.0
    values = _series_from_rows(path, rows, tcol, vcol, header, scale)
    return HourlySeries(values, unit="per kWh", source=path)


def split_by_hour(t0, t1, cumulative):
    """Splits energy used between Unix times t0 and t1 at UTC hour
    boundaries.

    ``cumulative`` is ``[(t, {key: J}), ...]``: cumulative readings at t0,
    at each hour boundary in between, and at t1 (sorted). Returns
    ``{hour: {key: J}}``.
    """
    out = {}
    for (ta, ea), (tb, eb) in zip(cumulative, cumulative[1:]):
        if tb <= ta:
            continue
        h = hour_of(ta)
        bucket = out.setdefault(h, {})
        for k, v in eb.items():
            if k in ea:
                bucket[k] = bucket.get(k, 0.0) + (v - ea[k])
    return out


def apply_hourly(by_hour, series, pue=1.0, per="kwh"):
    """``(totals, missing)``: ``{key: sum over hours of J x PUE / 3.6e6 x
    value(hour)}`` and the hours ``series`` lacks (sorted; their energy is
    left out of the totals)."""
    if isinstance(pue, bool) or not isinstance(pue, (int, float)) or \
            not math.isfinite(pue) or pue < 1.0:
        raise ValueError("joule: pue must be a number >= 1, not %r" % (pue,))
    totals, missing = {}, []
    for h in sorted(by_hour):
        v = series.get(h)
        for k, j in by_hour[h].items():
            totals.setdefault(k, 0.0)
            if v is not None:
                totals[k] += j * pue / 3.6e6 * v
        if v is None:
            missing.append(h)
    return totals, missing


def _main(argv=None):
    import argparse
    import sys
    p = argparse.ArgumentParser(prog="python -m joule.hourly")
    p.add_argument("kind", choices=["carbon", "watttime", "price"])
    p.add_argument("file")
    a = p.parse_args(argv)
    try:
        s = {"carbon": read_electricity_maps_csv,
             "watttime": read_watttime_json,
             "price": read_price_csv}[a.kind](a.file)
    except (OSError, ValueError) as e:
        print("python -m joule.hourly: %s" % e, file=sys.stderr)
        return 1
    print("hour_utc,value")
    for h in s.hours():
        print("%s,%r" % (h.strftime("%Y-%m-%dT%H:%M:%SZ"), s.values[h]))
    return 0


if __name__ == "__main__":
    import sys
    sys.exit(_main())
