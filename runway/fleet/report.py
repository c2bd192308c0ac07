"""The fleet report: one row per tenant, worst first.

Ranked by drift severity, then live performance against the serving
version's holdout value; with the KPI, the fallback share (rows not served
by the tenant's own production model) and the staleness of that model.
Each row links to the tenant's monitoring report. A terminal table
(``table``) and an HTML page (also the ``fleet_report`` visualization).
"""

from __future__ import annotations

import html
import math
from pathlib import Path

from runway.config import Settings
from runway.data.io import atomic_write_bytes
from runway.fleet import tenants as tenants_lib
from runway.fleet.monitor import read_state
from runway.fleet.training import serving_index

SEVERITY = {"alert": 3, "warn": 2, "unknown": 1, "ok": 0}


def _gap(row: dict) -> float:
    live, hold = row.get("live"), row.get("holdout")
    if live is None or not hold:
        return 0.0
    return (live - hold) / abs(hold)


def rows(settings: Settings) -> list[dict]:
    """Latest monitored state per tenant, plus tenants only trained so far, worst first."""
    state = read_state(settings)
    serving = serving_index(settings)
    out = list(state.values())
    for t, s in serving.items():
        if t not in state and t != tenants_lib.POOLED:
            out.append(
                {
                    "tenant": t,
                    "window": "",
                    "drift": "unknown",
                    "live": None,
                    "holdout": None,
                    "fallback_share": None,
                    "staleness_days": None,
                    "kpi": {},
                    "alerts": [],
                    "report": "",
                    "serving": s,
                }
            )
    for r in out:
        r.setdefault("serving", serving.get(r["tenant"]))
    return sorted(out, key=lambda r: (-SEVERITY.get(r["drift"], 1), -len(r.get("alerts") or []), -_gap(r), -(r.get("drift_score") or 0), r["tenant"]))


def _f(v, fmt: str = "{:.3f}") -> str:
    return "-" if v is None or (isinstance(v, float) and not math.isfinite(v)) else fmt.format(v)


def kpi_headline(settings: Settings) -> str | None:
    """The KPI column the report shows: the plug-in's first ``KPI_HEADLINE``
    name (the core names no use-case column), else none."""
    from runway.plugins import load_plugin

    plugin = load_plugin(settings)
    names = tuple(plugin.hook("KPI_HEADLINE")) if plugin.has("KPI_HEADLINE") else ()
    return str(names[0]) if names else None


def _kpi(row: dict, name: str | None) -> str:
    v = (row.get("kpi") or {}).get(name) if name else None
    return _f(v, "{:,.0f}") if isinstance(v, (int, float)) else "-"


def table(settings: Settings, limit: int = 25) -> str:
    rs = rows(settings)
    kpi = kpi_headline(settings)
    head = f"{'tenant':10s} {'window':10s} {'drift':7s} {'live':>7s} {'holdout':>7s} {'gap':>7s} {(kpi or 'KPI')[:9]:>9s} "
    head += f"{'fallback':>8s} {'stale d':>7s} {'alerts':>6s} serving"
    lines = [head, "-" * len(head)]
    for r in rs[:limit]:
        lines.append(
            f"{r['tenant']:10s} {r.get('window') or '-':10s} {r['drift']:7s} {_f(r.get('live')):>7s} {_f(r.get('holdout')):>7s} {_f(_gap(r), '{:+.0%}'):>7s} "
            f"{_kpi(r, kpi):>9s} {_f(r.get('fallback_share'), '{:.0%}'):>8s} {_f(r.get('staleness_days'), '{:d}'):>7s} "
            f"{len(r.get('alerts') or []):>6d} {r.get('serving') or '-'}"
        )
    if len(rs) > limit:
        lines.append(f"... and {len(rs) - limit} more tenants in the HTML report")
    return "\n".join(lines)


def render(settings: Settings) -> str:
    e = html.escape
    kpi = kpi_headline(settings)
    body = []
    for r in rows(settings):
        link = f'<a href="{e(Path(r["report"]).as_uri())}">{e(r["tenant"])}</a>' if r.get("report") else e(r["tenant"])
        body.append(
            f"<tr class='{e(r['drift'])}'><td>{link}</td><td>{e(r.get('window') or '-')}</td><td>{e(r['drift'])}</td><td>{_f(r.get('live'))}</td>"
            f"<td>{_f(r.get('holdout'))}</td><td>{_f(_gap(r), '{:+.0%}')}</td><td>{_kpi(r, kpi)}</td><td>{_f(r.get('fallback_share'), '{:.0%}')}</td>"
            f"<td>{_f(r.get('staleness_days'), '{:d}')}</td><td>{len(r.get('alerts') or [])}</td><td>{e(str(r.get('serving') or '-'))}</td></tr>"
        )
    m = settings.evaluation.primary_metric
    return f"""<html><head><meta charset="utf-8"><title>Runway fleet report: {e(settings.use_case)}</title>
<style>body{{font-family:sans-serif}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:2px 6px}}
tr.alert td{{background:#fdd}}tr.warn td{{background:#ffe9c6}}</style></head><body>
<h2>Runway fleet report: {e(settings.use_case)} ({len(body)} tenants, worst first)</h2>
<p>Ranked by drift severity, alerts, then live {e(m)} against the serving version's holdout value.
Fallback share: rows not served by the tenant's own production model.</p>
<table><tr><th>tenant</th><th>window</th><th>drift</th><th>live {e(m)}</th><th>holdout {e(m)}</th><th>gap</th>
<th>KPI {e((kpi or "-").replace("_", " "))}</th><th>fallback</th><th>staleness (days)</th><th>alerts</th><th>serving</th></tr>
{"".join(body)}</table></body></html>"""


def write_fleet_report(settings: Settings) -> tuple[str, Path]:
    text = render(settings)
    path = tenants_lib.fleet_path(settings, "reports", "fleet.html")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, text.encode())
    return text, path
