#!/usr/bin/env bash
# A real single-node Slurm for the launcher tests: munged, slurmctld and
# slurmd as plain background daemons, every file under one directory, the
# configuration in $DIR/slurm.conf (export SLURM_CONF to use it; the
# machine's /etc/slurm is not touched).
#
#   scripts/slurm.sh start   # prints SLURM_CONF=...; waits until the node is idle
#   scripts/slurm.sh stop    # stops the daemons this script started
#   scripts/slurm.sh status
#
# DIR is $PYHOST_SLURM_DIR, else /tmp/pyhost-slurm. Needs root (slurmd runs
# jobs as their users) and the packages scripts/install-deps.sh installs
# (slurmctld, slurmd, slurm-client, munge).
set -euo pipefail
DIR="${PYHOST_SLURM_DIR:-/tmp/pyhost-slurm}"
CONF="$DIR/slurm.conf"
export SLURM_CONF="$CONF"

die() { echo "slurm.sh: $*" >&2; exit 1; }

running() { [ -s "$DIR/$1.pid" ] && kill -0 "$(cat "$DIR/$1.pid")" 2>/dev/null; }

stop() {
	for d in slurmd slurmctld munged; do
		if running "$d"; then
			kill "$(cat "$DIR/$d.pid")" 2>/dev/null || true
			for _ in $(seq 50); do running "$d" || break; sleep 0.1; done
		fi
		rm -f "$DIR/$d.pid"
	done
}

start() {
	[ "$(id -u)" -eq 0 ] || die "needs root (slurmd starts job steps as their users)"
	for b in munged mungekey slurmctld slurmd srun sinfo; do
		command -v "$b" >/dev/null || [ -x "/usr/sbin/$b" ] || die "$b not found: run scripts/install-deps.sh"
	done
	export PATH="$PATH:/usr/sbin"
	if running slurmctld && running slurmd && running munged; then
		echo "SLURM_CONF=$CONF"
		return
	fi
	stop
	mkdir -p "$DIR"/{state,spool,munge,log}
	chmod 755 "$DIR" "$DIR/munge"
	[ -s "$DIR/munge/munge.key" ] || mungekey --create --keyfile="$DIR/munge/munge.key" >/dev/null
	chown root:root "$DIR/munge/munge.key"
	chmod 400 "$DIR/munge/munge.key"
	local sock="$DIR/munge/munge.socket"
	munged --socket="$sock" --key-file="$DIR/munge/munge.key" \
		--pid-file="$DIR/munged.pid" --log-file="$DIR/log/munged.log" \
		--seed-file="$DIR/munge/munge.seed" --force
	cat >"$CONF" <<EOF
ClusterName=pyhost
SlurmctldHost=localhost
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket=$sock
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
SchedulerType=sched/builtin
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
NodeName=$(hostname -s) NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
EOF
	slurmctld -f "$CONF"
	slurmd -f "$CONF"
	for _ in $(seq 100); do
		if sinfo -h -o %t 2>/dev/null | grep -qx idle; then
			echo "SLURM_CONF=$CONF"
			return
		fi
		sleep 0.2
	done
	tail -5 "$DIR/log/slurmctld.log" "$DIR/log/slurmd.log" >&2 || true
	die "the node did not become idle in 20 s (logs above)"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) running slurmctld && running slurmd && running munged && sinfo -h ;;
*) die "usage: $0 start|stop|status" ;;
esac
