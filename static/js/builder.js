// The workflow builder (templates/automations/builder/builder.html).
//
// The draft lives here as a list of step objects, exactly the spec the server stores:
//   {"id", "step", "config", "when": {"match", "rules": [{"ref", "op", "value"}]}, "otherwise_of"}
// Every change saves it (debounced while typing); the answer lists the draft's problems,
// shown next to their fields. Config forms are generated from each step's JSON schema.
(() => {
  "use strict";

  const boot = JSON.parse(document.getElementById("builder-data").textContent);
  const canEdit = boot.canEdit;
  const csrf = document.querySelector("input[name=csrfmiddlewaretoken]").value;
  const EMPTY_OPS = new Set(["is_empty", "is_not_empty"]);
  const ID_PATTERN = /^[a-z][a-z0-9_]{0,39}$/;
  const TYPING_DELAY = 600;

  const stepsByName = {};
  boot.library.forEach((group) => group.steps.forEach((s) => (stepsByName[s.name] = s)));

  const state = {
    name: boot.workflow.name,
    steps: clone(boot.draft || []),
    selected: null, // one of state.steps
    problems: boot.problems || [],
    outputs: {}, // step id -> [{ref, preview}] from the last test run
    results: {}, // step id -> {status, html} of the test run shown
    published: boot.published,
  };

  const $ = (id) => document.getElementById(id);
  const list = $("step-list");
  const configBody = $("config-body");

  // --- small helpers ------------------------------------------------------------------------

  function clone(value) {
    return JSON.parse(JSON.stringify(value));
  }

  // h("button", {class: "x", onclick: fn, dataset: {testid: "y"}}, "text", child, ...)
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([key, value]) => {
      if (value === null || value === undefined || value === false) return;
      if (key === "dataset") {
        Object.entries(value).forEach(([name, v]) => v !== undefined && v !== null && (el.dataset[name] = v));
      }
      else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
      else if (key === "class") el.className = value;
      else if (key === "html") el.innerHTML = value;
      else if (key in el && typeof value !== "string") el[key] = value;
      else el.setAttribute(key, value === true ? "" : value);
    });
    children.flat(Infinity).forEach((child) => {
      if (child === null || child === undefined || child === false) return;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    });
    return el;
  }

  const ACRONYMS = new Set(["url", "id", "ocr", "dpi", "csv", "html", "iban", "po"]);

  // el.append(...) without the nulls and falses of optional parts.
  function put(el, ...children) {
    el.append(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
  }

  function humanize(key) {
    const words = key
      .replace(/_/g, " ")
      .trim()
      .split(/\s+/)
      .map((w) => (ACRONYMS.has(w.toLowerCase()) ? w.toUpperCase() : w));
    const text = words.join(" ");
    return text.charAt(0).toUpperCase() + text.slice(1);
  }

  function types(prop) {
    return [].concat(prop.type || []);
  }

  function short(value, limit = 48) {
    const text = typeof value === "string" ? value : JSON.stringify(value);
    return text.length > limit ? text.slice(0, limit - 1) + "…" : text;
  }

  function stepLabel(step) {
    const def = stepsByName[step.step];
    return def ? def.label : step.step || "Unknown step";
  }

  function usedIds(except) {
    return new Set(state.steps.filter((s) => s !== except).map((s) => s.id));
  }

  function uniqueId(base, except) {
    const used = usedIds(except);
    let id = ID_PATTERN.test(base) ? base : "step";
    for (let n = 2; used.has(id); n += 1) id = `${base}_${n}`;
    return id;
  }

  function opLabel(op) {
    const found = boot.operators.find(([value]) => value === op);
    return found ? found[1] : op;
  }

  async function request(url, options = {}) {
    const headers = { "X-CSRFToken": csrf, Accept: "application/json", ...(options.headers || {}) };
    let response;
    try {
      response = await fetch(url, { credentials: "same-origin", ...options, headers });
    } catch {
      return { ok: false, status: 0, data: { error: "The server could not be reached. Try again." } };
    }
    let data = {};
    try {
      data = await response.json();
    } catch {
      data = { error: `The server answered ${response.status}.` };
    }
    return { ok: response.ok, status: response.status, data };
  }

  // --- saving -------------------------------------------------------------------------------

  let saveTimer = null;
  let saving = null;
  let dirty = false;

  function setStatus(text, kind = "") {
    const el = $("save-status");
    el.textContent = text;
    el.dataset.state = kind;
  }

  function scheduleSave(delay) {
    if (!canEdit) return;
    dirty = true;
    setStatus("Unsaved changes…", "pending");
    clearTimeout(saveTimer);
    saveTimer = setTimeout(flush, delay);
  }

  // Save now (and wait for a save in flight); true when the server has the latest draft.
  async function flush() {
    clearTimeout(saveTimer);
    saveTimer = null;
    while (saving) await saving;
    if (!dirty) return true;
    dirty = false;
    setStatus("Saving…", "busy");
    const body = JSON.stringify({ name: state.name, steps: state.steps });
    saving = request(boot.urls.draft, {
      method: "POST",
      keepalive: body.length < 60000, // lets a save started as the page closes finish
      headers: { "Content-Type": "application/json" },
      body,
    }).catch(() => ({ ok: false, data: { error: "The server could not be reached." } }));
    const answer = await saving;
    saving = null;
    if (!answer.ok) {
      dirty = true;
      setStatus(`Not saved: ${answer.data.error || "try again"}. Retrying…`, "error");
      saveTimer = setTimeout(flush, 5000);
      return false;
    }
    if (dirty) return flush();
    const problems = answer.data.problems || [];
    state.published = answer.data.published;
    // Redraw only when the problems changed: a redraw would interrupt a drag or a click.
    if (JSON.stringify(problems) !== JSON.stringify(state.problems)) {
      state.problems = problems;
      renderProblems();
    }
    renderVersion();
    setStatus("All changes saved", "ok");
    return true;
  }

  window.addEventListener("beforeunload", (event) => {
    if (dirty || saving) {
      flush();
      event.preventDefault();
    }
  });

  // A change to the draft: structural ones (add, remove, move, rename) redraw the list.
  function changed({ structure = false, config = false } = {}) {
    if (structure) {
      renderSteps();
      if (config) renderConfig();
    } else {
      refreshCard(state.selected);
    }
    scheduleSave(structure ? 0 : TYPING_DELAY);
  }

  // --- the step list ------------------------------------------------------------------------

  function summarize(step) {
    const c = step.config || {};
    const parts = [];
    if (step.step === "classify") {
      if (c.classifier) parts.push(`Classifier: ${c.classifier}`);
      const labels = (c.labels || []).map((l) => (typeof l === "string" ? l : l && l.name));
      if (labels.length) parts.push(`Labels: ${labels.filter(Boolean).join(", ")}`);
    } else if (step.step === "webhook") {
      try {
        if (c.url) parts.push(`POST to ${new URL(c.url).host}`);
      } catch {
        parts.push(`POST to ${short(c.url, 40)}`);
      }
      const names = Object.keys(c.payload || {});
      if (names.length) parts.push(`sends ${names.join(", ")}`);
    } else if (step.step === "extract_fields") {
      if (c.preset) parts.push(`Preset: ${c.preset}`);
      const names = (c.fields || []).map((f) => f && f.name).filter(Boolean);
      if (names.length) parts.push(`Fields: ${names.join(", ")}`);
    } else {
      const def = stepsByName[step.step];
      const props = (def && def.schema.properties) || {};
      Object.entries(c).forEach(([key, value]) => {
        if (value === null || value === "" || (Array.isArray(value) && !value.length)) return;
        if (parts.length >= 2) return;
        const title = (props[key] && props[key].title) || humanize(key);
        parts.push(`${title}: ${Array.isArray(value) ? value.map((v) => short(v, 20)).join(", ") : short(value)}`);
      });
    }
    return parts.join(" · ") || "Default settings";
  }

  function conditionText(step) {
    if (step.otherwise_of) return `Otherwise: runs when ${step.otherwise_of} was skipped`;
    const when = step.when;
    if (!when || !(when.rules || []).length) return "";
    const join = when.match === "any" ? " or " : " and ";
    const rules = when.rules.map((r) => {
      const what = r.ref || "…";
      return EMPTY_OPS.has(r.op) ? `${what} ${opLabel(r.op)}` : `${what} ${opLabel(r.op)} “${r.value ?? ""}”`;
    });
    return `Only when ${rules.join(join)}`;
  }

  function problemsOf(index) {
    return state.problems.filter((p) => p.step === index);
  }

  const isWarning = (p) => p.level === "warning";

  let dragFrom = null;

  let redrawAfterDrag = false;

  function renderSteps() {
    if (dragFrom !== null) {
      redrawAfterDrag = true; // not under the pointer of someone dragging; on dragend
      return;
    }
    // Redrawing must not lose the keyboard user's place: focus the same control again.
    const active = document.activeElement;
    const focused = active && list.contains(active) ? active.dataset.testid : null;
    list.replaceChildren(...state.steps.map(renderCard));
    if (focused) {
      const again = list.querySelector(`[data-testid="${CSS.escape(focused)}"]`);
      if (again && !again.disabled) again.focus();
    }
    $("steps-empty").hidden = state.steps.length > 0;
    $("step-count").textContent = state.steps.length ? `${state.steps.length} step${state.steps.length > 1 ? "s" : ""}` : "";
  }

  function renderCard(step, index) {
    const label = stepLabel(step);
    const problems = problemsOf(index).filter((p) => !isWarning(p));
    const warnings = problemsOf(index).filter(isWarning);
    const selected = step === state.selected;
    const result = state.results[step.id];
    const li = h("li", {
      class: `step-card${selected ? " selected" : ""}${problems.length ? " has-problem" : warnings.length ? " has-warning" : ""}${step.otherwise_of ? " is-branch" : ""}`,
      dataset: { testid: `step-${step.id}`, stepId: step.id, index: String(index) },
    });
    const handle = canEdit
      ? h("span", { class: "drag-handle", title: "Drag to move", "aria-hidden": "true", dataset: { testid: `drag-${step.id}` } }, "⠿")
      : null;
    const main = h(
      "button",
      {
        type: "button",
        class: "step-main",
        "aria-pressed": selected ? "true" : "false",
        dataset: { testid: `select-${step.id}` },
        onclick: () => select(step),
      },
      h("span", { class: "step-top" }, h("span", { class: "step-num" }, String(index + 1)), h("span", { class: "step-label" }, label), h("code", { class: "step-id" }, step.id)),
      h("span", { class: "step-summary" }, summarize(step)),
      conditionText(step) ? h("span", { class: "step-when" }, conditionText(step)) : null,
      problems.length ? h("span", { class: "step-problem" }, `${problems.length} problem${problems.length > 1 ? "s" : ""} to fix`) : null,
      warnings.length ? h("span", { class: "step-warning" }, `${warnings.length} thing${warnings.length > 1 ? "s" : ""} to check`) : null,
    );
    const tools = canEdit
      ? h(
          "div",
          { class: "step-tools" },
          h("button", { type: "button", class: "icon", title: "Move up", "aria-label": `Move ${label} (${step.id}) up`, disabled: index === 0, dataset: { testid: `move-up-${step.id}` }, onclick: () => moveStep(index, index - 1, true) }, "↑"),
          h("button", { type: "button", class: "icon", title: "Move down", "aria-label": `Move ${label} (${step.id}) down`, disabled: index === state.steps.length - 1, dataset: { testid: `move-down-${step.id}` }, onclick: () => moveStep(index, index + 1, true) }, "↓"),
          h("button", { type: "button", class: "icon danger", title: "Remove", "aria-label": `Remove ${label} (${step.id})`, dataset: { testid: `remove-${step.id}` }, onclick: () => removeStep(step) }, "✕"),
        )
      : null;
    put(li, h("div", { class: "card-row" }, handle, main, tools));
    const slot = h("div", { class: "step-result", dataset: { testid: `step-result-${step.id}` }, "aria-label": `Test result of ${step.id}` });
    if (result) {
      slot.innerHTML = result.html;
      slot.dataset.status = result.status;
    } else slot.hidden = true;
    put(li, slot);
    if (canEdit) wireDrag(li, handle, index);
    return li;
  }

  function refreshCard(step) {
    if (!step) return;
    const index = state.steps.indexOf(step);
    const old = list.children[index];
    if (old) old.replaceWith(renderCard(step, index));
  }

  function wireDrag(li, handle, index) {
    // Only the handle starts a drag, so text in the test results stays selectable.
    handle.addEventListener("mousedown", () => (li.draggable = true));
    handle.addEventListener("mouseup", () => (li.draggable = false));
    li.addEventListener("dragstart", (event) => {
      dragFrom = index;
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", String(index));
      li.classList.add("dragging");
    });
    li.addEventListener("dragend", () => {
      li.draggable = false;
      dragFrom = null;
      list.querySelectorAll(".drop-before, .drop-after, .dragging").forEach((el) => el.classList.remove("drop-before", "drop-after", "dragging"));
      if (redrawAfterDrag) {
        redrawAfterDrag = false;
        renderSteps();
      }
    });
    li.addEventListener("dragover", (event) => {
      if (dragFrom === null) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = "move";
      const after = isAfter(li, event);
      li.classList.toggle("drop-after", after);
      li.classList.toggle("drop-before", !after);
    });
    li.addEventListener("dragleave", () => li.classList.remove("drop-before", "drop-after"));
    li.addEventListener("drop", (event) => {
      if (dragFrom === null) return;
      event.preventDefault();
      let to = index + (isAfter(li, event) ? 1 : 0);
      if (dragFrom < to) to -= 1;
      const from = dragFrom;
      dragFrom = null;
      if (from !== to) moveStep(from, to, false);
      else renderSteps();
    });
  }

  function isAfter(li, event) {
    const box = li.getBoundingClientRect();
    return event.clientY > box.top + box.height / 2;
  }

  function announce(text) {
    const live = $("steps-live") || document.body.appendChild(h("div", { id: "steps-live", class: "visually-hidden", "aria-live": "polite" }));
    live.textContent = text;
  }

  function moveStep(from, to, keepFocus) {
    if (to < 0 || to >= state.steps.length) return;
    const [step] = state.steps.splice(from, 1);
    state.steps.splice(to, 0, step);
    changed({ structure: true, config: step === state.selected });
    announce(`${stepLabel(step)} is now step ${to + 1} of ${state.steps.length}.`);
    if (keepFocus) {
      const button = list.querySelector(`[data-testid="${to < from ? "move-up" : "move-down"}-${step.id}"]`);
      (button && !button.disabled ? button : list.querySelector(`[data-testid="select-${step.id}"]`)).focus();
    }
  }

  function removeStep(step) {
    const index = state.steps.indexOf(step);
    state.steps.splice(index, 1);
    if (state.selected === step) state.selected = state.steps[Math.min(index, state.steps.length - 1)] || null;
    changed({ structure: true, config: true });
    announce(`Removed ${stepLabel(step)}.`);
  }

  function addStep(name, { after = null, otherwiseOf = null } = {}) {
    const def = stepsByName[name];
    const step = { id: uniqueId(def.preferred_id || name), step: name, config: {} };
    if (otherwiseOf) step.otherwise_of = otherwiseOf;
    let index = state.steps.length;
    if (after) {
      index = state.steps.indexOf(after) + 1;
      while (index < state.steps.length && state.steps[index].otherwise_of === after.id) index += 1;
    }
    state.steps.splice(index, 0, step);
    state.selected = step;
    changed({ structure: true, config: true });
    announce(`Added ${def.label} as step ${index + 1}.`);
    const button = list.querySelector(`[data-testid="select-${step.id}"]`);
    if (button) button.scrollIntoView({ block: "nearest" });
    return step;
  }

  function select(step) {
    state.selected = step;
    renderSteps();
    renderConfig();
  }

  function renameStep(step, newId) {
    const oldId = step.id;
    const rename = (ref) => (typeof ref === "string" && (ref === oldId || ref.startsWith(`${oldId}.`)) ? newId + ref.slice(oldId.length) : ref);
    state.steps.forEach((other) => {
      if (other.otherwise_of === oldId) other.otherwise_of = newId;
      ((other.when && other.when.rules) || []).forEach((rule) => (rule.ref = rename(rule.ref)));
      const def = stepsByName[other.step];
      const props = (def && def.schema.properties) || {};
      const config = other.config || {};
      Object.entries(props).forEach(([key, prop]) => {
        if (!(key in config)) return;
        if (prop["x-ref"] === "value" || key.endsWith("_from")) config[key] = rename(config[key]);
        if (prop["x-ref"] === "map" && config[key] && typeof config[key] === "object")
          Object.keys(config[key]).forEach((name) => (config[key][name] = rename(config[key][name])));
      });
    });
    step.id = newId;
    [state.outputs, state.results].forEach((byId) => {
      if (byId[oldId]) {
        byId[newId] = byId[oldId];
        delete byId[oldId];
      }
    });
  }

  // --- problems -----------------------------------------------------------------------------

  function problemItems(problems) {
    return h(
      "ul",
      {},
      problems.map((p) => {
        const step = Number.isInteger(p.step) ? state.steps[p.step] : null;
        const where = step ? h("button", { type: "button", class: "linklike", onclick: () => select(step) }, `Step ${p.step + 1} (${step.id})`) : null;
        return h("li", {}, where, where ? ": " : "", withoutPosition(p.message));
      }),
    );
  }

  // "Step 3: url: ..." reads "url: ..." next to a link that already says "Step 3".
  function withoutPosition(message) {
    return message.replace(/^Step \d+: /, "");
  }

  function renderProblems() {
    const box = $("problems");
    const errors = state.problems.filter((p) => !isWarning(p));
    const warnings = state.problems.filter(isWarning);
    box.replaceChildren();
    box.className = `problems${errors.length ? "" : " only-warnings"}`;
    if (errors.length) {
      put(box, h("h3", {}, errors.length === 1 ? "1 thing to fix before publishing" : `${errors.length} things to fix before publishing`), problemItems(errors));
    }
    if (warnings.length) {
      put(box, h("h3", { class: "warn" }, warnings.length === 1 ? "1 thing to check" : `${warnings.length} things to check`), problemItems(warnings));
    }
    renderSteps();
    renderFieldErrors();
  }

  function renderFieldErrors() {
    configBody.querySelectorAll(".field-error").forEach((el) => {
      el.textContent = "";
      el.hidden = true;
      el.classList.remove("warn", "has-error");
    });
    configBody.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
    const index = state.steps.indexOf(state.selected);
    if (index < 0) return;
    const general = configBody.querySelector(".config-errors");
    problemsOf(index).forEach((p) => {
      let path = p.field || "";
      let field = null;
      while (path && !(field = configBody.querySelector(`[data-field="${CSS.escape(path)}"]`))) path = path.includes(".") ? path.slice(0, path.lastIndexOf(".")) : "";
      const slot = field ? field.querySelector(":scope > .field-error") : general;
      if (!slot) return;
      slot.hidden = false;
      const message = withoutPosition(p.message);
      slot.textContent = slot.textContent ? `${slot.textContent} ${message}` : message;
      if (isWarning(p) && !slot.classList.contains("has-error")) slot.classList.add("warn");
      else {
        slot.classList.remove("warn");
        slot.classList.add("has-error");
      }
      if (field && !isWarning(p)) field.querySelectorAll("input, select, textarea").forEach((el) => el.setAttribute("aria-invalid", "true"));
    });
  }

  function renderVersion() {
    const badge = $("version-badge");
    const p = state.published;
    if (!p) {
      badge.textContent = "Draft · not published yet";
      badge.className = "badge status-queued";
    } else if (p.changed) {
      badge.textContent = `Version ${p.number} published · draft has changes`;
      badge.className = "badge status-running";
    } else {
      badge.textContent = `Version ${p.number} published`;
      badge.className = "badge status-succeeded";
    }
  }

  // --- references ---------------------------------------------------------------------------

  function hintsFor(step) {
    const def = stepsByName[step.step];
    const out = [];
    ((def && def.hints) || []).forEach((hint) => {
      if (!/<[a-z_]+>/.test(hint)) return out.push(hint);
      const names = new Set();
      const config = step.config || {};
      const presets = config.preset === "auto" ? Object.keys(boot.presetFields) : [config.preset];
      presets.forEach((preset) => (boot.presetFields[preset] || []).forEach((n) => names.add(n)));
      (config.fields || []).forEach((f) => f && f.name && names.add(f.name));
      names.forEach((n) => out.push(hint.replace(/<[a-z_]+>/, n)));
    });
    // Fields the person defined (extract_fields) are in the output like the preset's.
    if (out.some((hint) => hint.startsWith("fields."))) {
      ((step.config && step.config.fields) || []).forEach((f) => {
        if (f && f.name) out.push(`fields.${f.name}.value`, `fields.${f.name}.confidence`);
      });
    }
    return [...new Set(out)];
  }

  // What the step at `position` can refer to: grouped by earlier step.
  function refGroups(position) {
    return state.steps.slice(0, position).flatMap((step) => {
      if (!step.id) return [];
      const seen = new Set();
      const options = [];
      (state.outputs[step.id] || []).forEach((o) => {
        seen.add(o.ref);
        options.push(o);
      });
      hintsFor(step).forEach((hint) => {
        const ref = `${step.id}.${hint}`;
        if (!seen.has(ref)) {
          seen.add(ref);
          options.push({ ref, preview: "" });
        }
      });
      return options.length ? [{ label: `${stepLabel(step)} (${step.id})`, options }] : [];
    });
  }

  const CUSTOM = "__custom__";

  // A select of references with their preview values, and "Other…" for a typed one.
  function refPicker({ value, position, onChange, id, label, testid }) {
    const groups = refGroups(position);
    const known = new Map(groups.flatMap((g) => g.options.map((o) => [o.ref, o])));
    const select = h("select", { id, "aria-label": label, dataset: { testid } }, h("option", { value: "" }, "Choose a value…"));
    groups.forEach((group) => {
      put(select, 
        h("optgroup", { label: group.label }, group.options.map((o) => h("option", { value: o.ref }, o.preview ? `${o.ref} = ${o.preview}` : o.ref))),
      );
    });
    put(select, h("option", { value: CUSTOM }, "Other (type a reference)…"));
    const custom = value && !known.has(value);
    const text = h("input", {
      type: "text",
      class: "ref-text",
      value: custom ? value : "",
      placeholder: "step_id.path.to.value",
      "aria-label": `${label}: reference`,
      dataset: { testid: testid ? `${testid}-text` : undefined },
      hidden: !custom,
    });
    const previewEl = h("span", { class: "ref-preview muted small" });
    const showPreview = (ref) => {
      const option = known.get(ref);
      previewEl.textContent = option && option.preview ? `Last test: ${option.preview}` : "";
    };
    select.value = custom ? CUSTOM : value || "";
    showPreview(value);
    select.addEventListener("change", () => {
      const chosen = select.value;
      text.hidden = chosen !== CUSTOM;
      if (chosen === CUSTOM) {
        text.focus();
        onChange(text.value.trim());
      } else {
        onChange(chosen);
        showPreview(chosen);
      }
    });
    text.addEventListener("input", () => onChange(text.value.trim()));
    if (!groups.length) previewEl.textContent = position ? "Run a test to see the values earlier steps give." : "The first step has nothing earlier to refer to.";
    return h("span", { class: "ref-picker" }, select, text, previewEl);
  }

  async function loadReferences() {
    const answer = await request(boot.urls.references).catch(() => ({ ok: false }));
    if (!answer.ok) return;
    state.outputs = answer.data.outputs || {};
    if (!configBody.contains(document.activeElement)) renderConfig();
  }

  // --- the config form ----------------------------------------------------------------------

  function fieldKind(prop) {
    const t = types(prop);
    if (prop["x-ref"] === "value") return "ref";
    if (prop["x-ref"] === "map") return "map";
    if (prop.enum) return "enum";
    if (t.includes("boolean")) return "boolean";
    if (t.includes("integer") || t.includes("number")) return "number";
    if (t.includes("array")) {
      const items = prop.items || {};
      if (items.enum) return "multi";
      if (objectVariant(items)) return "rows";
      if (types(items).includes("string")) return "list";
      return "json";
    }
    if (t.includes("object")) {
      const extra = prop.additionalProperties;
      if (!prop.properties && extra && typeof extra === "object" && types(extra).includes("string")) return "map";
      return "json";
    }
    if (t.includes("string")) return "text";
    return "json";
  }

  function objectVariant(items) {
    if (types(items).includes("object") && items.properties) return items;
    return (items.oneOf || items.anyOf || []).find((v) => types(v).includes("object") && v.properties) || null;
  }

  function allowsString(items) {
    return types(items).includes("string") || (items.oneOf || items.anyOf || []).some((v) => types(v).includes("string"));
  }

  function setConfig(step, key, value) {
    step.config = step.config || {};
    if (value === undefined) delete step.config[key];
    else step.config[key] = value;
    changed();
  }

  function errorSlot() {
    return h("p", { class: "field-error", role: "alert", hidden: true });
  }

  function renderConfig() {
    const step = state.selected;
    const index = state.steps.indexOf(step);
    if (!step || index < 0) {
      state.selected = null;
      configBody.replaceChildren(h("p", { class: "muted" }, state.steps.length ? "Select a step to configure it." : "Add a step from the library to begin."));
      return;
    }
    const def = stepsByName[step.step];
    const head = h(
      "div",
      { class: "config-head" },
      h("h3", {}, stepLabel(step), " ", h("span", { class: "badge kind" }, def ? def.kind : "?")),
      def ? h("p", { class: "muted small" }, def.description) : h("p", { class: "error" }, `There is no step called ${step.step}.`),
    );
    const idInput = h("input", {
      type: "text",
      id: "step-id",
      value: step.id,
      maxlength: "40",
      pattern: "[a-z][a-z0-9_]*",
      "aria-describedby": "step-id-help",
      dataset: { testid: "step-id" },
    });
    const idError = errorSlot();
    idInput.addEventListener("change", () => {
      const wanted = idInput.value.trim();
      idError.hidden = true;
      if (wanted === step.id) return;
      if (!ID_PATTERN.test(wanted) || usedIds(step).has(wanted)) {
        idError.textContent = !ID_PATTERN.test(wanted) ? "Use lower-case letters, digits and _, starting with a letter." : `Another step is called ${wanted}.`;
        idError.hidden = false;
        idInput.value = step.id;
        return;
      }
      renameStep(step, wanted);
      changed({ structure: true, config: true });
    });
    const idField = h(
      "div",
      { class: "field", dataset: { field: "id" } },
      h("label", { for: "step-id" }, "Step id"),
      idInput,
      h("p", { class: "help", id: "step-id-help" }, "Later steps refer to this step's output by this name."),
      idError,
    );
    const form = h("form", { class: "form config-form", novalidate: true, onsubmit: (e) => e.preventDefault(), dataset: { testid: `config-${step.id}` } });
    put(form, h("div", { class: "config-errors field-error", role: "alert", hidden: true }), idField);
    if (def) {
      const props = def.schema.properties || {};
      const required = new Set(def.schema.required || []);
      const settings = Object.entries(props).map(([key, prop]) => renderField(step, index, key, prop, required.has(key)));
      if (settings.length) put(form, h("fieldset", { class: "settings" }, h("legend", {}, "Settings"), settings));
      else put(form, h("p", { class: "muted" }, "This step has nothing to configure."));
    }
    put(form, renderConditions(step, index));
    configBody.replaceChildren(head, form);
    if (!canEdit) configBody.querySelectorAll("input, select, textarea, button").forEach((el) => (el.disabled = true));
    renderFieldErrors();
  }

  function renderField(step, index, key, prop, required) {
    const config = step.config || {};
    const kind = fieldKind(prop);
    const id = `f-${key}`;
    const title = prop.title || humanize(key);
    const help = prop.description ? h("p", { class: "help", id: `${id}-help` }, prop.description) : null;
    const wrap = h("div", { class: `field field-${kind}`, dataset: { field: `config.${key}`, testid: `field-${key}` } });
    const labelEl = h("label", { for: id }, title, required ? h("span", { class: "req", title: "required" }, " *") : null);
    const current = config[key];
    const fallback = prop.default;
    const describedBy = help ? `${id}-help` : null;
    let control;

    if (kind === "text" && key.endsWith("_from")) {
      // The id of an earlier step (tag's type_from): choose among them.
      control = h("select", { id, "aria-describedby": describedBy }, h("option", { value: "" }, "(none)"));
      const earlier = state.steps.slice(0, index).map((s) => s.id);
      if (current && !earlier.includes(current)) earlier.push(current);
      earlier.forEach((stepId) => {
        const other = state.steps.find((s) => s.id === stepId);
        put(control, h("option", { value: stepId }, other ? `${stepLabel(other)} (${stepId})` : stepId));
      });
      control.value = current || "";
      control.addEventListener("change", () => setConfig(step, key, control.value || undefined));
    } else if (kind === "ref") {
      control = refPicker({ value: current || "", position: index, id, label: title, testid: `ref-${key}`, onChange: (v) => setConfig(step, key, v || undefined) });
    } else if (kind === "enum") {
      control = h("select", { id, "aria-describedby": describedBy });
      prop.enum.forEach((option, i) => put(control, h("option", { value: String(i) }, option === null ? "(none)" : String(option))));
      const shown = current !== undefined ? current : fallback;
      const at = prop.enum.findIndex((o) => o === shown);
      if (at >= 0) control.value = String(at);
      else if (current === undefined) control.prepend(h("option", { value: "", selected: true }, "Choose…"));
      control.addEventListener("change", () => setConfig(step, key, control.value === "" ? undefined : prop.enum[Number(control.value)]));
    } else if (kind === "boolean") {
      control = h("input", { type: "checkbox", id, checked: Boolean(current !== undefined ? current : fallback), "aria-describedby": describedBy });
      control.addEventListener("change", () => setConfig(step, key, control.checked));
      wrap.classList.add("check");
      put(wrap, h("label", { for: id, class: "check-label" }, control, " ", title), help, errorSlot());
      return wrap;
    } else if (kind === "number") {
      const integer = types(prop).includes("integer");
      control = h("input", {
        type: "number",
        id,
        value: current ?? "",
        min: prop.minimum ?? prop.exclusiveMinimum,
        max: prop.maximum ?? prop.exclusiveMaximum,
        step: integer ? "1" : "any",
        placeholder: fallback !== undefined && fallback !== null ? String(fallback) : "",
        "aria-describedby": describedBy,
        inputmode: integer ? "numeric" : "decimal",
      });
      control.addEventListener("input", () => {
        const raw = control.value.trim();
        setConfig(step, key, raw === "" ? undefined : Number(raw));
      });
    } else if (kind === "multi") {
      const chosen = new Set(current !== undefined ? current : fallback || []);
      const boxes = prop.items.enum.map((option, i) => {
        const box = h("input", { type: "checkbox", id: `${id}-${i}`, checked: chosen.has(option), value: String(option) });
        box.addEventListener("change", () => {
          const all = [...wrap.querySelectorAll("input[type=checkbox]")];
          setConfig(step, key, all.filter((b) => b.checked).map((b) => prop.items.enum[all.indexOf(b)]));
        });
        return h("label", { class: "check-label", for: `${id}-${i}` }, box, " ", String(option));
      });
      put(wrap, h("fieldset", { class: "choices", "aria-describedby": describedBy }, h("legend", {}, title), boxes), help, errorSlot());
      return wrap;
    } else if (kind === "list") {
      const items = current !== undefined ? current : fallback || [];
      control = h("textarea", { id, rows: "3", "aria-describedby": `${id}-list-help` });
      control.value = (items || []).join("\n");
      control.addEventListener("input", () =>
        setConfig(
          step,
          key,
          control.value
            .split(/[\n,]/)
            .map((s) => s.trim())
            .filter(Boolean),
        ),
      );
      put(wrap, labelEl, control, h("p", { class: "help", id: `${id}-list-help` }, prop.description ? `${prop.description} ` : "", "One per line, or separated by commas."), errorSlot());
      return wrap;
    } else if (kind === "rows") {
      put(wrap, h("span", { class: "label", id: `${id}-label` }, title, required ? h("span", { class: "req" }, " *") : null), help, renderRows(step, key, prop, id), errorSlot());
      return wrap;
    } else if (kind === "map") {
      put(wrap, h("span", { class: "label", id: `${id}-label` }, title, required ? h("span", { class: "req" }, " *") : null), help, renderMap(step, index, key, prop, id), errorSlot());
      return wrap;
    } else if (kind === "text") {
      const long = prop.format === "textarea" || prop["x-multiline"] || (prop.maxLength || 0) >= 1000 && prop.format !== "uri";
      control = h(long ? "textarea" : "input", {
        type: long ? null : prop.format === "uri" ? "url" : key.includes("secret") || key.includes("password") || current === boot.mask ? "password" : "text",
        id,
        rows: long ? "4" : null,
        maxlength: prop.maxLength,
        placeholder: typeof fallback === "string" ? fallback : prop.format === "uri" ? "https://" : "",
        autocomplete: "off",
        "aria-describedby": describedBy,
      });
      control.value = current ?? (typeof fallback === "string" ? fallback : "");
      // A saved secret comes masked (never sent to the page); left as it is, it is kept.
      if (current === boot.mask) control.title = "Hidden. Leave it as it is to keep the saved value, or type a new one.";
      control.addEventListener("input", () => setConfig(step, key, control.value === "" ? undefined : control.value));
    } else {
      control = h("textarea", { id, rows: "4", class: "code", "aria-describedby": describedBy });
      control.value = current === undefined ? "" : JSON.stringify(current, null, 2);
      const local = errorSlot();
      control.addEventListener("input", () => {
        local.hidden = true;
        if (!control.value.trim()) return setConfig(step, key, undefined);
        try {
          setConfig(step, key, JSON.parse(control.value));
        } catch {
          local.textContent = "This is not valid JSON yet.";
          local.hidden = false;
        }
      });
      put(wrap, labelEl, control, help, local, errorSlot());
      return wrap;
    }
    put(wrap, labelEl, control, help, errorSlot());
    return wrap;
  }

  // An array of objects (classify's labels, extract_fields' fields): one row per item.
  function renderRows(step, key, prop, id) {
    const variant = objectVariant(prop.items);
    const stringsToo = allowsString(prop.items);
    const props = Object.entries(variant.properties);
    const main = (variant.required || [])[0] || props[0][0];
    const config = step.config || {};
    const start = config[key] !== undefined ? config[key] : prop.default || [];
    const rows = (start || []).map((item) => (typeof item === "string" ? { [main]: item } : { ...(item || {}) }));
    const singular = humanize(key).replace(/s$/, "").toLowerCase();
    const box = h("div", { class: "rows", role: "group", "aria-labelledby": `${id}-label` });

    const write = () => {
      const items = rows.map((row) => {
        const clean = {};
        Object.entries(row).forEach(([k, v]) => {
          if (v === "" || v === undefined || (Array.isArray(v) && !v.length)) return;
          clean[k] = v;
        });
        const keys = Object.keys(clean);
        if (stringsToo && (keys.length === 0 || (keys.length === 1 && keys[0] === main))) return clean[main] || "";
        return clean;
      });
      setConfig(step, key, items);
    };

    const draw = () => {
      box.replaceChildren();
      rows.forEach((row, i) => {
        const cells = props.map(([name, sub]) => {
          const subKind = types(sub).includes("array") ? "list" : sub.enum ? "enum" : "text";
          const cellId = `${id}-${i}-${name}`;
          const label = `${humanize(singular)} ${i + 1} ${humanize(name).toLowerCase()}`;
          let input;
          if (subKind === "enum") {
            input = h("select", { id: cellId, "aria-label": label, dataset: { testid: `${key}-${i}-${name}` } }, h("option", { value: "" }, "—"), sub.enum.map((o) => h("option", { value: String(o) }, String(o))));
            input.value = row[name] ?? "";
            input.addEventListener("change", () => {
              row[name] = input.value;
              write();
            });
          } else {
            input = h("input", {
              type: "text",
              id: cellId,
              "aria-label": label,
              placeholder: subKind === "list" ? "comma, separated" : sub.title || humanize(name),
              maxlength: sub.maxLength,
              dataset: { testid: `${key}-${i}-${name}` },
            });
            input.value = subKind === "list" ? (row[name] || []).join(", ") : row[name] ?? "";
            input.addEventListener("input", () => {
              row[name] = subKind === "list" ? input.value.split(",").map((s) => s.trim()).filter(Boolean) : input.value;
              write();
            });
          }
          return h("div", { class: `cell cell-${name}`, dataset: { field: `config.${key}.${i}.${name}` } }, h("span", { class: "cell-label", "aria-hidden": "true" }, humanize(name)), input, errorSlot());
        });
        const remove = h("button", { type: "button", class: "icon danger", "aria-label": `Remove ${singular} ${i + 1}`, title: "Remove", dataset: { testid: `${key}-remove-${i}` }, onclick: () => {
          rows.splice(i, 1);
          write();
          draw();
        } }, "✕");
        put(box, h("div", { class: "row", dataset: { field: `config.${key}.${i}`, testid: `${key}-row-${i}` } }, cells, remove, errorSlot()));
      });
      put(box, 
        h("button", { type: "button", class: "btn small", dataset: { testid: `add-${key}` }, onclick: () => {
          rows.push({});
          write();
          draw();
          const first = box.querySelector(`#${CSS.escape(`${id}-${rows.length - 1}-${props[0][0]}`)}`);
          if (first) first.focus();
        } }, `+ Add ${singular}`),
      );
      renderFieldErrors();
    };
    draw();
    return box;
  }

  // An object of name -> value (webhook's payload): one row per name; values are references.
  function renderMap(step, index, key, prop, id) {
    const isRef = prop["x-ref"] === "map";
    const config = step.config || {};
    const rows = Object.entries(config[key] || {}).map(([name, value]) => ({ name, value }));
    const box = h("div", { class: "rows map", role: "group", "aria-labelledby": `${id}-label` });
    const write = () => {
      const out = {};
      rows.forEach((r) => {
        if (r.name.trim()) out[r.name.trim()] = r.value;
      });
      setConfig(step, key, rows.length ? out : undefined);
    };
    const draw = () => {
      box.replaceChildren();
      rows.forEach((row, i) => {
        const name = h("input", { type: "text", id: `${id}-name-${i}`, value: row.name, placeholder: "name", "aria-label": `Name ${i + 1}`, dataset: { testid: `${key}-name-${i}` } });
        name.addEventListener("input", () => {
          row.name = name.value;
          write();
        });
        const value = isRef
          ? refPicker({ value: row.value, position: index, id: `${id}-ref-${i}`, label: `Value of name ${i + 1}`, testid: `${key}-ref-${i}`, onChange: (v) => {
              row.value = v;
              write();
            } })
          : h("input", { type: "text", id: `${id}-value-${i}`, value: row.value, "aria-label": `Value ${i + 1}`, dataset: { testid: `${key}-value-${i}` }, oninput: (e) => {
              row.value = e.target.value;
              write();
            } });
        const remove = h("button", { type: "button", class: "icon danger", "aria-label": `Remove ${row.name || `row ${i + 1}`}`, title: "Remove", dataset: { testid: `${key}-remove-${i}` }, onclick: () => {
          rows.splice(i, 1);
          write();
          draw();
        } }, "✕");
        put(box, h("div", { class: "row map-row", dataset: { field: `config.${key}.${row.name}`, testid: `${key}-row-${i}` } }, h("div", { class: "cell" }, name), h("span", { class: "arrow", "aria-hidden": "true" }, "←"), h("div", { class: "cell grow" }, value), remove, errorSlot()));
      });
      put(box, 
        h("button", { type: "button", class: "btn small", dataset: { testid: `add-${key}` }, onclick: () => {
          rows.push({ name: "", value: "" });
          draw();
          const first = box.querySelector(`#${CSS.escape(`${id}-name-${rows.length - 1}`)}`);
          if (first) first.focus();
        } }, isRef ? "+ Add a value from an earlier step" : "+ Add"),
      );
      renderFieldErrors();
    };
    draw();
    return box;
  }

  // "Run only when ...": rules on earlier steps' outputs, and the branch for the other case.
  function renderConditions(step, index) {
    const box = h("fieldset", { class: "conditions", dataset: { field: "when", testid: "conditions" } }, h("legend", {}, "When it runs"));
    if (step.otherwise_of) {
      box.dataset.field = "otherwise_of";
      put(box, 
        h("p", {}, "Runs only when ", h("code", {}, step.otherwise_of), " was skipped because its condition did not hold (the “otherwise” branch)."),
        h("button", { type: "button", class: "btn small", dataset: { testid: "clear-otherwise" }, onclick: () => {
          delete step.otherwise_of;
          changed({ structure: true, config: true });
        } }, "Run it every time instead"),
        errorSlot(),
      );
      return box;
    }
    if (!step.when) {
      put(box, 
        h("p", { class: "muted small" }, "Runs for every document."),
        h("button", { type: "button", class: "btn small", dataset: { testid: "add-condition" }, disabled: index === 0, onclick: () => {
          step.when = { match: "all", rules: [{ ref: "", op: "is", value: "" }] };
          changed({ structure: true, config: true });
        } }, "Run only when…"),
        index === 0 ? h("p", { class: "help" }, "The first step has no earlier results to test.") : null,
        errorSlot(),
      );
      return box;
    }
    const when = step.when;
    when.rules = when.rules || [];
    const match = h("select", { id: "when-match", dataset: { testid: "condition-match" } }, h("option", { value: "all" }, "all"), h("option", { value: "any" }, "any"));
    match.value = when.match === "any" ? "any" : "all";
    match.addEventListener("change", () => {
      when.match = match.value;
      changed();
    });
    put(box, h("p", { class: "when-intro", dataset: { field: "when.match" } }, "Run this step only when ", match, h("label", { for: "when-match", class: "inline" }, " of these rules hold:"), errorSlot()));
    const rules = h("ol", { class: "rules", dataset: { field: "when.rules" } });
    when.rules.forEach((rule, i) => {
      const op = h("select", { id: `rule-op-${i}`, "aria-label": `Rule ${i + 1}: comparison`, dataset: { testid: `rule-op-${i}` } }, boot.operators.map(([value, text]) => h("option", { value }, text)));
      op.value = rule.op || "is";
      const value = h("input", { type: "text", id: `rule-value-${i}`, value: rule.value ?? "", placeholder: "value", "aria-label": `Rule ${i + 1}: value`, dataset: { testid: `rule-value-${i}` }, hidden: EMPTY_OPS.has(op.value) });
      op.addEventListener("change", () => {
        rule.op = op.value;
        value.hidden = EMPTY_OPS.has(op.value);
        if (value.hidden) delete rule.value;
        else rule.value = value.value;
        changed();
      });
      value.addEventListener("input", () => {
        rule.value = value.value;
        changed();
      });
      const remove = h("button", { type: "button", class: "icon danger", "aria-label": `Remove rule ${i + 1}`, title: "Remove rule", dataset: { testid: `rule-remove-${i}` }, onclick: () => {
        when.rules.splice(i, 1);
        if (!when.rules.length) delete step.when;
        changed({ structure: true, config: true });
      } }, "✕");
      rules.append(
        h(
          "li",
          { class: "rule", dataset: { field: `when.rules.${i}`, testid: `rule-${i}` } },
          h("div", { class: "cell grow", dataset: { field: `when.rules.${i}.ref` } }, refPicker({ value: rule.ref || "", position: index, id: `rule-ref-${i}`, label: `Rule ${i + 1}: what to compare`, testid: `rule-ref-${i}`, onChange: (v) => {
            rule.ref = v;
            changed();
          } }), errorSlot()),
          h("div", { class: "cell", dataset: { field: `when.rules.${i}.op` } }, op, errorSlot()),
          h("div", { class: "cell", dataset: { field: `when.rules.${i}.value` } }, value, errorSlot()),
          remove,
          errorSlot(),
        ),
      );
    });
    put(box, rules, errorSlot());
    put(box, 
      h("div", { class: "actions" },
        h("button", { type: "button", class: "btn small", dataset: { testid: "add-rule" }, onclick: () => {
          when.rules.push({ ref: "", op: "is", value: "" });
          changed({ structure: true, config: true });
        } }, "+ Add a rule"),
        h("button", { type: "button", class: "btn small", dataset: { testid: "remove-condition" }, onclick: () => {
          delete step.when;
          changed({ structure: true, config: true });
        } }, "Run every time"),
      ),
    );
    const branches = state.steps.filter((s) => s.otherwise_of === step.id);
    if (branches.length) {
      put(box, h("p", { class: "small" }, "Otherwise: ", branches.map((b, i) => [i ? ", " : "", h("button", { type: "button", class: "linklike", onclick: () => select(b) }, `${stepLabel(b)} (${b.id})`)])));
    }
    const kind = h("select", { id: "otherwise-kind", dataset: { testid: "otherwise-kind" } }, boot.library.filter((g) => g.steps.length).map((g) => h("optgroup", { label: g.label }, g.steps.map((s) => h("option", { value: s.name }, s.label)))));
    put(box, 
      h("div", { class: "otherwise" },
        h("label", { for: "otherwise-kind" }, "Add an “otherwise” step"),
        kind,
        h("button", { type: "button", class: "btn small", dataset: { testid: "add-otherwise" }, onclick: () => addStep(kind.value, { after: step, otherwiseOf: step.id }) }, "Add"),
        h("p", { class: "help" }, "It runs only for documents where this step's rules did not hold."),
      ),
    );
    return box;
  }

  // --- the library --------------------------------------------------------------------------

  function renderLibrary() {
    const box = $("library");
    if (!box) return;
    box.replaceChildren(
      ...boot.library
        .filter((group) => group.steps.length)
        .map((group) =>
          h(
            "section",
            { class: "lib-group", "aria-labelledby": `lib-${group.kind}`, dataset: { testid: `library-${group.kind}` } },
            h("h3", { id: `lib-${group.kind}` }, group.label),
            h("p", { class: "muted small" }, group.description),
            h(
              "ul",
              {},
              group.steps.map((s) =>
                h(
                  "li",
                  {},
                  h("button", { type: "button", class: "lib-step", "aria-label": `Add ${s.label}`, dataset: { testid: `add-step-${s.name}` }, onclick: () => addStep(s.name) }, h("strong", {}, s.label), h("span", { class: "small muted" }, s.description)),
                ),
              ),
            ),
          ),
        ),
    );
  }

  // --- test runs ----------------------------------------------------------------------------

  let pollTimer = null;

  function showTest(data) {
    $("test-status").innerHTML = data.summary;
    state.results = data.steps || {};
    renderSteps();
  }

  async function poll(runId, failures = 0) {
    clearTimeout(pollTimer);
    const answer = await request(boot.urls.testRun.replace(/0$/, String(runId))).catch(() => ({ ok: false, status: 0 }));
    if (!answer.ok) {
      // A busy server or a dropped connection: keep asking, more slowly; a missing run ends it.
      if (answer.status !== 404) pollTimer = setTimeout(() => poll(runId, failures + 1), Math.min(10000, 1000 * 2 ** failures));
      return;
    }
    showTest(answer.data);
    if (answer.data.active) pollTimer = setTimeout(() => poll(runId), 1000);
    else {
      $("run-test").disabled = !canEdit;
      await loadReferences();
    }
  }

  function wireTest() {
    const form = $("test-form");
    const file = $("test-file");
    const choice = $("test-document");
    file.addEventListener("change", () => {
      $("test-file-name").textContent = file.files.length ? file.files[0].name : "";
      if (file.files.length) choice.value = "";
    });
    choice.addEventListener("change", () => {
      if (choice.value) {
        file.value = "";
        $("test-file-name").textContent = "";
      }
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!canEdit) return;
      const button = $("run-test");
      button.disabled = true;
      $("test-status").replaceChildren(h("span", { class: "muted" }, "Saving the draft and starting the test…"));
      if (!(await flush())) {
        $("test-status").replaceChildren(h("p", { class: "error" }, "The draft could not be saved; the test did not start."));
        button.disabled = false;
        return;
      }
      const body = new FormData(form);
      if (!file.files.length) body.delete("file");
      const answer = await request(boot.urls.test, { method: "POST", body });
      if (!answer.ok) {
        button.disabled = false;
        $("test-status").replaceChildren(problemList(answer.data, "test-problems"));
        return;
      }
      if (file.files.length) {
        put(choice, h("option", { value: answer.data.document.uid }, answer.data.document.name));
        choice.value = answer.data.document.uid;
        file.value = "";
        $("test-file-name").textContent = "";
      }
      poll(answer.data.run);
    });
  }

  function problemList(data, testid) {
    const box = h("div", { class: "problem-list", role: "alert", dataset: { testid } }, h("p", { class: "error" }, data.error || "Something went wrong."));
    const problems = data.problems || [];
    if (problems.length > 1 || (problems.length === 1 && problems[0].message !== data.error)) {
      put(box, 
        h("ul", {}, problems.map((p) => {
          const step = Number.isInteger(p.step) ? state.steps[p.step] : null;
          return h("li", {}, step ? h("button", { type: "button", class: "linklike", onclick: () => select(step) }, `Step ${p.step + 1} (${step.id})`) : null, step ? ": " : "", p.message);
        })),
      );
    }
    if (data.problems) {
      state.problems = data.problems;
      renderProblems();
    }
    return box;
  }

  // --- publishing ---------------------------------------------------------------------------

  function wirePublish() {
    const form = $("publish-form");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!canEdit) return;
      const button = $("publish");
      const result = $("publish-result");
      button.disabled = true;
      result.replaceChildren(h("span", { class: "muted" }, "Publishing…"));
      if (!(await flush())) {
        result.replaceChildren(h("p", { class: "error" }, "The draft could not be saved, so it was not published."));
        button.disabled = false;
        return;
      }
      const answer = await request(boot.urls.publish, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ note: $("publish-note").value }),
      });
      button.disabled = false;
      if (!answer.ok) {
        result.replaceChildren(problemList(answer.data, "publish-problems"));
        return;
      }
      $("publish-note").value = "";
      state.published = answer.data.published;
      renderVersion();
      result.replaceChildren(
        h("p", { class: "ok", dataset: { testid: "published" } }, answer.data.message, answer.data.workflow_url ? [" ", h("a", { href: answer.data.workflow_url }, "Open the workflow")] : null),
      );
    });
  }

  // --- start --------------------------------------------------------------------------------

  $("workflow-name").addEventListener("input", (event) => {
    const name = event.target.value.trim();
    if (!name) return;
    state.name = name;
    scheduleSave(TYPING_DELAY);
  });

  renderLibrary();
  renderVersion();
  state.selected = state.steps[0] || null;
  renderProblems();
  renderConfig();
  wireTest();
  wirePublish();
  if (boot.testRun) poll(boot.testRun);
  else loadReferences();
})();
