"""Each sandbox property proved against the real bubblewrap: labels and the database unreadable, no
network, no secrets, only the workspace writable, runaway loops, CPU and memory hogs killed with their
whole process tree, label-bearing packages masked, and the unsafe fallback refused unless asked for."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest

from aar.errors import AarError
from aar.sandbox import Sandbox, SandboxPolicy

PY = sys.executable


@pytest.fixture()
def box() -> Sandbox:
    return Sandbox()


def _py(box: Sandbox, policy: SandboxPolicy, code: str):
    return box.run(policy, [PY, "-c", code])


def test_labels_and_database_are_invisible_public_data_readable(box: Sandbox, tmp_path: Path) -> None:
    home = tmp_path / "aar-home"
    (home / "data" / "chat" / "public").mkdir(parents=True)
    (home / "data" / "chat" / "test.jsonl").write_text('{"id": "a", "label": 1}\n')
    (home / "data" / "chat" / "public" / "test.jsonl").write_text('{"id": "a"}\n')
    (home / "aar.db").write_bytes(b"SQLite format 3\0")
    policy = SandboxPolicy(workspace=tmp_path / "ws", read_only={home / "data" / "chat" / "public": "/data/chat"})
    r = _py(box, policy, f"""
import os
for p in [{str(home / 'data/chat/test.jsonl')!r}, {str(home / 'aar.db')!r}]:
    try:
        open(p).read(); print('READ', p)
    except OSError as e:
        print('denied', type(e).__name__)
print(open('/data/chat/test.jsonl').read().strip())
print('AAR_HOME' in os.environ)
""")
    assert r.ok, r.output
    assert "READ" not in r.output and r.output.count("denied FileNotFoundError") == 2
    assert '{"id": "a"}' in r.output and r.output.strip().endswith("False")


def test_network_is_unreachable(box: Sandbox, tmp_path: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    accepted = []
    threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True).start()
    r = _py(box, SandboxPolicy(workspace=tmp_path / "ws"), f"""
import socket
for target in [('127.0.0.1', {port}), ('8.8.8.8', 53)]:
    try:
        socket.create_connection(target, timeout=3); print('CONNECTED', target)
    except OSError as e:
        print('blocked', target)
try:
    socket.getaddrinfo('pypi.org', 443); print('RESOLVED')
except OSError:
    print('no dns')
""")
    listener.close()
    assert "CONNECTED" not in r.output and "RESOLVED" not in r.output and r.output.count("blocked") == 2
    assert accepted == []


def test_secrets_never_enter(box: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-secret")
    monkeypatch.setenv("AAR_ADMIN_TOKEN", "admin-secret")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-secret")
    r = box.run(SandboxPolicy(workspace=tmp_path / "ws", env={"AAR_TASK": "chat"}), ["/usr/bin/env"])
    assert r.ok and "-secret" not in r.output and "AAR_TASK=chat" in r.output
    with pytest.raises(ValueError, match="looks like a secret"):
        SandboxPolicy(workspace=tmp_path, env={"AAR_AGENT_TOKEN": "x"}).environment()


def test_only_the_workspace_is_writable_and_tmp_is_fresh(box: Sandbox, tmp_path: Path) -> None:
    marker = Path("/tmp") / f"host-only-{uuid.uuid4().hex}"
    marker.write_text("host")
    ws = tmp_path / "ws"
    r = _py(box, SandboxPolicy(workspace=ws), f"""
import os
open('notes.txt', 'w').write('kept')
for p in ['/usr/evil', {str(Path(sys.prefix) / 'evil')!r}, '/etc/evil']:
    try:
        open(p, 'w'); print('WROTE', p)
    except OSError:
        print('read-only')
print(os.path.exists({str(marker)!r}))
open('/tmp/scratch', 'w').write('gone afterwards')
""")
    marker.unlink()
    assert r.ok, r.output
    assert "WROTE" not in r.output and r.output.count("read-only") == 3 and "False" in r.output
    assert (ws / "notes.txt").read_text() == "kept"


def test_runaway_processes_are_killed_with_their_children(box: Sandbox, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex
    policy = SandboxPolicy(workspace=tmp_path / "ws", wall_s=3)
    r = box.run(policy, ["/bin/sh", "-c", f"sleep 300 {tag} & while true; do :; done"])
    assert r.timed_out and not r.ok and r.wall_s < 15
    leftover = subprocess.run(["pgrep", "-f", tag], capture_output=True, text=True)
    assert leftover.stdout.strip() == ""


def test_cpu_and_memory_hogs_are_stopped(box: Sandbox, tmp_path: Path) -> None:
    cpu = _py(box, SandboxPolicy(workspace=tmp_path / "ws", wall_s=60, cpu_s=1), "while True: pass")
    assert not cpu.timed_out and cpu.returncode != 0 and cpu.wall_s < 30
    mem = _py(box, SandboxPolicy(workspace=tmp_path / "ws", memory_bytes=512 * 1024**2),
              "x = bytearray(2 * 1024**3); print('ALLOCATED')")
    assert mem.returncode != 0 and "ALLOCATED" not in mem.output and "MemoryError" in mem.output


def test_output_is_truncated_with_a_note(box: Sandbox, tmp_path: Path) -> None:
    r = _py(box, SandboxPolicy(workspace=tmp_path / "ws", output_bytes=1000), "print('x' * 100_000)")
    assert r.ok and len(r.output) < 1200 and "bytes of output omitted" in r.output


def test_label_bearing_packages_are_masked_and_the_library_works(box: Sandbox, tmp_path: Path) -> None:
    r = _py(box, SandboxPolicy(workspace=tmp_path / "ws"), """
import importlib.util, os
import aar.execution.child, numpy, torch
import aar.tasks
for name in ('scattertext', 'aar.tasks.builders'):
    spec = importlib.util.find_spec(name)
    print(name, 'empty' if spec is None or not spec.submodule_search_locations
          or not os.listdir(list(spec.submodule_search_locations)[0]) else 'VISIBLE')
vendored = os.path.join(os.path.dirname(aar.tasks.__file__), 'vendored')
print('vendored', 'empty' if not os.listdir(vendored) else 'VISIBLE')
try:
    import aar.tasks.builders.chat
    print('builder IMPORTED')
except ImportError:
    print('builder refused')
""")
    assert r.ok, r.output
    assert "VISIBLE" not in r.output and r.output.count("empty") == 3 and "builder refused" in r.output


def test_fallback_is_refused_unless_unsafe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("aar.sandbox.runner.shutil.which", lambda _name: None)
    with pytest.raises(AarError, match="--allow-unsandboxed"):
        Sandbox()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-secret")
    r = Sandbox(unsafe=True).run(SandboxPolicy(workspace=tmp_path / "ws"), ["/usr/bin/env"])
    assert r.ok and not r.sandboxed and "-secret" not in r.output  # still no secrets, but no isolation



def test_code_runs_unprivileged_without_shadow_or_host_etc(box: Sandbox, tmp_path: Path) -> None:
    r = box.run(SandboxPolicy(workspace=tmp_path / "ws"), ["/bin/sh", "-c", "id -u; cat /etc/shadow; ls /etc; "
                                                           "grep CapEff /proc/self/status"])
    uid, *rest = r.output.splitlines()
    assert int(uid) != 0, r.output
    assert "No such file" in r.output and "root:" not in r.output  # /etc/shadow is not there at all
    assert "CapEff:\t0000000000000000" in r.output
    assert "ssh" not in rest and "sudoers" not in r.output  # /etc is bound entry by entry, not whole


def test_process_count_and_tmp_size_are_capped(box: Sandbox, tmp_path: Path) -> None:
    forks = box.run(SandboxPolicy(workspace=tmp_path / "ws", max_processes=64), [PY, "-c", """
import os, time
started = 0
for _ in range(300):
    try:
        if os.fork() == 0:
            time.sleep(5); os._exit(0)
        started += 1
    except OSError:
        break
print('STARTED', started)
"""])
    started = int(forks.output.split("STARTED")[1].split()[0])
    assert 0 < started < 64, forks.output
    big = box.run(SandboxPolicy(workspace=tmp_path / "ws", tmp_bytes=64 * 1024**2), [PY, "-c", """
written = 0
try:
    with open('/tmp/big', 'wb') as f:
        for _ in range(1024):
            f.write(b'x' * 1024**2); f.flush(); written += 1
except OSError as exc:
    print('STOPPED', type(exc).__name__)
print('MIB', written)
"""])
    assert "STOPPED" in big.output and int(big.output.split("MIB")[1].split()[0]) <= 64, big.output


def test_a_gpu_job_gets_its_device_nodes_and_no_address_space_cap(box: Sandbox, tmp_path: Path) -> None:
    """CUDA opens /dev/nvidia* and reserves tens of GiB of address space at start. The sandbox's /dev is
    minimal and RLIMIT_AS 8 GiB by default; a GPU policy binds the named nodes and lifts that one limit.
    /dev/loop-control (absent from a minimal /dev) stands in for a GPU node: it is there only when named,
    and a 12 GiB reservation (MAP_NORESERVE: no memory is used) succeeds only without the cap."""
    node = "/dev/loop-control"
    assert Path(node).exists()
    probe = ("import mmap, os, resource; print('AS', resource.getrlimit(resource.RLIMIT_AS)[0]); "
             f"print('NODE', os.path.exists({node!r})); "
             "m = mmap.mmap(-1, 12 * 1024**3, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | 0x4000); "
             "print('RESERVED')")
    gpu = _py(box, SandboxPolicy(workspace=tmp_path / "ws", devices=(node,), memory_bytes=None), probe)
    assert gpu.returncode == 0 and "RESERVED" in gpu.output and "AS -1" in gpu.output, gpu.output
    assert "NODE True" in gpu.output
    plain = _py(box, SandboxPolicy(workspace=tmp_path / "ws"), probe)
    assert plain.returncode != 0 and "RESERVED" not in plain.output and f"AS {8 * 1024**3}" in plain.output
    assert "NODE False" in plain.output
