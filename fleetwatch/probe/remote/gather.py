# fleetwatch remote gatherer: runs on the monitored host, sent inline over SSH (nothing is installed).
# Python >= 3.6, stdlib only.  argv: RUNNER CONFIG EVENTS TAIL_LINES ROUND_LOGS
# Prints one line: SENTINEL + JSON.  Never raises: every failure is reported inside the JSON.
import json
import os
import subprocess
import sys
import time

SENTINEL = "FLEETWATCH-GATHER-1 "
MAX_TAIL_BYTES = 4096


def tail(path, lines):
    """Last `lines` lines of a file, at most MAX_TAIL_BYTES, decoded leniently."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - MAX_TAIL_BYTES))
            data = fh.read()
    except OSError as exc:
        return {"path": path, "error": str(exc)}
    text = data.decode("utf-8", "replace")
    return {
        "path": path,
        "mtime": os.path.getmtime(path),
        "size": size,
        "tail": "\n".join(text.splitlines()[-lines:]),
    }


def meminfo():
    out = {}
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                key, _, rest = line.partition(":")
                if key in ("MemTotal", "MemAvailable"):
                    out[key] = int(rest.split()[0]) // 1024
    except (OSError, ValueError):
        pass
    return out


def disk(path):
    try:
        st = os.statvfs(path)
    except OSError as exc:
        return {"path": path, "error": str(exc)}
    used = (st.f_blocks - st.f_bfree) * st.f_frsize
    avail = st.f_bavail * st.f_frsize
    # Same formula as df's Use%: used / (used + available to unprivileged users).
    pct = 100.0 * used / (used + avail) if used + avail else 0.0
    return {"path": path, "used_pct": round(pct, 2), "free_gb": round(avail / 1e9, 3)}


def toml_log_dir(config, project):
    """runtime.log_dir from agent-runner.toml, expanded as agent-runner does (~, {project}, relative)."""
    path = os.path.expanduser(config) if config else os.path.abspath("agent-runner.toml")
    try:
        import tomllib

        with open(path, "rb") as fh:
            runtime = tomllib.load(fh).get("runtime", {})
    except Exception:  # no tomllib (< 3.11), no file or bad TOML: fall back to the default place
        return None
    raw = runtime.get("log_dir")
    if not isinstance(raw, str):
        return None
    base = os.path.join(os.path.dirname(path), str(runtime.get("work_dir", ".")))
    raw = os.path.expanduser(raw.replace("{project}", project or ""))
    return os.path.normpath(os.path.join(base, raw))


def find_rounds_dir(peek, config):
    """Where round logs live: beside the current round's log, else from the toml, else the default."""
    if not isinstance(peek, dict):
        return None
    cur = peek.get("current_round")
    if isinstance(cur, dict) and cur.get("log_path"):
        return os.path.dirname(cur["log_path"])
    project = peek.get("project") if isinstance(peek.get("project"), str) else ""
    log_dir = toml_log_dir(config, project)
    if log_dir is None and project:
        log_dir = os.path.join(os.path.expanduser("~"), ".agent-runner", project, "logs")
    return os.path.join(log_dir, "rounds") if log_dir else None


def round_logs(rounds_dir, count, lines):
    """Tails of the newest `count` round logs."""
    try:
        names = [os.path.join(rounds_dir, n) for n in os.listdir(rounds_dir)]
    except (OSError, TypeError):
        return []
    files = [p for p in names if os.path.isfile(p)]
    files.sort(key=os.path.getmtime, reverse=True)
    return [tail(p, lines) for p in files[:count]]


def main():
    runner, config, events, lines, count = sys.argv[1:6]
    started = time.time()
    result = {"gather": 1, "runner": runner, "python": sys.executable, "home": os.path.expanduser("~")}
    argv = [runner, "--json"]
    if config:
        argv += ["--config", os.path.expanduser(config)]
    argv += ["peek", "--events", events]
    peek = None
    try:
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        out = proc.stdout.decode("utf-8", "replace")
        result["peek"] = {
            "rc": proc.returncode,
            "stdout": out,
            "stderr": proc.stderr.decode("utf-8", "replace")[-MAX_TAIL_BYTES:],
        }
        try:
            peek = json.loads(out)
        except ValueError:
            peek = None
    except subprocess.TimeoutExpired:
        result["peek"] = {"rc": None, "stdout": "", "stderr": "agent-runner peek timed out after 30 s"}
    except OSError as exc:
        result["peek"] = {"rc": None, "stdout": "", "stderr": "could not run %s: %s" % (runner, exc)}
    result["peek"]["seconds"] = round(time.time() - started, 3)
    rounds_dir = find_rounds_dir(peek, config)
    result["rounds_dir"] = rounds_dir
    result["round_logs"] = round_logs(rounds_dir, int(count), int(lines))
    load = os.getloadavg() if hasattr(os, "getloadavg") else (None, None, None)
    mem = meminfo()
    here = rounds_dir or (config and os.path.dirname(os.path.expanduser(config))) or os.path.expanduser("~")
    while here and not os.path.exists(here):
        here = os.path.dirname(here)
    result["facts"] = {
        "time": time.time(),
        "disk": disk(here or "/"),
        "mem_total_mb": mem.get("MemTotal"),
        "mem_available_mb": mem.get("MemAvailable"),
        "load_1m": load[0],
        "hostname": os.uname()[1],
    }
    sys.stdout.write(SENTINEL + json.dumps(result) + "\n")


main()
