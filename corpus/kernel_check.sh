#!/bin/sh
# Load every corpus object into the running kernel and record what the real verifier says.
#
# Needs root, bpftool (apt-get install bpftool) and a kernel that loads BPF programs. Not part
# of `make test`. Each object is loaded twice:
#   privileged  - as root with all capabilities (the kernel allows pointer leaks and reads of
#                 uninitialised stack to CAP_PERFMON holders);
#   unprivileged - with CAP_SYS_ADMIN and CAP_PERFMON dropped (CAP_BPF + CAP_NET_ADMIN left),
#                 the strict policy; only for network program types (tracing needs CAP_PERFMON).
# Objects with legacy `maps` sections go through legacy_load.py (libbpf v1 refuses them).
#
# Output: kernel_results.tsv (object, mode, result, first verifier complaint), then a summary
# comparing with manifest.yaml. `python3 gen_manifest.py` folds the results into the manifest.
set -u
cd "$(dirname "$0")"
PY=${PY:-../.venv/bin/python}
[ -x "$PY" ] || PY=python3
READELF=${READELF:-$(command -v readelf || echo llvm-readelf-19)}
BPFTOOL=${BPFTOOL:-$(command -v bpftool || echo /usr/sbin/bpftool)}
PIN=/sys/fs/bpf/bpfcheck_corpus_$$
OUT=kernel_results.tsv
LOG=$(mktemp -d)
trap 'rm -rf "$LOG" "$PIN"' EXIT

if [ "$(id -u)" != 0 ]; then echo "kernel_check: must run as root" >&2; exit 2; fi
if [ ! -x "$BPFTOOL" ]; then echo "kernel_check: bpftool not found (apt-get install bpftool)" >&2; exit 2; fi
mount | grep -q ' /sys/fs/bpf type bpf' || mount -t bpf bpf /sys/fs/bpf || exit 2

# first_error LOGFILE: the verifier's complaint (the line before "processed N insns"), or the
# loader's last message when the verifier never ran.
first_error() {
	msg=$(grep -B1 '^processed [0-9]* insns' "$1" | head -1)
	[ -n "$msg" ] || msg=$(grep -v -e '^Warning' -e '^If it used' -e '^libbpf: failed to load' -e '^$' "$1" | tail -1)
	printf '%s' "$msg" | tr '\t' ' '
}

# load MODE OBJECT LOGFILE: exit 0 when every program loaded, 1 when refused, 3 not loadable.
load() {
	mode=$1 obj=$2 log=$3
	if "$READELF" -S -W "$obj" | grep -q ' maps '; then
		cmd="$PY legacy_load.py $obj"
	else
		cmd="$BPFTOOL prog loadall $obj $PIN"
	fi
	rm -rf "$PIN"
	if [ "$mode" = unprivileged ]; then
		capsh --drop=cap_sys_admin,cap_perfmon -- -c "$cmd" >"$log" 2>&1
	else
		sh -c "$cmd" >"$log" 2>&1
	fi
	rc=$?
	rm -rf "$PIN"
	if [ $rc = 0 ]; then return 0; fi
	if [ $rc = 3 ] || grep -q -e 'failed to open object' -e 'not loadable' "$log"; then return 3; fi
	grep -q -e 'processed [0-9]* insns' -e 'BPF program is too large' "$log" && return 1
	return 3
}

printf 'object\tmode\tresult\tmessage\n' >"$OUT"
for obj in build/*.o; do
	name=$(basename "$obj" .o)
	modes=privileged
	"$READELF" -S -W "$obj" | grep -q -e ' kprobe/' -e ' kretprobe/' -e ' tracepoint/' || modes="privileged unprivileged"
	for mode in $modes; do
		log="$LOG/$name.$mode"
		load "$mode" "$obj" "$log"
		case $? in
			0) result=accept msg="" ;;
			1) result=reject msg=$(first_error "$log") ;;
			*) result=not-loadable msg=$(first_error "$log") ;;
		esac
		printf '%s\t%s\t%s\t%s\n' "$obj" "$mode" "$result" "$msg" >>"$OUT"
		printf '%-40s %-12s %-12s %s\n' "$name" "$mode" "$result" "$msg"
	done
done

# Compare with the manifest's expected verdicts.
"$PY" - "$OUT" <<'EOF'
import csv, sys, yaml
res = {}
with open(sys.argv[1]) as fh:
    for row in csv.DictReader(fh, delimiter="\t"):
        res[(row["object"], row["mode"])] = row["result"]
progs = [p for p in yaml.safe_load(open("manifest.yaml"))["programs"] if p["platform"] == "linux"]
objs = {}
for p in progs:
    objs.setdefault(p["object"], set()).add(p["verdict"])
agree = disagree = 0
for obj, verdicts in sorted(objs.items()):
    want = "reject" if "reject" in verdicts else "accept"
    got = [res.get((obj, m)) for m in ("privileged", "unprivileged")]
    ok = want in got if want == "reject" else got[0] == "accept"
    agree += ok
    disagree += not ok
    if not ok:
        print(f"MISMATCH {obj}: expected {want}, kernel privileged={got[0]} unprivileged={got[1]}")
print(f"kernel_check: {agree} objects agree with the manifest, {disagree} disagree")
sys.exit(1 if disagree else 0)
EOF
