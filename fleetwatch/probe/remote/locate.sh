# fleetwatch remote wrapper (POSIX sh): find agent-runner and its Python, then run the gatherer.
# argv: RUNNER_OR_EMPTY CONFIG EVENTS TAIL_LINES ROUND_LOGS GATHER_B64
# Builtins only until the final exec: a fork costs host CPU on every poll.
runner=$1
case $runner in
  "~/"*) runner=$HOME/${runner#"~/"} ;;
esac
# on_path NAME: $found = first executable file NAME on $PATH (command -v without a fork).
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
# The runner's interpreter (so agent-runner can run in-process): a python shebang, or pip's /bin/sh
# launcher for long paths ('''exec' "/venv/bin/python" "$0" "$@"); else python3 from PATH.
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
# sys.path[0]: the launcher's dir, not the login dir (a json.py there would shadow the stdlib).
# The gatherer may come zlib-compressed (a zlib stream starts with "x", Python source never does here).
exec "$py" -c 'import os,sys;sys.path[0]=os.path.dirname(os.path.realpath(sys.argv[1]));import base64;p=base64.b64decode(sys.argv[6]);exec(compile(__import__("zlib").decompress(p) if p[:1]==b"x" else p,"fleetwatch-gather","exec"))' \
  "$runner" "$2" "$3" "$4" "$5" "$6"
