"""A real client: JupyterLab's server from the venv, as `make lab` starts it, offers the `fmnist` kernel, and a
notebook opened there runs through that kernel (over the server's websocket, as Lab's browser tab talks to it)
after its parameters cell is edited the way a user would: not through papermill."""

import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from .conftest import ROOT, processes_with

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_ours = processes_with  # the processes a test started


class Server:
    """The REST API of a running Jupyter server, authenticated with its token."""

    def __init__(self, port: int, token: str):
        self.base, self.token = f"127.0.0.1:{port}", token

    def api(self, method: str, path: str, body=None, timeout: float = 60):
        request = urllib.request.Request(f"http://{self.base}{path}", method=method,
                                         data=None if body is None else json.dumps(body).encode(),
                                         headers={"Authorization": f"token {self.token}",
                                                  "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            text = response.read()
        return json.loads(text) if text else None

    def wait_ready(self, proc, timeout: float, log: Path) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline and proc.poll() is None:
            try:
                self.api("GET", "/api/status", timeout=5)
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.5)
        raise AssertionError(f"the server did not answer in {timeout:.0f} s (exit status {proc.poll()}):\n"
                             + log.read_text()[-3000:])


class KernelChannel:
    """Jupyter's messaging protocol over the kernel's websocket (the JSON form, no subprotocol)."""

    def __init__(self, server: Server, kernel_id: str):
        import websocket  # websocket-client, a dependency of jupyter_server

        self.session = uuid.uuid4().hex
        self.ws = websocket.create_connection(
            f"ws://{server.base}/api/kernels/{kernel_id}/channels?session_id={self.session}&token={server.token}",
            timeout=300)

    def execute(self, code: str) -> tuple[list[dict], dict]:
        """Run `code` as a cell: (its iopub outputs, the shell's execute_reply content)."""
        msg_id = uuid.uuid4().hex
        self.ws.send(json.dumps({
            "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "test", "session": self.session,
                       "date": "", "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True}}))
        outputs, reply, idle = [], None, False
        while reply is None or not idle:
            msg = json.loads(self.ws.recv())
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = msg["header"]["msg_type"]
            if msg["channel"] == "shell" and kind == "execute_reply":
                reply = msg["content"]
            elif kind == "status":
                idle = msg["content"]["execution_state"] == "idle"
            elif kind in ("stream", "display_data", "execute_result", "error"):
                outputs.append({"output_type": kind, **msg["content"]})
        return outputs, reply

    def close(self) -> None:
        self.ws.close()


def lab_command(bin_dir: Path, extra: list[str]) -> list[str]:
    """The command `make lab` runs in the environment `bin_dir` belongs to, with `extra` as LAB_ARGS."""
    out = subprocess.run(["make", "-n", "--no-print-directory", "lab", f"VENV={bin_dir.parent}",
                          f"LAB_ARGS={shlex.join(extra)}"], cwd=ROOT, capture_output=True, text=True, check=True)
    return shlex.split(next(line for line in out.stdout.splitlines() if "/jupyter lab " in line))


def test_lab_offers_the_fmnist_kernel_and_runs_a_notebook_edited_as_a_user_would(tmp_path):
    port, token, marker = _free_port(), secrets.token_hex(16), f"client-test-{uuid.uuid4().hex}"
    # kernels talk over IPC sockets there (make lab's LAB_OPTS): a socket's path holds at most 107 characters
    runtime = Path(tempfile.mkdtemp(prefix="jrt-"))
    env = {**os.environ, "FMNIST_RUNS": str(tmp_path / "runs"), "FMNIST_REPORTS": str(tmp_path / "reports"),
           "FMNIST_STORE": str(tmp_path / "no-store"),  # no published runs: the kernel trains the smoke run
           "FMNIST_WORKERS": "1", "JUPYTER_RUNTIME_DIR": str(runtime), "FMNIST_TEST_MARKER": marker}
    bin_dir = Path(sys.executable).parent  # the environment the tests run in (make test: $(VENV))
    command = lab_command(bin_dir, ["--no-browser", f"--port={port}", "--ServerApp.port_retries=0",
                                    "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}"])
    log = open(tmp_path / "server.log", "w")
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    log.close()  # the server holds its own copy
    server, channel, kernel_id = Server(port, token), None, None
    try:
        server.wait_ready(proc, timeout=120, log=tmp_path / "server.log")
        specs = server.api("GET", "/api/kernelspecs")["kernelspecs"]
        assert specs["fmnist"]["spec"]["display_name"] == "Python (fmnist)", sorted(specs)
        assert Path(specs["fmnist"]["spec"]["argv"][0]).parent == bin_dir, specs["fmnist"]["spec"]["argv"]

        # open the notebook as Lab does (contents API, then a session with the notebook's kernel), edit its
        # parameters cell in the "editor", and run every code cell in order
        nb = server.api("GET", "/api/contents/notebooks/autoencoder.ipynb?type=notebook&content=1")["content"]
        assert nb["metadata"]["kernelspec"]["name"] == "fmnist"
        cells = [c for c in nb["cells"] if c["cell_type"] == "code"]
        params = next(c for c in cells if "parameters" in c["metadata"].get("tags", []))
        lines = params["source"].splitlines()
        edited = [i for i, line in enumerate(lines) if line.startswith("profile = None")]
        assert len(edited) == 1, params["source"]
        lines[edited[0]] = 'profile = "smoke"'
        params["source"] = "\n".join(lines)
        session = server.api("POST", "/api/sessions", {"path": "notebooks/autoencoder.ipynb",
                                                        "name": "autoencoder.ipynb",
                                                        "type": "notebook", "kernel": {"name": "fmnist"}})
        kernel_id = session["kernel"]["id"]
        assert session["kernel"]["name"] == "fmnist"
        channel = KernelChannel(server, kernel_id)

        outputs = []
        for cell in cells:
            out, reply = channel.execute(cell["source"])
            errors = [o for o in out if o["output_type"] == "error"]
            assert reply["status"] == "ok" and not errors, \
                (cell["source"][:200], reply.get("ename"), reply.get("evalue"), "\n".join(reply.get("traceback", [])))
            outputs += out
        # the kernel is the venv's, the run was trained on the smoke profile into the test's cache
        where, _ = channel.execute("import sys, os; print(sys.prefix, os.getcwd(), profile, cfgs[0].train_size)")
        prefix, cwd, profile, train_size = "".join(o.get("text", "") for o in where).split()
        assert os.path.realpath(prefix) == os.path.realpath(sys.prefix) and cwd == str(ROOT / "notebooks")
        assert profile == "smoke" and int(train_size) == 1000
        assert [p.name for p in (tmp_path / "runs").iterdir() if not p.name.startswith(".")]

        # Lab's file browser reaches the rendered reports too; no kernel warned of TCP without encryption
        assert server.api("GET", "/api/contents/reports?content=1")["type"] == "directory"
        assert "without encryption" not in (tmp_path / "server.log").read_text()

        figures = [o for o in outputs if o["output_type"] in ("display_data", "execute_result")
                   and "image/png" in o["data"]]
        assert len(figures) >= 2, [sorted(o.get("data", {})) for o in outputs]  # loss curves, reconstructions
        markdown = " ".join(o["data"].get("text/markdown", "") for o in outputs if "data" in o)
        assert "After 1 epochs" in markdown and "the validation MSE is" in markdown, markdown[:2000]
    finally:
        if channel is not None:
            channel.close()
        if kernel_id is not None and proc.poll() is None:
            try:
                server.api("DELETE", f"/api/kernels/{kernel_id}", timeout=30)
            except (urllib.error.URLError, OSError):
                pass
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
        shutil.rmtree(runtime, ignore_errors=True)
        for pid in _ours(marker):  # a kernel the server left behind (kernels run in their own session)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
