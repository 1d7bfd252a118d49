// The model editor: renders the model document (core/src/scoring/model.rs) as a form, keeps the
// document in step with every input, and talks to the admin JSON API:
//   POST /admin/portals/{p}/models/validate   check the draft, errors shown at their fields
//   POST /admin/portals/{p}/models/preview    current vs draft distribution and grade movement
//   POST /admin/portals/{p}/models            save as a new version (editors only)
// Every input carries data-path="fit[3].points" (the path validation reports), so an Issue's path
// finds its field; an issue on a path without an input is shown at its nearest ancestor that has
// one. Unsafe requests carry the session's CSRF token (meta csrf-token) in X-CSRF-Token.
"use strict";

(() => {
  const root = document.getElementById("model-editor");
  if (!root) return;
  const portal = root.dataset.portal;
  const readOnly = root.dataset.readonly === "true";
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const source = JSON.parse(document.getElementById("model-document").textContent);
  const model = structuredClone(source);
  const status = document.getElementById("editor-status");
  const generalErrors = document.getElementById("editor-errors");
  const previewBox = document.getElementById("preview-result");
  let uid = 0;
  // Rules whose details are open, by identity (indexes shift when rules move).
  const openRules = new WeakSet();

  const CONDITION_KINDS = [
    ["equals", "equals"], ["not_equals", "does not equal"], ["one_of", "is one of"],
    ["none_of", "is none of"], ["contains", "contains"], ["starts_with", "starts with"],
    ["contains_any", "contains any word of"], ["gt", ">"], ["gte", "≥"], ["lt", "<"], ["lte", "≤"],
    ["between", "between"], ["known", "is known"], ["unknown", "is unknown"],
    ["email_domain_in", "e-mail domain in"], ["all", "all of"], ["any", "any of"], ["not", "not"],
  ];
  const TEXT_KINDS = ["equals", "not_equals", "contains", "starts_with"];
  const SET_KINDS = ["one_of", "none_of"];
  const NUMBER_KINDS = ["gt", "gte", "lt", "lte"];
  const GROUP_KINDS = ["all", "any"];

  // ---- small DOM helpers ----
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child !== null && child !== undefined && child !== false) node.append(child);
    }
    return node;
  }

  function numberOrRaw(text) {
    const trimmed = text.trim();
    if (trimmed === "") return "";
    const n = Number(trimmed);
    return Number.isFinite(n) ? n : trimmed;
  }

  function lines(text) {
    return text.split("\n").map((s) => s.trim()).filter((s) => s !== "");
  }

  // A labelled input bound to obj[key]. kind: text | number | optional-number | optional-text |
  // lines | select.
  function field(label, obj, key, path, kind = "text", options = {}) {
    const id = `f${++uid}`;
    let input;
    const value = obj[key];
    if (kind === "select") {
      input = el("select", { id }, options.choices.map(([v, text]) =>
        el("option", { value: v, selected: String(value) === v, text })));
    } else if (kind === "lines") {
      input = el("textarea", { id, rows: options.rows || 3 });
      input.value = Array.isArray(value) ? value.join("\n") : "";
    } else {
      const numeric = kind === "number" || kind === "optional-number";
      input = el("input", {
        id, type: numeric ? "number" : "text", step: numeric ? "any" : undefined,
        inputmode: numeric ? "decimal" : undefined, autocomplete: "off",
        placeholder: options.placeholder,
      });
      input.value = value === undefined || value === null ? "" : String(value);
    }
    input.dataset.path = path;
    input.disabled = readOnly;
    input.addEventListener(kind === "select" ? "change" : "input", () => {
      const raw = input.value;
      if (kind === "number") obj[key] = numberOrRaw(raw);
      else if (kind === "optional-number") {
        if (raw.trim() === "") delete obj[key]; else obj[key] = numberOrRaw(raw);
      } else if (kind === "optional-text") {
        if (raw.trim() === "") delete obj[key]; else obj[key] = raw;
      } else if (kind === "lines") obj[key] = lines(raw);
      else obj[key] = raw;
      clearIssue(input);
      if (options.onchange) options.onchange(raw);
    });
    return el("div", { class: "field" }, el("label", { for: id, text: label }), input,
      options.hint ? el("div", { class: "hint", text: options.hint }) : null);
  }

  function iconButton(label, symbol, onclick, disabled = false) {
    return el("button", {
      type: "button", class: "icon-btn", "aria-label": label, title: label, disabled, onclick,
    }, symbol);
  }

  function move(list, from, to) {
    const [item] = list.splice(from, 1);
    list.splice(to, 0, item);
  }

  // Rerenders and puts the focus back on the control with the same role in the same place.
  function rerender(focusSelector) {
    render();
    if (focusSelector) {
      const target = root.querySelector(focusSelector);
      if (target) target.focus();
    }
  }

  // ---- conditions ----
  function conditionKind(cond) {
    return Object.keys(cond)[0];
  }

  function emptyCondition(kind) {
    if (TEXT_KINDS.includes(kind)) return { [kind]: { property: "", value: "" } };
    if (SET_KINDS.includes(kind)) return { [kind]: { property: "", values: [] } };
    if (NUMBER_KINDS.includes(kind)) return { [kind]: { property: "", value: 0 } };
    if (kind === "between") return { between: { property: "", min: 0, max: 0 } };
    if (kind === "contains_any") return { contains_any: { property: "", values: [] } };
    if (kind === "known" || kind === "unknown") return { [kind]: { property: "" } };
    if (kind === "email_domain_in") return { email_domain_in: { property: "email", list: "freemail" } };
    if (GROUP_KINDS.includes(kind)) return { [kind]: [{ known: { property: "" } }] };
    return { not: { known: { property: "" } } };
  }

  // Renders the condition held in holder[key] at `path` (e.g. fit[2].when).
  function conditionEditor(holder, key, path) {
    const cond = holder[key];
    const kind = conditionKind(cond);
    const body = cond[kind];
    const here = `${path}.${kind}`;
    const box = el("div", { class: "cond", "data-path": here });
    const kindField = field("Condition", { kind }, "kind", `${path}.kind`, "select", {
      choices: CONDITION_KINDS,
      onchange: (next) => {
        holder[key] = emptyCondition(next);
        rerender(`[data-path="${path}.kind"]`);
      },
    });
    const row = el("div", { class: "row" }, kindField);
    box.append(row);
    if (GROUP_KINDS.includes(kind)) {
      const children = el("div", { class: "cond-children" });
      body.forEach((_, i) => {
        const child = el("div", {}, conditionEditor(body, i, `${here}[${i}]`));
        if (!readOnly) {
          child.append(el("div", { class: "rule-tools" },
            iconButton("Remove this condition", "✕", () => {
              body.splice(i, 1);
              rerender();
            }, body.length <= 1)));
        }
        children.append(child);
      });
      box.append(children);
      if (!readOnly) {
        box.append(el("div", {}, el("button", {
          type: "button", class: "btn btn-small",
          onclick: () => { body.push({ known: { property: "" } }); rerender(); },
        }, "Add condition")));
      }
      return box;
    }
    if (kind === "not") {
      box.append(conditionEditor(cond, "not", here));
      return box;
    }
    row.append(field("Property", body, "property", `${here}.property`, "text",
      { placeholder: "HubSpot internal name" }));
    if (TEXT_KINDS.includes(kind)) {
      row.append(field("Value", body, "value", `${here}.value`));
    } else if (NUMBER_KINDS.includes(kind)) {
      row.append(field("Number", body, "value", `${here}.value`, "number"));
    } else if (kind === "between") {
      row.append(field("From", body, "min", `${here}.min`, "number"));
      row.append(field("To", body, "max", `${here}.max`, "number"));
    } else if (SET_KINDS.includes(kind)) {
      row.append(field("Values, one a line", body, "values", `${here}.values`, "lines"));
    } else if (kind === "contains_any") {
      row.append(field("Words, one a line", body, "values", `${here}.values`, "lines"));
      row.append(field("Or a list", body, "list", `${here}.list`, "optional-text",
        { placeholder: "student_titles" }));
    } else if (kind === "email_domain_in") {
      row.append(field("List", body, "list", `${here}.list`, "optional-text",
        { placeholder: "freemail, academic_domains, competitors" }));
      row.append(field("Domains, one a line", body, "domains", `${here}.domains`, "lines"));
    }
    return box;
  }

  // ---- rules ----
  function ruleTools(list, index, sameSection, kindLabel) {
    if (readOnly) return null;
    const position = sameSection.indexOf(index);
    const before = sameSection[position - 1];
    const after = sameSection[position + 1];
    return el("div", { class: "rule-tools" },
      iconButton(`Move ${kindLabel} up`, "↑", () => {
        move(list, index, before);
        rerender();
      }, before === undefined),
      iconButton(`Move ${kindLabel} down`, "↓", () => {
        move(list, index, after);
        rerender();
      }, after === undefined),
      iconButton(`Remove ${kindLabel}`, "✕", () => {
        list.splice(index, 1);
        rerender();
      }));
  }

  function ruleHead(rule, path, tools) {
    return el("div", { class: "rule-head" },
      field("Id", rule, "id", `${path}.id`),
      field("Label", rule, "label", `${path}.label`, "optional-text"),
      field("Points", rule, "points", `${path}.points`, "number"),
      tools || el("span"));
  }

  // A rule as a disclosure: its summary (label and points) stays visible, its fields open on
  // demand, so a long model reads as a list.
  function ruleItem(rule, path, ...body) {
    const name = el("span", { class: "rule-name" });
    const id = el("code", { class: "rule-id" });
    const points = el("span");
    const describe = () => {
      const p = typeof rule.points === "number" ? rule.points : NaN;
      name.textContent = rule.label || rule.id || "New rule";
      id.textContent = rule.id || "";
      points.className = `rule-points ${p < 0 ? "neg" : "pos"}`;
      points.textContent = Number.isNaN(p) ? "?" : `${p > 0 ? "+" : ""}${p}`;
    };
    describe();
    const details = el("details", { class: "rule", "data-path": path, open: openRules.has(rule) },
      el("summary", {}, name, id, points), el("div", { class: "rule-body" }, ...body));
    details.addEventListener("toggle", () => {
      if (details.open) openRules.add(rule); else openRules.delete(rule);
    });
    details.addEventListener("input", describe);
    return el("li", {}, details);
  }

  function fitRules(negative) {
    model.fit = model.fit || [];
    const indexes = model.fit
      .map((rule, i) => [rule, i])
      .filter(([rule]) => (typeof rule.points === "number" && rule.points < 0) === negative)
      .map(([, i]) => i);
    const list = el("ol", { class: "rules" });
    for (const i of indexes) {
      const rule = model.fit[i];
      const path = `fit[${i}]`;
      list.append(ruleItem(rule, path,
        ruleHead(rule, path, ruleTools(model.fit, i, indexes, "rule")),
        conditionEditor(rule, "when", `${path}.when`)));
    }
    if (indexes.length === 0) list.append(el("li", { class: "empty", text: "No rules." }));
    return list;
  }

  function addFitRule(negative) {
    model.fit = model.fit || [];
    const rule = {
      id: `${negative ? "negative" : "rule"}_${model.fit.length + 1}`,
      points: negative ? -10 : 10,
      when: { known: { property: "" } },
    };
    openRules.add(rule);
    model.fit.push(rule);
    rerender(`[data-path="fit[${model.fit.length - 1}].id"]`);
  }

  const MATCHERS = [
    ["property_change", "Property changes"], ["workflow", "Workflow webhook"],
    ["external", "External event"],
  ];

  function matcherEditor(rule, path) {
    const kind = Object.keys(rule.on)[0];
    const body = rule.on[kind];
    const here = `${path}.on.${kind}`;
    const row = el("div", { class: "row" },
      field("Counts", { kind }, "kind", `${path}.on.kind`, "select", {
        choices: MATCHERS,
        onchange: (next) => {
          rule.on = next === "workflow" ? { workflow: { workflow_id: 0 } }
            : next === "external" ? { external: { event_type: "" } }
              : { property_change: { property: "" } };
          rerender(`[data-path="${path}.on.kind"]`);
        },
      }));
    if (kind === "property_change") {
      row.append(field("Property", body, "property", `${here}.property`));
      row.append(field("To value (optional)", body, "value", `${here}.value`, "optional-text"));
    } else if (kind === "workflow") {
      row.append(field("Workflow id", body, "workflow_id", `${here}.workflow_id`, "number"));
      row.append(field("Event (optional)", body, "event", `${here}.event`, "optional-text"));
    } else {
      row.append(field("Event type", body, "event_type", `${here}.event_type`));
    }
    return row;
  }

  function decayOverride(rule, path) {
    const current = rule.decay ? rule.decay.kind : "inherit";
    const row = el("div", { class: "row" },
      field("Decay", { kind: current }, "kind", `${path}.decay.kind`, "select", {
        choices: [["inherit", "Model's decay"], ["none", "Never fades"], ["exponential", "Own half-life"]],
        onchange: (next) => {
          if (next === "inherit") delete rule.decay;
          else if (next === "none") rule.decay = { kind: "none" };
          else rule.decay = { kind: "exponential", half_life_days: 30 };
          rerender(`[data-path="${path}.decay.kind"]`);
        },
      }));
    if (rule.decay && rule.decay.kind === "exponential") {
      row.append(field("Half-life (days)", rule.decay, "half_life_days",
        `${path}.decay.half_life_days`, "number"));
    }
    return row;
  }

  function engagementRules() {
    model.engagement = model.engagement || [];
    const indexes = model.engagement.map((_, i) => i);
    const list = el("ol", { class: "rules" });
    for (const i of indexes) {
      const rule = model.engagement[i];
      const path = `engagement[${i}]`;
      list.append(ruleItem(rule, path,
        ruleHead(rule, path, ruleTools(model.engagement, i, indexes, "rule")),
        matcherEditor(rule, path),
        el("div", { class: "row" },
          field("Count at most (events)", rule, "cap", `${path}.cap`, "optional-number"),
          field("Repeat after (hours)", rule, "min_interval_hours", `${path}.min_interval_hours`,
            "optional-number")),
        decayOverride(rule, path)));
    }
    if (indexes.length === 0) list.append(el("li", { class: "empty", text: "No rules." }));
    return list;
  }

  // ---- bands (grades, matrix axes) ----
  function bands(list, path, noun) {
    const box = el("ol", { class: "rules" });
    const indexes = list.map((_, i) => i);
    list.forEach((band, i) => {
      box.append(el("li", { class: "rule", "data-path": `${path}[${i}]` },
        el("div", { class: "rule-head" },
          field("Label", band, "label", `${path}[${i}].label`),
          field("From score", band, "min", `${path}[${i}].min`, "optional-number",
            { placeholder: "everything below" }),
          el("span"),
          ruleTools(list, i, indexes, noun) || el("span"))));
    });
    if (!readOnly) {
      box.append(el("li", {}, el("button", {
        type: "button", class: "btn btn-small",
        onclick: () => { list.push({ label: "", min: 0 }); rerender(); },
      }, `Add ${noun}`)));
    }
    return box;
  }

  // ---- sections ----
  function section(title, id, ...content) {
    return el("section", { class: "card", "aria-labelledby": id },
      el("h2", { id }, ...[].concat(title)), ...content);
  }

  function addButton(text, onclick) {
    return readOnly ? null : el("button", { type: "button", class: "btn btn-small", onclick }, text);
  }

  function general() {
    model.decay = model.decay || { kind: "none" };
    model.caps = model.caps || {};
    const decayRow = el("div", { class: "row" },
      field("Model name", model, "name", "name", "optional-text"),
      field("Engagement decay", { kind: model.decay.kind }, "kind", "decay.kind", "select", {
        choices: [["exponential", "Halves over time"], ["none", "Never fades"]],
        onchange: (next) => {
          model.decay = next === "none" ? { kind: "none" } : { kind: "exponential", half_life_days: 30 };
          rerender('[data-path="decay.kind"]');
        },
      }));
    if (model.decay.kind === "exponential") {
      decayRow.append(field("Half-life (days)", model.decay, "half_life_days",
        "decay.half_life_days", "number"));
    }
    const caps = el("div", { class: "row" });
    for (const axis of ["fit", "engagement", "total"]) {
      model.caps[axis] = model.caps[axis] || {};
      caps.append(field(`${axis} min`, model.caps[axis], "min", `caps.${axis}.min`, "optional-number"));
      caps.append(field(`${axis} max`, model.caps[axis], "max", `caps.${axis}.max`, "optional-number"));
    }
    return section("Model", "sec-general", decayRow,
      el("h3", { class: "stack-top", text: "Caps" }), caps);
  }

  function outputs() {
    const out = model.output;
    const row = el("div", { class: "row" },
      field("Total score", out, "total", "output.total"),
      field("Fit", out, "fit", "output.fit", "optional-text"),
      field("Engagement", out, "engagement", "output.engagement", "optional-text"),
      field("Grade", out, "grade", "output.grade", "optional-text"),
      field("Matrix cell", out, "matrix", "output.matrix", "optional-text"),
      field("Reasons", out, "reasons", "output.reasons", "optional-text"),
      field("Reasons named", out, "max_reasons", "output.max_reasons", "number"),
      field("Reasons length", out, "reasons_max_chars", "output.reasons_max_chars", "number"));
    return section("HubSpot properties written", "sec-output",
      el("p", { class: "hint", text: "Internal names of the contact properties that receive each result; leave one empty not to write it." }),
      row);
  }

  function lists() {
    const id = `f${++uid}`;
    const area = el("textarea", { id, rows: 6, "data-path": "lists", disabled: readOnly });
    area.value = JSON.stringify(model.lists || {}, null, 2);
    area.addEventListener("input", () => {
      clearIssue(area);
      try {
        model.lists = JSON.parse(area.value || "{}");
      } catch (e) {
        model.lists = area.value;
      }
    });
    return section("Lists", "sec-lists",
      el("p", { class: "hint", text: "Edits of the built-in lists (freemail, academic_domains, student_titles), competitor domains and custom lists, as JSON." }),
      el("div", { class: "field" }, el("label", { for: id, text: "Lists (JSON)" }), area));
  }

  function matrix() {
    const enabled = Boolean(model.matrix);
    const toggle = el("label", { class: "hint" },
      el("input", {
        type: "checkbox", checked: enabled, disabled: readOnly, "data-path": "matrix",
        onchange: (e) => {
          if (e.target.checked) {
            model.matrix = { fit: [{ label: "A", min: 40 }, { label: "B" }], engagement: [{ label: "1", min: 40 }, { label: "2" }] };
          } else delete model.matrix;
          rerender('[data-path="matrix"]');
        },
      }), " Write a fit × engagement cell (A1…)");
    const content = [toggle];
    if (enabled) {
      content.push(el("div", { class: "grid grid-2 stack-top" },
        el("div", {}, el("h3", { text: "Fit bands" }), bands(model.matrix.fit, "matrix.fit", "band")),
        el("div", {}, el("h3", { text: "Engagement bands" }),
          bands(model.matrix.engagement, "matrix.engagement", "band"))));
    }
    return section("Matrix", "sec-matrix", ...content);
  }

  function render() {
    uid = 0;
    const form = document.getElementById("model-form");
    form.replaceChildren(
      general(),
      section(["Fit rules", addButton("Add fit rule", () => addFitRule(false))], "sec-fit",
        el("p", { class: "hint", text: "Who the contact is: each matching rule adds its points once." }),
        fitRules(false)),
      section(["Negative signals", addButton("Add negative signal", () => addFitRule(true))], "sec-negative",
        el("p", { class: "hint", text: "Free e-mail, students, competitors: rules with points below zero." }),
        fitRules(true)),
      section(["Engagement rules", addButton("Add engagement rule", () => {
        model.engagement = model.engagement || [];
        const rule = {
          id: `engagement_${model.engagement.length + 1}`, points: 5,
          on: { external: { event_type: "" } },
        };
        openRules.add(rule);
        model.engagement.push(rule);
        rerender(`[data-path="engagement[${model.engagement.length - 1}].id"]`);
      })], "sec-engagement",
      el("p", { class: "hint", text: "What the contact does: each counted event adds its points, fading with time." }),
      engagementRules()),
      section("Grades", "sec-grades",
        el("p", { class: "hint", text: "A grade is reached from its score up; a grade without a score catches the rest." }),
        bands(model.grades = model.grades || [], "grades", "grade")),
      matrix(),
      outputs(),
      lists());
  }

  // ---- issues ----
  function clearIssue(input) {
    input.classList.remove("has-error");
    input.removeAttribute("aria-invalid");
    const box = input.closest(".field, .cond, .rule") || input.parentElement;
    const note = box && box.querySelector(`:scope > .field-error[data-for="${CSS.escape(input.dataset.path || "")}"]`);
    if (note) note.remove();
  }

  function clearIssues() {
    root.querySelectorAll(".field-error, .field-warning").forEach((n) => n.remove());
    root.querySelectorAll(".has-error").forEach((n) => {
      n.classList.remove("has-error");
      n.removeAttribute("aria-invalid");
    });
    generalErrors.replaceChildren();
  }

  // The element that shows an issue at `path`: the exact one, else the nearest ancestor path.
  function targetOf(path) {
    let p = path;
    while (p) {
      const found = root.querySelector(`[data-path="${CSS.escape(p)}"]`);
      if (found) return found;
      const cut = Math.max(p.lastIndexOf("."), p.lastIndexOf("["));
      if (cut <= 0) break;
      p = p.slice(0, cut);
    }
    return null;
  }

  function showIssues(issues, kind) {
    const unplaced = [];
    let first = null;
    for (const issue of issues) {
      const target = targetOf(issue.path || "");
      if (!target) {
        unplaced.push(issue);
        continue;
      }
      const note = el("div", {
        class: kind === "error" ? "field-error" : "field-warning",
        id: `issue${++uid}`, "data-for": target.dataset.path, role: kind === "error" ? "alert" : null,
        text: issue.message,
      });
      for (let d = target.closest("details"); d; d = d.parentElement.closest("details")) {
        d.open = true;
      }
      if (kind === "error") {
        target.classList.add("has-error");
        target.setAttribute("aria-invalid", "true");
        first = first || target;
      }
      const describedBy = [target.getAttribute("aria-describedby"), note.id].filter(Boolean).join(" ");
      target.setAttribute("aria-describedby", describedBy);
      if (target.matches("input, select, textarea")) target.insertAdjacentElement("afterend", note);
      else target.append(note);
    }
    for (const issue of unplaced) {
      generalErrors.append(el("div", {
        class: kind === "error" ? "field-error" : "field-warning",
        text: issue.path ? `${issue.path}: ${issue.message}` : issue.message,
      }));
    }
    return first;
  }

  function say(text, tone) {
    status.textContent = text;
    status.className = `status-line ${tone ? `notice-${tone}` : ""}`;
  }

  async function call(action, method = "POST") {
    const url = `/admin/portals/${portal}/models${action}`;
    const response = await fetch(url, {
      method,
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, Accept: "application/json" },
      body: JSON.stringify(model),
      credentials: "same-origin",
    });
    let body = null;
    try {
      body = await response.json();
    } catch (e) {
      body = null;
    }
    return { status: response.status, body };
  }

  // Shows a 422's issues; returns true when the draft is valid.
  function report(result) {
    clearIssues();
    if (result.status === 422 && result.body) {
      const first = showIssues(result.body.errors || [], "error");
      showIssues(result.body.warnings || [], "warning");
      const n = (result.body.errors || []).length;
      say(`${n} ${n === 1 ? "problem" : "problems"} to fix before saving.`, "error");
      if (first) first.focus();
      return false;
    }
    if (result.status >= 400 || !result.body) {
      const message = result.body && result.body.message ? result.body.message : `the server answered ${result.status}`;
      say(`That did not work: ${message}.`, "error");
      return false;
    }
    showIssues(result.body.warnings || [], "warning");
    return true;
  }

  // ---- preview ----
  const SVG = "http://www.w3.org/2000/svg";
  function svgEl(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // Current (grey) and draft (blue) bars side by side per bucket; fixed view box.
  function comparison(current, draft) {
    const W = 640, H = 240, L = 40, R = 12, T = 14, B = 28;
    const svg = svgEl("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img", "aria-label": "Current and draft score distribution" });
    const a = current.histogram || [];
    const b = draft.histogram || [];
    const n = Math.max(a.length, b.length);
    const max = Math.max(1, ...a.map((x) => x.count), ...b.map((x) => x.count));
    const plotH = H - T - B;
    const slot = (W - L - R) / Math.max(1, n);
    svg.append(svgEl("line", { class: "axis", x1: L, y1: T + plotH, x2: W - R, y2: T + plotH }));
    svg.append(svgEl("text", { x: L - 6, y: T + 8, "text-anchor": "end" }, String(max)));
    for (let i = 0; i < n; i++) {
      const pair = [[a[i], "bar-current"], [b[i], "bar-draft"]];
      pair.forEach(([bucket, cls], j) => {
        if (!bucket) return;
        const h = bucket.count === 0 ? 0 : Math.max(1.5, (bucket.count / max) * plotH);
        const rect = svgEl("rect", {
          class: cls, x: (L + i * slot + 2 + j * (slot - 4) / 2).toFixed(1), y: (T + plotH - h).toFixed(1),
          width: ((slot - 4) / 2 - 1).toFixed(1), height: h.toFixed(1), rx: 2,
        });
        rect.append(svgEl("title", {}, `${j ? "Draft" : "Current"} ${bucket.from}–${bucket.to}: ${bucket.count}`));
        svg.append(rect);
      });
      const from = (a[i] || b[i]).from;
      svg.append(svgEl("text", { x: (L + i * slot).toFixed(1), y: H - 8, "text-anchor": "middle" }, String(from)));
    }
    const last = a[a.length - 1] || b[b.length - 1];
    if (last) svg.append(svgEl("text", { x: W - R, y: H - 8, "text-anchor": "end" }, String(last.to)));
    return svg;
  }

  // A grade label as a badge; `null` is a contact without a grade.
  function gradeBadge(label) {
    return label === null || label === undefined
      ? el("span", { class: "hint", text: "no grade" })
      : el("span", { class: `grade grade-${label}`, text: label });
  }

  function showPreview(p) {
    const moves = el("div", { class: "moves" },
      el("span", {}, "Up ", el("strong", { text: String(p.moved.up) })),
      el("span", {}, "Down ", el("strong", { text: String(p.moved.down) })),
      el("span", {}, "Same ", el("strong", { text: String(p.moved.same) })));
    const changes = (p.grade_changes || []).filter((c) => c.count > 0);
    const table = changes.length === 0 ? el("p", { class: "hint", text: "No contact changes grade." })
      : el("table", {},
        el("thead", {}, el("tr", {}, el("th", { text: "From" }), el("th", { text: "To" }), el("th", { class: "num", text: "Contacts" }))),
        el("tbody", {}, changes.map((c) => el("tr", {},
          el("td", {}, gradeBadge(c.from)),
          el("td", {}, gradeBadge(c.to)),
          el("td", { class: "num", text: String(c.count) })))));
    previewBox.replaceChildren(
      el("p", { class: "hint", text: `A sample of ${p.sample_size} contacts, scored now. Mean ${p.current.mean.toFixed(1)} → ${p.draft.mean.toFixed(1)}.` }),
      el("div", { class: "chart-box" }, comparison(p.current, p.draft)),
      el("div", { class: "chart-legend" },
        el("span", {}, el("span", { class: "swatch swatch-current" }), " Current"),
        el("span", {}, el("span", { class: "swatch swatch-draft" }), " Draft")),
      moves,
      el("h3", { text: "Grade changes" }),
      table);
  }

  // ---- actions ----
  async function guarded(button, work) {
    button.disabled = true;
    try {
      await work();
    } catch (e) {
      say(`Ember could not be reached (${e.message}). Try again.`, "error");
    } finally {
      button.disabled = false;
    }
  }

  const checkButton = document.getElementById("check-model");
  const previewButton = document.getElementById("preview-model");
  const saveButton = document.getElementById("save-model");

  checkButton.addEventListener("click", () => guarded(checkButton, async () => {
    say("Checking…");
    if (report(await call("/validate"))) say("The model is valid.", "ok");
  }));

  previewButton.addEventListener("click", () => guarded(previewButton, async () => {
    say("Scoring a sample of contacts…");
    const result = await call("/preview");
    if (report(result)) {
      showPreview(result.body);
      say("Preview ready: compare the draft with the current model.", "ok");
    }
  }));

  if (saveButton) {
    saveButton.addEventListener("click", () => guarded(saveButton, async () => {
      say("Saving…");
      const result = await call("");
      if (report(result)) {
        say(`Saved as version ${result.body.version}. Contacts are being rescored.`, "ok");
        window.location.assign(`/app/portals/${portal}/model/versions?done=saved`);
      }
    }));
  }

  render();
  root.dataset.ready = "true";
})();
