// The Overview page: requests and tokens over time, drawn with Chart.js.
(function () {
  "use strict";

  function label(text, minutes, days) {
    var when = new Date(text);
    if (isNaN(when)) { return text; }
    var iso = when.toISOString();
    return days ? iso.slice(5, 16).replace("T", " ") : iso.slice(11, 16);
  }

  function draw(holder) {
    if (holder.dataset.drawn || typeof Chart === "undefined") { return; }
    holder.dataset.drawn = "yes";
    var spec = JSON.parse(holder.dataset.overview);
    var days = spec.labels.length * spec.minutes > 24 * 60;
    var labels = spec.labels.map(function (text) {
      return label(text, spec.minutes, days);
    });
    new Chart(holder.querySelector("canvas"), {
      data: {
        labels: labels,
        datasets: [
          {
            type: "bar", label: "Requests", data: spec.requests, yAxisID: "y",
            backgroundColor: "#1f5fbf", maxBarThickness: 24, order: 2
          },
          {
            type: "line", label: "Total tokens", data: spec.tokens, yAxisID: "tokens",
            borderColor: "#d9822b", backgroundColor: "#d9822b", borderWidth: 2,
            pointRadius: labels.length > 60 ? 0 : 2, tension: 0.2, order: 1
          }
        ]
      },
      options: {
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: "index", intersect: false },
        plugins: {
          legend: {
            position: "top",
            labels: { sort: function (a, b) { return a.datasetIndex - b.datasetIndex; } }
          }
        },
        scales: {
          x: { ticks: { autoSkip: true, maxRotation: 0 } },
          y: {
            beginAtZero: true, position: "left",
            title: { display: true, text: "Requests" }, ticks: { precision: 0 }
          },
          tokens: {
            beginAtZero: true, position: "right", grid: { drawOnChartArea: false },
            title: { display: true, text: "Tokens" }, ticks: { precision: 0 }
          }
        }
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".chart[data-overview]").forEach(draw);
  });
}());
