"""A throwaway single-node Slurm cluster on this machine: munged, slurmctld and slurmd with their own key, config,
ports and folders under one directory, stopped by the PIDs started. The tests' fixture starts one; by hand, as root:
`.venv/bin/python -m tests.slurm.cluster` starts one and prints the `export SLURM_CONF=...` line that points sbatch,
squeue and `make runs EXECUTOR=slurm` at it, until Ctrl-C.

Debian's packages: `apt-get install slurm-wlm munge`. No accounting (sacct answers "Slurm accounting storage is
disabled"): squeue and scontrol show the jobs, for an hour after they end (MinJobAge).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NODE, PARTITION = "fmnist-node", "fmnist"
COMMANDS = ("munged", "slurmctld", "slurmd", "sbatch", "srun", "squeue", "scontrol", "scancel", "sinfo")
SBIN_PATH = f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin"  # the daemons live in sbin, off some users' PATH
MARKER = "FMNIST_SLURM_CLUSTER"  # in the environment of every process the cluster starts, and of its jobs'


class ClusterError(RuntimeError):
    """The cluster did not start; the message ends with the daemons' last log lines."""


def why_not() -> str | None:
    """Why no cluster can start here (one line), or None."""
    if os.geteuid() != 0:
        return "not root (slurmd runs the tasks as their owner, and needs root to)"
    missing = [c for c in COMMANDS if shutil.which(c, path=SBIN_PATH) is None]
    if missing:
        return f"no {', '.join(missing)} on PATH (Debian: apt-get install slurm-wlm munge)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def node_line() -> str:
    """This machine as slurmd sees it (`slurmd -C`: CPUs, sockets, cores, threads, memory), named NODE."""
    out = subprocess.run([shutil.which("slurmd", path=SBIN_PATH), "-C"], capture_output=True, text=True,
                         timeout=60).stdout
    line = next(l for l in out.splitlines() if l.startswith("NodeName="))
    return re.sub(r"^NodeName=\S+", f"NodeName={NODE} NodeHostname={socket.gethostname()} NodeAddr=127.0.0.1", line)


def slurm_conf(root: Path, munge_socket: Path) -> str:
    host = socket.gethostname()
    return f"""\
ClusterName=fmnisttest
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire is also how long a requeued job waits before it may start again (default 120 s)
AuthInfo=socket={munge_socket},cred_expire=10
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
# proctrack/pgid, not linuxproc: with use_srun false the task is a child of the batch shell, which dies at its
# SIGTERM; linuxproc then loses the orphaned task, which outlives the kill (a site's proctrack/cgroup does not)
ProctrackType=proctrack/pgid
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SwitchType=switch/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
# SIGTERM to SIGKILL (default 30 s); submitit ignores SIGTERM, so a task killed or requeued trains on until then
KillWait=2
SchedulerParameters=sched_interval=2,bf_interval=5
# finished jobs stay in squeue for an hour (default 5 minutes), so that a test reads every task's start and end
MinJobAge=3600
{node_line()} State=UNKNOWN
PartitionName={PARTITION} Nodes={NODE} Default=YES MaxTime=INFINITE State=UP
"""


class Cluster:
    """munged, slurmctld and slurmd under `root`; `env` points Slurm's commands at them."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.conf = self.root / "slurm.conf"
        self.env = {"SLURM_CONF": str(self.conf), MARKER: str(self.root), "PATH": SBIN_PATH}
        self.daemons: dict[str, subprocess.Popen] = {}

    def run(self, *command: str, check: bool = True, timeout: float = 60) -> str:
        """A Slurm command against this cluster; its stdout."""
        result = subprocess.run(command, env={**os.environ, **self.env}, capture_output=True, text=True,
                                timeout=timeout)
        if check and result.returncode:
            raise ClusterError(f"{' '.join(command)} failed: {result.stderr.strip()}")
        return result.stdout

    def _start(self, name: str, *command: str) -> None:
        log = open(self.root / "log" / f"{name}.out", "wb")
        self.daemons[name] = subprocess.Popen([shutil.which(command[0], path=SBIN_PATH), *command[1:]],
                                              env={**os.environ, **self.env}, stdout=log, stderr=subprocess.STDOUT,
                                              stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()

    def _wait(self, what: str, ready, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            dead = [n for n, p in self.daemons.items() if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                raise ClusterError(f"{what}: {'; '.join(f'{n} exited' for n in dead) or f'not after {timeout} s'}"
                                   f"\n{self.logs()}")
            time.sleep(0.2)

    def start(self) -> "Cluster":
        """Start the three daemons and wait until the node is idle; ClusterError (and nothing left) if it is not."""
        for sub in ("state", "spool", "log", "munge"):
            (self.root / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
        key, sock = self.root / "munge" / "munge.key", self.root / "munge" / "socket"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o600)
        self.conf.write_text(slurm_conf(self.root, sock))
        try:
            self._start("munged", "munged", "--foreground", "--force", f"--socket={sock}", f"--key-file={key}",
                        f"--log-file={self.root}/log/munged.log", f"--pid-file={self.root}/munge/munged.pid",
                        f"--seed-file={self.root}/munge/seed")
            self._wait("munged", sock.exists)
            self._start("slurmctld", "slurmctld", "-D", "-i")
            self._start("slurmd", "slurmd", "-D", "-N", NODE)
            self._wait("the node", lambda: self.run("sinfo", "-h", "-n", NODE, "-o", "%t", check=False).strip()
                       == "idle")
        except BaseException:
            self.stop()
            raise
        return self

    def clear(self, timeout: float = 60) -> None:
        """Cancel every job and wait until none is running or completing."""
        self.run("scancel", "--me", check=False)
        deadline = time.monotonic() + timeout
        while self.run("squeue", "-h", check=False).strip() and time.monotonic() < deadline:  # unfinished jobs
            time.sleep(0.5)

    def stop(self) -> None:
        """Cancel the jobs, stop the daemons started, then anything still carrying the cluster's marker (a task)."""
        if "slurmd" in self.daemons and self.daemons["slurmd"].poll() is None:
            self.clear(timeout=30)
        for name in ("slurmd", "slurmctld", "munged"):
            proc = self.daemons.pop(name, None)
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        for pid in processes_with(f"{MARKER}={self.root}"):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass

    def logs(self, lines: int = 15) -> str:
        """The last lines of each daemon's logs."""
        out = []
        for path in sorted((self.root / "log").glob("*")):
            tail = path.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {path.name}\n" + "\n".join(tail))
        return "\n".join(out)


def processes_with(entry: str) -> list[int]:
    """Processes whose environment holds `entry` (NAME=value), this one aside."""
    pids, needle = [], entry.encode() + b"\0"
    for proc in os.listdir("/proc"):
        try:
            if proc.isdigit() and int(proc) != os.getpid() and needle in open(f"/proc/{proc}/environ", "rb").read():
                pids.append(int(proc))
        except OSError:
            pass
    return pids


def main() -> int:
    reason = why_not()
    if reason:
        print(f"error: no Slurm cluster here: {reason}", file=sys.stderr)
        return 2
    cluster = Cluster(Path(tempfile.mkdtemp(prefix="fmnist-slurm-")))
    try:
        cluster.start()
    except ClusterError as exc:
        print(f"error: the cluster did not start: {exc}", file=sys.stderr)
        return 1
    print(f"a one-node Slurm cluster runs (node {NODE}, partition {PARTITION}); in another shell:\n"
          f"  export SLURM_CONF={cluster.conf}\n"
          f"then sbatch, squeue, scontrol and make runs EXECUTOR=slurm use it; Ctrl-C here stops it", flush=True)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also where started in the background
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()
        shutil.rmtree(cluster.root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
