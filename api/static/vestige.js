// Vestige's little bit of script: copy the citation, follow capture jobs,
// show upload progress. Everything shown is set as text, never as HTML.
"use strict";

function copyButtons() {
  for (const button of document.querySelectorAll("button[data-copy]")) {
    button.addEventListener("click", async () => {
      const source = document.getElementById(button.dataset.copy);
      source.select();
      try {
        await navigator.clipboard.writeText(source.value);
      } catch (error) {
        document.execCommand("copy");
      }
      button.textContent = "Copied";
    });
  }
}

function link(href, text) {
  const a = document.createElement("a");
  a.href = href;
  a.textContent = text;
  return a;
}

function showJob(table, job) {
  const rows = table.querySelectorAll("tbody tr");
  job.urls.forEach((item, position) => {
    const row = rows[position];
    if (!row) return;
    const finished = item.state === "done" || item.state === "failed";
    let state = item.state;
    if (item.searchable) state = "searchable";
    else if (item.state === "done" && item.document_id) state = "indexing";
    else if (item.state === "done") state = "stored (no text to search)";
    row.querySelector(".state").textContent = state;
    const result = row.querySelector(".result");
    result.replaceChildren();
    if (item.error) {
      const error = document.createElement("span");
      error.className = "error";
      error.textContent = item.error;
      result.append(error);
    }
    if (item.document_id) result.append(link("/documents/" + item.document_id, "document"), " ");
    if (item.replay) {
      const stamp = item.replay.split("/")[2];
      result.append(link("/archive/" + stamp + "/" + item.final_url, "archived copy"));
    }
    row.dataset.finished = finished && (item.searchable || !item.document_id) ? "1" : "";
  });
  const label = document.querySelector(".job-state");
  label.textContent = job.state;
  label.dataset.state = job.state;
}

// Fetch a job's state until onJob, given each state, returns no delay for the next look;
// a failed fetch is tried again after two seconds.
function pollJob(id, onJob, delay) {
  const poll = async () => {
    let job;
    try {
      const response = await fetch("/api/v1/jobs/" + encodeURIComponent(id), {
        headers: { Accept: "application/json" },
      });
      job = await response.json();
    } catch (error) {
      setTimeout(poll, 2000);
      return;
    }
    const next = onJob(job);
    if (next) setTimeout(poll, next);
  };
  setTimeout(poll, delay);
}

function followJob() {
  const table = document.getElementById("job");
  if (!table) return;
  pollJob(table.dataset.job, (job) => {
    showJob(table, job);
    const rows = [...table.querySelectorAll("tbody tr")];
    if (rows.every((row) => row.dataset.finished === "1")) {
      document.body.dataset.jobFinished = "1";
      return null;
    }
    return 700;
  }, 0);
}

function uploadProgress() {
  const form = document.getElementById("upload");
  if (!form) return;
  form.addEventListener("submit", () => {
    const progress = form.querySelector(".progress");
    progress.hidden = false;
    progress.textContent = "Uploading, storing and indexing… this page changes when the document is searchable.";
    form.querySelector("button").disabled = true;
  });
}

function followCrawl() {
  const facts = document.getElementById("crawl");
  const label = document.querySelector(".job-state");
  if (!facts || !label || label.dataset.state !== "running") return;
  pollJob(facts.dataset.crawl, (job) => {
    for (const cell of facts.querySelectorAll("[data-count]")) {
      cell.textContent = job.counts[cell.dataset.count];
    }
    if (job.state !== "running") {
      window.location.reload(); // show the final pages and state
      return null;
    }
    return 1000;
  }, 1000);
}

document.addEventListener("DOMContentLoaded", () => {
  copyButtons();
  followJob();
  followCrawl();
  uploadProgress();
});
