// The Test console: build the request from the form, send it, and show the
// answer as it streams (one JSON event per line from /console/send).
(function () {
  "use strict";

  var setup = JSON.parse(document.getElementById("console-setup").textContent);
  var form = document.getElementById("console-form");

  function $(id) { return document.getElementById(id); }

  function csrfToken() {
    var headers = JSON.parse(document.body.getAttribute("hx-headers") || "{}");
    return headers["X-CSRF-Token"] || "";
  }

  function chosenApi() {
    var id = $("console-api").value;
    return setup.apis.filter(function (api) { return api.id === id; })[0];
  }

  function chosenOperation() {
    var api = chosenApi(), id = $("console-operation").value;
    return api.operations.filter(function (op) { return op.id === id; })[0];
  }

  function exampleKind(operation) {
    var template = operation.urlTemplate;
    if (/chat\/completions$/.test(template)) { return "chat"; }
    if (/\/completions$/.test(template)) { return "completions"; }
    if (/embeddings$/.test(template)) { return "embeddings"; }
    if (/responses$/.test(template)) { return "responses"; }
    if (/images\/generations$/.test(template)) { return "images"; }
    return null;
  }

  function fillOperations() {
    var select = $("console-operation");
    select.textContent = "";
    chosenApi().operations.forEach(function (op) {
      var option = document.createElement("option");
      option.value = op.id;
      option.textContent = op.displayName + "  (" + op.method + " " + op.urlTemplate + ")";
      select.appendChild(option);
    });
    showOperation();
  }

  function showOperation() {
    var api = chosenApi(), operation = chosenOperation();
    var passthrough = operation.method === "*";
    $("console-template").hidden = passthrough;
    $("console-passthrough").hidden = !passthrough;
    var params = $("console-params");
    params.textContent = "";
    var names = operation.urlTemplate.match(/\{[^{}]+\}/g) || [];
    names.forEach(function (braced) {
      var name = braced.slice(1, -1);
      var label = document.createElement("label");
      label.textContent = name;
      var input = document.createElement("input");
      input.name = "param:" + name;
      input.dataset.param = name;
      input.autocomplete = "off";
      input.spellcheck = false;
      if (name === "deployment-id") {
        input.setAttribute("list", "console-deployments");
        input.value = api.deployments.length ? api.deployments[0].id : "";
      }
      input.addEventListener("input", showUrl);
      label.appendChild(input);
      params.appendChild(label);
    });
    var list = document.createElement("datalist");
    list.id = "console-deployments";
    api.deployments.forEach(function (deployment) {
      var option = document.createElement("option");
      option.value = deployment.id;
      list.appendChild(option);
    });
    params.appendChild(list);
    $("console-version-field").hidden = passthrough || api.template !== "azure-openai";
    $("console-version").value = api.exampleApiVersion;
    var kind = exampleKind(operation);
    if (kind && setup.examples[kind]) {
      $("console-body").value = JSON.stringify(setup.examples[kind], null, 2);
    }
    $("console-stream").checked = false;
    $("console-stream").disabled = !(kind === "chat" || kind === "completions" || kind === "responses");
    showUrl();
  }

  function query() {
    var parts = [];
    if (!$("console-version-field").hidden && $("console-version").value.trim()) {
      parts.push("api-version=" + encodeURIComponent($("console-version").value.trim()));
    }
    var more = $("console-query").value.trim().replace(/^\?/, "");
    if (more) { parts.push(more); }
    return parts.join("&");
  }

  function params() {
    var found = {};
    document.querySelectorAll("#console-params input").forEach(function (input) {
      found[input.dataset.param] = input.value;
    });
    return found;
  }

  function showUrl() {
    var api = chosenApi(), operation = chosenOperation();
    var path, method;
    if (operation.method === "*") {
      method = $("console-method").value;
      path = $("console-path").value.trim() || "/";
      if (path.charAt(0) !== "/") { path = "/" + path; }
    } else {
      method = operation.method;
      var given = params();
      path = operation.urlTemplate.replace(/\{([^{}]+)\}/g, function (all, name) {
        return encodeURIComponent((given[name] || "").trim()) || all;
      });
    }
    var root = api.path.replace(/^\/+|\/+$/g, "");
    var q = query();
    $("console-url").textContent = method + " " + setup.gateway + (root ? "/" + root : "") +
      path + (q ? "?" + q : "");
  }

  function toggleStream() {
    var body = $("console-body");
    var parsed;
    try { parsed = JSON.parse(body.value); } catch (e) { return; }
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) { return; }
    if ($("console-stream").checked) { parsed.stream = true; } else { delete parsed.stream; }
    body.value = JSON.stringify(parsed, null, 2);
  }

  // The box follows a body edited by hand: ticked when it says "stream": true.
  function followBody() {
    var parsed;
    try { parsed = JSON.parse($("console-body").value); } catch (e) { return; }
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) { return; }
    var box = $("console-stream");
    if (!box.disabled) { box.checked = parsed.stream === true; }
  }

  // The response -----------------------------------------------------------

  function statusClass(status) {
    return status >= 500 ? "status-5xx" : status >= 400 ? "status-4xx" : "status-2xx";
  }

  function reset() {
    $("console-empty").hidden = true;
    $("console-result").hidden = false;
    $("console-status-code").textContent = "…";
    $("console-status-code").className = "badge";
    $("console-reason").textContent = "";
    $("console-elapsed").textContent = "";
    $("console-target").textContent = "";
    $("console-problem").hidden = true;
    $("console-log").hidden = true;
    $("console-response-headers").textContent = "";
    $("console-body-out").textContent = "";
    $("console-answer").textContent = "";
    $("console-answer-panel").hidden = true;
    var trace = $("console-trace");
    trace.textContent = "";
    var row = trace.insertRow(), cell = row.insertCell();
    cell.colSpan = 4;
    cell.className = "none";
    cell.textContent = "The trace comes once the request is logged.";
  }

  function problem(text) {
    var box = $("console-problem");
    box.textContent = text;
    box.hidden = false;
  }

  // Server-sent events in the body: the deltas of a streamed answer.
  function Answer() { this.pending = ""; }
  Answer.prototype.feed = function (text) {
    this.pending += text;
    var lines = this.pending.split("\n");
    this.pending = lines.pop();
    lines.forEach(function (line) {
      if (line.indexOf("data:") !== 0) { return; }
      var data = line.slice(5).trim();
      if (!data || data === "[DONE]") { return; }
      var event;
      try { event = JSON.parse(data); } catch (e) { return; }
      var piece = "";
      if (event.choices && event.choices.length) {
        var choice = event.choices[0];
        piece = (choice.delta && choice.delta.content) || choice.text || "";
      } else if (event.type === "response.output_text.delta") {
        piece = event.delta || "";
      }
      if (piece) {
        $("console-answer-panel").hidden = false;
        $("console-answer").textContent += piece;
      }
    });
  };

  function wholeAnswer(text) {
    var parsed;
    try { parsed = JSON.parse(text); } catch (e) { return; }
    var content = "";
    if (parsed && parsed.choices && parsed.choices.length) {
      var choice = parsed.choices[0];
      content = (choice.message && choice.message.content) || choice.text || "";
    } else if (parsed && parsed.output_text) {
      content = parsed.output_text;
    }
    if (content) {
      $("console-answer-panel").hidden = false;
      $("console-answer").textContent = content;
    }
  }

  function onEvent(event, state) {
    if (event.event === "request") {
      $("console-target").textContent = event.method + " " + event.url;
    } else if (event.event === "response") {
      state.status = event.status;
      $("console-status-code").textContent = event.status;
      $("console-status-code").className = "badge " + statusClass(event.status);
      $("console-reason").textContent = event.reason;
      var rows = $("console-response-headers");
      event.headers.forEach(function (pair) {
        var row = rows.insertRow();
        var name = document.createElement("th");
        name.textContent = pair[0];
        row.appendChild(name);
        row.insertCell().textContent = pair[1];
        if (/^text\/event-stream/i.test(pair[1]) && /^content-type$/i.test(pair[0])) {
          state.streamed = true;
        }
      });
    } else if (event.event === "body") {
      $("console-body-out").textContent += event.text;
      state.body += event.text;
      if (state.streamed) { state.answer.feed(event.text); }
    } else if (event.event === "end") {
      if (!state.streamed) {
        wholeAnswer(state.body);
        $("console-body-out").textContent = pretty(state.body);
      }
      if (event.elapsedMs !== undefined) {
        $("console-elapsed").textContent = event.elapsedMs.toFixed(1) + " ms";
      }
      if (event.logUrl) {
        var link = $("console-log");
        link.href = event.logUrl;
        link.textContent = "Open in Logs (" + event.correlationId + ")";
        link.hidden = false;
      }
      if (event.error) { problem(event.error); }
      showTrace(event.trace);
    } else if (event.event === "failed") {
      $("console-status-code").textContent = "—";
      problem(event.message);
    }
  }

  // A JSON body indented for reading; any other text as it came.
  function pretty(text) {
    try { return JSON.stringify(JSON.parse(text), null, 2); } catch (e) { return text; }
  }

  function showTrace(steps) {
    var trace = $("console-trace");
    if (!steps.length) { return; }
    trace.textContent = "";
    steps.forEach(function (step) {
      var row = trace.insertRow();
      row.insertCell().textContent = step.step;
      row.insertCell().textContent = step.scope;
      var what = row.insertCell();
      what.className = "mono";
      what.textContent = step.name;
      row.insertCell().textContent = step.outcome;
      if (/^failed|refused|no API/.test(step.outcome)) { row.className = "failed"; }
    });
  }

  async function send(event) {
    event.preventDefault();
    reset();
    var button = $("console-send");
    button.disabled = true;
    $("console-running").hidden = false;
    var operation = chosenOperation();
    var payload = {
      api: $("console-api").value,
      operation: operation.id,
      params: params(),
      query: query(),
      method: $("console-method").value,
      path: $("console-path").value,
      subscription: $("console-subscription").value,
      headers: $("console-headers").value,
      body: $("console-body").value
    };
    var state = { status: 0, streamed: false, body: "", answer: new Answer() };
    try {
      var response = await fetch(form.dataset.send, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
        body: JSON.stringify(payload),
        credentials: "same-origin"
      });
      if (!response.ok) {
        var text = await response.text(), message = text;
        try { message = JSON.parse(text).message || text; } catch (e) { /* text */ }
        $("console-status-code").textContent = "—";
        problem(response.status === 401 || response.status === 403
          ? "Your session has ended; log in again." : message);
        return;
      }
      var reader = response.body.getReader(), decoder = new TextDecoder(), pending = "";
      for (;;) {
        var chunk = await reader.read();
        if (chunk.done) { break; }
        pending += decoder.decode(chunk.value, { stream: true });
        var lines = pending.split("\n");
        pending = lines.pop();
        lines.forEach(function (line) { if (line) { onEvent(JSON.parse(line), state); } });
      }
      if (pending) { onEvent(JSON.parse(pending), state); }
    } catch (error) {
      problem("The console lost its connection to the dashboard: " + error);
    } finally {
      button.disabled = false;
      $("console-running").hidden = true;
    }
  }

  $("console-api").addEventListener("change", fillOperations);
  $("console-operation").addEventListener("change", showOperation);
  $("console-method").addEventListener("change", showUrl);
  $("console-path").addEventListener("input", showUrl);
  $("console-query").addEventListener("input", showUrl);
  $("console-version").addEventListener("input", showUrl);
  $("console-stream").addEventListener("change", toggleStream);
  $("console-body").addEventListener("input", followBody);
  form.addEventListener("submit", send);
  fillOperations();
}());
