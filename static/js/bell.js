/* The notification bell: re-read the unread count every few seconds (paused while the tab is hidden, stopped
 * once the session has ended) and show it. The count is the API's ?unread=true page "count". */
(function () {
  "use strict";
  var bell = document.getElementById("notification-bell");
  if (!bell) return;
  var badge = bell.querySelector(".bell-count");
  var PERIOD = 2000;
  var SLOW = 30000; // while the event stream is open: it brings the count (core.events, "notification")
  var events = window.exchangeEvents;
  var timer = null;

  // A new notification is said once, politely, in the bell's own live region: the count changed in silence, and a
  // screen reader user heard of a fill or an answer only by going to the bell (found by a keyboard walk, WCAG
  // 4.1.3). A count that falls (a notification read) is not news; the focus stays where it is.
  var news = document.getElementById("notification-news");
  var known = Number(badge.dataset.count) || 0;

  function show(count) {
    if (news && count > known) news.textContent = bell.dataset.label.replace("{n}", String(count));
    known = count;
    badge.textContent = String(count);
    badge.dataset.count = String(count);
    badge.hidden = count === 0;
    bell.setAttribute("aria-label", bell.dataset.label.replace("{n}", String(count)));
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(poll, events && events.isOpen() ? SLOW : PERIOD);
  }

  function poll() {
    if (document.hidden) return; // resumed by visibilitychange
    fetch(bell.dataset.poll, {
      credentials: "same-origin",
      cache: "no-store",
      // a background refresh is not the user's activity (core.middleware.staff_session_idle_timeout)
      headers: { Accept: "application/json", "X-Exchange-Poll": "1" },
    })
      .then(function (response) {
        var type = response.headers.get("Content-Type") || "";
        if (response.redirected || response.status === 401 || response.status === 403 || type.indexOf("json") < 0) {
          return; // logged out: stop
        }
        if (!response.ok) throw new Error(String(response.status));
        return response.json().then(function (data) {
          show(data.count);
          schedule();
        });
      })
      .catch(schedule);
  }

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) poll();
  });
  if (events) {
    events.on("notification", function (data) { show(data.unread); schedule(); });
    events.on("_closed", schedule);
  }
  schedule();
})();
