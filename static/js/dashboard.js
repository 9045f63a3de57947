// Ledgerdesk dashboard: draws each chart of the json_script block "dashboard-charts" with the vendored Chart.js
// (static/vendor/chart.umd.min.js). No inline script (the CSP forbids it). Each chart is drawn from the same cells
// as the table under it, which stays in the page (closed once the chart is drawn, open when it cannot be).
// Amounts arrive as decimal strings; they become numbers here for drawing only, the tables hold the exact figures.
(function () {
  "use strict";
  var COLOURS = ["#2f5bea", "#138a4b", "#a86300", "#7c4dcc", "#0f8fa8", "#6b7385", "#c62f3b"];
  var OUTCOME_COLOURS = { "Topped up": "#138a4b", "Failed": "#c62f3b", "In progress": "#a86300" };

  function money(value, currency) {
    var text = Number(value).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
    return currency ? text + " " + currency : text;
  }

  function draw(spec) {
    var canvas = document.getElementById(spec.id);
    if (!canvas || !window.Chart) return;
    var datasets = spec.datasets.map(function (ds, i) {
      var colour = OUTCOME_COLOURS[ds.label] || COLOURS[i % COLOURS.length];
      return { label: ds.label, data: ds.data.map(Number), backgroundColor: colour, borderColor: colour,
               borderWidth: 0, maxBarThickness: 48 };
    });
    var chart = new window.Chart(canvas, {
      type: spec.kind,
      data: { labels: spec.labels, datasets: datasets },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        scales: {
          x: { stacked: spec.stacked, grid: { display: false } },
          y: { stacked: spec.stacked, beginAtZero: true,
               ticks: spec.count ? { precision: 0 } : { callback: function (v) { return money(v, ""); } } }
        },
        plugins: {
          legend: { display: spec.datasets.length > 1, position: "bottom" },
          tooltip: { callbacks: { label: function (item) {
            var value = spec.count ? item.raw : money(spec.datasets[item.datasetIndex].data[item.dataIndex], spec.currency);
            return item.dataset.label + ": " + value;
          } } }
        },
        onHover: function (event, elements) {
          event.native.target.style.cursor = elements.length ? "pointer" : "default";
        },
        onClick: function (event, elements) {
          if (!elements.length) return;
          var url = spec.datasets[elements[0].datasetIndex].urls[elements[0].index];
          if (url) window.location.assign(url);
        }
      }
    });
    canvas.setAttribute("data-drawn", "true");
    var table = document.querySelector('[data-chart-table="' + spec.id + '"]');
    if (table) table.removeAttribute("open");
    return chart;
  }

  document.addEventListener("DOMContentLoaded", function () {
    var data = document.getElementById("dashboard-charts");
    if (!data) return;
    JSON.parse(data.textContent).forEach(draw);
  });
})();
