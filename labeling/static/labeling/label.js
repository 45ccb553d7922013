// The labeling page: fetch a task, take keys or clicks, submit, show the next task in place.
(function () {
  "use strict";
  const root = document.getElementById("labeler");
  if (!root) return;
  const kind = root.dataset.kind;
  const csrf = root.querySelector("input[name=csrfmiddlewaretoken]").value;
  const taskBox = document.getElementById("task");
  const message = document.getElementById("message");
  const progress = document.getElementById("progress");
  const submitButton = document.getElementById("submit");
  const rationale = document.getElementById("rationale");

  let current = null;      // {assignment, shown_order}
  let winner = null;       // pairwise: a sample id, "tie" or "both_bad"
  let ranking = [];        // ranking: groups of sample ids, best first
  let tieNext = false;
  let busy = false;
  let activeMs = 0;        // time the page was visible while this task was shown
  let visibleSince = null;

  function startClock() { activeMs = 0; visibleSince = document.hidden ? null : performance.now(); }
  function activeTime() {
    return Math.round(activeMs + (visibleSince === null ? 0 : performance.now() - visibleSince));
  }
  document.addEventListener("visibilitychange", function () {
    if (document.hidden && visibleSince !== null) { activeMs += performance.now() - visibleSince; visibleSince = null; }
    else if (!document.hidden && visibleSince === null) { visibleSince = performance.now(); }
  });

  function say(text, isError) {
    message.textContent = text || "";
    message.classList.toggle("error", Boolean(isError));
  }

  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify(body || {}),
      credentials: "same-origin",
    });
    let data = {};
    try { data = await response.json(); } catch (e) { data = { error: "The server answered " + response.status + "." }; }
    // A 409 on submit (the lease ran out and others filled the task) still carries the next task.
    const moveOn = response.status === 409 && data.done !== undefined;
    if (!response.ok && !moveOn) throw new Error(data.error || ("The server answered " + response.status + "."));
    return data;
  }

  let judged = 0;
  let openTasks = 0;

  function show(data, submitted) {
    if (data.progress) { judged = data.progress.judged; openTasks = data.progress.open; }
    else if (submitted) { judged += 1; }
    progress.textContent = judged + " judged · " + openTasks + " tasks open";
    winner = null; ranking = []; tieNext = false; rationale.value = "";
    if (data.done) {
      current = null;
      taskBox.innerHTML = '<p class="done">All done here for now. Thank you!</p>';
      root.dataset.state = "done";
    } else {
      current = data;
      taskBox.innerHTML = data.html;  // rendered and sanitised on the server
      root.dataset.state = "task";
      root.dataset.assignment = data.assignment;
      taskBox.querySelectorAll(".sample").forEach(function (card) {
        card.addEventListener("click", function () { pick(Number(card.dataset.slot)); });
      });
      startClock();
    }
    refresh();
  }

  function slotId(slot) { return current && current.shown_order[slot]; }

  function refresh() {
    const cards = taskBox.querySelectorAll(".sample");
    cards.forEach(function (card) {
      const id = Number(card.dataset.sampleId);
      card.classList.toggle("chosen", winner === id);
      const groupIndex = ranking.findIndex(function (g) { return g.includes(id); });
      card.querySelector(".rank-mark").textContent = groupIndex >= 0 ? "#" + (groupIndex + 1) : "";
    });
    taskBox.classList.toggle("tie", winner === "tie");
    taskBox.classList.toggle("both-bad", winner === "both_bad");
    const preview = document.getElementById("ranking-preview");
    if (preview) {
      preview.textContent = ranking.map(function (g) {
        return g.map(function (id) { return current.shown_order.indexOf(id) + 1; }).join("=");
      }).join(" > ");
    }
    const placed = ranking.reduce(function (n, g) { return n + g.length; }, 0);
    submitButton.disabled = !current || (kind === "pairwise" ? winner === null : placed !== current.shown_order.length);
  }

  function pick(slot) {
    if (!current) return;
    const id = slotId(slot);
    if (id === undefined) return;
    if (kind === "pairwise") { winner = id; refresh(); return; }
    if (ranking.some(function (g) { return g.includes(id); })) return;
    if (tieNext && ranking.length) ranking[ranking.length - 1].push(id); else ranking.push([id]);
    tieNext = false;
    refresh();
  }

  async function act(url, body) {
    if (busy) return;
    busy = true;
    submitButton.disabled = true;
    try {
      say("");
      const data = await post(url, body);
      show(data, url === root.dataset.submitUrl && !data.error);
      if (data.error) say(data.error, true);
    }
    catch (error) { say(error.message, true); refresh(); }
    finally { busy = false; }
  }

  function submit() {
    if (!current || submitButton.disabled) return;
    const body = { assignment: current.assignment, active_ms: activeTime(), rationale: rationale.value };
    if (kind === "pairwise") body.winner = winner; else body.ranking = ranking;
    act(root.dataset.submitUrl, body);
  }

  document.querySelectorAll("[data-choose]").forEach(function (button) {
    button.addEventListener("click", function () {
      const value = button.dataset.choose;
      if (value === "tie" || value === "both_bad") { if (current) { winner = value; refresh(); } }
      else pick(Number(value));
    });
  });
  submitButton.addEventListener("click", submit);
  document.getElementById("skip").addEventListener("click", function () {
    if (current) act(root.dataset.skipUrl, { assignment: current.assignment });
  });
  document.getElementById("undo").addEventListener("click", function () { act(root.dataset.undoUrl, {}); });

  document.addEventListener("keydown", function (event) {
    if (event.target === rationale || event.ctrlKey || event.metaKey || event.altKey) {
      if (event.target === rationale && event.key === "Enter") { event.preventDefault(); submit(); }
      return;
    }
    const key = event.key;
    if (key === "Enter") { event.preventDefault(); submit(); return; }
    if (key === "s" || key === "S") { document.getElementById("skip").click(); return; }
    if (key === "u" || key === "U") { document.getElementById("undo").click(); return; }
    if (!current) return;
    if (kind === "pairwise") {
      if (key === "1") pick(0);
      else if (key === "2") pick(1);
      else if (key === "3") { winner = "tie"; refresh(); }
      else if (key === "4") { winner = "both_bad"; refresh(); }
      return;
    }
    if (key === "=") { tieNext = ranking.length > 0; return; }
    if (key === "Backspace") { event.preventDefault(); ranking.pop(); tieNext = false; refresh(); return; }
    if (/^[1-9]$/.test(key)) pick(Number(key) - 1);
  });

  act(root.dataset.nextUrl, {});
})();
