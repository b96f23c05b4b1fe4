"""Untrusted code must not steer trusted code: each attack class of the trust-boundary review, planted through
the tool layer an agent uses (and, where the server is involved, its real HTTP API on SQLite and PostgreSQL).

- links planted where a method writes (error, prediction and audit files) are never followed;
- a linked ``experiments/`` folder and dangling links cannot move the tools outside the workspace or end
  the agent loop;
- the audit record cannot be silenced, closed or forged quietly;
- the dev score channel gives an adaptive group-testing attacker (almost) nothing, and the attacker is
  flagged.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest
from tests.helpers.serverkit import DB_URLS, agent, campaign

from aar.researchers.client import AgentClient
from aar.researchers.experiments import ServerExperiments
from aar.researchers.tools import ToolContext, call_tool
from aar.sandbox import Sandbox
from aar.tasks import load_task

SECRET = "HOST-SECRET-7f3a"  # what a planted link points at; must never come back

LINKER = '''
import os
from aar.methods.base import Method

TARGETS = {TARGETS}


class Linker(Method):
    name = "linker"

    def train(self, ctx):
        for name in ("error.txt", "seed_0.npz", "seed_1.npz", "audit.jsonl", "dev_predictions.json",
                     "result.npz"):
            for folder in (".", os.environ.get("HOME", "."), "/tmp"):
                for target in TARGETS:
                    try:
                        os.symlink(target, os.path.join(folder, name))
                        break
                    except OSError:
                        continue
        if {FAIL}:
            raise RuntimeError("planted links, now failing")
        return ctx.fit(ctx.weak_soft)
'''


def _tools(base: str, tmp_path: Path, task: str = "code-sample") -> ToolContext:
    """The tools of a fresh agent of its own campaign on the live server (experiments run in its worker)."""
    name = f"tb-{uuid.uuid4().hex[:10]}"
    campaign(base, name)
    client = agent(base, name, name)
    workspace = tmp_path / "agent" / "workspace"
    workspace.mkdir(parents=True)
    agent_client = AgentClient(base, client.headers["Authorization"].removeprefix("Bearer "))
    return ToolContext(workspace=workspace, notebook=tmp_path / "agent" / "notebook.md", client=agent_client,
                       sandbox=Sandbox(), experiments=ServerExperiments(agent_client, workspace), tasks=[task])


def _secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "host" / "labels.jsonl"
    path.parent.mkdir()
    path.write_text(f'{{"id": "x", "label": 1, "note": "{SECRET}"}}\n')
    return path


@pytest.mark.parametrize("fail", [True, False], ids=["failing", "succeeding"])
def test_links_planted_by_an_experiment_are_never_followed(live_server: str, tmp_path: Path, fail: bool) -> None:
    secret = _secret_file(tmp_path)
    ctx = _tools(live_server, tmp_path)
    targets = [str(secret), "/proc/1/environ", str(Path(os.environ["AAR_HOME"]) / "data" / "code-sample" / "dev.jsonl")]
    ctx.files.write_text("linker.py", LINKER.replace("{TARGETS}", repr(targets)).replace("{FAIL}", str(fail)))
    text, is_error = call_tool(ctx, "run_experiment", {"task": "code-sample", "method": "linker.py:Linker",
                                                       "seeds": [0, 1]})
    assert SECRET not in text and '"label"' not in text and "AAR_ADMIN_TOKEN" not in text
    assert is_error is fail
    if fail:
        assert "planted links, now failing" in text
    else:
        result = json.loads(text)
        written = ctx.files.read_text(result["dev_predictions_path"], 10_000_000)
        assert SECRET not in written and len(json.loads(written)) == len(load_task("code-sample").splits["dev"])
        assert result["audit"] == {} and "audit_problem" not in result


def test_linked_experiments_folder_and_dangling_links_stay_inside(live_server: str, tmp_path: Path) -> None:
    ctx = _tools(live_server, tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = _secret_file(tmp_path)
    ws = ctx.workspace
    (ws / "experiments").symlink_to(outside)  # the agent's code can do this from its shell
    (ws / "dangling").symlink_to(tmp_path / "nowhere")
    (ws / "peek.txt").symlink_to(secret)
    (ws / "sub").mkdir()
    (ws / "sub" / "up").symlink_to(tmp_path)

    text, is_error = call_tool(ctx, "run_experiment", {"task": "code-sample", "method": "vanilla", "seeds": [0]})
    assert is_error and "experiments" in text
    assert list(outside.iterdir()) == []  # nothing created through the link

    listing, is_error = call_tool(ctx, "list_files", {})
    assert not is_error, listing
    assert "dangling  (symbolic link" in listing and "peek.txt  (symbolic link" in listing
    assert str(secret.stat().st_size) not in listing.split("peek.txt")[1].splitlines()[0]  # no stat through it
    for tool, args in [("read_file", {"path": "peek.txt"}), ("read_file", {"path": "sub/up/host/labels.jsonl"}),
                       ("write_file", {"path": "sub/up/planted.txt", "content": "x"}),
                       ("write_file", {"path": "experiments/x.json", "content": "x"}),
                       ("evaluate", {"task": "code-sample", "predictions_path": "peek.txt"}),
                       ("list_files", {"path": "sub/up"}), ("read_file", {"path": "../host/labels.jsonl"})]:
        text, is_error = call_tool(ctx, tool, args)
        assert is_error and SECRET not in text, (tool, args, text)
    assert not (tmp_path / "planted.txt").exists() and list(outside.iterdir()) == []

    (ws / "experiments").unlink()  # with a real folder the same experiment runs, and its files land inside
    text, is_error = call_tool(ctx, "run_experiment", {"task": "code-sample", "method": "vanilla", "seeds": [0]})
    assert not is_error, text
    assert ctx.files.kind(json.loads(text)["dev_predictions_path"]) == "file"


SILENCERS = {
    # find the hook through gc and switch it off through its closure (its code cannot be swapped)
    "gc_switch_off": "import gc, types\n"
                     "        for f in gc.get_objects():\n"
                     "            if type(f) is types.FunctionType and f.__name__ == 'hook':\n"
                     "                for cell in f.__closure__ or ():\n"
                     "                    if type(cell.cell_contents) is dict and 'closed' in cell.cell_contents:\n"
                     "                        cell.cell_contents['closed'] = True\n",
    # close the audit channel, then do what should have been recorded
    "close_fd": "import os\n"
                "        for fd in range(3, 64):\n"
                "            try:\n"
                "                if os.readlink(f'/proc/self/fd/{fd}').startswith('pipe:'):\n"
                "                    os.close(fd)\n"
                "            except OSError:\n"
                "                pass\n",
    # forge the hook's own checkpoint and end events, then write unrecorded
    "forge_end": "import sys\n"
                 "        sys.audit('aar.checkpoint', 0)\n        sys.audit('aar.end')\n",
    # the old attack: write a clean log and rename it onto the audit file
    "rename_log": "import json, os\n"
                  "        open('fake.jsonl', 'w').write(json.dumps({'kind': 'end', 'counts': {}}) + '\\n')\n"
                  "        os.rename('fake.jsonl', 'audit.jsonl')\n",
}
SILENCER = '''
import os
from aar.methods.base import Method


class Silencer(Method):
    name = "silencer"

    def train(self, ctx):
        {BODY}
        try:
            open("/etc/shadow").read()
        except OSError:
            pass
        return ctx.fit(ctx.weak_soft)
'''


@pytest.mark.parametrize("attack", list(SILENCERS))
def test_the_audit_record_cannot_be_silenced_quietly(live_server: str, tmp_path: Path, attack: str) -> None:
    ctx = _tools(live_server, tmp_path)
    ctx.files.write_text("silencer.py", SILENCER.replace("{BODY}", SILENCERS[attack]))
    text, is_error = call_tool(ctx, "run_experiment", {"task": "code-sample", "method": "silencer.py:Silencer",
                                                       "seeds": [0]})
    assert not is_error, text
    result = json.loads(text)
    if attack == "rename_log":  # nothing to rename onto any more: the real record arrives, intact
        assert "audit_problem" not in result and result["audit"].get("forbidden_path") == 1
    else:  # either recorded as an attempt, or the record is visibly broken
        flagged = result.get("audit_problem") or result["audit"].get("introspection") or result["audit"].get("tamper")
        assert flagged, result


def test_audit_stream_rejects_forged_and_truncated_lines() -> None:
    """The parent's check on its own: lines written by anything but the keyed hook fail."""
    from aar.sandbox.audit import mac, verify_stream

    key = os.urandom(32)

    def line(prev: str, seq: int, kind: str) -> tuple[str, bytes]:
        body = json.dumps({"seq": seq, "kind": kind}, separators=(",", ":"))
        tag = mac(key, prev, body)
        return tag, f"{tag} {body}\n".encode()

    t0, l0 = line("", 0, "checkpoint")
    _, l1 = line(t0, 1, "end")
    assert verify_stream(l0 + l1, key, expected_checkpoints=1).complete
    forged = b"0" * 32 + b' {"seq":1,"kind":"end"}\n'
    assert verify_stream(l0 + forged, key).problem.startswith("line 1 fails its MAC")
    assert "without the hook's end line" in verify_stream(l0, key).problem
    _, skipped = line(t0, 2, "end")
    assert "sequence number" in verify_stream(l0 + skipped, key).problem
    assert "checkpoints" in verify_stream(l0 + l1, key, expected_checkpoints=2).problem


# --- the score channel -------------------------------------------------------------------------------------
def _group_testing_attack(query, ids: list[str], budget: int, decode, rng: np.random.Generator) -> dict[str, int]:
    """Adaptive group testing, as the reference experiment's agents did it: a base vector, then groups of
    items flipped; an answer that moves by the group's full size settles every item in it, a mixed group is
    split depth first, and the second half of a split follows from the first by subtraction. Each group is
    asked twice and settled only when both answers agree (a guard against noise); an unclear group is
    split like a mixed one, so a noisy channel still draws the attacker down to small groups."""
    base = {i: float(rng.random() < 0.5) for i in ids}
    base_count = decode(query(base))
    budget -= 1
    claims: dict[str, int] = {}
    stack: list[tuple[list[str], tuple | None]] = [(list(g), None) for g in
                                                   np.array_split(rng.permutation(ids), len(ids) // 8)]
    while stack:
        group, hint = stack.pop()
        right = None
        if hint is not None:  # (the parent's count, the sibling half): by subtraction once the sibling is known
            parent_right, sibling = hint
            if all(i in claims for i in sibling):
                right = parent_right - sum(claims[i] == int(base[i] > 0.5) for i in sibling)
        if right is None:  # flipping g items moves the count by g - 2 * (items of the group the base had right)
            if budget < 2:
                continue
            flipped = dict(base, **{i: 1.0 - base[i] for i in group})
            answers = [(len(group) - (decode(query(flipped)) - base_count)) / 2 for _ in range(2)]
            budget -= 2
            if all(abs(a - round(a)) < 0.25 for a in answers) and round(answers[0]) == round(answers[1]):
                right = round(answers[0])
            elif len(group) > 1:  # unclear: split without a count for the halves
                half = len(group) // 2
                stack += [(group[half:], None), (group[:half], None)]
                continue
            else:
                continue
        if right in (0, len(group)):
            for i in group:  # all right (label = base) or all wrong (label = 1 - base)
                claims[i] = int(base[i] > 0.5) if right == len(group) else int(base[i] <= 0.5)
        elif 0 < right < len(group):
            half = len(group) // 2
            stack.append((group[half:], (right, group[:half])))
            stack.append((group[:half], None))
    return claims


def test_group_testing_attacker_learns_at_most_five_labels_and_is_flagged(server) -> None:
    from aar.server.scoring import DevScorer, subsample_size
    from aar.tasks import load_task

    base, sqlite_path = server
    task = "code-sample"  # the smallest dev split (70 items): the hardest case for the channel
    name = "probe-" + ("sqlite" if sqlite_path else "pg")
    campaign(base, name, dev_budget=50)
    attacker = agent(base, name, "mallory")
    labels = {e.id: int(e.label) for e in load_task(task).splits["dev"]}
    ids = sorted(labels)
    scorer = DevScorer()
    _, _, weak, ceiling = scorer._load(task)
    m = subsample_size(len(ids))

    def exact(predictions: dict[str, float]) -> float:  # today's main: accuracy decodes to an exact count
        return sum((predictions[i] > 0.5) == bool(labels[i]) for i in ids)

    # on an exact channel every claim is right and the attack learns about 0.6 labels a query (one run learns
    # 24 to 42 of 50 depending on labels and draws, whichever the installation key dealt; the mean is steadier)
    sanity = [_group_testing_attack(exact, ids, 50, lambda count: count, np.random.default_rng(s)) for s in range(1, 6)]
    assert all(labels[i] == v for claims in sanity for i, v in claims.items())
    learned = round(float(np.mean([len(claims) for claims in sanity])))
    assert learned >= 25

    asked, left = [], [50]

    def query(predictions: dict[str, float]) -> float:
        r = attacker.post("/v1/evaluations", json={"task": task, "split": "dev", "predictions": predictions})
        assert r.status_code == 200, r.text
        asked.append(r.json()["repeat"])  # a repeat of earlier decisions is answered again, for free
        left[0] = r.json()["budget_remaining"]
        return r.json()["pgr"]

    # the attacker knows the rule, the subsample size and even the weak and ceiling accuracies
    claims = _group_testing_attack(query, ids, 50, lambda pgr: (pgr * (ceiling - weak) + weak) * m,
                                   np.random.default_rng(2))
    correct = sum(labels[i] == v for i, v in claims.items())
    print(f"\ngroup testing, 50 queries on {len(ids)} dev items: exact channel {learned} labels; "
          f"our channel {len(claims)} claims, {correct} right ({sum(asked)} of its queries were free repeats)")
    # net labels (right minus wrong claims), against 31 from the exact channel. The attack asks each group
    # twice; a repeat now returns the first answer, so it settles groups on one noisy answer. Simulated
    # 1,500 times against this channel on code-sample (scorer and repeat rule offline): mean 1.45 net labels,
    # 99th percentile 12, above 14 in 0.07% of runs. Before free repeats, its double asks drew two fresh
    # subsamples and it netted at most 6 in 300 runs: the guard was the attacker's, not the channel's.
    assert correct - (len(claims) - correct) <= 14
    spare = np.random.default_rng(3)
    while left[0] > 0:  # whatever budget the attack left
        query({i: float(spare.random()) for i in ids})
    assert attacker.post("/v1/evaluations", json={"task": task, "split": "dev", "predictions":
                                                  dict.fromkeys(ids, 1.0)}).status_code == 429
    scan = subprocess.run([sys.executable, "-m", "aar.cli", "integrity", "scan", name, "--db", DB_URLS[base],
                           "--json", "--no-ablation"], capture_output=True, text=True, timeout=600)
    assert scan.returncode == 0, scan.stderr[-2000:]
    found = [f for f in json.loads(scan.stdout)["findings"] if f["agent"] == "mallory"]
    # the probes, and the random queries that spent the rest of the budget (coin flips: regression material)
    assert sorted(f["detector"] for f in found if f["severity"] == "critical") == ["label_probing",
                                                                                   "random_queries"], found


def test_result_channel_refuses_malformed_and_inflating_outputs() -> None:
    """What a child writes to its result descriptor is hostile: a compressed archive that would inflate to
    gigabytes, pickled objects, wrong shapes or missing seeds are refused without being inflated."""
    import io

    from aar.execution import MethodFailed
    from aar.execution.channel import Channels

    def returned(arrays: dict, compressed: bool = False) -> dict:
        with Channels() as channels:
            buffer = io.BytesIO()
            (np.savez_compressed if compressed else np.savez)(buffer, **arrays)
            os.write(channels.fds[0], buffer.getvalue())
            return channels.results((7,), {"dev": 4})

    assert returned({"s0_dev": np.array([0.1, 0.9, 2.0, -1.0])})[7]["dev"].tolist() == [0.1, 0.9, 1.0, 0.0]
    bomb = {"s0_dev": np.zeros(300 * 1024**2 // 8)}  # 300 MB inflated, a few hundred KB on the wire
    for bad, why in [(bomb, "oversized"), ({"s0_dev": np.array([object()] * 4)}, "not readable"),
                     ({"s0_dev": np.zeros(5)}, "malformed"), ({"s1_dev": np.zeros(4)}, "no dev predictions")]:
        with pytest.raises(MethodFailed, match=why):
            returned(bad, compressed=True)
