"""Cold start of the CLI (a benchmark of ``benchmarks/run.py``: ``python
benchmarks/run.py coldstart``).

* case ``coldstart`` (contestant ``help``): ``python run.py --help`` in a
  fresh interpreter, wall time of that process (target: under 1 s; ZenML,
  Feast and scikit-learn are imported only where a command needs them);
* case ``first_run`` (contestant ``first_run``, report only, one run: it is
  cold by definition): ``python run.py`` (the whole loop: sample data,
  training, inference and monitoring of the live weeks) on a fresh
  workspace, ZenML store and Feast repo copy, through an environment YAML
  that points there.

``check``: ``--help`` lists every command; the first run exits 0 and prints
its summary. Not in ``--smoke`` for ``first_run`` (minutes).

Module top level: standard library only.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TITLE = "Cold start: `python run.py --help` and a first `python run.py` on a fresh workspace"
CONTESTANTS = {
    "help": {"what": "`python run.py --help`, whole process (fresh interpreter)", "env": "project"},
    "first_run": {"what": "`python run.py` (the whole loop, default use case) on a fresh workspace, whole process", "env": "project"},
}
COMMANDS = ["all", "train", "infer", "monitor", "rollback", "serve", "decisions", "registry"]


def cases(smoke: bool, opts: dict) -> list[dict]:
    out = [
        {
            "name": "coldstart_smoke" if smoke else "coldstart",
            "title": "Cold start: `python run.py --help`",
            "params": {},
            "contestants": ["help"],
            "peer": "help",
            "rows": 1,
            "rows_label": "invocations",
            "describe": "a fresh interpreter running `run.py --help` (target under 1 s)",
        }
    ]
    if not smoke:
        out.append(
            {
                "name": "first_run",
                "title": "Cold start: the first `python run.py` on a fresh workspace",
                "params": {},
                "contestants": ["first_run"],
                "peer": "first_run",
                "rows": 1,
                "rows_label": "runs",
                "describe": "`python run.py` (retail_demand defaults: sample data, training, 3 live weeks scored and monitored) on an empty workspace, "
                "ZenML store and Feast repo copy",
                "runs": 1,
                "warmup": 0,
            }
        )
    return out


def build(case: dict, workdir: Path) -> dict:
    return {}


def contestant(name: str, case: dict, data: dict, outdir: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    if name == "help":
        cmd = [sys.executable, str(ROOT / "run.py"), "--help"]
    elif name == "first_run":
        ws = outdir / f"first-run-{os.getpid()}"
        shutil.copytree(ROOT / "feature_repo", ws / "feature_repo", ignore=shutil.ignore_patterns("data", "__pycache__"))
        local = (ROOT / "configs" / "environments" / "local.yaml").read_text()
        lines = [ln for ln in local.splitlines() if not ln.startswith(("workspace:", "name:"))]
        env_yaml = ws / "env.yaml"
        env_yaml.write_text("\n".join(["name: local", f"workspace: {ws / 'ws'}", f"feature_repo: {ws / 'feature_repo'}", *lines]) + "\n")
        env["XDG_CONFIG_HOME"] = str(ws / "xdg")  # the local decision-log key, never the user's
        cmd = [sys.executable, str(ROOT / "run.py"), "--env", str(env_yaml)]
    else:
        raise SystemExit(f"unknown contestant {name!r}")
    t0 = time.perf_counter()
    before = os.times()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=str(ROOT), check=False)
    wall = time.perf_counter() - t0
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    out = outdir / f"{name}.values.json"
    text = proc.stdout.replace(str(outdir), "<workdir>")  # no machine paths in results
    out.write_text(json.dumps({"exit": proc.returncode, "stdout": text[-4000:], "stderr": proc.stderr[-2000:]}))
    return {"compute_s": wall, "compute_cpu_s": cpu, "steps": {}, "versions": {}, "output": str(out)}


def check(case: dict, data: dict, results: dict) -> tuple[list[str], list[str]]:
    problems: list[str] = []
    facts: list[str] = []
    for name, r in results.items():
        v = json.loads(Path(r["output"]).read_text())
        if v["exit"] != 0:
            problems.append(f"{name}: exit {v['exit']}: {v['stderr'][-300:]}")
            continue
        if name == "help":
            missing = [c for c in COMMANDS if c not in v["stdout"]]
            if missing:
                problems.append(f"`run.py --help` does not list {missing}")
            else:
                facts.append(f"`run.py --help` lists every command ({', '.join(COMMANDS)}) and exits 0")
        else:
            facts.append("the first run exited 0; its summary ends: " + " / ".join(ln.strip() for ln in v["stdout"].strip().splitlines()[-3:])[:400])
    return problems, facts
