"""What user rules cost per host per pass, against the built-in detectors measured in the same run.

    .venv/bin/python bench/rules.py [--rules 10] [--reps 2000]

Over a real agent-runner capture (tests/fixtures/agent_runner/peek_healthy_running.json):

1. One rule's evaluation (simpleeval walking the tree parsed at load), median µs, for each shipped example
   and for the same expressions through Python's own ``eval`` of a compiled code object (the floor an
   unsafe engine could reach).
2. The fields document every rule on a host shares (``rules.fields.data_of``, built once per host per pass).
3. ``detect`` with the built-ins alone, then with ``--rules`` copies of the examples: the added cost per
   host per pass, and the ratio to the built-ins.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fleetwatch.detect import BUILTIN, detect  # noqa: E402
from fleetwatch.rules.catalogue import load_catalogue  # noqa: E402
from fleetwatch.rules.fields import data_of  # noqa: E402
from fleetwatch.settings import Thresholds  # noqa: E402
from tests.unit.builders import facts, observed, snapshot  # noqa: E402
from tests.unit.test_detectors_real_captures import load  # noqa: E402

EXAMPLES = ROOT / "detectors" / "examples"


def median_us(fn: object, reps: int) -> float:
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=10, help="rules on top of the built-ins (default 10)")
    parser.add_argument("--reps", type=int, default=2000)
    args = parser.parse_args()

    p = load("peek_healthy_running.json")
    now = p.events[-1].ts + 60
    obs = observed(snapshot(p, f=facts(time=now), received_at=now), at=now)
    data = data_of(obs, ("lab",))
    cat = load_catalogue([EXAMPLES])
    print(f"capture: peek_healthy_running.json; {len(cat.rules)} example rules; {args.reps} reps, medians")
    print(f"{'rule':<26}{'simpleeval µs':>15}{'python eval µs':>16}{'ratio':>8}")
    for rule in cat.rules:
        code = compile(rule.when, "<rule>", "eval")
        names = {k: _Namespace(v) if isinstance(v, dict) else v for k, v in data.items()}
        ours = median_us(lambda r=rule: r.evaluate(data), args.reps)
        floor = median_us(lambda c=code, n=names: _safe(c, n), args.reps)
        print(f"{rule.name:<26}{ours:>15.1f}{floor:>16.1f}{ours / floor:>8.1f}")
    print(
        f"fields document per host (data_of): {median_us(lambda: data_of(obs, ('lab',)), args.reps):.1f} µs"
    )

    many = [r.detector() for _ in range(args.rules // len(cat.rules) + 1) for r in cat.rules][: args.rules]
    # Copies share names; detect() does not mind, and the per-rule work is what is measured.
    builtin = median_us(lambda: detect(obs, Thresholds(), now, BUILTIN, ("lab",)), args.reps)
    both = median_us(lambda: detect(obs, Thresholds(), now, (*BUILTIN, *many), ("lab",)), args.reps)
    print(
        f"detect per host per pass: built-ins ({len(BUILTIN)}) {builtin:.0f} µs; with {len(many)} rules "
        f"{both:.0f} µs (+{both - builtin:.0f} µs, {both / builtin:.2f}× the built-ins); "
        f"500 hosts: +{(both - builtin) * 500 / 1000:.1f} ms per pass"
    )


class _Namespace(dict):  # type: ignore[type-arg]
    """Attribute access for Python's eval (``facts.load_1m``)."""

    def __getattr__(self, name: str) -> object:
        value = self[name]
        return _Namespace(value) if isinstance(value, dict) else value


def _safe(code: object, names: dict) -> object:  # type: ignore[type-arg]
    try:
        return eval(code, {"__builtins__": {}}, names)  # the baseline, not fleetwatch's path
    except (KeyError, TypeError, NameError, AttributeError):
        return None


if __name__ == "__main__":
    main()
