# fleetwatch remote wrapper (POSIX sh): find agent-runner and its Python, then run the gatherer.
# argv: RUNNER_OR_EMPTY CONFIG EVENTS TAIL_LINES ROUND_LOGS GATHER_B64
runner=$1
case $runner in
  "~/"*) runner=$HOME/${runner#"~/"} ;;
esac
searched=""
if [ -z "$runner" ]; then
  for c in "$(command -v agent-runner 2>/dev/null)" "$HOME/.local/bin/agent-runner" \
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
# The runner's own interpreter sees the same packages; pip writes a /bin/sh launcher instead of a
# python shebang for long or spaced venv paths, so only a python shebang is taken as-is.
py=$(head -n 1 "$runner" 2>/dev/null | sed -n 's/^#![ ]*//p' | cut -d' ' -f1)
case $py in
  */python*) ;;
  *) py="" ;;
esac
[ -n "$py" ] && [ -x "$py" ] || py=$(command -v python3)
if [ -z "$py" ]; then
  printf 'FLEETWATCH-GATHER-1 {"gather": 1, "runner": "%s", "python": null}\n' "$runner"
  exit 0
fi
exec "$py" -c 'import base64,sys;exec(compile(base64.b64decode(sys.argv[6]),"fleetwatch-gather","exec"))' \
  "$runner" "$2" "$3" "$4" "$5" "$6"
