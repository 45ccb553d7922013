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
  const skipButton = document.getElementById("skip");
  const undoButton = document.getElementById("undo");
  const revisitButton = document.getElementById("revisit");
  const skippedCount = document.getElementById("skipped-count");
  const rationale = document.getElementById("rationale");
  const summary = document.getElementById("choice-summary");
  const pausedNotice = document.getElementById("paused-notice");

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

  // Progress: the server counts on load, undo, revisit and at the end; in between the page keeps
  // its own figures (one fewer left per submit or skip).
  // Above 1,000 the server counts no further and says so (left_more): shown as "1000+".
  const counts = { judged: 0, left: 0, skipped: 0, leftMore: false };

  function showProgress(data, action) {
    if (data.progress) {
      counts.judged = data.progress.judged; counts.left = data.progress.left; counts.skipped = data.progress.skipped;
      counts.leftMore = Boolean(data.progress.left_more);
    } else if (action === "submit") {
      counts.judged += 1; counts.left = Math.max(0, counts.left - 1);
    } else if (action === "skip") {
      counts.skipped += 1; counts.left = Math.max(0, counts.left - 1);
    }
    progress.textContent = counts.judged + " judged · " + counts.left + (counts.leftMore ? "+" : "") + " left for you" +
      (counts.skipped ? " · " + counts.skipped + " skipped" : "");
    revisitButton.hidden = counts.skipped === 0;
    skippedCount.textContent = counts.skipped ? "(" + counts.skipped + ")" : "";
  }

  function doneText(data) {
    if (data.status === "paused" || data.status === "banned") {
      return "No new tasks while your labeling here is " + (data.status === "banned" ? "stopped." : "paused.");
    }
    let text = "All done here for now. Thank you!";
    if (counts.left > 0) text += " " + counts.left + (counts.left === 1 ? " task is" : " tasks are") +
      " still open but held by other annotators; check back later.";
    if (counts.skipped > 0) text += " You can revisit the tasks you skipped.";
    return text;
  }

  function show(data, action) {
    showProgress(data, action);
    winner = null; ranking = []; tieNext = false; rationale.value = "";
    // A new task starts with the focus on the page, so Enter submits (not the button last used).
    if (document.activeElement && root.contains(document.activeElement)) document.activeElement.blur();
    if (data.status) pausedNotice.hidden = data.status === "active";
    if (data.done) {
      current = null;
      const done = document.createElement("p");
      done.className = "done";
      done.textContent = doneText(data);
      taskBox.replaceChildren(done);
      root.dataset.state = "done";
    } else {
      current = data;
      taskBox.innerHTML = data.html;  // rendered and sanitised on the server
      root.dataset.state = "task";
      root.dataset.assignment = data.assignment;
      taskBox.querySelectorAll(".sample").forEach(function (card) {
        card.addEventListener("click", function (event) {
          if (event.target.closest("a")) return;  // a link inside an answer is not a pick
          pick(Number(card.dataset.slot));
        });
      });
      startClock();
    }
    refresh();
  }

  function slotId(slot) { return current && current.shown_order[slot]; }

  function sideName(slot) {
    const narrow = window.matchMedia("(max-width: 900px)").matches;
    return slot === 0 ? (narrow ? "Top" : "Left") : (narrow ? "Bottom" : "Right");
  }

  function pairSummary() {
    if (winner === null) return "";
    if (winner === "tie") return "Your answer: a tie.";
    if (winner === "both_bad") return "Your answer: both are bad.";
    return "Your answer: " + sideName(current.shown_order.indexOf(winner)) + " is better.";
  }

  function refresh() {
    const cards = taskBox.querySelectorAll(".sample");
    cards.forEach(function (card) {
      const id = Number(card.dataset.sampleId);
      const mark = card.querySelector(".rank-mark");
      if (kind === "pairwise") {
        card.classList.toggle("chosen", winner === id);
        card.classList.toggle("not-chosen", winner !== null && typeof winner === "number" && winner !== id);
        card.classList.toggle("tied", winner === "tie");
        card.classList.toggle("bad", winner === "both_bad");
        mark.textContent = winner === id ? "✓ better" : winner === "tie" ? "= tie" : winner === "both_bad" ? "✗ bad" : "";
      } else {
        const groupIndex = ranking.findIndex(function (g) { return g.includes(id); });
        card.classList.toggle("chosen", groupIndex >= 0);
        mark.textContent = groupIndex >= 0 ? "#" + (groupIndex + 1) : "";
      }
    });
    taskBox.classList.toggle("tie", winner === "tie");
    taskBox.classList.toggle("both-bad", winner === "both_bad");
    document.querySelectorAll("[data-choose]").forEach(function (button) {
      const value = button.dataset.choose;
      const pressed = current !== null && winner !== null &&
        (value === "tie" || value === "both_bad" ? winner === value : winner === slotId(Number(value)));
      button.setAttribute("aria-pressed", pressed ? "true" : "false");
    });
    const preview = document.getElementById("ranking-preview");
    if (preview) {
      preview.textContent = ranking.map(function (g) {
        return g.map(function (id) { return current.shown_order.indexOf(id) + 1; }).join("=");
      }).join(" > ");
    }
    summary.textContent = current && kind === "pairwise" ? pairSummary() : "";
    const placed = ranking.reduce(function (n, g) { return n + g.length; }, 0);
    submitButton.disabled = !current || (kind === "pairwise" ? winner === null : placed !== current.shown_order.length);
    skipButton.disabled = !current;
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

  function choose(value) {
    if (!current) return;
    if (value === "tie" || value === "both_bad") { winner = value; refresh(); } else pick(Number(value));
  }

  async function act(url, body, action) {
    if (busy) return;
    busy = true;
    submitButton.disabled = true;
    try {
      say("");
      const data = await post(url, body);
      show(data, data.error ? "late" : action);
      if (data.error) say(data.error, true);
    }
    catch (error) { say(error.message, true); refresh(); }
    finally { busy = false; }
  }

  function submit() {
    if (!current || submitButton.disabled) return;
    const body = { assignment: current.assignment, active_ms: activeTime(), rationale: rationale.value };
    if (kind === "pairwise") body.winner = winner; else body.ranking = ranking;
    act(root.dataset.submitUrl, body, "submit");
  }

  document.querySelectorAll("[data-choose]").forEach(function (button) {
    button.addEventListener("click", function () { choose(button.dataset.choose); });
  });
  submitButton.addEventListener("click", submit);
  skipButton.addEventListener("click", function () {
    if (current) act(root.dataset.skipUrl, { assignment: current.assignment }, "skip");
  });
  undoButton.addEventListener("click", function () { act(root.dataset.undoUrl, {}, "undo"); });
  revisitButton.addEventListener("click", function () { act(root.dataset.revisitUrl, {}, "revisit"); });
  // A button clicked with the mouse gives the focus back, so the next Enter submits instead of
  // pressing that button again; a button reached with Tab keeps it (Enter presses it).
  root.addEventListener("click", function (event) {
    const button = event.target.closest("button");
    if (button && event.detail > 0) button.blur();
  });

  document.addEventListener("keydown", function (event) {
    const target = event.target;
    const key = event.key;
    if (target === rationale) {
      if (key === "Enter") { event.preventDefault(); submit(); }
      else if (key === "Escape") { rationale.blur(); }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (target.closest && target.closest("input, textarea, select, [contenteditable]")) return;
    // Enter or Space on a focused button or link activates that control, as everywhere else.
    if ((key === "Enter" || key === " ") && target.closest && target.closest("button, a, summary")) return;
    if (key === "Enter") { event.preventDefault(); submit(); return; }
    if (key === "s" || key === "S") { skipButton.click(); return; }
    if (key === "u" || key === "U") { undoButton.click(); return; }
    if ((key === "v" || key === "V") && !revisitButton.hidden) { revisitButton.click(); return; }
    if (key === "r" || key === "R") { event.preventDefault(); rationale.focus(); return; }
    if (!current) return;
    if (kind === "pairwise") {
      if (key === "1") pick(0);
      else if (key === "2") pick(1);
      else if (key === "3") choose("tie");
      else if (key === "4") choose("both_bad");
      return;
    }
    if (key === "=") { tieNext = ranking.length > 0; return; }
    if (key === "Backspace") { event.preventDefault(); ranking.pop(); tieNext = false; refresh(); return; }
    if (/^[1-9]$/.test(key)) pick(Number(key) - 1);
  });

  act(root.dataset.nextUrl, {}, "next");
})();
