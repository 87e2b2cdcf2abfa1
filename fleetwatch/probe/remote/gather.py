# fleetwatch remote gatherer: runs on the monitored host, sent inline over SSH (nothing is installed).
# Python >= 3.6, stdlib only.  argv: RUNNER CONFIG EVENTS TAIL_LINES ROUND_LOGS
# Prints one line: SENTINEL + JSON.  Never raises: every failure is reported inside the JSON.
# Sent on every poll, so comments stay short; docs/performance.md explains the in-process peek.
import json
import os
import sys
import time

SENTINEL = "FLEETWATCH-GATHER-1 "
MAX_TAIL_BYTES = 4096
PEEK_TIMEOUT_S = 30
SH_LAUNCHER = "'''exec' "  # line 2 of pip's /bin/sh launcher


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


def project_toml(config):
    """(path, parsed agent-runner.toml) or (path, None): no tomllib (< 3.11), no file, bad TOML."""
    path = os.path.expanduser(config) if config else os.path.abspath("agent-runner.toml")
    try:
        import tomllib  # novermin (guarded: older Pythons take the defaults)

        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except Exception:
        return path, None
    return path, doc if isinstance(doc, dict) else None


def declared(toml):
    """What the project's [monitor] table declares for monitors (read-only)."""
    monitor = toml.get("monitor") if toml else None
    value = monitor.get("supervisor_stale_threshold_s") if isinstance(monitor, dict) else None
    return {"supervisor_stale_threshold_s": value} if value is not None else {}


def toml_log_dir(path, toml, project):
    """runtime.log_dir from agent-runner.toml, expanded as agent-runner does (~, {project}, relative)."""
    runtime = toml.get("runtime", {}) if toml else None
    if not isinstance(runtime, dict):
        return None
    raw = runtime.get("log_dir")
    if not isinstance(raw, str):
        return None
    base = os.path.join(os.path.dirname(path), str(runtime.get("work_dir", ".")))
    raw = os.path.expanduser(raw.replace("{project}", project or ""))
    return os.path.normpath(os.path.join(base, raw))


def find_rounds_dir(peek, path, toml):
    """Where round logs live: beside the current round's log, else from the toml, else the default."""
    if not isinstance(peek, dict):
        return None
    cur = peek.get("current_round")
    if isinstance(cur, dict) and cur.get("log_path"):
        return os.path.dirname(cur["log_path"])
    project = peek.get("project") if isinstance(peek.get("project"), str) else ""
    log_dir = toml_log_dir(path, toml, project)
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


def launcher(runner):
    """(text, python) of a pip/pipx/uv launcher script `runner`, else None."""
    try:
        with open(runner, "rb") as fh:
            text = fh.read(8192).decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    lines = text.splitlines()
    if len(lines) < 3 or not lines[0].startswith("#!"):
        return None
    python = lines[0][2:].strip().split(" ")[0]
    if lines[0].startswith("#!/bin/sh") and lines[1].startswith(SH_LAUNCHER):
        rest = lines[1][len(SH_LAUNCHER) :]
        python = rest[1:].split('"')[0] if rest.startswith('"') else rest.split(" ")[0]
    return text, python


def launcher_entry(found):
    """(module, func) if `found` (launcher()'s answer) is a launcher for this interpreter, else None."""
    if found is None:
        return None
    text, python = found
    lines = text.splitlines()
    if not python or python != sys.executable:
        return None  # another interpreter sees other packages
    entry = None
    for line in lines:
        if line.startswith("from ") and " import " in line:
            module, _, func = line[5:].partition(" import ")
            module, func = module.strip(), func.strip()
            if module.replace(".", "").replace("_", "").isalnum() and func.isidentifier():
                entry = (module, func)
    if entry is None or ("sys.exit(%s())" % entry[1]) not in text:
        return None
    return entry


class PeekTimeout(BaseException):
    """SIGALRM in agent-runner's code (a BaseException, past its `except Exception`)."""


def exit_status(code, err):
    """The exit status sys.exit(code) gives a process."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    err.write("%s\n" % (code,))
    return 1


def peek_in_process(runner, entry, args):
    """The entry point run here with argv `args`, as a process would; None if it does not import."""
    import contextlib
    import io
    import signal
    import traceback

    class Sink(io.BytesIO):
        def close(self):  # keep what was written if agent-runner closes sys.stdout
            pass

    out_buf, err_buf = Sink(), Sink()
    out = io.TextIOWrapper(out_buf, encoding="utf-8", errors="backslashreplace")
    err = io.TextIOWrapper(err_buf, encoding="utf-8", errors="backslashreplace")
    saved = sys.argv, sys.stdout, sys.stderr
    saved_fd = os.dup(1)
    # Nothing written to fd 1 meanwhile may land before our line.
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.close(null)

    def on_alarm(signum, frame):
        raise PeekTimeout()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(PEEK_TIMEOUT_S)
    rc = None
    try:
        sys.argv, sys.stdout, sys.stderr = [runner, *args], out, err
        try:
            main = getattr(__import__(entry[0], fromlist=[entry[1]]), entry[1])
        except (Exception, SystemExit):
            return None  # the subprocess shows what really happens
        try:
            rc = exit_status(main(), err)
        except SystemExit as exc:
            rc = exit_status(exc.code, err)
        except PeekTimeout:
            raise
        except BaseException:
            kind, value, tb = sys.exc_info()
            # As the interpreter prints it, without this frame.
            traceback.print_exception(kind, value, tb.tb_next or tb, file=err)
            rc = 1
    except PeekTimeout:
        return {"rc": None, "stdout": "", "stderr": "agent-runner peek timed out after %d s" % PEEK_TIMEOUT_S}
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        sys.argv, sys.stdout, sys.stderr = saved
        os.dup2(saved_fd, 1)
        os.close(saved_fd)
    for stream in (out, err):
        with contextlib.suppress(ValueError):  # closed: the sink still has it
            stream.flush()
    return {
        "rc": rc,
        "stdout": out_buf.getvalue().decode("utf-8", "replace"),
        "stderr": err_buf.getvalue().decode("utf-8", "replace")[-MAX_TAIL_BYTES:],
    }


def peek_subprocess(argv):
    """agent-runner as its own process (shell wrapper, other interpreter, unusual launcher)."""
    import subprocess

    try:
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=PEEK_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return {"rc": None, "stdout": "", "stderr": "agent-runner peek timed out after %d s" % PEEK_TIMEOUT_S}
    except OSError as exc:
        return {"rc": None, "stdout": "", "stderr": "could not run %s: %s" % (argv[0], exc)}
    return {
        "rc": proc.returncode,
        "stdout": proc.stdout.decode("utf-8", "replace"),
        "stderr": proc.stderr.decode("utf-8", "replace")[-MAX_TAIL_BYTES:],
    }


def runner_version(found):
    """agent-runner's version: from the package the in-process peek imported, else from the name of its
    dist-info beside the launcher's interpreter (`found`, a glob, no process); None when neither says."""
    version = getattr(sys.modules.get("agent_runner"), "__version__", None)
    if isinstance(version, str):
        return version[:64]
    if found is None or not found[1]:
        return None
    import glob

    prefix = os.path.dirname(os.path.dirname(found[1]))
    pattern = os.path.join(prefix, "lib", "python*", "site-packages", "cli_agent_runner-*.dist-info")
    for path in sorted(glob.glob(pattern)):
        return os.path.basename(path)[len("cli_agent_runner-") : -len(".dist-info")][:64]
    return None


def run_peek(runner, found, args):
    entry = launcher_entry(found)
    result = peek_in_process(runner, entry, args) if entry is not None else None
    return result if result is not None else peek_subprocess([runner, *args])


def main():
    runner, config, events, lines, count = sys.argv[1:6]
    started = time.time()
    result = {"gather": 1, "runner": runner, "python": sys.executable, "home": os.path.expanduser("~")}
    args = ["--json"]
    if config:
        args += ["--config", os.path.expanduser(config)]
    args += ["peek", "--events", events]
    found = launcher(runner)  # read once: how to run the peek, and where its version is
    result["peek"] = run_peek(runner, found, args)
    try:
        peek = json.loads(result["peek"]["stdout"])
    except (ValueError, RecursionError):  # garbage, or nested too deep: fleetwatch names either
        peek = None
    result["peek"]["seconds"] = round(time.time() - started, 3)
    result["runner_version"] = runner_version(found)
    path, toml = project_toml(config)
    result["monitor"] = declared(toml)
    rounds_dir = find_rounds_dir(peek, path, toml)
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
