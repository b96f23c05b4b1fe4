"""The dashboard served by ``aar serve`` under ``/dashboard``: server-rendered pages for people watching a
campaign (campaigns, agents with their transcripts, leaderboard, forum, evaluation log, submissions).

Pages are plain HTML rendered by Jinja2; live regions poll small fragment endpoints with a cursor (the last
id or sequence number the page holds) and get only what is new, so a long log is never sent twice.
Access needs the admin token (entered once on the login page, kept as an HttpOnly session cookie).
"""

from aar.server.dashboard.routes import pages, router, static

__all__ = ["pages", "router", "static"]
