// commlog dashboard: small conveniences only; every page works without this script.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // "Select all" ticks every row's box on this page; the bulk button says how many are chosen.
  for (const all of document.querySelectorAll("[data-select-all]")) {
    const form = all.closest("form");
    const boxes = () => Array.from(form.querySelectorAll('input[type=checkbox][name="key"]'));
    const button = form.querySelector("[data-bulk]");
    const update = () => {
      const chosen = boxes().filter((b) => b.checked).length;
      if (button) {
        button.disabled = chosen === 0;
        button.textContent = chosen ? `Retry ${chosen} selected` : "Retry selected";
      }
    };
    all.addEventListener("change", () => { for (const b of boxes()) b.checked = all.checked; update(); });
    form.addEventListener("change", update);
    update();
  }

  // An export in progress: poll its progress, then start the download (the page works without this,
  // reloading itself every two seconds and offering the file as a link).
  const job = document.querySelector("[data-export-progress]");
  if (job) {
    const url = job.getAttribute("data-export-progress");
    const bar = job.querySelector("progress");
    const text = job.querySelector("[data-export-text]");
    const link = job.querySelector("[data-export-download]");
    const rows = (n) => n.toLocaleString("en-US");
    const show = (state) => {
      job.dataset.state = state.state;
      if (state.total !== null) {
        bar.max = Math.max(state.total, state.rows, 1);
        bar.value = state.rows;
      }
      if (state.state === "RUNNING") {
        text.textContent = state.total === null
          ? "Counting the messages…" : `${rows(state.rows)} of ${rows(state.total)} rows written…`;
      } else if (state.state === "DONE") {
        text.textContent = `${rows(state.rows)} of ${rows(state.rows)} rows written. Your download has started.`;
        link.hidden = false;
      } else {
        text.textContent = `The export failed (${state.error}) after ${rows(state.rows)} rows.`;
      }
    };
    const tick = async () => {
      let answer;
      try {
        answer = await fetch(url, { headers: { Accept: "application/json" } });
      } catch (error) {
        window.setTimeout(tick, 1000);
        return;
      }
      if (!answer.ok) { text.textContent = "The export is no longer available."; return; }
      const state = await answer.json();
      show(state);
      if (state.state === "DONE") { window.location.assign(state.fileUrl); return; }
      if (state.state === "RUNNING") window.setTimeout(tick, 300);
    };
    if (job.dataset.state === "RUNNING" || job.dataset.state === "DONE") tick();
  }
});
