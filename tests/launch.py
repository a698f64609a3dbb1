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
