#!/usr/bin/env bash
# Functions here run through a trap or as "scenario_$name":
# shellcheck disable=SC2317
# hearsay on a real network: N `node` processes, each in its own network
# namespace, on one bridge; faults injected with iptables and signals;
# measured from the processes' own --json output (tests/netns/analyze.py).
#
# Needs root, ip (iproute2), iptables (with the statistic match), python3,
# and cargo unless --bin is given. Everything it makes lives in namespaces
# of its own (named hs<pid>-*): the bridge is in one, each node in another,
# addresses 10.77.0.0/24 exist only there, and iptables rules are added only
# inside the node namespaces. The host's interfaces, addresses and rules
# are never touched. A trap removes all of it, and kills the processes it
# started by their recorded ids, however the script ends.
#
# Exit: 0 every target met, 1 a target missed, 2 cannot run (usage, not
# root, a missing tool).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
ANALYZE="$HERE/analyze.py"

ALL_SCENARIOS="coldstart kill loss10 loss30 partition flip lossy pause restart leave"
SHORT_SCENARIOS="coldstart kill loss10 partition pause restart leave"

usage() {
    cat <<EOF
usage: tests/netns/run.sh [--short] [--scenarios LIST] [--nodes N]
                          [--out DIR] [--bin PATH]

Runs hearsay's real-network scenarios: N node processes (default 8), one
per network namespace on a private bridge (10.77.0.0/24), gossip every
200 ms. Must run as root. Prints one table per scenario and a summary;
exits 1 if any target is missed.

  --short            the CI version: fewer, shorter scenarios (~2 min)
  --scenarios LIST   comma-separated, from: $(echo "$ALL_SCENARIOS" | tr ' ' ,)
                     (default: all; with --short: $(echo "$SHORT_SCENARIOS" | tr ' ' ,))
  --nodes N          cluster size, 4 to 64 (default 8)
  --out DIR          where the logs go, kept after the run (default: a new
                     directory under \${TMPDIR:-/tmp}, removed if every
                     target was met)
  --bin PATH         a node binary to use instead of building one with
                     cargo build --release -p examples --bin node
  --list             print the scenarios and what each does, then exit

Scenarios (times for the full run; --short shortens them):
  coldstart  start all nodes at once: time to full membership; then one
             key (SIGUSR1 -> "probe") and its spread to every other node
  kill       SIGKILL of one node: detection by every other (median, max)
  loss10     10% of every node's input dropped for 3 min: false positives
  loss30     30% likewise
  partition  two halves cut off from each other for 30 s, then healed:
             false positives on the same side, time to full membership
  flip       one-way partitions between the halves that flip direction
             every 20 s (4 cuts), then healed
  lossy      one node drops 80% of its input for 2 min
  pause      SIGSTOP of one node for 15 s, then SIGCONT: what it reports
             about the others, what they report about it
  restart    SIGKILL then restart with the same name: replaced, never dead
  leave      SIGINT: the others report it left, not dead
EOF
}

SHORT=0
SCENARIOS=""
NODES=8
OUT=""
BIN=""
while (($#)); do
    case $1 in
        --short) SHORT=1 ;;
        --scenarios) SCENARIOS=${2:?--scenarios needs a value}; shift ;;
        --nodes) NODES=${2:?--nodes needs a value}; shift ;;
        --out) OUT=${2:?--out needs a value}; shift ;;
        --bin) BIN=${2:?--bin needs a value}; shift ;;
        --list) usage | sed -n '/^Scenarios/,$p'; exit 0 ;;
        -h | --help) usage; exit 0 ;;
        *) echo "run.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
    shift
done

if [[ -z $SCENARIOS ]]; then
    if ((SHORT)); then SCENARIOS=$SHORT_SCENARIOS; else SCENARIOS=$ALL_SCENARIOS; fi
else
    SCENARIOS=$(echo "$SCENARIOS" | tr ',' ' ')
fi
for s in $SCENARIOS; do
    if [[ " $ALL_SCENARIOS " != *" $s "* ]]; then
        echo "run.sh: unknown scenario '$s' (known: $ALL_SCENARIOS)" >&2
        exit 2
    fi
done
if ! [[ $NODES =~ ^[0-9]+$ ]] || ((NODES < 4 || NODES > 64)); then
    echo "run.sh: --nodes must be 4 to 64" >&2
    exit 2
fi

# --- durations: the full run, or the short one for CI ----------------------
INTERVAL_MS=200
SETTLE=5         # s of steady gossip after full membership, before a fault
AFTER=5          # s watched after an outcome, for late wrong verdicts
FULL_BOUND=30    # s: cold start to full membership (generous)
HEAL_BOUND=60    # s: heal to full membership (generous)
EVENT_BOUND=30   # s: every other node reports an expected event
if ((SHORT)); then
    LOSS_S=20 PARTITION_S=10 FLIP_S=10 FLIPS=2 LOSSY_S=20 PAUSE_S=15
else
    LOSS_S=180 PARTITION_S=30 FLIP_S=20 FLIPS=4 LOSSY_S=120 PAUSE_S=15
fi

# --- requirements -----------------------------------------------------------
cannot() {
    echo "run.sh: cannot run: $*" >&2
    exit 2
}
((EUID == 0)) || cannot "needs root (network namespaces, iptables)"
command -v ip >/dev/null || cannot "ip (iproute2) not found"
command -v iptables >/dev/null || cannot "iptables not found"
command -v python3 >/dev/null || cannot "python3 not found"

TAG="hs$$"
BRNS="$TAG-br"
NS=()   # node namespaces, by index
PIDS=() # the running process of each node, by index ("" when none)
MADE_NS=()
WORK=""
RECORD=""

CHILD="" # the helper (sleep, python3) the script is waiting for

# Runs a command in the background and waits for it, so that a signal to
# the script runs its trap at once rather than when the command ends.
interruptible() {
    local rc=0
    "$@" &
    CHILD=$!
    wait "$CHILD" || rc=$?
    CHILD=""
    return "$rc"
}

cleanup() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    if [[ -n $CHILD ]]; then
        kill "$CHILD" 2>/dev/null
        wait "$CHILD" 2>/dev/null
    fi
    # Processes first, by the ids recorded when they started; SIGCONT so a
    # stopped one dies at once; wait reaps them (they are our children).
    if [[ -n $RECORD && -f $RECORD ]]; then
        while read -r pid _name; do
            if kill -0 "$pid" 2>/dev/null; then
                kill -CONT "$pid" 2>/dev/null
                kill -KILL "$pid" 2>/dev/null
                wait "$pid" 2>/dev/null
            fi
        done <"$RECORD"
    fi
    # The rules we added live in our namespaces only; flush them, then
    # delete the namespaces (which takes the veths and the bridge along).
    for ns in "${MADE_NS[@]}"; do
        if [[ $ns != "$BRNS" ]]; then
            ip netns exec "$ns" iptables -F INPUT 2>/dev/null
        fi
        ip netns del "$ns" 2>/dev/null
    done
    # Logs in a directory we made up are dropped when every target was met;
    # otherwise (or with --out) they stay for a look.
    if [[ -n $WORK && -z $OUT && $rc == 0 ]]; then
        rm -rf "$WORK"
    elif [[ -n $WORK ]]; then
        echo "logs: $WORK" >&2
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- the node binary --------------------------------------------------------
if [[ -z $BIN ]]; then
    command -v cargo >/dev/null || cannot "cargo not found (or pass --bin)"
    echo "==> building node (release)"
    (cd "$ROOT" && cargo build --release -p examples --bin node)
    BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/node"
fi
[[ -x $BIN ]] || cannot "no node binary at $BIN"

if [[ -z $OUT ]]; then
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/hearsay-netns.XXXXXX")
else
    mkdir -p "$OUT"
    WORK=$(cd "$OUT" && pwd)
fi
RECORD="$WORK/pids"
: >"$RECORD"
SUMMARY="$WORK/summary.jsonl"
: >"$SUMMARY"

# --- network ----------------------------------------------------------------
name_of() { echo "n$1"; }
addr_of() { echo "10.77.0.$((10 + $1))"; }

setup_network() {
    ip netns add "$BRNS"
    MADE_NS+=("$BRNS")
    ip -n "$BRNS" link set lo up
    ip -n "$BRNS" link add br0 type bridge
    ip -n "$BRNS" link set br0 up
    local i ns
    for ((i = 0; i < NODES; i++)); do
        ns="$TAG-n$i"
        ip netns add "$ns"
        MADE_NS+=("$ns")
        NS[i]=$ns
        ip -n "$BRNS" link add "v$i" type veth peer name eth0 netns "$ns"
        ip -n "$BRNS" link set "v$i" master br0 up
        ip -n "$ns" link set lo up
        ip -n "$ns" addr add "$(addr_of "$i")/24" dev eth0
        ip -n "$ns" link set eth0 up
    done
    # A rule that drops nothing proves iptables works in a namespace.
    ip netns exec "${NS[0]}" iptables -A INPUT -m statistic --mode random \
        --probability 0 -j DROP ||
        cannot "iptables cannot add a statistic rule in a namespace"
    # Flushing also creates the chain where iptables-nft has not yet, so
    # that its counters can be zeroed.
    clear_rules
}

# Drops, on node i's input, what `args` match (iptables match arguments).
drop_input() {
    local i=$1
    shift
    ip netns exec "${NS[i]}" iptables -A INPUT "$@" -j DROP
}

# Zeroes the INPUT counters of every node.
zero_counts() {
    local i
    for ((i = 0; i < NODES; i++)); do
        ip netns exec "${NS[i]}" iptables -Z INPUT
    done
}

# input_counts i|all: '"dropped":D,"accepted":A', the packets the INPUT
# rules of node i (or of every node) dropped and its INPUT chain let
# through since the counters were zeroed: the loss the kernel applied.
input_counts() {
    local i d a dropped=0 accepted=0 which=("$1")
    [[ $1 == all ]] && mapfile -t which < <(seq 0 $((NODES - 1)))
    for i in "${which[@]}"; do
        read -r d a < <(ip netns exec "${NS[i]}" iptables -L INPUT -nvx |
            awk 'NR == 1 { a = $5 } NR > 2 { d += $1 } END { print d + 0, a + 0 }')
        dropped=$((dropped + d))
        accepted=$((accepted + a))
    done
    echo "\"dropped\":$dropped,\"accepted\":$accepted"
}

clear_rules() {
    local i
    for ((i = 0; i < NODES; i++)); do
        ip netns exec "${NS[i]}" iptables -F INPUT
    done
}

# --- processes --------------------------------------------------------------
DIR="" # the current scenario's directory

now() { date -u +%Y-%m-%dT%H:%M:%S.%3NZ; }

# mark NAME [JSON fields...]: one line of the script's timeline.
mark() {
    local name=$1
    shift
    local extra=""
    (($#)) && extra=",$*"
    printf '{"ts":"%s","mark":"%s"%s}\n' "$(now)" "$name" "$extra" >>"$DIR/marks.jsonl"
}

start_node() {
    local i=$1 seed
    if ((i == 0)); then seed=$(addr_of 1); else seed=$(addr_of 0); fi
    ip netns exec "${NS[i]}" "$BIN" --name "$(name_of "$i")" \
        --listen "$(addr_of "$i"):7946" --seed "$seed:7946" \
        --interval-ms "$INTERVAL_MS" --json \
        >>"$DIR/$(name_of "$i").jsonl" 2>>"$DIR/$(name_of "$i").err" &
    PIDS[i]=$!
    echo "$! $(name_of "$i")" >>"$RECORD"
}

# signal_node SIGNAL i
signal_node() {
    kill "-$1" "${PIDS[$2]}"
}

# Kills node i for good (SIGKILL) and reaps it.
kill_node() {
    local pid=${PIDS[$1]}
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    PIDS[$1]=""
}

# Gives node i up to EVENT_BOUND s to exit by itself, then kills it; reaps
# it either way.
wait_exit() {
    local pid=${PIDS[$1]} k state
    for ((k = 0; k < EVENT_BOUND * 10; k++)); do
        # An exited child stays a zombie (state Z) until reaped.
        state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)
        [[ -z $state || $state == Z ]] && break
        sleep 0.1
    done
    kill_node "$1"
}

stop_all() {
    local i
    for ((i = 0; i < NODES; i++)); do
        if [[ -n ${PIDS[i]:-} ]]; then
            kill -CONT "${PIDS[i]}" 2>/dev/null || true
            kill_node "$i"
        fi
    done
    clear_rules
}

names_json() {
    local i out=""
    for ((i = 0; i < NODES; i++)); do out+="${out:+,}\"$(name_of "$i")\""; done
    echo "[$out]"
}

# Halves: side 0 is the first half of the nodes, side 1 the rest.
HALF=0
sides_json() {
    local i a="" b=""
    for ((i = 0; i < NODES; i++)); do
        if ((i < HALF)); then a+="${a:+,}\"$(name_of "$i")\""; else b+="${b:+,}\"$(name_of "$i")\""; fi
    done
    echo "[[$a],[$b]]"
}

# Node i drops everything from the other half.
cut_from_other_half() {
    local i=$1 j
    for ((j = 0; j < NODES; j++)); do
        if (((i < HALF) != (j < HALF))); then
            drop_input "$i" -s "$(addr_of "$j")"
        fi
    done
}

# begin KIND NAME TITLE CONDITIONS [extra JSON fields]: a fresh directory and
# the scenario line analyze.py reads its settings from.
begin() {
    local kind=$1 name=$2 title=$3 conditions=$4
    shift 4
    DIR="$WORK/$name"
    mkdir -p "$DIR"
    local extra=""
    (($#)) && extra=",$*"
    printf '{"ts":"%s","mark":"scenario","kind":"%s","name":"%s","title":"%s","conditions":"%s","nodes":%s,"interval_ms":%d,"full_bound":%d,"heal_bound":%d,"event_bound":%d%s}\n' \
        "$(now)" "$kind" "$name" "$title" "$conditions" "$(names_json)" \
        "$INTERVAL_MS" "$FULL_BOUND" "$HEAL_BOUND" "$EVENT_BOUND" "$extra" >"$DIR/marks.jsonl"
    echo
    echo "==> $name: $title"
}

# Starts every node, waits for full membership; returns 1 if it never came.
start_cluster() {
    local i
    mark start
    for ((i = 0; i < NODES; i++)); do start_node "$i"; done
    if interruptible python3 "$ANALYZE" wait-full "$DIR" "$FULL_BOUND"; then
        mark ready
        return 0
    fi
    echo "    membership never became full within ${FULL_BOUND} s" >&2
    return 1
}

# wait_all EVENT SUBJECT MARK: every other node printed EVENT about SUBJECT
# after MARK (or EVENT_BOUND passed).
wait_all() {
    interruptible python3 "$ANALYZE" wait-event "$DIR" "$1" "$2" "$3" "$EVENT_BOUND" ||
        echo "    not every node printed $1 about $2 within ${EVENT_BOUND} s" >&2
}

FAILED=0
finish() {
    stop_all
    python3 "$ANALYZE" report "$DIR" "$SUMMARY" || FAILED=1
}

COND="$NODES nodes, ${INTERVAL_MS} ms gossip interval"

# --- scenarios --------------------------------------------------------------
scenario_coldstart() {
    begin coldstart coldstart "cold start and one key's spread" \
        "$COND; all started at once, every node seeded with n0 (n0 with n1)" \
        '"probe_owner":"n0"'
    if start_cluster; then
        interruptible sleep "$SETTLE"
        mark probe
        signal_node USR1 0
        interruptible python3 "$ANALYZE" wait-probe "$DIR" n0 "$EVENT_BOUND" ||
            echo "    the probe key did not reach every node" >&2
    fi
    finish
}

scenario_kill() {
    local v=$((NODES - 1))
    begin kill kill "SIGKILL of one node" \
        "$COND; $(name_of "$v") killed after ${SETTLE} s of steady gossip" \
        "\"subject\":\"$(name_of "$v")\""
    if start_cluster; then
        interruptible sleep "$SETTLE"
        mark kill
        kill_node "$v"
        wait_all dead "$(name_of "$v")" kill
        interruptible sleep "$AFTER"
    fi
    finish
}

# scenario_loss PERCENT
scenario_loss() {
    local pct=$1 p i
    p=$(printf '0.%02d' "$pct")
    begin loss "loss$pct" "${pct}% loss on every node" \
        "$COND; iptables drops ${pct}% of every node's input (statistic, random) for ${LOSS_S} s" \
        "\"loss\":$p"
    if start_cluster; then
        interruptible sleep "$SETTLE"
        mark loss
        zero_counts
        for ((i = 0; i < NODES; i++)); do
            drop_input "$i" -m statistic --mode random --probability "$p"
        done
        mark loss-done
        interruptible sleep "$LOSS_S"
        mark loss-off "$(input_counts all)"
        clear_rules
        mark loss-off-done
        interruptible sleep "$AFTER"
    fi
    finish
}

scenario_partition() {
    local i
    HALF=$((NODES / 2))
    begin partition partition "a 50/50 partition, then heal" \
        "$COND; halves cut from each other (input drops on both sides) for ${PARTITION_S} s" \
        "\"sides\":$(sides_json)"
    if start_cluster; then
        interruptible sleep "$SETTLE"
        mark partition
        zero_counts
        for ((i = 0; i < NODES; i++)); do cut_from_other_half "$i"; done
        mark partition-done
        interruptible sleep "$PARTITION_S"
        mark heal "$(input_counts all)"
        clear_rules
        mark heal-done
        interruptible python3 "$ANALYZE" wait-full "$DIR" "$HEAL_BOUND" ||
            echo "    membership not full ${HEAL_BOUND} s after the heal" >&2
        interruptible sleep "$AFTER"
    fi
    finish
}

scenario_flip() {
    local i k
    HALF=$((NODES / 2))
    begin flip flip "one-way partitions that flip every ${FLIP_S} s" \
        "$COND; ${FLIPS} cuts of ${FLIP_S} s: the first half drops input from the second, then the reverse, ...; then healed" \
        "\"sides\":$(sides_json),\"flip_s\":$FLIP_S"
    if start_cluster; then
        interruptible sleep "$SETTLE"
        zero_counts
        for ((k = 0; k < FLIPS; k++)); do
            # The counts of the cut before (its rules go now).
            mark flip "\"deaf\":$((k % 2)),$(input_counts all)"
            clear_rules
            for ((i = 0; i < NODES; i++)); do
                # Even cuts: the first half does not hear the second.
                if (((i < HALF) == (k % 2 == 0))); then cut_from_other_half "$i"; fi
            done
            mark flip-done
            interruptible sleep "$FLIP_S"
        done
        mark heal "$(input_counts all)"
        clear_rules
        mark heal-done
        interruptible python3 "$ANALYZE" wait-full "$DIR" "$HEAL_BOUND" ||
            echo "    membership not full ${HEAL_BOUND} s after the heal" >&2
        interruptible sleep "$AFTER"
    fi
    finish
}

scenario_lossy() {
    local v=$((NODES - 1))
    begin lossy lossy "one node with 80% loss" \
        "$COND; iptables drops 80% of $(name_of "$v")'s input for ${LOSSY_S} s" \
        "\"subject\":\"$(name_of "$v")\",\"loss\":0.8"
    if start_cluster; then
        interruptible sleep "$SETTLE"
        mark loss
        zero_counts
        drop_input "$v" -m statistic --mode random --probability 0.8
        mark loss-done
        interruptible sleep "$LOSSY_S"
        mark loss-off "$(input_counts "$v")"
        clear_rules
        mark loss-off-done
        interruptible python3 "$ANALYZE" wait-full "$DIR" "$HEAL_BOUND" ||
            echo "    membership not full ${HEAL_BOUND} s after the loss ended" >&2
        interruptible sleep "$AFTER"
    fi
    finish
}

scenario_pause() {
    local v=$((NODES - 1))
    begin pause pause "SIGSTOP for ${PAUSE_S} s, then SIGCONT" \
        "$COND; $(name_of "$v") stopped for ${PAUSE_S} s" \
        "\"subject\":\"$(name_of "$v")\""
    if start_cluster; then
        interruptible sleep "$SETTLE"
        mark stop
        signal_node STOP "$v"
        interruptible sleep "$PAUSE_S"
        mark cont
        signal_node CONT "$v"
        wait_all alive "$(name_of "$v")" cont
        interruptible sleep "$AFTER"
    fi
    finish
}

scenario_restart() {
    local v=$((NODES - 1))
    begin restart restart "SIGKILL, then restart with the same name" \
        "$COND; $(name_of "$v") killed and started again at once, same name and address" \
        "\"subject\":\"$(name_of "$v")\""
    if start_cluster; then
        interruptible sleep "$SETTLE"
        mark kill
        kill_node "$v"
        mark restart
        start_node "$v"
        wait_all replaced "$(name_of "$v")" kill
        interruptible sleep "$AFTER"
    fi
    finish
}

scenario_leave() {
    local v=$((NODES - 1))
    begin leave leave "SIGINT: a graceful leave" \
        "$COND; $(name_of "$v") gets SIGINT" \
        "\"subject\":\"$(name_of "$v")\""
    if start_cluster; then
        interruptible sleep "$SETTLE"
        mark sigint
        signal_node INT "$v"
        wait_all left "$(name_of "$v")" sigint
        # The leaving process exits by itself after its linger.
        wait_exit "$v"
        interruptible sleep "$AFTER"
    fi
    finish
}

# --- run ----------------------------------------------------------------------
echo "==> network: $NODES namespaces on a bridge (namespaces $TAG-*, 10.77.0.0/24)"
setup_network
echo "    logs in $WORK"

for s in $SCENARIOS; do
    case $s in
        loss10) scenario_loss 10 ;;
        loss30) scenario_loss 30 ;;
        *) "scenario_$s" ;;
    esac
done

python3 "$ANALYZE" summary "$SUMMARY" || FAILED=1
exit "$FAILED"
