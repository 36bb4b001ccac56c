/* A staff member's session ends after a while without activity (core.middleware.staff_session_idle_timeout); the
 * page's own polls are not activity. Before the end (two minutes, or half the period if shorter; WCAG 2.2.1) the
 * page asks the server how long the session has left, since the member may be working in another tab, and only
 * then says so and offers to stay signed in: one request that is not a poll. At the end it asks again, and says
 * the session has ended only if it has. */
(function () {
  "use strict";
  var box = document.getElementById("session-warning");
  if (!box) return;
  var idle = Number(box.dataset.idleSeconds) * 1000;
  var lead = Math.min(120000, idle / 2);
  var text = box.querySelector(".text");
  var stay = box.querySelector("button");
  var timer = null;

  function ended() {
    text.textContent = box.dataset.ended;
    stay.hidden = true;
    box.hidden = false;
  }

  function warn(left) {
    text.textContent = box.dataset.warn.replace("{minutes}", String(Math.max(1, Math.round(left / 60000))));
    stay.hidden = false;
    var wasHidden = box.hidden;
    box.hidden = false;
    // The keyboard is brought to the button unless it is in a field (a half-typed reason keeps its caret).
    var active = document.activeElement;
    var typing = active && /^(INPUT|SELECT|TEXTAREA)$/.test(active.tagName);
    if (wasHidden && !typing) stay.focus();
  }

  // The session's seconds left, asked as a poll (which is no activity); null once it has ended.
  function left() {
    return fetch(box.dataset.url, {
      credentials: "same-origin",
      cache: "no-store",
      headers: { Accept: "application/json", "X-Exchange-Poll": "1" },
    }).then(function (response) {
      var type = response.headers.get("Content-Type") || "";
      if (response.redirected || !response.ok || type.indexOf("json") < 0) return null;
      return response.json().then(function (data) {
        return data.seconds_left === null ? null : data.seconds_left * 1000;
      });
    });
  }

  function check() {
    left()
      .then(function (ms) {
        if (ms === null || ms <= 0) return ended();
        if (ms > lead + 5000) {
          box.hidden = true; // activity elsewhere renewed it
          schedule(ms - lead);
          return;
        }
        warn(ms);
        schedule(Math.min(ms, 30000)); // and look again: another tab may still renew it
      })
      .catch(function () { schedule(30000); });
  }

  function schedule(ms) {
    clearTimeout(timer);
    timer = setTimeout(check, Math.max(ms, 1000));
  }

  stay.addEventListener("click", function () {
    fetch(box.dataset.url, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (response.status === 204) {
          box.hidden = true;
          schedule(idle - lead);
        } else {
          ended();
        }
      })
      .catch(function () {});
  });
  schedule(idle - lead);
})();
