// Live regions of the aar dashboard. An element with data-live="URL" polls URL every data-interval ms.
// data-mode says what to do with the returned rows:
//   append / prepend : add them (the URL gets ?after=<cursor>, so only new rows come back)
//   replace          : the region is a small status board and is re-rendered whole
//   upsert           : new rows are prepended; rows already shown (same id) are replaced in place, and the
//                      ids of rows still marked data-open are sent, so their status changes come back too
// Polling pauses while the tab is hidden and stops (with a notice) if the session has ended.
(function () {
  "use strict";
  const status = document.getElementById("live-status");

  function say(text, bad) {
    if (!status) return;
    status.textContent = text;
    status.classList.toggle("bad", !!bad);
  }

  function rowsFrom(html) {
    const table = document.createElement("table");
    const body = document.createElement("tbody");
    table.appendChild(body);
    body.innerHTML = html;
    if (body.children.length) return Array.from(body.children);
    const div = document.createElement("div");
    div.innerHTML = html;
    return Array.from(div.children);
  }

  function start(region) {
    const base = region.dataset.live;
    const mode = region.dataset.mode || "append";
    const interval = parseInt(region.dataset.interval || "2000", 10);
    let busy = false;

    async function poll() {
      if (busy || document.hidden) return;
      busy = true;
      try {
        const url = new URL(base, window.location.href);
        url.searchParams.set("after", region.dataset.cursor || "0");
        if (mode === "upsert") {
          const open = Array.from(region.querySelectorAll("[data-open='1']")).map((el) => el.dataset.id);
          url.searchParams.set("open", open.join(","));
        }
        const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
        if (response.redirected || !response.ok) {
          say(response.status === 404 ? "gone" : "signed out: reload to sign in", true);
          clearInterval(timer);
          return;
        }
        const data = await response.json();
        region.dataset.cursor = String(data.cursor);
        if (mode === "replace") {
          region.innerHTML = data.html;
        } else if (data.count > 0) {
          const rows = rowsFrom(data.html);
          if (mode === "append") {
            rows.forEach((row) => region.appendChild(row));
          } else {
            rows.forEach((row) => {
              const old = row.dataset.id && region.querySelector("[data-id='" + row.dataset.id + "']");
              if (old) old.replaceWith(row);
              else region.insertBefore(row, region.firstChild);
            });
          }
          const empty = region.querySelector(".empty");
          if (empty) empty.remove();
          if (mode === "append" && region.dataset.follow === "1") {
            window.scrollTo(0, document.body.scrollHeight);
          }
        }
        say("live · " + new Date().toLocaleTimeString(), false);
      } catch (err) {
        say("server unreachable, retrying", true);
      } finally {
        busy = false;
      }
    }

    const timer = setInterval(poll, interval);
  }

  document.querySelectorAll("[data-live]").forEach(start);
})();
