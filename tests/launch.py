"""Running launchers (`trl sft`, `accelerate launch`) whose workers live in sessions of their own."""

import subprocess

import psutil
import yaml

from tests_paths import REPO_ROOT

QUICKSTART_RECIPES = REPO_ROOT / "recipes" / "quickstart"


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


def trl_sft(recipe: str, tmp_path, launch_args=(), timeout: float = 600, recipes=QUICKSTART_RECIPES,
            **overrides) -> subprocess.CompletedProcess:
    """Runs `trl sft --config <recipe (a quickstart one by default) with overrides> <launch_args>` and returns the
    finished process."""
    config = yaml.safe_load((recipes / recipe).read_text())
    config.update({"per_device_train_batch_size": 4, "logging_steps": 1, **overrides})
    config_path = tmp_path / f"{recipe}.{len(list(tmp_path.glob('*.yaml')))}.yaml"
    config_path.write_text(yaml.safe_dump({key: str(v) if hasattr(v, "__fspath__") else v for key, v in config.items()}))
    result = run_in_own_session(["trl", "sft", "--config", str(config_path), *launch_args], timeout,
                                marker=str(config_path))
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def two_process_trl_sft(recipe: str, tmp_path, launch_args, timeout: float = 300, **options) -> subprocess.CompletedProcess:
    """`trl sft` on two gloo processes, a second attempt after a hang at exit.

    torch 2.13's gloo can deadlock as a worker exits, after training and saving (about 1 run in 10 on a loaded
    2-core machine; py-spy: the DDP Reducer's destructor holds the GIL while it joins a gloo thread that waits for
    the GIL to free the tensor of a finished all-gather). The run's own work is what the tests are about.
    """
    try:
        return trl_sft(recipe, tmp_path, launch_args, timeout=timeout, **options)
    except subprocess.TimeoutExpired:
        return trl_sft(recipe, tmp_path, launch_args, timeout=timeout, **options)
