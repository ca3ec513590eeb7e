// The review page: one request at a time, answered by click or key. No framework, no CDN.
"use strict";
const config = window.REVIEW_CONFIG;
const WHY = {
  ConfidenceBelowThreshold: "Review: the model is unsure",
  UnusableImage: "Review: the photo looked unusable",
  audit: "Audit of a routed driver (the model's answer is hidden)",
};
const POLL_MS = 4000;
let current = null;        // the task on screen
let aheadPromise = null;   // the next task, claimed and its photo loading while this one is answered
let heldBehind = null;     // the task pushed aside by an undo, shown again after it
let lastAnswerId = null;
let busy = false;
let pollTimer = null;
let actionStartedAt = null;
let shownAt = null;        // when the current task appeared: the answer reports the seconds it was on screen
window.reviewTimings = [];  // ms from a key or click to the next photo on screen (bench/review_page.py)

const $ = (id) => document.getElementById(id);

function token() { return sessionStorage.getItem("reviewIdToken"); }

async function api(path, body) {
  const headers = {"Content-Type": "application/json"};
  if (config.auth === "cognito") headers.Authorization = "Bearer " + token();
  const response = await fetch(path, body === undefined ? {headers} :
    {method: "POST", headers, body: JSON.stringify(body)});
  if (response.status === 401 && config.auth === "cognito") { showSignIn(); throw new Error("signed out"); }
  const document_ = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(document_.error || ("HTTP " + response.status));
  return document_;
}

function say(text) { $("message").textContent = text; $("message").hidden = !text; }

async function refreshCounts() {
  try {
    const status = await api("api/status");
    $("waiting").textContent = status.waiting;
    $("answered-today").textContent = status.answered_today;
    $("reviewer").textContent = status.reviewer;
  } catch (error) { /* the counts wait for the next action */ }
}

// Each task's photo is its own <img>, fetched and decoded while the task waits its turn; showing the
// task swaps that element in, so neither the download nor the decode of a phone's photo is waited for.
function photoElement(task) {
  if (!task.image) {
    task.image = new Image();
    task.image.alt = "the driver's photo";
    task.image.src = task.photo_url;
  }
  return task.image;
}

function preload(task) {
  if (task && task.photo_url) { const image = photoElement(task); if (image.decode) image.decode().catch(() => {}); }
  return task;
}

function claim() { return api("api/next", {}).then((answer) => preload(answer.task)); }

async function showNext() {
  let task;
  if (heldBehind) { task = heldBehind; heldBehind = null; }
  else if (aheadPromise) { task = await aheadPromise.catch(() => null); aheadPromise = null; }
  if (!task) task = await claim();
  show(task);
  if (task && !aheadPromise) aheadPromise = claim();
  refreshCounts();
}

function show(task) {
  current = task;
  clearTimeout(pollTimer);
  $("task").hidden = !task;
  $("empty").hidden = !!task;
  if (!task) { pollTimer = setTimeout(() => showNext().catch((error) => say(error.message)), POLL_MS); return; }
  const why = $("why");
  why.className = task.kind === "audit" ? "kind-audit" : "kind-review";
  why.textContent = (task.undone ? "Undone (you had answered " + task.undone + "); answer again. " : "") +
    (WHY[task.kind === "audit" ? "audit" : task.reason] || ("Review: " + task.reason)) +
    (task.unusable_reasons.length ? " (" + task.unusable_reasons.join(", ") + ")" : "");
  const guess = $("model-guess");
  guess.hidden = task.model_label === undefined;
  guess.textContent = guess.hidden ? "" : "The model says " + task.model_label + " at " + task.model_confidence.toFixed(4);
  $("problem").hidden = !task.problem;
  $("problem").textContent = task.problem ? "Cannot be answered: " + task.problem + ". Set it aside (x) or skip it." : "";
  $("set-aside").hidden = !task.problem;
  document.querySelectorAll("#answers button[data-label]").forEach((button) => { button.disabled = !!task.problem; });
  const frame = $("photo-frame");
  frame.classList.remove("zoomed");
  const old = $("photo");
  if (task.photo_url) {
    const image = photoElement(task);
    image.id = "photo";
    image.hidden = false;
    image.style.transformOrigin = "50% 50%";
    image.onclick = zoom;
    image.onerror = () => { say("The photo did not load (its link may have expired): skip it (s)."); photoShown(); };
    if (old !== image) frame.replaceChild(image, old);
    if (image.complete && image.naturalWidth > 0) requestAnimationFrame(photoShown);
    else image.onload = photoShown;
  } else {
    old.hidden = true;
    old.removeAttribute("src");
    photoShown();
  }
  $("inference").textContent = "inference " + task.inference_id;
}

function photoShown() {
  shownAt = performance.now();
  if (actionStartedAt !== null) { window.reviewTimings.push(performance.now() - actionStartedAt); actionStartedAt = null; }
  document.body.dataset.shown = String(Number(document.body.dataset.shown || 0) + 1);
}

async function act(work) {
  if (busy) return;
  busy = true;
  actionStartedAt = performance.now();
  try { say(""); await work(); } catch (error) { say(error.message); actionStartedAt = null; } finally { busy = false; }
}

function answer(label) {
  if (!current || current.problem) return;
  const task = current;
  act(async () => {
    const result = await api("api/answer", {token: task.token, label, again: !!task.undone,
      seconds_on_screen: shownAt === null ? null : (performance.now() - shownAt) / 1000});
    lastAnswerId = result.answer_id;
    $("undo").disabled = false;
    await showNext();
  });
}

function skip() {
  if (!current) return;
  const task = current;
  act(async () => {
    // The claim made ahead must land first: made after the skip, it would get the skipped request back.
    if (aheadPromise) await aheadPromise.catch(() => null);
    await api("api/skip", {token: task.token});
    await showNext();
  });
}

function undo() {
  if (!lastAnswerId) return;
  act(async () => {
    const result = await api("api/undo", {answer_id: lastAnswerId});
    if (current && !current.undone) heldBehind = current;
    show(result.task);
    refreshCounts();
  });
}

function setAside() {
  if (!current || !current.problem) return;
  const task = current;
  act(async () => { await api("api/set-aside", {token: task.token, reason: task.problem}); await showNext(); });
}

function zoom(event) {
  const frame = $("photo-frame"), photo = $("photo");
  if (event && event.offsetX !== undefined && event.target === photo) {
    photo.style.transformOrigin = (100 * event.offsetX / photo.clientWidth) + "% " + (100 * event.offsetY / photo.clientHeight) + "%";
  } else { photo.style.transformOrigin = "50% 50%"; }
  frame.classList.toggle("zoomed");
}

function release() {
  // Give back what this page holds, so nobody waits for a claim to time out.
  const headers = {"Content-Type": "application/json"};
  if (config.auth === "cognito") headers.Authorization = "Bearer " + token();
  for (const task of [current, heldBehind]) {
    if (task && task.token && !task.undone) fetch("api/skip", {method: "POST", headers, keepalive: true, body: JSON.stringify({token: task.token})});
  }
  if (aheadPromise) aheadPromise.then((task) => task && fetch("api/skip", {method: "POST", headers, keepalive: true, body: JSON.stringify({token: task.token})}));
}

function showSignIn() { $("desk").hidden = true; $("sign-in").hidden = false; }

async function signIn(event) {
  event.preventDefault();
  const response = await fetch(config.endpoint, {method: "POST", headers: {
    "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "AWSCognitoIdentityProviderService.InitiateAuth"},
    body: JSON.stringify({AuthFlow: "USER_PASSWORD_AUTH", ClientId: config.client_id,
      AuthParameters: {USERNAME: $("username").value, PASSWORD: $("password").value}})});
  const result = await response.json().catch(() => ({}));
  if (!response.ok || !result.AuthenticationResult) {
    $("sign-in-error").textContent = result.message || "Sign-in failed"; $("sign-in-error").hidden = false; return;
  }
  sessionStorage.setItem("reviewIdToken", result.AuthenticationResult.IdToken);
  start();
}

function start() {
  $("sign-in").hidden = true; $("desk").hidden = false;
  act(showNext);
}

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || ["INPUT", "TEXTAREA"].includes(event.target.tagName)) return;
  const key = event.key.toLowerCase();
  const labels = {"1": "bicycle", "2": "motorcycle", "3": "not_a_vehicle"};
  if (labels[key]) answer(labels[key]);
  else if (key === "s") skip();
  else if (key === "z") undo();
  else if (key === "x") setAside();
  else if (key === "+" || key === "=") zoom();
  else return;
  event.preventDefault();
});
document.querySelectorAll("#answers button[data-label]").forEach((button) =>
  button.addEventListener("click", () => answer(button.dataset.label)));
$("skip").addEventListener("click", skip);
$("undo").addEventListener("click", undo);
$("set-aside").addEventListener("click", setAside);
$("zoom").addEventListener("click", () => zoom());
$("sign-in").addEventListener("submit", signIn);
window.addEventListener("pagehide", release);
if (config.auth === "cognito" && !token()) showSignIn(); else start();
