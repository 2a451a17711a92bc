// The review page's keyboard: one key per label, `a` accepts every suggestion, Enter submits,
// `u` asks for a note and marks the message unclear, `s` skips. Plain form posts; no API key here.
(() => {
  "use strict";
  const form = document.getElementById("decision");
  if (!form) return;
  const noteBox = document.getElementById("note-box");
  const note = document.getElementById("note");
  const byKey = new Map();
  form.querySelectorAll("input[data-key]").forEach((input) => byKey.set(input.dataset.key, input));
  let sent = false;

  function send(action) {
    if (sent) return;
    sent = true;
    form.requestSubmit(document.getElementById(action));
  }

  function mark() {
    form.querySelectorAll("fieldset.head").forEach((set) => {
      const picked = set.querySelector("input:checked");
      const corrected = picked !== null && picked.value !== set.dataset.suggested;
      set.classList.toggle("corrected", corrected);
    });
  }

  function resetToSuggestions() {
    form.querySelectorAll("fieldset.head").forEach((set) => {
      set.querySelectorAll("input").forEach((input) => {
        input.checked = input.value === set.dataset.suggested;
      });
    });
    mark();
  }

  function askNote() {
    noteBox.classList.add("open");
    note.focus();
  }

  form.addEventListener("change", mark);
  form.addEventListener("submit", (event) => {
    if (event.submitter && event.submitter.id === "unclear" && !noteBox.classList.contains("open")) {
      event.preventDefault();
      sent = false;
      askNote();
    }
  });

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    if (event.target === note) {
      if (event.key === "Escape") {
        event.preventDefault();
        noteBox.classList.remove("open");
        note.blur();
      } else if (event.key === "Enter" && !event.shiftKey) {
        event.preventDefault();
        send("unclear");
      }
      return;
    }
    const key = event.key === "Enter" ? "Enter" : event.key.toLowerCase();
    if (key === "Enter") {
      event.preventDefault();
      send("submit");
    } else if (key === "a") {
      event.preventDefault();
      resetToSuggestions();
      send("submit");
    } else if (key === "s") {
      event.preventDefault();
      send("skip");
    } else if (key === "u") {
      event.preventDefault();
      askNote();
    } else if (key === "escape") {
      resetToSuggestions();
    } else if (byKey.has(key)) {
      event.preventDefault();
      byKey.get(key).checked = true;
      mark();
    }
  });
  mark();
})();
