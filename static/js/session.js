/* A staff member's session ends after a while without activity (core.middleware.staff_session_idle_timeout); the
 * page's own polls are not activity. Two minutes before the end (WCAG 2.2.1), the page says so and offers to stay
 * signed in: one request that is not a poll. When the time has passed, it says the session has ended. */
(function () {
  "use strict";
  var box = document.getElementById("session-warning");
  if (!box) return;
  var idle = Number(box.dataset.idleSeconds) * 1000;
  var lead = Math.min(120000, idle / 2);
  var text = box.querySelector(".text");
  var stay = box.querySelector("button");
  var warnTimer = null;
  var endTimer = null;

  function start() {
    clearTimeout(warnTimer);
    clearTimeout(endTimer);
    box.hidden = true;
    warnTimer = setTimeout(function () {
      text.textContent = box.dataset.warn.replace("{minutes}", String(Math.round(lead / 60000) || 1));
      stay.hidden = false;
      box.hidden = false;
      stay.focus();
    }, idle - lead);
    endTimer = setTimeout(function () {
      text.textContent = box.dataset.ended;
      stay.hidden = true;
      box.hidden = false;
    }, idle);
  }

  stay.addEventListener("click", function () {
    fetch(box.dataset.url, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (response.status === 204) start();
        else {
          text.textContent = box.dataset.ended;
          stay.hidden = true;
        }
      })
      .catch(function () {});
  });
  start();
})();
