/* Live pages: poll a JSON URL, hand the data to render(), show the connection state.
 *
 * poll({url, period, status, render}) — status is the element whose data-live /
 * data-stale / data-expired attributes hold the texts to show. Polling pauses
 * while the tab is hidden and stops when the session has ended.
 */
/* options.event: the name of a server-sent event that brings news for this page. While the stream is open the
 * page polls only every SLOW ms (the fallback); the event triggers render(data) at once when options.eventData
 * says the event carries the polled JSON itself, else an immediate poll. */
/* Live updates may be paused (WCAG 2.2.2): one button for the page (#live-pause in base.html), shown once a live
 * part starts; while paused nothing is fetched or redrawn, and resuming fetches at once. */
window.exchangeLive = (function () {
  "use strict";
  var paused = false;
  var resumers = [];
  var pausers = [];
  var button = document.getElementById("live-pause");
  function label() {
    button.textContent = paused ? button.dataset.resume : button.dataset.pause;
  }
  if (button) {
    button.addEventListener("click", function () {
      paused = !paused;
      label();
      (paused ? pausers : resumers).forEach(function (fn) { fn(); });
    });
  }
  return {
    start: function (onPause, onResume) {
      pausers.push(onPause);
      resumers.push(onResume);
      if (button && button.hidden) {
        label();
        button.hidden = false;
      }
    },
    paused: function () { return paused; },
    pausedText: function () { return button ? button.dataset.status : ""; },
  };
})();

window.exchangePoll = function (options) {
  "use strict";
  var status = options.status;
  var statusText = status.querySelector(".text");
  var timer = null;
  var SLOW = 30000;
  var events = options.event ? window.exchangeEvents : null;

  function period() {
    return events && events.isOpen() ? Math.max(SLOW, options.period) : options.period;
  }

  function show(state) {
    // Written only when the state changes: the line is a live region, and a screen reader would repeat
    // "Updated every 2 seconds" after every poll.
    if (status.dataset.state === state) return;
    status.dataset.state = state;
    if (statusText.textContent !== status.dataset[state]) statusText.textContent = status.dataset[state];
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(poll, period());
  }

  function poll() {
    if (document.hidden || window.exchangeLive.paused()) return; // resumed by visibilitychange or the button
    // X-Exchange-Poll: a background refresh is not the user's activity (core.middleware.staff_session_idle_timeout).
    var headers = { Accept: "application/json", "X-Exchange-Poll": "1" };
    fetch(options.url, { credentials: "same-origin", headers: headers, cache: "no-store" })
      .then(function (response) {
        var type = response.headers.get("Content-Type") || "";
        if (response.redirected || response.status === 401 || response.status === 403 || type.indexOf("json") < 0) {
          show("expired");
          return null; // logged out: stop polling
        }
        if (!response.ok) throw new Error(String(response.status));
        return response.json().then(function (data) {
          if (window.exchangeLive.paused()) return; // paused while the answer was on its way
          options.render(data);
          show("live");
          schedule();
        });
      })
      .catch(function () {
        show("stale");
        schedule();
      });
  }

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) poll();
  });
  if (events) {
    events.on(options.event, function (data) {
      if (document.hidden || window.exchangeLive.paused()) return;
      if (options.eventData && data) {
        options.render(data);
        show("live");
        schedule();
      } else if (!options.accept || options.accept(data)) {
        poll();
      }
    });
    events.on("_closed", function () { schedule(); });
  }
  window.exchangeLive.start(
    function () {
      clearTimeout(timer);
      status.dataset.state = "paused";
      statusText.textContent = window.exchangeLive.pausedText();
    },
    poll
  );
  schedule();
};

/* Restart a cell's "changed" highlight. */
window.exchangeFlash = function (cell) {
  "use strict";
  cell.classList.remove("flash");
  void cell.offsetWidth; // restart the animation
  cell.classList.add("flash");
};

/* Redraw part of a page without losing the keyboard's place: replace() rebuilds what is inside root; if the
 * focus was in there, it returns to the element that stands for the same thing: the same tag and name, in a row
 * or card with the same data-* keys, and for a control the same value and text (a scrolling box's text changes
 * with every countdown it holds). If that element is gone (its quote or answer withdrawn), the focus goes to the
 * focusable element now at its place, else to root's own scrolling box. A redraw every two seconds otherwise threw
 * the focus back to the top of the page (WCAG 2.4.3). */
window.exchangeKeepFocus = function (root, replace) {
  "use strict";
  var active = document.activeElement;
  if (!active || active === document.body || !root.contains(active)) {
    replace();
    return;
  }
  var FOCUSABLE = "a[href], button, input, select, textarea, [tabindex]";
  function signature(el) {
    var keyed = el.parentElement && el.parentElement.closest("[data-answer],[data-rfq],[data-price],[data-key]");
    var keys = keyed ? JSON.stringify(keyed.dataset) : "";
    var control = /^(A|BUTTON|INPUT|SELECT|TEXTAREA)$/.test(el.tagName);
    var text = control ? (el.textContent || "").trim() : "";
    return [el.tagName, el.getAttribute("name"), control ? el.getAttribute("value") : "", text, keys].join("\u0001");
  }
  var wanted = signature(active);
  var before = Array.prototype.indexOf.call(root.querySelectorAll(FOCUSABLE), active);
  replace();
  var candidates = root.querySelectorAll(FOCUSABLE);
  for (var i = 0; i < candidates.length; i++) {
    if (signature(candidates[i]) === wanted) {
      candidates[i].focus({ preventScroll: true });
      return;
    }
  }
  var fallback = candidates[Math.min(before, candidates.length - 1)] || root.closest(".table-scroll");
  if (fallback) fallback.focus({ preventScroll: true });
};
