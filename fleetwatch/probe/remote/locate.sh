# fleetwatch remote wrapper (POSIX sh): find agent-runner and its Python, then run the gatherer.
# argv: RUNNER_OR_EMPTY CONFIG EVENTS TAIL_LINES ROUND_LOGS GATHER_B64
# Builtins only until the final exec: every fork costs a small host CPU time on each poll.
runner=$1
case $runner in
  "~/"*) runner=$HOME/${runner#"~/"} ;;
esac
# on_path NAME: set $found to the first executable regular file NAME on $PATH (command -v, unforked).
on_path() {
  found=""
  set -f
  oldifs=$IFS
  IFS=:
  for dir in $PATH; do
    [ -n "$dir" ] || dir=.
    if [ -f "$dir/$1" ] && [ -x "$dir/$1" ]; then found=$dir/$1; break; fi
  done
  IFS=$oldifs
  set +f
}
searched=""
if [ -z "$runner" ]; then
  on_path agent-runner
  for c in "$found" "$HOME/.local/bin/agent-runner" \
           "$HOME/.local/pipx/venvs/cli-agent-runner/bin/agent-runner" /usr/local/bin/agent-runner; do
    [ -n "$c" ] || continue
    searched="$searched $c"
    if [ -x "$c" ] && [ -f "$c" ]; then runner=$c; break; fi
  done
  searched="PATH ($PATH)$searched"
else
  searched=$runner
  [ -x "$runner" ] && [ -f "$runner" ] || runner=""
fi
if [ -z "$runner" ]; then
  printf 'FLEETWATCH-GATHER-1 {"gather": 1, "runner": null, "searched": "%s"}\n' "$(printf %s "$searched" | tr -d '"')"
  exit 0
fi
# The runner's own interpreter sees the same packages, so the gatherer can run agent-runner in-process.
# pip writes a python shebang, or for long or spaced venv paths a /bin/sh launcher whose second line is
# '''exec' "/venv/bin/python" "$0" "$@"; anything else (a shell wrapper) gets python3 from PATH.
first="" second=""
{ IFS= read -r first; IFS= read -r second; } < "$runner" 2>/dev/null
py=""
case $first in
  "#!"*python*)
    py=${first#"#!"}
    py=${py#"${py%%[! ]*}"}
    py=${py%%[ 	]*}
    case $py in */python*) ;; *) py="" ;; esac ;;
  "#!/bin/sh"*)
    case $second in
      "'''exec' \""*) py=${second#"'''exec' \""}; py=${py%%\"*} ;;
      "'''exec' "*) py=${second#"'''exec' "}; py=${py%% *} ;;
    esac ;;
esac
[ -n "$py" ] && [ -f "$py" ] && [ -x "$py" ] || { on_path python3; py=$found; }
if [ -z "$py" ]; then
  printf 'FLEETWATCH-GATHER-1 {"gather": 1, "runner": "%s", "python": null}\n' "$runner"
  exit 0
fi
# sys.path[0] is the launcher's directory, as when the launcher runs, not the login directory (where a
# stray json.py or base64.py would shadow the stdlib); os and sys are already loaded at startup.
exec "$py" -c 'import os,sys;sys.path[0]=os.path.dirname(os.path.realpath(sys.argv[1]));import base64;exec(compile(base64.b64decode(sys.argv[6]),"fleetwatch-gather","exec"))' \
  "$runner" "$2" "$3" "$4" "$5" "$6"
