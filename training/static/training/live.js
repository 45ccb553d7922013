// Live parts of the run and round pages: each element with data-live-url is replaced every
// data-live-every ms by the HTML fragment at that URL, until the server answers X-Live-Done: 1
// (the run or round has finished). A file, not inline script, for the CSP; without JavaScript the
// page refreshes itself instead (a <noscript> meta refresh while unfinished).
(function () {
  "use strict";

  function watch(element) {
    const url = element.dataset.liveUrl;
    const every = Number(element.dataset.liveEvery) || 3000;

    async function refresh() {
      if (document.hidden) return true;  // a background tab waits; it refreshes when shown
      const response = await fetch(url, {credentials: "same-origin", headers: {"X-Requested-With": "fetch"}});
      if (response.redirected || !response.ok) {
        // Logged out, or the object is gone: stop and say so rather than show a login form inside the page.
        element.insertAdjacentHTML("afterbegin", '<p class="flag">Live updates stopped (' +
          (response.redirected ? "logged out" : "HTTP " + response.status) + "); reload the page.</p>");
        return false;
      }
      const html = await response.text();
      // Keep the sections the reader opened open across the swap.
      const open = Array.from(element.querySelectorAll("details[id][open]"), (d) => d.id);
      element.innerHTML = html;
      open.forEach((id) => { const d = document.getElementById(id); if (d) d.open = true; });
      element.dataset.liveRefreshed = String((Number(element.dataset.liveRefreshed) || 0) + 1);
      return response.headers.get("X-Live-Done") !== "1";
    }

    function schedule() {
      setTimeout(() => {
        refresh().then((again) => { if (again) schedule(); }, () => schedule());  // a network blip: try again
      }, every);
    }
    schedule();
  }

  document.querySelectorAll("[data-live-url]").forEach(watch);

  // Forms with data-confirm (cancel a run) ask first.
  document.addEventListener("submit", (event) => {
    const message = event.target.dataset && event.target.dataset.confirm;
    if (message && !window.confirm(message)) event.preventDefault();
  });
})();
