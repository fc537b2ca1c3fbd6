// Clicks on a Plotly chart drawn by st.plotly_chart, passed to Python (see ui/chart_clicks.py).
//
// Streamlit's chart reports selections of scatter-type traces only, so a click on a heatmap
// cell never reaches Python through it. plotly.js itself does report it: this component
// finds the chart's graph div (the element container of the chart carries the class
// st-key-<chart key>), listens to `plotly_click`, and makes clicks on the y-axis labels
// (feature names) count as well. It draws nothing.
//
// Clicks made while a script run is still going must not be lost: Streamlit keeps only the
// latest value of a trigger when reruns pile up. So every trigger carries all clicks Python
// has not acknowledged yet (each with a increasing stamp `at`); Python handles each stamp
// once and sends the highest back as `data.ack`, and the page then forgets those.

const BRIDGES = (window.__interplmChartClicks = window.__interplmChartClicks || {});

function graphDiv(chart) {
  return document.querySelector(`.st-key-${CSS.escape(chart)} .js-plotly-plot`);
}

function send(chart, point) {
  const bridge = BRIDGES[chart];
  if (!bridge) return;
  bridge.last = Math.max(Date.now(), (bridge.last || 0) + 1);
  bridge.pending.push({ ...point, at: bridge.last });
  bridge.setTriggerValue("clicks", bridge.pending.slice());
}

function labelClicks(chart, gd) {
  // Plotly redraws tick labels on every zoom: re-arm them after each plot.
  gd.querySelectorAll(".yaxislayer-above .ytick text").forEach((label) => {
    if (label.__interplmClick) return;
    label.__interplmClick = true;
    label.style.pointerEvents = "all";
    label.style.cursor = "pointer";
    label.addEventListener("click", () => send(chart, { y: label.textContent, x: null, source: "label" }));
  });
}

function attach(chart) {
  const gd = graphDiv(chart);
  if (!gd || typeof gd.on !== "function") return false;
  if (gd.__interplmClicks !== chart) {
    gd.__interplmClicks = chart;
    gd.on("plotly_click", (event) => {
      const p = event && event.points && event.points[0];
      if (p) send(chart, { x: p.x, y: p.y, source: "cell" });
    });
    gd.on("plotly_afterplot", () => labelClicks(chart, gd));
  }
  labelClicks(chart, gd);
  return true;
}

export default function (component) {
  const { data, setTriggerValue } = component;
  const chart = data.chart;
  const bridge = (BRIDGES[chart] = BRIDGES[chart] || { pending: [], last: 0 });
  bridge.setTriggerValue = setTriggerValue;
  bridge.pending = bridge.pending.filter((click) => click.at > (data.ack || 0));
  // The chart may be (re)drawn after this runs: keep looking until its graph div is there,
  // and every second after that in case Streamlit replaced it.
  let tries = 0;
  const early = setInterval(() => {
    tries += 1;
    if (attach(chart) || tries > 100) clearInterval(early);
  }, 50);
  const watch = setInterval(() => attach(chart), 1000);
  return () => {
    clearInterval(early);
    clearInterval(watch);
  };
}
