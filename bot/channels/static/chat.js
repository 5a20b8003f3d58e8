// The web chat: sends messages to /api/chat and shows replies, choices and feedback buttons.
// Every text is put on the page with textContent (never innerHTML), so neither FAQ answers nor
// user messages can inject markup; Markdown links [text](https://...) become real links.
// The conversation is fetched again on load (/api/chat/history), and while a person from the
// support team has it, their messages arrive live (/api/chat/events, server-sent events).
(function () {
  "use strict";
  const messages = document.getElementById("messages");
  const form = document.getElementById("composer");
  const input = document.getElementById("text");
  const send = document.getElementById("send");
  const sessionId = (function () {
    let id = localStorage.getItem("supportbot-session");
    if (!id || !/^[A-Za-z0-9_-]{8,100}$/.test(id)) {
      id = (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random().toString(36).slice(2))
        .replace(/[^A-Za-z0-9_-]/g, "");
      localStorage.setItem("supportbot-session", id);
    }
    return id;
  })();

  // Who says each message, for screen readers (the page shows it by colour and side alone).
  const SPEAKERS = { user: "You:", bot: "Assistant:" };

  function addMessage(kind, text, speaker) {
    const item = document.createElement("li");
    item.className = "message " + kind;
    window.renderChatText(item, text);
    item.insertBefore(hiddenText((speaker || SPEAKERS[kind.split(" ")[0]]) + " ", "speaker"), item.firstChild);
    messages.appendChild(item);
    messages.scrollTop = messages.scrollHeight;
    return item;
  }

  function hiddenText(text, className) {
    const span = document.createElement("span");
    span.className = className || "visually-hidden";
    span.textContent = text;
    return span;
  }

  function addStaffMessage(author, text) {
    const item = addMessage("staff", text, (author || "Support team") + " from support:");
    const who = document.createElement("span");
    who.className = "author";
    who.setAttribute("aria-hidden", "true");  // said already, in words, by the hidden speaker
    who.textContent = (author || "Support team") + " · support team";
    item.insertBefore(who, item.firstChild);
    return item;
  }

  function addNote(text) {
    const item = document.createElement("li");
    item.className = "note";
    item.textContent = text;
    messages.appendChild(item);
    messages.scrollTop = messages.scrollHeight;
  }

  // Returns the message shown, if the line shows as one.
  function showLine(line) {
    if (line.role === "customer") return addMessage("user", line.text);
    else if (line.role === "bot" && line.text) return addMessage("bot", line.text);
    else if (line.role === "staff") return addStaffMessage(line.author, line.text);
    else if (line.role === "event" && line.kind === "claimed") addNote((line.author || "Someone") + " from our support team joined the conversation.");
    else if (line.role === "event" && line.kind === "closed") addNote("The support team handed you back to the assistant. Ask me anything.");
    return null;
  }

  // Staff messages, live, while a handoff is open; the stream ends when it is handed back.
  // A stream that is refused (429: too many open from one address, e.g. an office network) or
  // breaks is opened again after a growing delay, and each try first fetches the history, so
  // staff messages still arrive while there is no stream.
  const RETRY_FIRST_MS = 2000, RETRY_MAX_MS = 30000;
  let stream = null, retrying = false, retryMs = RETRY_FIRST_MS;
  let cursor = null;  // the last transcript position shown ("12-3"), where a stream resumes
  let sinceTurn = null;  // without one: the turn that opened the handoff; staff lines from it on are new
  function listen(after, turnId) {
    if (after) cursor = after;
    if (turnId) sinceTurn = turnId;
    if (stream || retrying || !window.EventSource) return;
    connect();
  }

  function connect() {
    let url = "/api/chat/events?session_id=" + encodeURIComponent(sessionId);
    if (cursor) url += "&after=" + encodeURIComponent(cursor);
    const source = stream = new EventSource(url);
    source.onopen = function () { retryMs = RETRY_FIRST_MS; };
    source.onmessage = function (event) {
      const line = JSON.parse(event.data);
      cursor = event.lastEventId || cursor;
      showLine(line);
      if (line.role === "event" && line.kind === "closed") { source.close(); stream = null; }
    };
    source.onerror = function () {  // refused or dropped: EventSource would give up on a 429
      source.close();
      stream = null;
      retrying = true;
      setTimeout(retry, retryMs);
      retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
    };
  }

  async function retry() {
    const open = await catchUp();
    retrying = false;
    if (open) connect();
  }

  // Shows what staff wrote after ``cursor``; false once the conversation is back with the bot.
  async function catchUp() {
    let history;
    try {
      const response = await fetch("/api/chat/history?session_id=" + encodeURIComponent(sessionId));
      if (!response.ok) return true;
      history = await response.json();
    } catch (error) { return true; }  // offline: the next try looks again
    history.messages.filter(function (line) {
      if (line.role !== "staff" && line.role !== "event") return false;
      // A line's cursor counts the turns before it: one from the opening turn on is this handoff's.
      return cursor ? isAfter(line.cursor, cursor) : sinceTurn !== null && Number(line.cursor.split("-")[0]) >= sinceTurn;
    }).forEach(showLine);
    cursor = history.cursor;
    return Boolean(history.handoff_state);
  }

  // Transcript positions "turn-event": a later line has a later turn or a later event.
  function isAfter(position, than) {
    const a = position.split("-").map(Number), b = than.split("-").map(Number);
    return a[0] > b[0] || a[1] > b[1];
  }

  function scrollDown() { messages.scrollTop = messages.scrollHeight; }

  // Choices are used once: pressing one, or writing something else, retires every row of them.
  function retireChoices() {
    messages.querySelectorAll(".choices button").forEach(function (x) { x.disabled = true; });
  }

  function addChoices(item, buttons) {
    const choices = buttons.filter(function (b) { return b.kind !== "related" && b.kind !== "also"; });
    const also = buttons.filter(function (b) { return b.kind === "also"; });
    const related = buttons.filter(function (b) { return b.kind === "related"; });
    addButtonRow(item, choices, null);
    addButtonRow(item, also, "You also asked");
    addButtonRow(item, related, "People also ask");
  }

  function addButtonRow(item, buttons, heading) {
    if (!buttons.length) return;
    const row = document.createElement("div");
    row.className = "choices" + (heading ? " related" : "");
    if (heading) {
      const title = document.createElement("span");
      title.className = "choices-heading";
      title.textContent = heading;
      row.appendChild(title);
    }
    for (const b of buttons) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = b.label;
      button.addEventListener("click", function () {
        retireChoices();
        button.classList.add("chosen");
        ask({ choice: b.payload }, b.label);  // the server logs the label; text beside a choice is refused
      });
      row.appendChild(button);
    }
    item.appendChild(row);
  }

  function addFeedback(item, turnId) {
    const row = document.createElement("div");
    row.className = "feedback";
    const question = document.createElement("span");
    question.className = "feedback-question";
    question.textContent = "Was this helpful?";
    row.appendChild(question);
    [["up", "Yes"], ["down", "No"]].forEach(function (spec) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = spec[1];
      button.setAttribute("aria-label", spec[0] === "up" ? "Helpful" : "Not helpful");
      button.setAttribute("aria-pressed", "false");
      button.addEventListener("click", async function () {
        row.querySelectorAll("button").forEach(function (x) { x.disabled = true; });
        button.setAttribute("aria-pressed", "true");
        try {
          await post("/api/feedback", { session_id: sessionId, turn_id: turnId, value: spec[0] });
          question.textContent = "Thanks for your feedback!";
        } catch (error) {  // not saved: say so, and let them try again
          button.setAttribute("aria-pressed", "false");
          row.querySelectorAll("button").forEach(function (x) { x.disabled = false; });
          question.textContent = "Your feedback wasn't saved. Try again?";
          row.classList.add("failed");
        }
      });
      row.appendChild(button);
    });
    item.appendChild(row);
  }

  // A key per message, kept when it is sent again: the server stores a message once however
  // often it arrives (crypto.randomUUID needs https; getRandomValues works on plain http too).
  function newMessageId() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, function (b) { return b.toString(16).padStart(2, "0"); }).join("");
  }

  async function post(url, body, messageId) {
    const headers = { "Content-Type": "application/json" };
    if (messageId) headers["Idempotency-Key"] = messageId;
    let response;
    try {
      response = await fetch(url, { method: "POST", headers: headers, body: JSON.stringify(body) });
    } catch (error) {
      throw new Error("We couldn't reach the support chat. Check your connection and try again.");
    }
    const data = await response.json().catch(function () { return {}; });
    if (response.status === 429 || response.status === 503) {
      throw new Error("We're very busy right now. Please try again in a moment.");
    }
    if (!response.ok) throw new Error(response.status < 500 && data.error ? "Sorry, " + data.error + "."
      : "Sorry, something went wrong on our side. Please try again.");
    return data;
  }

  // "…" while the bot is working on an answer.
  function showTyping() {
    const item = document.createElement("li");
    item.className = "message bot typing";
    for (let i = 0; i < 3; i += 1) item.appendChild(document.createElement("span"));
    item.appendChild(hiddenText("The assistant is typing…"));  // what the live region reads out
    messages.appendChild(item);
    scrollDown();
    return item;
  }

  // A message that did not go through: the error, and a button that sends it again.
  function addFailure(fields, shownText, userItem, message, messageId) {
    const item = addMessage("bot error", message);
    const retry = document.createElement("button");
    retry.type = "button";
    retry.className = "retry";
    retry.textContent = "Try again";
    retry.addEventListener("click", function () {
      item.remove();
      userItem.remove();
      ask(fields, shownText, messageId);
    });
    item.appendChild(retry);
    scrollDown();
  }

  async function ask(fields, shownText, messageId) {
    messageId = messageId || newMessageId();
    if (!fields.choice) retireChoices();
    const userItem = addMessage("user", shownText);
    send.disabled = true;
    const typing = showTyping();
    try {
      const data = await post("/api/chat", Object.assign({ session_id: sessionId }, fields), messageId);
      typing.remove();
      if (data.reply) {  // with a person, the bot says nothing
        const item = addMessage("bot", data.reply);
        item.dataset.action = data.action;
        addChoices(item, data.buttons || []);
        if (data.feedback && data.turn_id) addFeedback(item, data.turn_id);
        scrollDown();  // after the buttons: nothing hides under the input
      }
      if (data.handoff_state) listen(null, data.turn_id);
    } catch (error) {
      typing.remove();
      addFailure(fields, shownText, userItem, error.message, messageId);  // the message stays, with "Try again"
    } finally {
      send.disabled = false;
      input.focus();
    }
  }

  // Chinese, Japanese and Korean input methods compose a word before committing it, and Enter
  // then picks a candidate: it must not send the half-typed message. Safari ends the composition
  // before that Enter's keydown, which still carries keyCode 229.
  let composing = false;
  input.addEventListener("compositionstart", function () { composing = true; });
  input.addEventListener("compositionend", function () { composing = false; });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (composing || event.isComposing || event.keyCode === 229)) event.preventDefault();
  });

  // The input stops at its maxlength and cuts pasted text there without a word: say so.
  const limit = document.getElementById("limit");
  function showLimit() { limit.hidden = input.value.length < input.maxLength; }
  input.addEventListener("input", showLimit);

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (composing) return;
    const text = input.value;
    if (!text.trim()) return;
    input.value = "";
    showLimit();
    ask({ text: text }, text);
  });
  input.focus();
  (async function restore() {
    let history = null;
    try {
      const response = await fetch("/api/chat/history?session_id=" + encodeURIComponent(sessionId));
      if (response.ok) history = await response.json();
    } catch (error) { /* offline: start afresh */ }
    if (!history || !history.messages.length) {
      addMessage("bot", "Hello! How can I help you today?");
      return;
    }
    let last = null;
    history.messages.forEach(function (line) { last = showLine(line); });
    // The bot's last buttons, where they still work (older ones are spent): its choices, "Talk to a person".
    if (last && last.classList.contains("bot") && history.buttons) {
      addChoices(last, history.buttons);
      scrollDown();
    }
    if (history.handoff_state) listen(history.cursor);
  })();
})();
