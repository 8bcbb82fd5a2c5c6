// The Query page: editor keys, column insertion, and charts of results.
(function () {
  "use strict";

  var INDENT = "    ";
  var COLOURS = ["#1f5fbf", "#d9822b", "#1e7a3c", "#b3261e", "#7b4fb3",
                 "#0f8a8a", "#a3708a", "#6b7a90"];

  function editor() { return document.getElementById("kql"); }

  function insert(text) {
    var area = editor();
    var start = area.selectionStart, end = area.selectionEnd;
    area.setRangeText(text, start, end, "end");
    area.focus();
  }

  function onKey(event) {
    if (event.key === "Tab" && !event.shiftKey && !event.ctrlKey && !event.altKey) {
      event.preventDefault();
      insert(INDENT);
    } else if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      event.target.form.requestSubmit();
    }
  }

  function timeLabel(text) {
    var when = new Date(text);
    if (isNaN(when)) { return text; }
    return when.toISOString().slice(5, 16).replace("T", " ");
  }

  function draw(holder) {
    if (holder.dataset.drawn || typeof Chart === "undefined") { return; }
    holder.dataset.drawn = "yes";
    var spec = JSON.parse(holder.dataset.chart);
    var pie = spec.kind === "pie";
    var labels = spec.labels.map(function (label) {
      if (label === null) { return "(empty)"; }
      return spec.time ? timeLabel(label) : String(label);
    });
    var datasets = spec.series.map(function (series, i) {
      var colour = COLOURS[i % COLOURS.length];
      return {
        label: series.name,
        data: series.values,
        borderColor: pie ? "#fff" : colour,
        backgroundColor: pie ? COLOURS.slice(0, labels.length)
          : (spec.kind === "area" ? colour + "33" : colour),
        fill: spec.kind === "area",
        tension: 0.2,
        pointRadius: labels.length > 60 ? 0 : 3,
        borderWidth: pie ? 1 : 2,
        maxBarThickness: 48
      };
    });
    var type = { line: "line", area: "line", column: "bar", bar: "bar", pie: "pie" };
    new Chart(holder.querySelector("canvas"), {
      type: type[spec.kind],
      data: { labels: labels, datasets: datasets },
      options: {
        indexAxis: spec.kind === "bar" ? "y" : "x",
        maintainAspectRatio: false,
        animation: false,
        plugins: {
          title: { display: !!spec.title, text: spec.title, font: { size: 15 } },
          legend: { position: pie ? "right" : "top" }
        },
        scales: pie ? {} : {
          x: spec.kind === "line" || spec.kind === "area"
            ? { offset: labels.length < 3 } : { beginAtZero: true },
          y: { beginAtZero: true }
        }
      }
    });
  }

  function drawAll(root) {
    root.querySelectorAll(".chart[data-chart]").forEach(function (holder) {
      var folded = holder.closest("details");
      if (!folded) { draw(holder); return; }
      // Chart.js sizes a chart by its box: draw it once it is shown.
      if (folded.open) { draw(holder); }
      folded.addEventListener("toggle", function () {
        if (folded.open) { draw(holder); }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var area = editor();
    if (!area) { return; }
    area.addEventListener("keydown", onKey);
    document.querySelectorAll("button.insert").forEach(function (button) {
      button.addEventListener("click", function (event) {
        event.preventDefault();
        insert(button.dataset.insert);
      });
    });
    drawAll(document);
    document.body.addEventListener("htmx:afterSettle", function (event) {
      drawAll(event.target);
    });
  });
}());
