#!/usr/bin/env bash
# The fleet report (make report): plays every scenario under scenarios/ with
# `henbtrust sim run`, plots each timeline with gnuplot and writes
# build/report/report.md, which sets the seed contribution's questions next
# to the measured figures; plays some scenarios again over HTTPS
# ($HTTPS_SCENARIOS, into build/report/https). See docs/simulation.md.
#
#   SCALE=small scripts/report.sh   # 100 devices per scenario (the default)
#   SCALE=full  scripts/report.sh   # each scenario's own `devices`
#   SCALE=500   scripts/report.sh   # 500 devices per scenario
#
# Every scenario runs even when one fails, so the report shows all of them;
# the script then exits 1 if any run failed or a plot could not be drawn, and
# 2 if a tool is missing or SCALE is not understood.
set -euo pipefail
cd "$(dirname "$0")/.."

SCALE=${SCALE:-small}
H=${HENBTRUST:-build/bin/henbtrust}
OUT=build/report
SMALL_DEVICES=100

die() {  # $1 = exit code, rest = message
  local code=$1
  shift
  echo "report: $*" >&2
  exit "$code"
}

# The tools the report drives. make deps installs gnuplot (gnuplot-nox);
# python3 and git come with any machine that builds henbtrust from git.
require_tools() {
  local tool
  command -v gnuplot >/dev/null || die 2 "gnuplot not found; make deps installs it (gnuplot-nox)"
  for tool in python3 git; do
    command -v "$tool" >/dev/null || die 2 "$tool not found; install it (make deps lists the rest)"
  done
  [ -x "$H" ] || die 2 "$H not found; make build builds it"
}

# The --devices argument for SCALE, as words on stdout (none for full).
devices_args() {
  case "$SCALE" in
    small) echo "--devices $SMALL_DEVICES" ;;
    full) echo "" ;;
    *[!0-9]* | '' | 0*) die 2 "SCALE=$SCALE: use small, full or a number of devices" ;;
    *) echo "--devices $SCALE" ;;
  esac
}

# The scenario's `name` key: the run names its output files after it, not
# after the file.
scenario_name() {  # $1 = scenario file
  local name
  name=$(sed -n 's/^name[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p' "$1")
  echo "${name:-$(basename "$1" .toml)}"
}

# One member of a run's JSON, or "-" when the file or the member is missing.
json_member() {  # $1 = file, $2 = member
  python3 -c 'import json, sys
try:
    v = json.load(open(sys.argv[1])).get(sys.argv[2])
except (OSError, ValueError):
    v = None
print("-" if v is None else v)' "$1" "$2"
}

now_us() { echo "${EPOCHREALTIME//[.,]/}"; }

# The scenarios played a second time with their devices over HTTPS (sim run
# --transport https), into $OUT/https: the whole path, for its cost; NAME on
# fleet time, NAME:machine on the machine's clock (for throughput).
HTTPS_SCENARIOS="routine-campaign mass-compromise campaign-throughput:machine"

# Plays one scenario into $OUT (over HTTPS: into $OUT/https, named
# https/NAME), appends "name file exit wall" to runs.tsv and prints the
# progress line. The run's own output goes to NAME.log.
run_scenario() {  # $1 = scenario file, $2 = transport (in-process), $3 = clock (fleet)
  local file=$1 transport=${2:-in-process} clock=${3:-fleet} name start rc us wall devices verdict
  name=$(scenario_name "$file")
  [ "$transport" = in-process ] || name="$transport/$name"
  mkdir -p "$(dirname "$OUT/$name")"
  start=$(now_us)
  rc=0
  # shellcheck disable=SC2046  # devices_args is zero or two words on purpose
  "$H" sim run --scenario "$file" $(devices_args) --transport "$transport" --clock "$clock" \
    --out "$(dirname "$OUT/$name")" --work "$OUT/work/$name" --quiet \
    >"$OUT/$name.log" 2>&1 || rc=$?
  us=$(($(now_us) - start))
  wall=$(printf '%d.%d' $((us / 1000000)) $((us % 1000000 / 100000)))
  devices=$(json_member "$OUT/$name.json" devices)
  printf '%s\t%s\t%s\t%s\n' "$name" "$file" "$rc" "$wall" >>"$OUT/runs.tsv"
  if [ "$rc" -eq 0 ]; then
    verdict=passed
    # The devices' files only matter when something went wrong: a passed
    # run's are removed, as they take megabytes per scenario.
    rm -rf "$OUT/work/$name"
  else
    verdict="FAILED (exit $rc; see $OUT/$name.log)"
  fi
  printf 'report: %-26s %6s devices %7ss  %s\n' "$name" "$devices" "$wall" "$verdict"
  return "$rc"
}

# NAME-states.svg for every timeline, and the recovery curve of the mass
# compromise. Returns 1 if any plot failed.
plot_all() {
  local status=0 runs_file name csv
  runs_file="$OUT/runs.tsv"
  while IFS=$'\t' read -r name _ _ _; do
    csv="$OUT/$name.csv"
    [ -f "$csv" ] || continue
    gnuplot -c scripts/report-plots.gp states "$csv" "$OUT/$name-states.svg" \
      "$name: $(json_member "$OUT/$name.json" devices) devices, state of each device" || status=1
  done <"$runs_file"
  if [ -f "$OUT/mass-compromise.csv" ]; then
    gnuplot -c scripts/report-plots.gp recovery "$OUT/mass-compromise.csv" "$OUT/mass-compromise-recovery.svg" \
      "mass-compromise: devices compromised and recovered" || status=1
  fi
  return $status
}

# The machine and the source the figures came from, for the report's header.
describe_machine() {
  local mem_kb commit
  mem_kb=$(sed -n 's/^MemTotal:[[:space:]]*\([0-9]*\) kB/\1/p' /proc/meminfo)
  commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
  # The binary is built from the working tree, which may differ from HEAD.
  if [ -n "$(git status --porcelain 2>/dev/null)" ]; then commit="$commit (with uncommitted changes)"; fi
  export REPORT_DATE REPORT_NPROC REPORT_MEM_KB REPORT_KERNEL REPORT_COMMIT REPORT_SCALE REPORT_DEVICES_ARGS
  REPORT_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  REPORT_NPROC=$(nproc)
  REPORT_MEM_KB=${mem_kb:-0}
  REPORT_KERNEL=$(uname -r)
  REPORT_COMMIT=$commit
  REPORT_SCALE=$SCALE
  REPORT_DEVICES_ARGS=$(devices_args)
}

# build/report/report.md from runs.tsv, each run's JSON and its scenario
# file. Python (standard library only) rather than jq: the report is mostly
# sentences built from the figures, with conditions on them.
write_markdown() {
  python3 - "$OUT" "$H" <<'PY'
import csv, json, os, sys, tomllib

out, binary = sys.argv[1], sys.argv[2]
env = os.environ

# The table's columns, in the order docs/simulation.md lists the figures.
COLUMNS = ["transport", "devices", "seed", "passed", "time_to_detect_s", "time_to_recover_s", "bricked",
           "reset_loops", "wrongly_quarantined", "compromised_admitted", "rollbacks_accepted",
           "jobs_not_committed", "faults_missed", "compromised", "recovered", "pve_cpu_us_per_appraisal", "store_bytes_per_device",
           "memory_bytes_per_device", "fleet_seconds", "wall_seconds"]


def load_runs():
    """One dict per run, in the order they ran: name, file, exit code, the
    wall seconds measured here, the JSON figures (None if the run wrote none)
    and the scenario file's keys."""
    runs = []
    with open(os.path.join(out, "runs.tsv"), newline="") as f:
        for name, path, rc, wall in csv.reader(f, delimiter="\t"):
            try:
                with open(os.path.join(out, name + ".json")) as j:
                    figures = json.load(j)
            except (OSError, ValueError):
                figures = None
            try:
                with open(path, "rb") as t:
                    scenario = tomllib.load(t)
            except (OSError, tomllib.TOMLDecodeError):
                scenario = {}
            runs.append({"name": name, "file": path, "rc": int(rc), "wall": wall,
                         "figures": figures, "scenario": scenario})
    return runs


def fmt(value, key=""):
    """A figure for people: null as "-", floats rounded to what they mean."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "**NO**"
    if isinstance(value, float):
        if key == "wall_seconds":
            return f"{value:.1f}"
        if value == int(value) or abs(value) >= 100:
            return f"{value:.0f}"
        return f"{value:.1f}"
    return str(value)


def duration(seconds):
    """Seconds of fleet time, with minutes or hours alongside."""
    if seconds is None:
        return "-"
    if seconds >= 7200:
        return f"{seconds:.0f} s ({seconds / 3600:.1f} h)"
    if seconds >= 120:
        return f"{seconds:.0f} s ({seconds / 60:.0f} min)"
    return f"{seconds:.0f} s"


def rerun_command(run):
    figures = run["figures"] or {}
    devices = env.get("REPORT_DEVICES_ARGS", "")
    seed = f" --seed {figures['seed']}" if figures.get("seed") is not None else ""
    transport = figures.get("transport", "in-process")
    to = f" --transport {transport} --out {out}/{transport}" if transport != "in-process" else f" --out {out}"
    if figures.get("clock") == "machine":
        to = " --clock machine" + to
    return f"{binary} sim run --scenario {run['file']}{' ' + devices if devices else ''}{seed}{to}"


runs = load_runs()
by_name = {r["name"]: r for r in runs}
lines = []
say = lines.append


def get(name, key):
    run = by_name.get(name)
    if run is None or run["figures"] is None:
        return None
    return run["figures"].get(key)


def missing(name):
    """None when the scenario wrote figures, else a sentence saying why not."""
    run = by_name.get(name)
    if run is None:
        return f"No `{name}` scenario was run, so this question has no measured answer here."
    if run["figures"] is None:
        return (f"`{name}` wrote no figures (exit {run['rc']}; see `{name}.log`), "
                "so this question has no measured answer here.")
    return None


def verdict(name):
    return "" if get(name, "passed") else f" **The `{name}` run did not pass.**"


def event(name, kind, key, default=None):
    for e in by_name.get(name, {}).get("scenario", {}).get("event", []):
        if e.get("kind") == kind and key in e:
            return e[key]
    return default


def header():
    mem_gib = int(env.get("REPORT_MEM_KB", "0")) / 1024 / 1024
    scale = env.get("REPORT_SCALE", "small")
    meaning = {"small": "`--devices 100` for every scenario",
               "full": "each scenario's own `devices` (no `--devices`)"}.get(
                   scale, f"`--devices {scale}` for every scenario")
    failed = [r["name"] for r in runs if r["rc"] != 0]
    say("# henbtrust: fleet scenario report")
    say("")
    say("Each scenario under `scenarios/` was played by `henbtrust sim run`: a fleet of")
    say("simulated H(e)NBs against the real OAM and PVE code in one process, on")
    say("virtual fleet time (docs/simulation.md explains the runs and every figure);")
    say("some were played again with the devices over HTTPS (`https/NAME`).")
    say("The report sets the questions of the seed contribution, the SA3 comments")
    say("on the software-update check of TR 33.820 Annex A.1, next to what the runs")
    say("measured.")
    say("")
    say("## How it was produced")
    say("")
    say(f"- Command: `make report SCALE={scale}` (the same as `SCALE={scale} scripts/report.sh`)")
    say(f"- Scale: `SCALE={scale}`: {meaning}")
    say(f"- Date: {env.get('REPORT_DATE', '-')} (UTC)")
    say(f"- Machine: {env.get('REPORT_NPROC', '-')} cores (`nproc`), {mem_gib:.1f} GiB of memory "
        f"(`MemTotal`), Linux {env.get('REPORT_KERNEL', '-')}")
    say(f"- Source: git commit {env.get('REPORT_COMMIT', '-')}, binary `{binary}`")
    if failed:
        say(f"- Result: **{len(failed)} of {len(runs)} runs FAILED**: {', '.join(failed)}")
    else:
        say(f"- Result: all {len(runs)} runs passed")
    say("")
    say("Each run can be repeated on its own with the same seed; the timeline is")
    say("the same, except that minimal mode's retry jitter can move a return by a round:")
    say("")
    say("| scenario | seed | exit | to rerun it |")
    say("|---|---|---|---|")
    for r in runs:
        say(f"| {r['name']} | {fmt(get(r['name'], 'seed'))} | {r['rc']} | `{rerun_command(r)}` |")
    say("")


def q_site_visit():
    say("### 1. Recovering a H(e)NB without a site visit")
    say("")
    say("**Question.** When the integrity of a H(e)NB is found to be broken, can it be")
    say("brought back at all other than by someone maintaining it on site?")
    say("")
    why = missing("mass-compromise")
    if why:
        say(f"**Measured.** {why}")
        say("")
        return
    c, rec = get("mass-compromise", "compromised"), get("mass-compromise", "recovered")
    back = f"all {c} came back" if c and rec == c else f"{rec} of {c} came back"
    say(f"**Measured** (`mass-compromise`). {c} of {get('mass-compromise', 'devices')} devices had a")
    say("component of their active slot changed, and their OS then ignored every command")
    say("and sent nothing (the silent attacker of docs/simulation.md): no command from the")
    say("OAM could repair them. Nobody went on site. The watchdog in")
    say("each device's boot stage reset it into the recovery image once no ticket had")
    say(f"arrived for a ticket period, and the OAM reinstalled it from there: {back}")
    say(f"(`recovered` = {fmt(rec)}), with `bricked` = {fmt(get('mass-compromise', 'bricked'))} and")
    say(f"`reset_loops` = {fmt(get('mass-compromise', 'reset_loops'))}.{verdict('mass-compromise')}")
    say("")


def q_many():
    say("### 2. Many H(e)NBs attacked at once")
    say("")
    say("**Question.** If a weakness in the OS lets an attacker change the software of")
    say("many H(e)NBs, how are all of them recovered?")
    say("")
    why = missing("mass-compromise")
    if why:
        say(f"**Measured.** {why}")
        say("")
    else:
        n = "mass-compromise"
        share = event(n, "compromise", "share")
        share_text = f" ({share * 100:.0f} % of the fleet)" if share is not None else ""
        period = by_name[n]["scenario"].get("ticket_period", 3600)
        say(f"**Measured** (`{n}`). {get(n, 'compromised')} devices{share_text} were taken over in")
        say("the same round. Nobody has to find them one by one: every device must renew")
        say(f"its ticket once per ticket period ({period} s here), and its boot stage resets it")
        say("into the recovery image when it does not, so for an attacker who silences the")
        say("device the period bounds how long it stays in service. An attacker who keeps the")
        say("agent attesting the boot from before the implant is caught only at the next")
        say("measured boot, which nothing here forces (docs/simulation.md). This run measures")
        say("one fleet size; `SCALE` sets it.")
        say("")
        say(f"- `time_to_detect_s` = {duration(get(n, 'time_to_detect_s'))}: from the compromise until")
        say("  the last compromised device's recovery image had reached the OAM")
        say(f"- `time_to_recover_s` = {duration(get(n, 'time_to_recover_s'))}: until the last one was")
        say("  back in normal service on a release its boot stage checked")
        say(f"- `compromised` = {fmt(get(n, 'compromised'))}, `recovered` = {fmt(get(n, 'recovered'))}, "
            f"`bricked` = {fmt(get(n, 'bricked'))}, `reset_loops` = {fmt(get(n, 'reset_loops'))}")
        say(f"- `compromised_admitted` = {fmt(get(n, 'compromised_admitted'))}: compromised devices the")
        say("  security gateway still admitted once the bound on a result's age had passed")
        say("")
        say(f"The recovery curve is plotted in [mass-compromise-recovery.svg](mass-compromise-recovery.svg).{verdict(n)}")
        say("")
    n = "revocation"
    if missing(n) is None:
        running = ", ".join(f"{v}: {k}" for k, v in (get(n, "running") or {}).items())
        jobs = (get(n, "jobs") or {}).get("committed", 0)
        say(f"When the fault is in a release rather than in single devices (`{n}`: a")
        say(f"release the whole fleet runs is revoked), the OAM reinstalled the fleet remotely:")
        say(f"{jobs} jobs committed, devices per release at the end {running or '-'}, `bricked` = "
            f"{fmt(get(n, 'bricked'))}.{verdict(n)}")
        say("")


def q_scaling():
    say("### 3. Whether checking every H(e)NB on the server side scales")
    say("")
    say("**Question.** The seed expects that having the server check each H(e)NB will")
    say("itself cause trouble. Does the check scale with the fleet?")
    say("")
    measured = [r for r in runs if r["figures"] and r["figures"].get("pve_cpu_us_per_appraisal")
                and r["figures"].get("appraisals")]
    if not measured:
        say("**Measured.** No run wrote PVE figures, so this question has no measured answer here.")
        say("")
        return
    us = [r["figures"]["pve_cpu_us_per_appraisal"] for r in measured]
    total = sum(r["figures"]["appraisals"] for r in measured)
    cpu_s = sum(r["figures"]["appraisals"] * r["figures"]["pve_cpu_us_per_appraisal"] for r in measured) / 1e6
    mean_us = cpu_s * 1e6 / total
    say(f"**Measured** (every run). The PVE appraised {total} pieces of evidence over the")
    say(f"{len(measured)} runs, at {min(us):.0f} to {max(us):.0f} µs of CPU each "
        f"(`pve_cpu_us_per_appraisal`; {mean_us:.0f} µs")
    say(f"on average, {cpu_s:.2f} s of CPU in all). One core therefore appraises about "
        f"{1e6 / mean_us:,.0f} per second.")

    def rate(r):  # appraisals per device per hour of fleet time
        f = r["figures"]
        return f["appraisals"] / max(1, f["devices"]) / max(1e-9, f["fleet_seconds"] / 3600)

    busiest = max(measured, key=rate)
    busy_cores = 1e6 * rate(busiest) / 3600 * mean_us / 1e6
    say(f"The busiest run, `{busiest['name']}`, appraised each device {rate(busiest):.1f} times per")
    say(f"hour of fleet time; a million devices at that rate would need about {busy_cores:.1f} cores")
    say("of PVE CPU. That is arithmetic from the measured cost per appraisal, not a")
    say("measurement at that size.")
    stores = [r["figures"]["store_bytes_per_device"] for r in runs
              if r["figures"] and r["figures"].get("store_bytes_per_device") is not None]
    if stores:
        say(f"The OAM and PVE's SQLite store held {min(stores) / 1024:.0f} to {max(stores) / 1024:.0f} KiB per device at")
        say("the end of the runs (`store_bytes_per_device`).")
    say("")
    over_https = [r for r in runs if r["figures"] and r["figures"].get("transport") == "https"]
    if over_https:
        say("**Over HTTPS.** The figures above are of devices that call the services in")
        say("the same process. Played again with every device on a TLS connection of its")
        say("own certificate to the services listening on a loopback port:")
        say("")
        say("| scenario | clock over HTTPS | passed | wall s in one process (fleet time) | wall s over HTTPS | TLS connections | "
            "PVE CPU µs per appraisal in one process | over HTTPS | jobs committed per s after enrollment |")
        say("|---|---|---|---:|---:|---:|---:|---:|---:|")
        for r in over_https:
            base = r["name"].split("/", 1)[-1]
            f = r["figures"]
            committed = (f.get("jobs") or {}).get("committed", 0)
            play = f.get("play_wall_seconds") or 0
            rate = f"{committed / play:.0f}" if f.get("clock") == "machine" and play > 0 else "-"
            say(f"| {base} | {f.get('clock', 'fleet')} | {fmt(f.get('passed'))} | "
                f"{fmt(get(base, 'wall_seconds'), 'wall_seconds')} | "
                f"{fmt(f.get('wall_seconds'), 'wall_seconds')} | {fmt(f.get('connections'))} | "
                f"{fmt(get(base, 'pve_cpu_us_per_appraisal'))} | {fmt(f.get('pve_cpu_us_per_appraisal'))} | {rate} |")
        say("")
        say("On the machine's clock (`campaign-throughput`) the rounds run back to back and the")
        say("last column is the end-to-end update rate: every device's pre-update appraisal,")
        say("signed order, download, install, trial boot, report and step 9, over HTTPS, one")
        say("device's turn after another on the runner's thread. On fleet time that column")
        say("has no meaning.")
        say("")
    n = "oam-outage"
    if missing(n) is None:
        gone = event(n, "oam-outage", "duration")
        period = by_name[n]["scenario"].get("ticket_period", 3600)
        gone_text = f"{duration(gone)}, {gone / period:.0f} ticket periods" if gone else "a long while"
        say("**And when the server side is not there?** Checking from the server makes the")
        say(f"devices depend on it. In `{n}` the OAM was out of reach for {gone_text}:")
        resets = get(n, "max_resets")
        say(f"each device was reset at most `max_resets` = {fmt(resets)} time{'' if resets == 1 else 's'} into minimal")
        say(f"mode ({fmt(get(n, 'healthy_resets'))} resets of healthy devices in all), with `reset_loops` =")
        say(f"{fmt(get(n, 'reset_loops'))} and `bricked` = {fmt(get(n, 'bricked'))}; at the end the devices ran "
            + ", ".join(f"{k} ({v})" for k, v in (get(n, "running") or {}).items()) + f".{verdict(n)}")
        say("")
    n = "pve-outage"
    if missing(n) is None:
        jobs = get(n, "jobs") or {}
        say(f"In `{n}` the PVE was out of reach in the middle of a campaign: jobs waited,")
        say(f"{jobs.get('committed', 0)} committed once it was back, `bricked` = {fmt(get(n, 'bricked'))}.{verdict(n)}")
        say("")


def q_wrong_software():
    say("### 4. Software that is not what it should be")
    say("")
    say("**Question.** If something is wrong with the software delivered in an update,")
    say("does the update process still hold?")
    say("")
    said = False
    n = "corrupted-downloads"
    if missing(n) is None:
        said = True
        jobs = get(n, "jobs") or {}
        say(f"- `{n}`: {'; '.join(get(n, 'notes') or [])}. Step 6 refused "
            f"{fmt(get(n, 'installs_refused'))} installs before writing (`installs_refused`),")
        say(f"  and the OAM ordered them again: at the end {jobs.get('committed', 0)} jobs committed, "
            f"`bricked` = {fmt(get(n, 'bricked'))}.{verdict(n)}")
    n = "rollback-attack"
    if missing(n) is None:
        said = True
        say(f"- `{n}`: {'; '.join(get(n, 'notes') or [])}. `rollbacks_accepted` = "
            f"{fmt(get(n, 'rollbacks_accepted'))}.{verdict(n)}")
    n = "power-loss"
    if missing(n) is None:
        said = True
        jobs = get(n, "jobs") or {}
        say(f"- `{n}`: {'; '.join(get(n, 'notes') or [])}. `power_losses` = {fmt(get(n, 'power_losses'))},")
        say(f"  {jobs.get('committed', 0)} jobs committed, `bricked` = {fmt(get(n, 'bricked'))}.{verdict(n)}")
    if not said:
        say("No scenario of this kind wrote figures.")
    say("")


def q_first_check():
    say("### 5. The first check of a device")
    say("")
    say("**Question.** How is the security status of a H(e)NB checked the first time?")
    say("")
    enrolled = [r for r in runs if r["figures"]]
    devices = sum(r["figures"].get("devices", 0) for r in enrolled)
    say(f"**Measured.** In the {len(enrolled)} runs that wrote figures, {devices} devices in all were")
    say("enrolled without trust on first use: each one's EK certificate had to chain to")
    say("the manufacturer's CA and its attestation key was accepted only after credential")
    say("activation; each then attested and was appraised before its first ticket. A run")
    say("stops with an error, and writes no figures, if any device fails this.")
    say("")


def table():
    say("## All runs")
    say("")
    say("| scenario | " + " | ".join(COLUMNS) + " |")
    say("|---|" + "---:|" * len(COLUMNS))
    for r in runs:
        f = r["figures"]
        if f is None:
            say(f"| {r['name']} | " + " | ".join(["-"] * 2 + [f"**NO** (exit {r['rc']})"] + ["-"] * (len(COLUMNS) - 3)) + " |")
            continue
        say(f"| {r['name']} | " + " | ".join(fmt(f.get(k), k) for k in COLUMNS) + " |")
    say("")
    say("Null figures are shown as -: there is no detection or recovery time without a")
    say("compromise. `wall_seconds` is the run's own; the progress lines of")
    say("`scripts/report.sh` add the process's start and exit.")
    say("")


def scenarios():
    say("## The scenarios")
    say("")
    for r in runs:
        n, f = r["name"], r["figures"]
        say(f"### {n}")
        say("")
        description = r["scenario"].get("description")
        if description:
            say(f"{description[0].upper()}{description[1:]} (`{r['file']}`).")
            say("")
        if f is None:
            say(f"The run wrote no figures (exit {r['rc']}). The end of `{n}.log`:")
            say("")
            try:
                with open(os.path.join(out, n + ".log")) as log:
                    tail = log.read().splitlines()[-10:]
            except OSError:
                tail = ["(no log)"]
            say("    " + "\n    ".join(tail))
            say("")
            continue
        state = "passed" if f.get("passed") else f"**did not pass** (exit {r['rc']})"
        say(f"{f.get('devices')} devices, seed {f.get('seed')}, {duration(f.get('fleet_seconds'))} of fleet time,")
        say(f"{fmt(f.get('wall_seconds'), 'wall_seconds')} s of wall time; {state}. What the events did:")
        say("")
        for note in f.get("notes") or ["(no events)"]:
            say(f"- {note}")
        say("")
        if os.path.exists(os.path.join(out, n + "-states.svg")):
            say(f"![{n}: the fleet's states over time]({n}-states.svg)")
            say("")
        if n == "mass-compromise" and os.path.exists(os.path.join(out, "mass-compromise-recovery.svg")):
            say("![mass-compromise: devices compromised and recovered over time](mass-compromise-recovery.svg)")
            say("")


header()
say("## The seed's questions and what was measured")
say("")
say("The seed contribution asks SA3 to delete Annex A.1 unless its doubts are")
say("answered. Each question below is put in our own words; the answers cite the")
say("figures of the runs in the table further down.")
say("")
q_site_visit()
q_many()
q_scaling()
q_wrong_software()
q_first_check()
table()
scenarios()
with open(os.path.join(out, "report.md"), "w") as md:
    md.write("\n".join(lines).rstrip("\n") + "\n")
PY
}

main() {
  require_tools
  devices_args >/dev/null  # fails early on a SCALE it does not understand
  # A fresh directory, so the report shows this run's scenarios and no others.
  rm -rf "$OUT"
  mkdir -p "$OUT/work"
  echo "report: SCALE=$SCALE, every scenario under scenarios/ into $OUT"

  local failed=0 file name
  for file in scenarios/*.toml; do
    run_scenario "$file" || failed=1
  done
  local clock
  for name in $HTTPS_SCENARIOS; do
    clock=fleet
    [[ "$name" == *:machine ]] && clock=machine
    run_scenario "scenarios/${name%:machine}.toml" https "$clock" || failed=1
  done
  plot_all || { echo "report: a plot failed (see gnuplot's message above)" >&2; failed=1; }
  rmdir "$OUT/work/https" "$OUT/work" 2>/dev/null || true

  describe_machine
  write_markdown
  echo "report: wrote $OUT/report.md"
  if [ $failed -ne 0 ]; then
    echo "report: FAILED: a scenario did not pass or a plot is missing (see above)" >&2
    exit 1
  fi
  echo "report: every scenario passed"
}

main "$@"
