// The review page: upload a file to /v1/score?explain=1&crops=1 and draw the answer.
"use strict";

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";

function svgElement(name, attributes) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  return element;
}

function authHeader() {
  const token = $("token").value.trim();
  return token ? { Authorization: "Bearer " + token } : {};
}

function upload(file) {
  const body = new FormData();
  body.append("file", file);
  const request = new XMLHttpRequest();
  request.open("POST", "/v1/score?explain=1&crops=1");
  for (const [key, value] of Object.entries(authHeader())) request.setRequestHeader(key, value);
  request.upload.onprogress = (event) => {
    if (event.lengthComputable) $("progress").value = (100 * event.loaded) / event.total;
  };
  request.upload.onload = () => { $("status").textContent = "Uploaded; detecting and scoring faces…"; };
  request.onload = () => finished(request);
  request.onerror = () => showError("the service cannot be reached");
  $("progress").hidden = false;
  $("progress").value = 0;
  $("result").hidden = true;
  $("status").className = "muted";
  $("status").textContent = "Uploading " + file.name + "…";
  request.send(body);
}

function finished(request) {
  $("progress").hidden = true;
  let answer;
  try { answer = JSON.parse(request.responseText); } catch (err) { answer = { error: request.statusText }; }
  if (request.status !== 200) {
    showError(request.status + ": " + (answer.error || "the request failed"));
    return;
  }
  $("status").textContent = "Done in " + Math.round(answer.timings.total_ms) + " ms.";
  show(answer);
}

function showError(message) {
  $("progress").hidden = true;
  $("status").className = "error";
  $("status").textContent = message;
}

function show(answer) {
  const verdict = answer.verdict;
  $("verdict").className = "verdict " + verdict.label;
  $("verdict").textContent = "P(fake) " + verdict.p_fake.toFixed(3) + ": " + verdict.label +
    (verdict.no_face ? " (no face found)" : "");
  $("rule").textContent = "Rule: " + verdict.rule + "; threshold " + verdict.threshold + ".";
  drawTimeline(answer.frames, verdict.threshold);
  drawFaces(answer.frames);
  drawHeatmaps(answer.explanations || []);
  $("result").hidden = false;
}

function drawTimeline(frames, threshold) {
  const width = 640, height = 160, pad = 30;
  const svg = svgElement("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
                                  "aria-label": "P(fake) per sampled frame" });
  const x = (k) => pad + (frames.length < 2 ? (width - 2 * pad) / 2 : (k * (width - 2 * pad)) / (frames.length - 1));
  const y = (p) => height - pad - p * (height - 2 * pad);
  svg.appendChild(svgElement("line", { x1: pad, x2: width - pad, y1: y(0), y2: y(0), stroke: "#999" }));
  svg.appendChild(svgElement("line", { id: "threshold", x1: pad, x2: width - pad, y1: y(threshold), y2: y(threshold),
                                       stroke: "#e53935", "stroke-dasharray": "6 4" }));
  const label = svgElement("text", { x: width - pad, y: y(threshold) - 4, "text-anchor": "end", fill: "#e53935",
                                     "font-size": 11 });
  label.textContent = "threshold " + threshold;
  svg.appendChild(label);
  const points = frames.map((f, k) => [f, k]).filter(([f]) => f.p_fake !== null);
  if (points.length > 1) {
    const path = points.map(([f, k]) => `${x(k)},${y(f.p_fake)}`).join(" ");
    svg.appendChild(svgElement("polyline", { points: path, fill: "none", stroke: "#1e88e5", "stroke-width": 2 }));
  }
  frames.forEach((f, k) => {
    const dot = svgElement("circle", { class: "frame", cx: x(k), cy: y(f.p_fake === null ? 0 : f.p_fake), r: 4,
                                       fill: f.p_fake === null ? "#bbb" : "#1e88e5" });
    const title = svgElement("title", {});
    title.textContent = "frame " + f.index + (f.time_s !== null ? ` (${f.time_s} s)` : "") + ": " +
      (f.p_fake === null ? "no face" : "P(fake) " + f.p_fake.toFixed(3));
    dot.appendChild(title);
    svg.appendChild(dot);
  });
  $("timeline").replaceChildren(svg);
}

function faceCard(src, alt, caption) {
  const card = document.createElement("div");
  card.className = "face";
  const image = document.createElement("img");
  image.src = src;
  image.alt = alt;
  card.appendChild(image);
  card.appendChild(document.createTextNode(caption));
  return card;
}

function drawFaces(frames) {
  const faces = frames.flatMap((f) => f.faces.map((face) => ({ ...face, frame: f.index })));
  faces.sort((a, b) => b.p_fake - a.p_fake);
  const cards = faces.filter((f) => f.crop).map((f) =>
    faceCard(f.crop, "face crop", `frame ${f.frame}: ${f.p_fake.toFixed(3)}`));
  $("faces").replaceChildren(...cards);
  if (!cards.length) $("faces").textContent = "No face was found.";
}

function drawHeatmaps(explanations) {
  const cards = explanations.map((e) =>
    faceCard(e.overlay, "Grad-CAM overlay", `frame ${e.frame}: ${e.p_fake.toFixed(3)}`));
  cards.forEach((card) => card.classList.add("heatmap"));
  $("heatmaps").replaceChildren(...cards);
  if (!cards.length) $("heatmaps").textContent = "No heat map (no face, or an exported model).";
}

function setUp() {
  const drop = $("drop");
  $("file").addEventListener("change", () => { if ($("file").files.length) upload($("file").files[0]); });
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    if (event.dataTransfer.files.length) upload(event.dataTransfer.files[0]);
  });
  fetch("/v1/model", { headers: authHeader() }).then((r) => r.ok ? r.json() : null).then((model) => {
    if (model) $("model").textContent = `${model.backbone} · ${model.detector} · ${model.sha256.slice(0, 12)}`;
  }).catch(() => {});
}

setUp();
