"""Running launchers (`trl sft`, `accelerate launch`) whose workers live in sessions of their own."""

import subprocess

import psutil


def run_in_own_session(command: list[str], timeout: float, marker: str) -> subprocess.CompletedProcess:
    """Runs a command; on timeout kills every process whose command line holds `marker` (a path unique to this
    run): torch's launcher starts its workers in sessions of their own, so killing its process group misses them,
    and a worker left alive would hold the output pipes open forever."""
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          start_new_session=True) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            for running in psutil.process_iter(["cmdline"]):
                if marker in " ".join(running.info["cmdline"] or []):
                    running.kill()
            process.communicate(timeout=60)
            raise
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
