// The result page: follows a running ask over SSE and fills the columns live.
// Model text is untrusted: live tokens go in as text nodes; the final answer is
// replaced by HTML the server rendered and sanitized.
// Screen readers hear progress from one polite status line (#live-status): a model
// starting, finishing or failing, and the score; never the tokens themselves.
(function () {
  "use strict";

  var root = document.getElementById("result");
  if (!root) return;
  var live = document.getElementById("live-status");
  function announce(text) { if (live) live.textContent = text; }
  setupShare();
  if (root.dataset.live !== "1" || !window.EventSource) return;

  var columns = {};
  root.querySelectorAll(".column").forEach(function (el) { columns[el.dataset.model] = el; });
  var statusWord = document.getElementById("ask-status");
  var slot = document.getElementById("consensus-slot");
  var finished = false;
  var scoreLoaded = false;
  var total = Object.keys(columns).length;
  var ended = 0;
  var announcedStart = false;
  // Columns started but silent so far: model -> when "started" arrived. Their badge
  // counts the seconds; the live region does not (it would speak every second).
  var waitingSince = {};
  var ticker = null;
  var stopping = false;

  function part(col, role) { return col.querySelector('[data-role="' + role + '"]'); }

  function setStatus(col, status, label) {
    col.classList.forEach(function (c) { if (c.indexOf("status-") === 0) col.classList.remove(c); });
    col.classList.add("status-" + status);
    part(col, "status").textContent = label || status;
  }

  function seconds(v) {
    if (v === null || v === undefined) return "—";
    return v >= 1 ? v.toFixed(1) + " s" : Math.round(v * 1000) + " ms";
  }

  function cost(v) {
    if (!v) return "$0";
    return v >= 0.0001 ? "$" + v.toFixed(4) : "<$0.0001";
  }

  function substitute(col, model, answeredBy) {
    var el = part(col, "substitute");
    if (answeredBy && answeredBy !== model) {
      el.textContent = "answered by " + answeredBy + " instead of " + model;
      el.hidden = false;
    }
  }

  function stats(col, ev) {
    var t = ev.timings || {};
    part(col, "latency").textContent = seconds(t.total_s);
    var out = ev.usage ? ev.usage.output_tokens : 0;
    part(col, "tokens").textContent = out ? out + " tokens" : "—";
    part(col, "cost").textContent = cost(ev.cost_usd);
  }

  function progress(col, what) {
    ended += 1;
    part(col, "answer").removeAttribute("aria-busy");
    announce(col.dataset.model + " " + what + " (" + ended + " of " + total + " done)");
  }

  function waitLabel(since) {
    return "waiting for first token · " + Math.floor((Date.now() - since) / 1000) + " s";
  }

  function tick() {
    Object.keys(waitingSince).forEach(function (model) {
      part(columns[model], "status").textContent = waitLabel(waitingSince[model]);
    });
  }

  function stopWaiting(model) {
    delete waitingSince[model];
    if (ticker !== null && !Object.keys(waitingSince).length) {
      clearInterval(ticker);
      ticker = null;
    }
  }

  function startWaiting(col) {
    var model = col.dataset.model;
    waitingSince[model] = Date.now();
    setStatus(col, "waiting", waitLabel(waitingSince[model]));
    if (ticker === null) ticker = setInterval(tick, 1000);
  }

  // What the page shows once the ask is over: columns that never ended were cut short.
  function settleColumns(status) {
    Object.keys(columns).forEach(function (model) {
      var col = columns[model];
      stopWaiting(model);
      if (col.classList.contains("status-waiting") || col.classList.contains("status-streaming")) {
        part(col, "answer").removeAttribute("aria-busy");
        if (status === "partial") setStatus(col, "partial", "interrupted");
      }
    });
    var form = document.getElementById("stop-form");
    if (form) form.hidden = true;
  }

  function announceScore() {
    var svg = slot.querySelector(".gauge");
    var verdict = slot.querySelector(".verdict");
    if (!svg) return;
    announce(svg.getAttribute("aria-label") + (verdict ? ": " + verdict.textContent : ""));
  }

  function loadScore() {
    if (scoreLoaded) return;
    scoreLoaded = true;
    fetch(root.dataset.consensusUrl, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : ""; })
      .then(function (html) {
        if (html.trim()) {
          slot.innerHTML = html;  // rendered by the server from stored data
          announceScore();
        } else if (finished && stopping) {  // one announcement for the stop and its end
          slot.textContent = "No Consensus Score for this ask: it was stopped before every " +
            "model answered. What they sent is kept.";
          announce("Stopped. " + slot.textContent);
        } else if (finished) {
          slot.textContent = "No Consensus Score for this ask.";
          announce(slot.textContent);
        }
        else scoreLoaded = false;  // not stored yet: "done" asks again
      })
      .catch(function () { scoreLoaded = false; });
  }

  var handlers = {
    started: function (col) {
      part(col, "answer").textContent = "";
      part(col, "answer").setAttribute("aria-busy", "true");
      startWaiting(col);
      if (!announcedStart) {
        announcedStart = true;
        announce(total === 1 ? "The model is answering" : total + " models are answering");
      }
    },
    token: function (col, ev) {
      var answer = part(col, "answer");
      if (ev.restart) answer.textContent = "";
      if (ev.text) answer.appendChild(document.createTextNode(ev.text));
      if (ev.text && waitingSince[ev.model] !== undefined) {
        stopWaiting(ev.model);
        setStatus(col, "streaming");
      }
      substitute(col, ev.model, ev.answered_by);
    },
    finished: function (col, ev) {
      part(col, "answer").innerHTML = ev.html;  // sanitized on the server
      stopWaiting(ev.model);
      // Same words as the server's label for a stored answer the token limit cut.
      setStatus(col, "done", ev.finish_reason === "length" ? "done · cut off at the token limit" : "done");
      substitute(col, ev.model, ev.answered_by);
      stats(col, ev);
      progress(col, "answered");
    },
    failed: function (col, ev) {
      part(col, "answer").innerHTML = ev.html;  // sanitized on the server
      var err = part(col, "error");
      err.textContent = ev.error.type + ": " + ev.error.message;
      err.hidden = false;
      stopWaiting(ev.model);
      setStatus(col, "failed");
      stats(col, ev);
      progress(col, "failed");
    }
  };

  // Deliberation rounds (--rounds): each round's score as it ends, in a timeline that the
  // server's rendering of the whole ask replaces once it is over.
  function roundScored(ev) {
    var list = document.getElementById("live-rounds");
    if (!list) {
      slot.textContent = "";
      list = document.createElement("ol");
      list.id = "live-rounds";
      list.className = "round-timeline";
      slot.appendChild(list);
    }
    var item = document.createElement("li");
    item.className = "round";
    var score = ev.score === null ? "—" : Math.round(ev.score);
    var text = "Round " + ev.round + ": " + score + " (" + (ev.verdict || "n/a") + ")";
    if (ev.round > 1) {
      text += ev.changed.length ? "; changed their answer: " + ev.changed.join(", ") : "; nobody changed";
    }
    item.textContent = text;
    list.appendChild(item);
    announce(text);
  }

  function roundStarted(ev) {
    ended = 0;  // "n of N done" counts this round's answers
    announce("Round " + ev.round + ": each model reads the others' answers and answers again");
  }

  function handle(ev) {
    var col = ev.model ? columns[ev.model] : null;
    if (col && handlers[ev.type]) { handlers[ev.type](col, ev); return; }
    if (ev.type === "round_scored") roundScored(ev);
    if (ev.type === "round_started") roundStarted(ev);
    if (ev.type === "scored") loadScore();
    if (ev.type === "error" && statusWord) statusWord.title = ev.error.message;
    if (ev.type === "done") {
      finished = true;
      source.close();
      if (statusWord) {
        statusWord.textContent = ev.status;
        statusWord.className = "status-word status-" + ev.status;
      }
      settleColumns(ev.status);
      loadScore();
      root.dataset.live = "0";
      root.dataset.done = "1";
    }
  }

  var source = new EventSource(root.dataset.eventsUrl);
  source.onmessage = function (msg) {
    var ev;
    try { ev = JSON.parse(msg.data); } catch (e) { return; }
    handle(ev);
  };
  source.onerror = function () { if (finished) source.close(); };
  setupStop();

  // Without JavaScript the form posts and the page comes back as the ask ended; here the
  // JSON endpoint stops it and the stream's "done" event brings the end state.
  function setupStop() {
    var form = document.getElementById("stop-form");
    if (!form) return;
    var button = form.querySelector("button");
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      if (stopping || finished) return;
      stopping = true;
      button.disabled = true;
      button.textContent = "Stopping…";
      // Signed in, a cookie-authenticated call sends the form's CSRF token as a header.
      var token = form.querySelector("input[name=csrf_token]");
      var headers = { "Accept": "application/json" };
      if (token) headers["X-CSRF-Token"] = token.value;
      fetch(form.dataset.cancelUrl, { method: "POST", credentials: "same-origin",
                                      headers: headers })
        .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); })
        .catch(function () {
          stopping = false;
          button.disabled = false;
          button.textContent = "Stop";
          announce("Could not stop the ask; try again");
        });
    });
  }

  function setupShare() {
    var button = document.getElementById("copy-link");
    var input = document.getElementById("permalink");
    if (!button || !input) return;
    button.addEventListener("click", function () {
      var done = function () {
        button.textContent = "Copied";
        announce("Link copied");
        setTimeout(function () { button.textContent = "Copy link"; }, 2000);
      };
      var copySelection = function () {
        input.select();
        document.execCommand("copy");
        button.focus();  // select() moved focus to the input: keyboard users stay on the button
        done();
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(input.value).then(done, copySelection);
      } else {
        copySelection();
      }
    });
  }
})();
