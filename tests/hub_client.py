"""Client processes for the loopback Hub: each runs with its own empty Hugging Face cache, pointed at the server."""

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from hub_server import LoopbackHub

FAKE_TOKEN = "hf_testLoopbackTokenNeverWritten0123"


def hub_environment(hub: LoopbackHub, home: Path, token: str | None = FAKE_TOKEN) -> dict[str, str]:
    """This process's environment without its Hugging Face settings (offline mode, caches), pointed at `hub`."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(("HF_", "TRANSFORMERS_"))}
    env.update(HF_ENDPOINT=hub.url, HF_HUB_DISABLE_XET="1", HF_HUB_OFFLINE="0", HF_HOME=str(home),
               HF_HUB_DISABLE_TELEMETRY="1", TOKENIZERS_PARALLELISM="false")
    if token is not None:
        env["HF_TOKEN"] = token
    return env


@dataclass
class HubClient:
    """Runs client scripts and commands in fresh processes pointed at `hub`, each with an empty cache."""

    hub: LoopbackHub
    workdir: Path
    homes: list[Path] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)

    def run_command(self, command: list[str], token: str | None = FAKE_TOKEN) -> str:
        """Runs `command`, keeps and returns its output; fails the test with its stderr if it fails."""
        home = self.workdir / f"hf-home-{len(self.homes)}"
        self.homes.append(home)
        result = subprocess.run(command, env=hub_environment(self.hub, home, token), cwd=self.workdir,
                                capture_output=True, text=True, check=False)
        self.outputs.append(result.stdout + result.stderr)
        assert result.returncode == 0, result.stderr[-4000:]
        return result.stdout

    def run(self, script: str, *args: str, token: str | None = FAKE_TOKEN) -> str:
        """Runs a Python `script` (`sys.argv[1:]` = `args`). `token` None: no token in the environment."""
        return self.run_command([sys.executable, "-c", textwrap.dedent(script), *map(str, args)], token=token)
