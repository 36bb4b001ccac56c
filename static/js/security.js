/* The security page: the day's figures, quotes and time and sales polled every 2 s; the price and volume chart
 * (TradingView lightweight-charts, vendored) from GET /api/v1/securities/{code}/candles/, redrawn when a trade
 * comes in or the interval changes. */
(function () {
  "use strict";
  var root = document.getElementById("security-market");
  if (!root) return;
  var status = document.getElementById("security-status");
  var FIELDS = ["last", "reference_price", "open", "high", "low", "volume", "turnover"];
  var SHANGHAI_OFFSET = 8 * 3600; // the chart's axis shows UTC: shift minutes to the exchange's clock
  var interval = "1m";
  var tradesSeen = root.dataset.trades;
  var chart = null;
  var candles = null;
  var volume = null;
  var container = document.getElementById("security-chart");
  var emptyNote = document.getElementById("chart-empty");
  // The tables' HTML as last received: the tables are replaced when the server's changes (flashing from the
  // second poll on; the first one only catches up with the page, rendered from the same templates).
  var lastDepth = null;
  var lastSales = null;

  function setText(cell, value) {
    var text = value === null || value === undefined || value === "" ? "\u2014" : String(value);
    if (cell.textContent === text) return;
    cell.textContent = text;
    window.exchangeFlash(cell);
  }

  function buildChart() {
    var LC = window.LightweightCharts;
    if (!LC || !container) return;
    chart = LC.createChart(container, {
      autoSize: true,
      // No attribution logo: it injects an inline <style> that the CSP refuses; the page credits TradingView below.
      layout: { background: { color: "#ffffff" }, textColor: "#5f6b7a", attributionLogo: false },
      grid: { vertLines: { color: "#eef1f5" }, horzLines: { color: "#eef1f5" } },
      rightPriceScale: { scaleMargins: { top: 0.1, bottom: 0.3 } },
      timeScale: { timeVisible: true, secondsVisible: false },
    });
    candles = chart.addSeries(LC.CandlestickSeries, {
      upColor: "#17803d", downColor: "#b42318", borderVisible: false,
      wickUpColor: "#17803d", wickDownColor: "#b42318",
    });
    volume = chart.addSeries(LC.HistogramSeries, {
      priceFormat: { type: "volume" }, priceScaleId: "volume", color: "#9cb3d1",
      lastValueVisible: false, priceLineVisible: false,
    });
    chart.priceScale("volume").applyOptions({ scaleMargins: { top: 0.75, bottom: 0 } });
  }

  function toTime(iso) {
    return Math.floor(Date.parse(iso) / 1000) + SHANGHAI_OFFSET;
  }

  function loadCandles() {
    if (!chart) return;
    var url = root.dataset.candles + "?interval=" + interval;
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json", "X-Exchange-Poll": "1" }, cache: "no-store" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (!data) return;
        var bars = [];
        var vols = [];
        data.candles.forEach(function (c) {
          var t = toTime(c.time);
          if (c.open === null) {
            // A bucket without trades: a gap on the time axis, once the first trade of the range is drawn.
            if (vols.length) bars.push({ time: t });
            return;
          }
          var up = Number(c.close) >= Number(c.open);
          bars.push({ time: t, open: Number(c.open), high: Number(c.high), low: Number(c.low), close: Number(c.close) });
          vols.push({ time: t, value: c.volume, color: up ? "rgba(23,128,61,.45)" : "rgba(180,35,24,.45)" });
        });
        candles.setData(bars);
        volume.setData(vols);
        emptyNote.hidden = vols.length > 0;
        chart.timeScale().fitContent();
        root.dataset.chartPoints = String(vols.length);
      })
      .catch(function () { /* the next trade or click tries again */ });
  }

  var buttons = root.querySelectorAll(".chart-intervals [data-interval]");
  Array.prototype.forEach.call(buttons, function (button) {
    button.addEventListener("click", function () {
      interval = button.dataset.interval;
      Array.prototype.forEach.call(buttons, function (b) { b.setAttribute("aria-pressed", String(b === button)); });
      loadCandles();
    });
  });

  function render(data) {
    FIELDS.forEach(function (field) {
      var cell = root.querySelector('[data-field="' + field + '"]');
      if (cell) setText(cell, data.day[field]);
    });
    var change = root.querySelector('[data-field="change"]');
    var text = data.day.change ? data.day.change + " " + data.day.change_pct : "";
    if (change.textContent.trim() !== text) {
      change.textContent = text;
      change.className = "change change-" + data.day.direction;
    }
    var note = document.getElementById("no-trades-today");
    if (note && data.day.last) note.hidden = true;
    var depth = document.querySelector("#depth-table tbody");
    if (depth && lastDepth !== data.depth_html) { // no table where the venue's rules allow no market making
      depth.innerHTML = data.depth_html; // rendered by the server from the page's own template
      if (lastDepth !== null) window.exchangeFlash(depth);
      lastDepth = data.depth_html;
    }
    var sales = document.querySelector("#sales-table tbody");
    if (lastSales !== data.sales_html) {
      sales.innerHTML = data.sales_html;
      if (lastSales !== null) window.exchangeFlash(sales);
      lastSales = data.sales_html;
    }
    if (String(data.day.trades) !== tradesSeen) {
      tradesSeen = String(data.day.trades);
      loadCandles();
    }
    root.dataset.polls = String((parseInt(root.dataset.polls, 10) || 0) + 1);
  }

  buildChart();
  loadCandles();
  // A change of any book (the "market" event) asks at once; the slow poll is the fallback.
  window.exchangePoll({ url: root.dataset.url, period: 2000, status: status, render: render, event: "market" });
})();
