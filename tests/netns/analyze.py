#!/usr/bin/env python3
"""Reads what `node --json` processes printed and what tests/netns/run.sh
marked, lines them up by wall-clock timestamp and judges one scenario.

run.sh gives every scenario a directory holding one `NAME.jsonl` per node
(the node's stdout: one JSON object per line, see examples/src/bin/node.rs;
a restarted node appends to the same file, its `start` line opening the new
incarnation) and `marks.jsonl`, the script's own timeline: a `scenario`
line with the settings first, then one line per action (`start`, `kill`,
`partition`, `heal`, ...) with the wall-clock time it was taken, just
before the action (a `NAME-done` mark follows actions that change
iptables rules in every namespace, which takes a while). All processes run
on one host, so their timestamps share one clock.

Subcommands (all exit 0 on success):

  wait-full DIR TIMEOUT            every node's latest incarnation sees every
                                   other node alive (exit 1 at the timeout)
  wait-event DIR EVENT SUBJECT MARK TIMEOUT
                                   every node but SUBJECT printed EVENT about
                                   SUBJECT after the last mark named MARK
  wait-probe DIR OWNER TIMEOUT     every other node printed the key-set of
                                   OWNER's last probe
  report DIR SUMMARY               prints the scenario's table, appends a row
                                   to the SUMMARY file (JSON lines); exit 1
                                   when a target is missed
  summary SUMMARY                  prints every scenario's row as one table;
                                   exit 1 if any missed a target

Only the standard library: the machine running the suite needs python3 and
nothing else.
"""

import json
import os
import statistics
import sys
import time
from datetime import datetime, timezone

# Membership events and the status they leave the subject in.
STATUS = {
    "joined": "alive",
    "alive": "alive",
    "replaced": "alive",
    "dead": "dead",
    "left": "left",
    "removed": None,  # forgotten
}


def parse_ts(text):
    """RFC 3339 UTC with milliseconds (as node prints it) to UNIX seconds."""
    dt = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")
    return dt.replace(tzinfo=timezone.utc).timestamp()


def read_jsonl(path):
    """The JSON objects of a file, one per line; lines that are not JSON (a
    half-written last line) are skipped."""
    out = []
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(obj, dict) and "ts" in obj:
                    obj["_t"] = parse_ts(obj["ts"])
                    out.append(obj)
    except FileNotFoundError:
        pass
    return out


class Run:
    """One scenario's logs and marks."""

    def __init__(self, directory):
        self.dir = directory
        self.marks = read_jsonl(os.path.join(directory, "marks.jsonl"))
        scenario = [m for m in self.marks if m.get("mark") == "scenario"]
        if not scenario:
            raise SystemExit(f"{directory}: no scenario line in marks.jsonl")
        self.meta = scenario[0]
        self.nodes = list(self.meta["nodes"])
        self.logs = {
            n: read_jsonl(os.path.join(directory, f"{n}.jsonl")) for n in self.nodes
        }

    def mark(self, name, last=True):
        found = [m for m in self.marks if m.get("mark") == name]
        if not found:
            return None
        return found[-1] if last else found[0]

    def marks_named(self, name):
        return [m for m in self.marks if m.get("mark") == name]

    def latest(self, node):
        """Events of `node`'s latest incarnation (from its last start)."""
        events = self.logs[node]
        starts = [i for i, e in enumerate(events) if e.get("event") == "start"]
        return events[starts[-1]:] if starts else []

    def membership(self, node, all_incarnations=True):
        """(time, event, subject name, generation) of every membership
        event `node` printed."""
        events = self.logs[node] if all_incarnations else self.latest(node)
        out = []
        for e in events:
            if e.get("event") in STATUS and "member" in e:
                m = e["member"]
                out.append((e["_t"], e["event"], m["name"], m["generation"]))
        return out

    def lagged(self):
        return [
            (n, e)
            for n in self.nodes
            for e in self.logs[n]
            if e.get("event") == "lagged"
        ]


def replay(events):
    """Yields (time, view) after each membership event; view maps a name to
    its status ("alive", "dead", "left")."""
    view = {}
    for t, event, name, _gen in events:
        status = STATUS[event]
        if status is None:
            view.pop(name, None)
        else:
            view[name] = status
        yield t, view


def full_since(run, node, others, since):
    """The first time at or after `since` at which `node`'s view holds every
    one of `others` alive (`since` itself if it already did), or None."""
    full_at_since = False
    for t, view in replay(run.membership(node)):
        full = all(view.get(o) == "alive" for o in others)
        if t <= since:
            full_at_since = full
            continue
        if full_at_since:
            return since
        if full:
            return t
    return since if full_at_since else None


def is_full_now(run, node):
    others = [o for o in run.nodes if o != node]
    view = {}
    for _t, v in replay(run.membership(node, all_incarnations=False)):
        view = v
    return all(view.get(o) == "alive" for o in others)


def first_event(run, observer, event, subject, after):
    for t, ev, name, _gen in run.membership(observer):
        if ev == event and name == subject and t >= after:
            return t
    return None


def dead_events(run):
    """(observer, time, subject) of every `dead` any node printed."""
    return [
        (n, t, name)
        for n in run.nodes
        for t, ev, name, _gen in run.membership(n)
        if ev == "dead"
    ]


def probe_times(run, owner):
    """The time `owner` set its last probe, the value, and each other node's
    first key-set of that value."""
    probes = [e for e in run.logs[owner] if e.get("event") == "probe"]
    if not probes:
        return None, None, {}
    p = probes[-1]
    got = {}
    for n in run.nodes:
        if n == owner:
            continue
        for e in run.logs[n]:
            if (
                e.get("event") == "key-set"
                and e.get("key") == "probe"
                and e["member"]["name"] == owner
                and e.get("value") == p["value"]
            ):
                got[n] = e["_t"]
                break
    return p["_t"], p["value"], got


# ---------------------------------------------------------------- waiting


def poll(timeout, check):
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return 0
        if time.monotonic() >= deadline:
            return 1
        time.sleep(0.25)


def cmd_wait_full(directory, timeout):
    def check():
        run = Run(directory)
        return all(run.latest(n) and is_full_now(run, n) for n in run.nodes)

    return poll(float(timeout), check)


def cmd_wait_event(directory, event, subject, mark, timeout):
    def check():
        run = Run(directory)
        m = run.mark(mark)
        if m is None:
            return False
        return all(
            first_event(run, n, event, subject, m["_t"]) is not None
            for n in run.nodes
            if n != subject
        )

    return poll(float(timeout), check)


def cmd_wait_probe(directory, owner, timeout):
    def check():
        run = Run(directory)
        t, _value, got = probe_times(run, owner)
        return t is not None and len(got) == len(run.nodes) - 1

    return poll(float(timeout), check)


# ---------------------------------------------------------------- judging


def med_max(values):
    """'median / max s' of a list of seconds."""
    if not values:
        return "-"
    return f"{statistics.median(values):.3f} / {max(values):.3f} s"


class Table:
    """Rows of (measure, value, target, ok); ok None means informative."""

    def __init__(self, run):
        self.run = run
        self.rows = []
        self.notes = []

    def add(self, measure, value, target="", ok=None):
        self.rows.append((measure, str(value), target, ok))

    def missed(self):
        return [r for r in self.rows if r[3] is False]

    def print(self, title, conditions):
        print(f"\n== {title}")
        print(f"   {conditions}")
        w = max(len(r[0]) for r in self.rows) if self.rows else 10
        wv = max(len(r[1]) for r in self.rows) if self.rows else 10
        wt = max([len(r[2]) for r in self.rows] + [6])
        print(f"   {'measure':<{w}}  {'value':<{wv}}  {'target':<{wt}}  ok")
        for m, v, t, ok in self.rows:
            flag = "" if ok is None else ("yes" if ok else "NO")
            print(f"   {m:<{w}}  {v:<{wv}}  {t:<{wt}}  {flag}")
        for n in self.notes:
            print(f"   note: {n}")


def false_positives(run, healthy):
    """`dead` events where healthy(observer, subject, t) says the subject
    was healthy to that observer: convicted wrongly."""
    return [(o, t, s) for o, t, s in dead_events(run) if healthy(o, s, t)]


def describe_fp(fps, run, limit=6):
    t0 = run.mark("start", last=False)["_t"]
    parts = [f"{o} convicted {s} at +{t - t0:.2f}s" for o, t, s in fps[:limit]]
    more = f" (+{len(fps) - limit} more)" if len(fps) > limit else ""
    return "; ".join(parts) + more


def fp_rows(table, run, healthy, what="false positives"):
    fps = false_positives(run, healthy)
    table.add(what, len(fps), "0", not fps)
    if fps:
        table.notes.append(describe_fp(fps, run))
    return fps


def start_rows(table, run, bound):
    """Time from the script's start mark to full membership, per node."""
    start = run.mark("start", last=False)["_t"]
    times = []
    for n in run.nodes:
        others = [o for o in run.nodes if o != n]
        t = full_since(run, n, others, start)
        times.append(None if t is None else t - start)
    done = [x for x in times if x is not None]
    ok = len(done) == len(run.nodes) and max(done) <= bound
    table.add(
        "cold start to full membership (median / max)",
        med_max(done),
        f"<= {bound:.0f} s",
        ok,
    )
    return ok


def heal_rows(table, run, mark, bound, label):
    heal = run.mark(mark)["_t"]
    times = []
    for n in run.nodes:
        others = [o for o in run.nodes if o != n]
        t = full_since(run, n, others, heal)
        if t is not None:
            times.append(t - heal)
    ok = len(times) == len(run.nodes) and max(times) <= bound
    table.add(
        f"{label} (median / max)",
        med_max(times) + ("" if len(times) == len(run.nodes) else f" ({len(times)}/{len(run.nodes)})"),
        f"<= {bound:.0f} s",
        ok,
    )


def report_coldstart(run, t):
    start_rows(t, run, run.meta["full_bound"])
    owner = run.meta["probe_owner"]
    t_set, value, got = probe_times(run, owner)
    spread = [x - t_set for x in got.values()] if t_set is not None else []
    everyone = len(got) == len(run.nodes) - 1
    t.add(
        f"key spread from {owner} to every other (median / max)",
        med_max(spread) + ("" if everyone else f" ({len(got)}/{len(run.nodes) - 1})"),
        f"all <= {run.meta['event_bound']:.0f} s",
        everyone and max(spread) <= run.meta["event_bound"],
    )
    fp_rows(t, run, lambda o, s, _t: True)


def report_kill(run, t):
    victim = run.meta["subject"]
    kill = run.mark("kill")["_t"]
    lat = []
    for n in run.nodes:
        if n != victim:
            d = first_event(run, n, "dead", victim, kill)
            if d is not None:
                lat.append(d - kill)
    others = len(run.nodes) - 1
    t.add(
        f"SIGKILL of {victim}: detection by every other (median / max)",
        med_max(lat),
        "",
        None,
    )
    t.add(
        "nodes that detected it",
        f"{len(lat)} / {others}",
        f"all <= {run.meta['event_bound']:.0f} s",
        len(lat) == others and max(lat) <= run.meta["event_bound"],
    )
    fp_rows(t, run, lambda o, s, ts: s != victim or ts < kill)


def report_loss(run, t):
    on, off = run.mark("loss")["_t"], run.mark("loss-off")["_t"]
    t.add("loss window", f"{off - on:.0f} s", "", None)
    rules_row(t, run, ["loss", "loss-off"])
    dropped_row(t, run, "loss-off", "input packets dropped")
    alive_again = sum(
        1
        for n in run.nodes
        for _t, ev, _s, _g in run.membership(n)
        if ev == "alive"
    )
    fps = fp_rows(t, run, lambda o, s, _t: True)
    t.add("alive-again events (recoveries)", alive_again, "", None)
    pairs = {(o, s) for o, _t, s in fps}
    t.add("observer/subject pairs ever convicted", len(pairs), "", None)


def rules_row(t, run, pairs):
    """How long installing or removing iptables rules in every namespace
    took: times are measured from the mark taken before the first rule, so
    they include this."""
    spans = []
    for name in pairs:
        for a, b in zip(run.marks_named(name), run.marks_named(f"{name}-done")):
            spans.append((b["_t"] - a["_t"]) * 1000)
    if spans:
        t.add("iptables changes took (max)", f"{max(spans):.0f} ms", "", None)


def dropped_row(t, run, mark, what):
    """The packets the rules dropped, from the counters run.sh read from
    iptables just before removing them."""
    m = run.mark(mark)
    if m is None or "dropped" not in m:
        return
    d, a = m["dropped"], m["accepted"]
    # Flips remove their rules (and the rules' counts) as they go: each
    # flip mark holds the count of the cut before it. The chains' own
    # counts of accepted packets run on.
    d += sum(f.get("dropped", 0) for f in run.marks_named("flip"))
    share = f" ({d / (d + a):.1%})" if d + a else ""
    t.add(what, f"{d} of {d + a}{share}", "", None)


def sides_of(run):
    side = {}
    for i, group in enumerate(run.meta["sides"]):
        for n in group:
            side[n] = i
    return side


def report_partition(run, t):
    side = sides_of(run)
    cut, heal = run.mark("partition")["_t"], run.mark("heal")["_t"]
    t.add("partition held", f"{heal - cut:.0f} s", "", None)
    rules_row(t, run, ["partition", "heal"])
    dropped_row(t, run, "heal", "input packets dropped")
    lat = []
    for o in run.nodes:
        for s in run.nodes:
            if side[o] != side[s]:
                d = first_event(run, o, "dead", s, cut)
                if d is not None and d < heal:
                    lat.append(d - cut)
    pairs = sum(1 for o in run.nodes for s in run.nodes if side[o] != side[s])
    t.add(
        "far side convicted (median / max)",
        med_max(lat) + f" ({len(lat)}/{pairs} pairs)",
        "",
        None,
    )
    fp_rows(t, run, lambda o, s, _t: side[o] == side[s], "false positives on the same side")
    heal_rows(t, run, "heal", run.meta["heal_bound"], "heal to full membership")


def report_flip(run, t):
    side = sides_of(run)
    flips = run.marks_named("flip")
    heal = run.mark("heal")["_t"]
    t.add(
        "one-way cuts",
        f"{len(flips)} x {run.meta['flip_s']:.0f} s",
        "",
        None,
    )
    # Each cut: the deaf side's convictions of the far side, and how soon
    # after the cut lifted (the next flip or the heal) it saw them again.
    ends = [f["_t"] for f in flips[1:]] + [heal]
    convict, recover = [], []
    for f, end in zip(flips, ends):
        deaf = f.get("deaf", 0)
        for o in run.nodes:
            if side[o] != deaf:
                continue
            for s in run.nodes:
                if side[s] == deaf:
                    continue
                d = first_event(run, o, "dead", s, f["_t"])
                if d is not None and d < end:
                    convict.append(d - f["_t"])
                    a = first_event(run, o, "alive", s, end)
                    if a is not None:
                        recover.append(a - end)
    t.add("deaf side convicts the far side (median / max)", med_max(convict) + f" ({len(convict)} pairs)", "", None)
    t.add("... and sees it again after the cut (median / max)", med_max(recover) + f" ({len(recover)} pairs)", "", None)
    counts = {"dead": 0, "alive": 0}
    for o in run.nodes:
        for _t, ev, s, _g in run.membership(o):
            if ev in counts and side[o] != side[s]:
                counts[ev] += 1
    rules_row(t, run, ["flip", "heal"])
    dropped_row(t, run, "heal", "input packets dropped")
    t.add("far-side dead / alive-again events", f"{counts['dead']} / {counts['alive']}", "", None)
    fp_rows(t, run, lambda o, s, _t: side[o] == side[s], "false positives on the same side")
    heal_rows(t, run, "heal", run.meta["heal_bound"], "heal to full membership")


def report_lossy(run, t):
    bad = run.meta["subject"]
    on, off = run.mark("loss")["_t"], run.mark("loss-off")["_t"]
    t.add(f"{bad} drops {run.meta['loss']:.0%} of its input for", f"{off - on:.0f} s", "", None)
    rules_row(t, run, ["loss", "loss-off"])
    dropped_row(t, run, "loss-off", f"{bad}'s input packets dropped")
    about = [(o, ts) for o, ts, s in dead_events(run) if s == bad and o != bad]
    by = [(s, ts) for o, ts, s in dead_events(run) if o == bad]
    t.add(f"others convicted {bad} (events, observers)", f"{len(about)}, {len({o for o, _ in about})}", "", None)
    t.add(f"{bad} convicted others (events, subjects)", f"{len(by)}, {len({s for s, _ in by})}", "", None)
    fp_rows(t, run, lambda o, s, _t: o != bad and s != bad, "false positives among the healthy")
    heal_rows(t, run, "loss-off", run.meta["heal_bound"], "loss off to full membership")


def report_pause(run, t):
    paused = run.meta["subject"]
    stop, cont = run.mark("stop")["_t"], run.mark("cont")["_t"]
    t.add(f"{paused} stopped for", f"{cont - stop:.1f} s", "", None)
    lat, back = [], []
    for n in run.nodes:
        if n == paused:
            continue
        d = first_event(run, n, "dead", paused, stop)
        if d is not None and d < cont:
            lat.append(d - stop)
        a = first_event(run, n, "alive", paused, cont)
        if a is None:
            a = first_event(run, n, "joined", paused, cont)
        if a is not None:
            back.append(a - cont)
    others = len(run.nodes) - 1
    t.add(f"others convicted {paused} while stopped (median / max)", med_max(lat) + f" ({len(lat)}/{others})", "", None)
    t.add(
        f"others see {paused} alive after SIGCONT (median / max)",
        med_max(back) + f" ({len(back)}/{others})",
        f"all <= {run.meta['event_bound']:.0f} s",
        len(back) == others and max(back) <= run.meta["event_bound"],
    )
    own = false_positives(run, lambda o, s, _t: o == paused)
    t.add(f"{paused}'s convictions of healthy peers", len(own), "0", not own)
    if own:
        t.notes.append(describe_fp(own, run))
    stalls = [e for e in run.logs[paused] if e.get("event") == "stalled" and e["_t"] >= cont]
    t.add(f"{paused} reported its own stall", "yes" if stalls else "no", "yes", bool(stalls))
    fp_rows(t, run, lambda o, s, _t: o != paused and s != paused, "false positives among the others")


def report_restart(run, t):
    who = run.meta["subject"]
    kill, restart = run.mark("kill")["_t"], run.mark("restart")["_t"]
    t.add("SIGKILL to new process started", f"{restart - kill:.3f} s", "", None)
    lat = []
    for n in run.nodes:
        if n != who:
            r = first_event(run, n, "replaced", who, kill)
            if r is not None:
                lat.append(r - restart)
    others = len(run.nodes) - 1
    t.add(
        f"others report {who} replaced (median / max after restart)",
        med_max(lat) + f" ({len(lat)}/{others})",
        f"all <= {run.meta['event_bound']:.0f} s",
        len(lat) == others and max(lat) <= run.meta["event_bound"],
    )
    dead = [(o, ts, s) for o, ts, s in dead_events(run) if s == who and o != who]
    t.add(f"{who} reported dead", len(dead), "0", not dead)
    if dead:
        t.notes.append(describe_fp(dead, run))
    fp_rows(t, run, lambda o, s, _t: o != who and s != who, "false positives among the others")


def report_leave(run, t):
    who = run.meta["subject"]
    sigint = run.mark("sigint")["_t"]
    lat = []
    for n in run.nodes:
        if n != who:
            r = first_event(run, n, "left", who, sigint)
            if r is not None:
                lat.append(r - sigint)
    others = len(run.nodes) - 1
    t.add(
        f"others report {who} left (median / max after SIGINT)",
        med_max(lat) + f" ({len(lat)}/{others})",
        f"all <= {run.meta['event_bound']:.0f} s",
        len(lat) == others and max(lat) <= run.meta["event_bound"],
    )
    dead = [(o, ts, s) for o, ts, s in dead_events(run) if s == who and o != who]
    t.add(f"{who} reported dead", len(dead), "0", not dead)
    if dead:
        t.notes.append(describe_fp(dead, run))
    stopped = [e for e in run.logs[who] if e.get("event") == "stopped"]
    t.add(f"{who} left and exited by itself", "yes" if stopped else "no", "yes", bool(stopped))
    fp_rows(t, run, lambda o, s, _t: o != who and s != who, "false positives among the others")


REPORTS = {
    "coldstart": report_coldstart,
    "kill": report_kill,
    "loss": report_loss,
    "partition": report_partition,
    "flip": report_flip,
    "lossy": report_lossy,
    "pause": report_pause,
    "restart": report_restart,
    "leave": report_leave,
}


def cmd_report(directory, summary):
    run = Run(directory)
    kind = run.meta["kind"]
    t = Table(run)
    # Every scenario but cold start first waits for full membership; when
    # it never came, no fault was injected and there is nothing else to
    # judge.
    ready = run.mark("ready")
    if kind == "coldstart" or ready:
        REPORTS[kind](run, t)
    if kind != "coldstart":
        t.add("full membership before the fault", "yes" if ready else "no", "yes", bool(ready))
    lagged = run.lagged()
    if lagged:
        t.notes.append(
            f"{len(lagged)} lagged marker(s): some events were lost by slow readers; "
            "figures may be incomplete"
        )
    t.print(run.meta["title"], run.meta["conditions"])
    missed = t.missed()
    row = {
        "scenario": run.meta["name"],
        "title": run.meta["title"],
        "conditions": run.meta["conditions"],
        "rows": [list(r) for r in t.rows],
        "notes": t.notes,
        "ok": not missed,
    }
    with open(summary, "a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")
    return 1 if missed else 0


def cmd_summary(summary):
    rows = read_plain_jsonl(summary)
    print("\n== summary")
    failed = 0
    for r in rows:
        figures = "; ".join(f"{m}: {v}" for m, v, _t, _ok in r["rows"])
        verdict = "pass" if r["ok"] else "MISSED"
        failed += not r["ok"]
        print(f"   {r['scenario']:<10} {verdict:<6} {figures}")
    print(f"\n{len(rows) - failed} passed, {failed} failed")
    return 1 if failed else 0


def read_plain_jsonl(path):
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                out.append(json.loads(line))
    return out


def main(argv):
    cmds = {
        "wait-full": (cmd_wait_full, 2),
        "wait-event": (cmd_wait_event, 5),
        "wait-probe": (cmd_wait_probe, 3),
        "report": (cmd_report, 2),
        "summary": (cmd_summary, 1),
    }
    if len(argv) < 2 or argv[1] not in cmds or len(argv) - 2 != cmds[argv[1]][1]:
        print(__doc__, file=sys.stderr)
        return 2
    fn, _n = cmds[argv[1]]
    return fn(*argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
