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

  // An export in progress: poll its progress and offer the file when it is ready.
  const progress = document.querySelector("[data-export-progress]");
  if (progress) {
    const url = progress.getAttribute("data-export-progress");
    const bar = progress.querySelector("progress");
    const text = progress.querySelector("[data-export-text]");
    const tick = async () => {
      const answer = await fetch(url, { headers: { Accept: "application/json" } });
      if (!answer.ok) { text.textContent = "The export is no longer available."; return; }
      const job = await answer.json();
      if (job.total) { bar.max = job.total; bar.value = job.rows; }
      text.textContent = job.message;
      if (job.state === "done" || job.state === "failed") { window.location.reload(); return; }
      window.setTimeout(tick, 500);
    };
    window.setTimeout(tick, 300);
  }
});
