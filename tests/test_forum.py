"""The forum over real HTTP on SQLite and PostgreSQL: authorship from tokens, threads, exact votes,
incremental `since` sync and full-text search scoped to the campaign."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tests.helpers.serverkit import agent, campaign


def _post(client, title: str, body: str, tags: list[str] | None = None, kind: str = "result") -> dict:
    r = client.post("/v1/forum/posts", json={"title": title, "body": body, "tags": tags or [], "kind": kind})
    assert r.status_code == 201, r.text
    return r.json()


def test_authorship_threads_and_validation(server) -> None:
    base, _ = server
    campaign(base, "forum-a")
    ann, ben = agent(base, "forum-a", "ann"), agent(base, "forum-a", "ben")
    post = _post(ann, "Confidence filtering helps math", "dev PGR 0.21 with **top 60%** kept", ["math", "filter"])
    assert post["author"] == "ann" and post["tags"] == ["filter", "math"] and post["parent_id"] is None
    forged = ben.post("/v1/forum/posts", json={"title": "t", "body": "b", "kind": "result", "author": "ann"})
    assert forged.status_code == 422  # unknown fields are refused, so an author cannot be claimed
    for bad in ({"title": "", "body": "b", "kind": "result"}, {"title": "t", "body": "b", "kind": "rumor"},
                {"title": "t", "body": "b", "kind": "result", "tags": ["Bad Tag"]},
                {"title": "t", "body": "x" * 20_001, "kind": "result"},
                {"title": "t", "body": "b", "kind": "result", "submission_id": 999_999},
                {"title": "t", "body": "a raw \x1b[31m escape", "kind": "result"}):
        assert ben.post("/v1/forum/posts", json=bad).status_code == 422, bad
    r1 = ben.post(f"/v1/forum/posts/{post['id']}/replies", json={"body": "replicated: 0.19"})
    assert r1.status_code == 201 and r1.json()["author"] == "ben" and r1.json()["root_id"] == post["id"]
    r2 = ann.post(f"/v1/forum/posts/{r1.json()['id']}/replies", json={"body": "thanks"}).json()
    thread = ben.get(f"/v1/forum/posts/{r2['id']}").json()  # any post of a thread returns the whole thread
    assert thread["post"]["id"] == post["id"] and [r["author"] for r in thread["replies"]] == ["ben", "ann"]
    assert thread["requested_post_id"] == r2["id"] and thread["thread_root_id"] == post["id"]
    assert {r["title"] for r in thread["replies"]} == {"Re: Confidence filtering helps math"}  # never empty
    assert thread["replies"][1]["parent_id"] == r1.json()["id"]
    campaign(base, "forum-b")
    outsider = agent(base, "forum-b", "olga")
    assert outsider.get(f"/v1/forum/posts/{post['id']}").status_code == 404
    assert outsider.post(f"/v1/forum/posts/{post['id']}/replies", json={"body": "hi"}).status_code == 404
    assert outsider.put(f"/v1/forum/posts/{post['id']}/vote", json={"value": 1}).status_code == 404
    assert outsider.get("/v1/forum/posts").json()["posts"] == []


def test_one_vote_per_agent_and_exact_counts(server) -> None:
    base, _ = server
    campaign(base, "votes")
    author = agent(base, "votes", "writer")
    voters = [agent(base, "votes", f"v{i}") for i in range(6)]
    post = _post(author, "A claim", "body")
    url = f"/v1/forum/posts/{post['id']}/vote"
    assert author.put(url, json={"value": 1}).status_code == 403  # no self-votes
    assert voters[0].put(url, json={"value": 2}).status_code == 422

    def hammer(client) -> None:  # the same agent voting 10 times at once still counts once
        with ThreadPoolExecutor(max_workers=5) as pool:
            codes = list(pool.map(lambda _: client.put(url, json={"value": 1}).status_code, range(10)))
        assert set(codes) == {200}, codes

    for v in voters:
        hammer(v)
    assert voters[0].get(f"/v1/forum/posts/{post['id']}").json()["post"]["up"] == 6
    voters[1].put(url, json={"value": -1})  # a changed vote moves from up to down
    voters[2].put(url, json={"value": 0})  # withdrawn
    counts = voters[0].get(f"/v1/forum/posts/{post['id']}").json()["post"]
    assert (counts["up"], counts["down"], counts["score"]) == (4, 1, 3)


def test_since_cursor_pages_through_everything_once(server) -> None:
    base, _ = server
    campaign(base, "sync")
    writers = [agent(base, "sync", f"w{i}") for i in range(4)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        made = list(pool.map(lambda i: _post(writers[i % 4], f"note {i}", f"finding {i}", kind="insight")["id"],
                             range(23)))
    reader = writers[0]
    seen, since = [], 0
    while True:
        page = reader.get("/v1/forum/posts", params={"since": since, "limit": 5}).json()
        seen += [p["id"] for p in page["posts"]]
        since = page["next_since"]
        if not page["more"]:
            break
    assert seen == sorted(made)
    assert reader.get("/v1/forum/posts", params={"since": since}).json()["posts"] == []
    late = _post(writers[1], "late", "new finding", kind="error")
    assert [p["id"] for p in reader.get("/v1/forum/posts", params={"since": since}).json()["posts"]] == [late["id"]]
    assert [p["id"] for p in reader.get("/v1/forum/posts", params={"kind": "error"}).json()["posts"]] == [late["id"]]


def test_full_text_search(server) -> None:
    base, _ = server
    campaign(base, "search")
    campaign(base, "search-other")
    me = agent(base, "search", "seeker")
    other = agent(base, "search-other", "hidden")
    hit = _post(me, "Ensembling students", "Averaging three students reduced variance across seeds", ["ensemble"])
    _post(me, "Label smoothing", "Soft targets from the teacher did not help on code", ["code"])
    _post(other, "Ensembling elsewhere", "students averaging in another campaign", ["ensemble"])
    found = me.get("/v1/forum/search", params={"q": "averaging students"}).json()["posts"]
    assert [p["id"] for p in found] == [hit["id"]]  # stemmed terms, AND semantics, campaign-scoped
    assert [p["title"] for p in me.get("/v1/forum/search", params={"q": "code"}).json()["posts"]] == [
        "Label smoothing"]
    for hostile in ('"unbalanced', "students AND (", "NEAR(a b)", "*", "title:x OR"):
        r = me.get("/v1/forum/search", params={"q": hostile})
        assert r.status_code in (200, 422) and "Traceback" not in r.text, (hostile, r.text)
    assert me.get("/v1/forum/search", params={"q": "nothing-matches-this"}).json()["posts"] == []
