"""Heritage between campaigns (aar.server.heritage) on a real SQLite database: what is exported (the best allowed
verified methods per task, the whole forum with its threads and votes), what an import adds (queued
re-verification on the new campaign's seeds, inherited posts, stand-in authors without usable tokens), and that
importing again, or in parts, adds nothing twice."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import HTTPException
from sqlalchemy import select

from aar.server.db import make_engine, session_factory, upgrade
from aar.server.heritage import METHODS_PER_TASK, Heritage, export_heritage, import_heritage
from aar.server.models import Agent, Campaign, Post, Submission, Vote
from aar.server.verify import campaign_seeds
from aar.snapshots import pack_files


def _result(pgr: float, kind: str = "w2s", allowed: bool = True) -> dict:
    return {"pgr": {"mean": pgr, "lo": pgr - 0.1, "hi": pgr + 0.1}, "dev_pgr": {"mean": pgr},
            "vanilla_pgr": {"mean": 0.1}, "vs_vanilla": {"p_value": 0.01},
            "attribution": {"kind": kind, "allowed": allowed}}


@pytest.fixture()
def sessions(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'h.db'}"
    upgrade(url)
    engine = make_engine(url)
    yield session_factory(engine)
    engine.dispose()


def test_export_then_import_carries_the_best_methods_and_the_forum_once(sessions) -> None:
    from aar.server.api import store_snapshot

    with sessions() as s:
        old, new = Campaign(name="old", verify_seeds=[1, 2]), Campaign(name="new", verify_seeds=[1, 2])
        s.add_all([old, new])
        s.flush()
        ann, bob = (Agent(campaign_id=old.id, name=n, token_sha256=f"{i:064d}") for i, n in enumerate("ab"))
        s.add_all([ann, bob])
        s.flush()
        sha = store_snapshot(s, pack_files({"m.py": b"class M: pass\n"}))
        rows = [("chat", "verified", _result(0.2 + i / 10)) for i in range(METHODS_PER_TASK + 1)]
        rows += [("chat", "verified", _result(0.95, "reads-text", allowed=False)),  # not allowed: not carried
                 ("chat", "quarantined", _result(0.99)), ("chat", "failed", None),
                 ("nosuchtask", "verified", _result(0.5))]  # a task the new server lacks: left out on import
        for i, (task, status, result) in enumerate(rows):
            s.add(Submission(campaign_id=old.id, agent_id=(ann if i % 2 else bob).id, task=task, entry="m.py:M",
                             params={"k": i}, snapshot_sha256=sha, seeds=[1], status=status, attempts=1,
                             result=result))
        root = Post(campaign_id=old.id, agent_id=ann.id, kind="result", title="t", body="root body", tags="x y")
        s.add(root)
        s.flush()
        s.add(Post(campaign_id=old.id, agent_id=bob.id, parent_id=root.id, root_id=root.id, kind="insight",
                   title="", body="a reply", tags=""))
        s.add(Vote(post_id=root.id, agent_id=bob.id, value=1))
        s.commit()
        heritage = export_heritage(s, old)
    chat = [m for m in heritage.methods if m.task == "chat"]
    assert [m.params["k"] for m in chat] == [3, 2, 1]  # the best METHODS_PER_TASK by verified PGR
    assert chat[0].origin["campaign"] == "old" and chat[0].origin["agent"] == "a" and chat[0].origin["pgr"] == 0.5
    assert [p.body for p in heritage.posts] == ["root body", "a reply"]
    assert heritage.posts[0].origin["up"] == 1 and heritage.posts[1].parent_id == heritage.posts[0].id
    wire = Heritage.model_validate_json(heritage.model_dump_json())  # the admin API's round trip

    with sessions() as s:
        new = s.scalar(select(Campaign).where(Campaign.name == "new"))
        first_half = wire.model_copy(update={"methods": wire.methods[:1], "posts": wire.posts[:1]})
        assert import_heritage(s, new, first_half) == {"methods": 1, "posts": 1, "methods_left_out": 0}
        assert import_heritage(s, new, wire) == {"methods": 2, "posts": 1, "methods_left_out": 1}
        assert import_heritage(s, new, wire) == {"methods": 0, "posts": 0, "methods_left_out": 1}  # once only
        subs = s.scalars(select(Submission).where(Submission.campaign_id == new.id)).all()
        assert len(subs) == 3 and all(x.status == "queued" and x.result is None for x in subs)
        assert all(x.seeds == campaign_seeds(new.id, [1, 2]) for x in subs)  # re-verified on the new seeds
        authors = {a.name: a for a in s.scalars(select(Agent).where(Agent.campaign_id == new.id))}
        assert set(authors) == {"old~a", "old~b"} and {a.state for a in authors.values()} == {"inherited"}
        posts = s.scalars(select(Post).where(Post.campaign_id == new.id).order_by(Post.id)).all()
        assert [p.body for p in posts] == ["root body", "a reply"]
        assert posts[1].parent_id == posts[0].id and posts[1].root_id == posts[0].id  # the thread kept
        assert posts[0].origin["campaign"] == "old" and posts[0].tags == "x y"
        with pytest.raises(ValueError, match="itself"):
            import_heritage(s, new, wire.model_copy(update={"source": "new"}))
        # handed on again, a method and a post keep their first author: "old~a" in a third campaign too
        newer = Campaign(name="newer", verify_seeds=[1])
        s.add(newer)
        s.flush()
        for sub in subs:  # verified in the new campaign, they are handed on from it
            sub.status, sub.result = "verified", _result(0.4)
        s.commit()
        again = export_heritage(s, new)
        assert {m.origin["campaign"] for m in again.methods} == {"old"} and len(again.methods) == 3
        assert import_heritage(s, newer, again)["methods"] == 3
        names = set(s.scalars(select(Agent.name).where(Agent.campaign_id == newer.id)))
        assert names == {"old~a", "old~b"}
        bad = wire.model_copy(update={"methods": [wire.methods[0].model_copy(update={"id": 999,
                                                                                     "archive": "not base64!"})]})
        with pytest.raises(HTTPException):  # checked like any submitted archive
            import_heritage(s, new, bad)
