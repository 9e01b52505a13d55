#!/usr/bin/env python3
"""Tests of analyze.py on made-up logs: that each target it judges can be
missed (a false positive, a restarted or leaving node reported dead, a node
that never detects a kill, membership that never becomes full) and that
clean logs pass. Needs neither root nor a network:

    python3 tests/netns/test_analyze.py
"""

import io
import json
import os
import sys
import tempfile
import unittest
from contextlib import redirect_stdout
from datetime import datetime, timedelta, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import analyze  # noqa: E402

T0 = datetime(2026, 12, 2, 21, 40, 0, tzinfo=timezone.utc)
NODES = ["n0", "n1", "n2", "n3"]


def ts(seconds):
    t = T0 + timedelta(seconds=seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def member(name, generation=1):
    return {"name": name, "generation": generation, "addr": f"10.77.0.{10 + int(name[1:])}:7946"}


class Logs:
    """A scenario directory being written."""

    def __init__(self, kind, **meta):
        self.tmp = tempfile.TemporaryDirectory(prefix="analyze-test-")
        self.dir = self.tmp.name
        self.lines = {n: [] for n in NODES}
        self.marks = []
        scenario = {
            "mark": "scenario",
            "kind": kind,
            "name": kind,
            "title": kind,
            "conditions": "made up",
            "nodes": NODES,
            "interval_ms": 200,
            "full_bound": 30,
            "heal_bound": 60,
            "event_bound": 30,
        }
        scenario.update(meta)
        self.mark(0, **scenario)
        self.mark(0, mark="start")

    def mark(self, t, **fields):
        self.marks.append({"ts": ts(t), **fields})

    def event(self, node, t, event, **fields):
        self.lines[node].append({"ts": ts(t), "t": t, "node": node, "event": event, **fields})

    def start_all(self, t=0.0, generation=1):
        for n in NODES:
            self.event(n, t, "start", member=member(n, generation), pid=1)
        for n in NODES:
            for o in NODES:
                if o != n:
                    self.event(n, t + 0.2, "joined", member=member(o))
        self.mark(t + 0.3, mark="ready")

    def about(self, observers, t, event, subject, generation=1):
        for n in observers:
            self.event(n, t, event, member=member(subject, generation))

    def write(self):
        for n, lines in self.lines.items():
            with open(os.path.join(self.dir, f"{n}.jsonl"), "w") as f:
                for line in sorted(lines, key=lambda e: e["ts"]):
                    f.write(json.dumps(line) + "\n")
        with open(os.path.join(self.dir, "marks.jsonl"), "w") as f:
            for m in self.marks:
                f.write(json.dumps(m) + "\n")
        return self.dir

    def report(self):
        """(exit code, summary row) of `analyze.py report`."""
        directory = self.write()
        summary = os.path.join(directory, "summary.jsonl")
        with redirect_stdout(io.StringIO()):
            rc = analyze.cmd_report(directory, summary)
        with open(summary) as f:
            return rc, json.loads(f.readline())


class Case(unittest.TestCase):
    def new_logs(self, kind, **meta):
        logs = Logs(kind, **meta)
        self.addCleanup(logs.tmp.cleanup)
        return logs


def row(summary, prefix):
    for measure, value, _target, ok in summary["rows"]:
        if measure.startswith(prefix):
            return value, ok
    raise AssertionError(f"no row {prefix!r} in {summary['rows']}")


class Timestamps(unittest.TestCase):
    def test_node_timestamps_parse_to_unix_seconds(self):
        self.assertEqual(analyze.parse_ts("1970-01-01T00:00:01.250Z"), 1.25)
        self.assertAlmostEqual(
            analyze.parse_ts("2026-12-02T21:40:00.123Z"), T0.timestamp() + 0.123, places=6
        )


class Kill(Case):
    def logs(self):
        logs = self.new_logs("kill", subject="n3")
        logs.start_all()
        logs.mark(5.0, mark="kill")
        return logs

    def test_every_survivor_detecting_it_passes(self):
        logs = self.logs()
        logs.about(["n0", "n1"], 5.8, "dead", "n3")
        logs.about(["n2"], 6.1, "dead", "n3")
        rc, summary = logs.report()
        self.assertEqual(rc, 0, summary)
        self.assertEqual(row(summary, "SIGKILL of n3")[0], "0.800 / 1.100 s")
        self.assertEqual(row(summary, "false positives"), ("0", True))

    def test_a_healthy_node_convicted_is_a_false_positive(self):
        logs = self.logs()
        logs.about(["n0", "n1", "n2"], 5.8, "dead", "n3")
        logs.about(["n2"], 7.0, "dead", "n1")
        rc, summary = logs.report()
        self.assertEqual(rc, 1)
        self.assertEqual(row(summary, "false positives"), ("1", False))
        self.assertIn("n2 convicted n1", summary["notes"][0])

    def test_the_victim_convicted_before_the_kill_is_a_false_positive(self):
        logs = self.logs()
        logs.about(["n0"], 2.0, "dead", "n3")
        logs.about(["n0"], 2.5, "alive", "n3")
        logs.about(["n0", "n1", "n2"], 5.8, "dead", "n3")
        rc, summary = logs.report()
        self.assertEqual(rc, 1)
        self.assertEqual(row(summary, "false positives"), ("1", False))

    def test_a_survivor_that_never_detects_it_misses_the_target(self):
        logs = self.logs()
        logs.about(["n0", "n1"], 5.8, "dead", "n3")
        rc, summary = logs.report()
        self.assertEqual(rc, 1)
        self.assertEqual(row(summary, "nodes that detected it"), ("2 / 3", False))


class Partition(Case):
    def logs(self):
        logs = self.new_logs("partition", sides=[["n0", "n1"], ["n2", "n3"]])
        logs.start_all()
        logs.mark(5.0, mark="partition")
        logs.mark(5.1, mark="partition-done")
        for a, b in [("n0", "n2"), ("n0", "n3"), ("n1", "n2"), ("n1", "n3")]:
            logs.about([a], 6.0, "dead", b)
            logs.about([b], 6.0, "dead", a)
        logs.mark(35.0, mark="heal", dropped=90, accepted=910)
        logs.mark(35.1, mark="heal-done")
        return logs

    def heal(self, logs, t):
        for a, b in [("n0", "n2"), ("n0", "n3"), ("n1", "n2"), ("n1", "n3")]:
            logs.about([a], t, "alive", b)
            logs.about([b], t, "alive", a)

    def test_far_side_convictions_are_expected_and_heal_is_timed(self):
        logs = self.logs()
        self.heal(logs, 35.5)
        rc, summary = logs.report()
        self.assertEqual(rc, 0, summary)
        self.assertEqual(row(summary, "far side convicted")[0], "1.000 / 1.000 s (8/8 pairs)")
        self.assertEqual(row(summary, "heal to full membership")[0], "0.500 / 0.500 s")
        self.assertEqual(row(summary, "input packets dropped")[0], "90 of 1000 (9.0%)")

    def test_a_same_side_conviction_is_a_false_positive(self):
        logs = self.logs()
        logs.about(["n0"], 20.0, "dead", "n1")
        logs.about(["n0"], 21.0, "alive", "n1")
        self.heal(logs, 35.5)
        rc, summary = logs.report()
        self.assertEqual(rc, 1)
        self.assertEqual(row(summary, "false positives on the same side"), ("1", False))

    def test_membership_never_full_after_the_heal_misses_the_target(self):
        logs = self.logs()
        rc, summary = logs.report()
        self.assertEqual(rc, 1)
        self.assertFalse(row(summary, "heal to full membership")[1])


class Flip(Case):
    def logs(self):
        logs = self.new_logs("flip", sides=[["n0", "n1"], ["n2", "n3"]], flip_s=20)
        logs.start_all()
        # First cut: n0, n1 deaf to n2, n3; then the reverse; then healed.
        logs.mark(5.0, mark="flip", deaf=0, dropped=0, accepted=0)
        logs.about(["n0", "n1"], 6.0, "dead", "n2")
        logs.about(["n0", "n1"], 6.5, "dead", "n3")
        logs.mark(25.0, mark="flip", deaf=1, dropped=40, accepted=400)
        logs.about(["n0", "n1"], 25.1, "alive", "n2")
        logs.about(["n0", "n1"], 25.1, "alive", "n3")
        logs.about(["n2", "n3"], 26.0, "dead", "n0")
        logs.about(["n2", "n3"], 26.0, "dead", "n1")
        logs.mark(45.0, mark="heal", dropped=60, accepted=900)
        logs.about(["n2", "n3"], 45.2, "alive", "n0")
        logs.about(["n2", "n3"], 45.2, "alive", "n1")
        return logs

    def test_each_cut_is_timed_and_the_heal_is_judged(self):
        rc, summary = self.logs().report()
        self.assertEqual(rc, 0, summary)
        self.assertEqual(
            row(summary, "deaf side convicts")[0], "1.000 / 1.500 s (8 pairs)"
        )
        self.assertEqual(row(summary, "... and sees it again")[0], "0.150 / 0.200 s (8 pairs)")
        self.assertEqual(row(summary, "input packets dropped")[0], "100 of 1000 (10.0%)")

    def test_a_same_side_conviction_is_a_false_positive(self):
        logs = self.logs()
        logs.about(["n3"], 30.0, "dead", "n2")
        rc, summary = logs.report()
        self.assertEqual(rc, 1)
        self.assertEqual(row(summary, "false positives on the same side"), ("1", False))


class Restart(Case):
    def logs(self):
        logs = self.new_logs("restart", subject="n3")
        logs.start_all()
        logs.mark(5.0, mark="kill")
        logs.mark(5.01, mark="restart")
        logs.event("n3", 5.02, "start", member=member("n3", 2), pid=2)
        for o in ["n0", "n1", "n2"]:
            logs.event("n3", 5.2, "joined", member=member(o))
            logs.event(
                o, 5.2, "replaced", old=member("n3", 1), member=member("n3", 2)
            )
        return logs

    def test_replaced_everywhere_passes(self):
        rc, summary = self.logs().report()
        self.assertEqual(rc, 0, summary)

    def test_the_restarted_node_reported_dead_misses_the_target(self):
        logs = self.logs()
        logs.about(["n1"], 5.9, "dead", "n3", generation=2)
        rc, summary = logs.report()
        self.assertEqual(rc, 1)
        self.assertEqual(row(summary, "n3 reported dead"), ("1", False))


class Leave(Case):
    def logs(self, dead):
        logs = self.new_logs("leave", subject="n3")
        logs.start_all()
        logs.mark(5.0, mark="sigint")
        logs.event("n3", 5.0, "leaving")
        logs.about(["n0", "n1", "n2"], 5.05, "left", "n3")
        if dead:
            logs.about(["n2"], 7.0, "dead", "n3")
        logs.event("n3", 8.1, "stopped")
        return logs

    def test_left_everywhere_passes(self):
        rc, summary = self.logs(dead=False).report()
        self.assertEqual(rc, 0, summary)

    def test_the_leaving_node_reported_dead_misses_the_target(self):
        rc, summary = self.logs(dead=True).report()
        self.assertEqual(rc, 1)
        self.assertEqual(row(summary, "n3 reported dead"), ("1", False))


class Pause(Case):
    def test_the_paused_node_convicting_a_healthy_peer_misses_the_target(self):
        logs = self.new_logs("pause", subject="n3")
        logs.start_all()
        logs.mark(5.0, mark="stop")
        logs.about(["n0", "n1", "n2"], 6.0, "dead", "n3")
        logs.mark(20.0, mark="cont")
        logs.event("n3", 20.1, "stalled", stalls=1)
        logs.about(["n0", "n1", "n2"], 20.1, "alive", "n3")
        logs.about(["n3"], 21.0, "dead", "n0")
        rc, summary = logs.report()
        self.assertEqual(rc, 1)
        self.assertEqual(row(summary, "n3's convictions of healthy peers"), ("1", False))
        self.assertEqual(row(summary, "false positives among the others"), ("0", True))


class NeverReady(Case):
    def test_a_cluster_that_never_formed_misses_the_target(self):
        logs = self.new_logs("kill", subject="n3")
        for n in NODES:
            logs.event(n, 0.0, "start", member=member(n), pid=1)
        rc, summary = logs.report()
        self.assertEqual(rc, 1)
        self.assertEqual(row(summary, "full membership before the fault"), ("no", False))


class Waiting(Case):
    def test_wait_full_sees_full_and_partial_membership(self):
        logs = self.new_logs("kill", subject="n3")
        logs.start_all()
        directory = logs.write()
        self.assertEqual(analyze.cmd_wait_full(directory, "0"), 0)
        logs.about(["n1"], 3.0, "dead", "n2")
        directory = logs.write()
        self.assertEqual(analyze.cmd_wait_full(directory, "0"), 1)

    def test_wait_event_needs_every_other_node(self):
        logs = self.new_logs("kill", subject="n3")
        logs.start_all()
        logs.mark(5.0, mark="kill")
        logs.about(["n0", "n1"], 5.8, "dead", "n3")
        directory = logs.write()
        self.assertEqual(analyze.cmd_wait_event(directory, "dead", "n3", "kill", "0"), 1)
        logs.about(["n2"], 5.9, "dead", "n3")
        directory = logs.write()
        self.assertEqual(analyze.cmd_wait_event(directory, "dead", "n3", "kill", "0"), 0)


if __name__ == "__main__":
    unittest.main()
