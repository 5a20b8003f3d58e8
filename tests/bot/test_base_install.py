"""The Docker runtime image's equivalent: a fresh virtual environment with the base install
only (no ``train`` extra) serves an exported bundle."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bot.models.store import activate
from tests.bot.service import demo_settings
from tests.bot.test_server_process import free_port
from tests.bot.toy_bundle import build_toy_bundle

ROOT = Path(__file__).resolve().parents[2]


def test_base_install_serves_a_bundle_without_torch(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    source = tmp_path / "source"  # a clean copy, as the image's COPY lines take it
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".venv", ".git", "data", "artifacts",
                                                                  ".ci-artifacts", "__pycache__", "*.egg-info"))
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", str(source)], check=True, timeout=900)
    probe = subprocess.run([str(python), "-c", "import torch"], capture_output=True)
    assert probe.returncode != 0, "the base install must not bring torch"

    settings = demo_settings(tmp_path)
    build_toy_bundle(settings.bundles_dir, "v1")
    activate(settings.bundles_dir, "v1")
    port = free_port()
    env = {**os.environ, "SUPPORTBOT_DATA_DIR": str(settings.data_dir), "SUPPORTBOT_PORT": str(port)}
    server = subprocess.Popen([str(venv / "bin" / "supportbot"), "serve"], cwd=tmp_path, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        body = json.dumps({"session_id": "image-check-1", "text": "hello"}).encode()
        for _ in range(200):
            try:
                request = urllib.request.Request(f"http://127.0.0.1:{port}/api/chat", data=body,
                                                 headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(request, timeout=5) as response:
                    reply = json.loads(response.read())
                break
            except OSError:
                assert server.poll() is None, "the server exited"
                time.sleep(0.3)
        else:
            raise AssertionError("the server never answered")
        assert reply["bundle_version"] == "v1" and reply["turn_id"] == 1
    finally:
        server.terminate()
        server.wait(timeout=60)
