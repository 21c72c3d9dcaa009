// The dashboard's charts, drawn with the vendored ECharts from the numbers the page carries in
// <script type="application/json" id="dashboard-data"> (the same numbers as the tables beside them).
(function () {
  "use strict";
  var source = document.getElementById("dashboard-data");
  if (!source || typeof window.echarts === "undefined") return;
  var data = JSON.parse(source.textContent);
  var COLORS = { met: "#2e7d32", in_progress: "#e0a800", not_met: "#c62828" };
  var TEXT = "#212529";
  var charts = [];

  function draw(name, option) {
    var element = document.querySelector('[data-chart="' + name + '"]');
    if (!element) return;
    var chart = window.echarts.init(element, null, { renderer: "canvas" });
    option.animation = false;
    option.textStyle = { color: TEXT };
    chart.setOption(option);
    charts.push(chart);
  }

  if (data.compliance) {
    draw("compliance", {
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      legend: { top: 0 },
      grid: { left: 8, right: 16, top: 32, bottom: 8, containLabel: true },
      xAxis: { type: "value", minInterval: 1 },
      yAxis: { type: "category", inverse: true, data: data.compliance.types },
      series: data.compliance.series.map(function (series) {
        return {
          type: "bar",
          stack: "organizations",
          name: series.name,
          data: series.data,
          itemStyle: { color: COLORS[series.key] },
        };
      }),
    });
  }

  if (data.grades) {
    draw("grades", {
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      grid: { left: 8, right: 16, top: 16, bottom: 8, containLabel: true },
      xAxis: { type: "category", data: data.grades.names },
      yAxis: { type: "value", minInterval: 1, name: data.grades.label },
      series: [{ type: "bar", name: data.grades.label, data: data.grades.counts, itemStyle: { color: "#a61b1b" } }],
    });
  }

  if (data.trend) {
    draw("trend", {
      tooltip: { trigger: "axis" },
      legend: { top: 0 },
      grid: { left: 8, right: 16, top: 32, bottom: 8, containLabel: true },
      xAxis: { type: "category", data: data.trend.days },
      yAxis: { type: "value", minInterval: 1 },
      series: data.trend.series.map(function (series) {
        return { type: "line", name: series.name, data: series.data, showSymbol: data.trend.days.length < 2 };
      }),
    });
  }

  if (data.rounds) {
    draw("rounds", {
      tooltip: { trigger: "axis" },
      grid: { left: 8, right: 16, top: 16, bottom: 8, containLabel: true },
      xAxis: { type: "category", data: data.rounds.names },
      yAxis: { type: "value", name: data.rounds.label },
      series: [{ type: "line", name: data.rounds.label, data: data.rounds.averages, itemStyle: { color: "#a61b1b" } }],
    });
  }

  var pending = null;
  window.addEventListener("resize", function () {
    if (pending) window.clearTimeout(pending);
    pending = window.setTimeout(function () {
      charts.forEach(function (chart) {
        chart.resize();
      });
    }, 100);
  });
  // Printing lays the page out again at the paper's width.
  window.addEventListener("beforeprint", function () {
    charts.forEach(function (chart) {
      chart.resize();
    });
  });
})();
