// The Triggers page. Everything it shows comes from the page's own API
// (api/...), relative to the page's address, so it works under any mount.
// A new token lives in one variable and the token dialog only while that
// dialog is open; it is never put in a URL or in browser storage.
"use strict";

const perPage = 50;
const $ = (id) => document.getElementById(id);

// The storage the admin endpoint is asked about, when there are several.
const storage = new URLSearchParams(location.search).get("storage");

let session = null;
let view = { project: "", sort: "last_used", state: "active", page: 1 };
let pendingRevoke = null;
let lastFocus = null;
// The number of the recent deliveries view shown (each opening and each
// closing starts a new one): an answer for an earlier view, which can come
// after a later one's, is dropped.
let deliveriesView = 0;
// The number of the last list asked for and of the last list answered: an
// answer for an earlier list (other filters, another page), which can come
// after a later one's, is dropped.
let listAsked = 0;
let listAnswered = 0;

function apiPath(path, params = {}) {
	const query = new URLSearchParams();
	for (const [k, v] of Object.entries(params)) {
		if (v !== "" && v !== null && v !== undefined) query.set(k, String(v));
	}
	if (storage) query.set("storage", storage);
	const q = query.toString();
	return "api/" + path + (q ? "?" + q : "");
}

async function api(method, path, { params, body } = {}) {
	const headers = { Accept: "application/json" };
	if (method !== "GET") headers["X-CSRF-Token"] = session ? session.csrf_token : "";
	if (body !== undefined) headers["Content-Type"] = "application/json";
	const resp = await fetch(apiPath(path, params), {
		method,
		headers,
		body: body === undefined ? undefined : JSON.stringify(body),
		credentials: "same-origin",
		cache: "no-store",
		redirect: "error",
	});
	let data = null;
	if (resp.status !== 204) {
		try { data = await resp.json(); } catch { data = null; }
	}
	if (!resp.ok) {
		const err = new Error(messageOf(data) || resp.status + " " + resp.statusText);
		err.status = resp.status;
		throw err;
	}
	return data;
}

function messageOf(data) {
	if (!data) return "";
	const m = data.message ?? data.error;
	return typeof m === "string" ? m : JSON.stringify(m);
}

// Times: relative in the cell, exact (local and UTC) on hover.
const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
const units = [["year", 31536000], ["month", 2592000], ["week", 604800], ["day", 86400], ["hour", 3600], ["minute", 60], ["second", 1]];

function relativeTime(date) {
	const seconds = (date.getTime() - Date.now()) / 1000;
	for (const [unit, size] of units) {
		if (Math.abs(seconds) >= size || unit === "second") {
			return relative.format(Math.round(seconds / size), unit);
		}
	}
	return "";
}

function timeElement(iso, { absolute = false } = {}) {
	const date = new Date(iso);
	const el = document.createElement("time");
	el.dateTime = date.toISOString();
	el.title = date.toLocaleString() + " (" + date.toISOString() + ")";
	el.textContent = absolute ? date.toLocaleDateString(undefined, dateOnly(date) ? { timeZone: "UTC" } : {}) : relativeTime(date);
	return el;
}

// A date without a time of day (the date field's, stored as midnight UTC)
// is shown as that date in every time zone: 2030-01-31 is still 30
// January in New York, but the token was set to expire on the 31st.
function dateOnly(date) {
	return date.getUTCHours() === 0 && date.getUTCMinutes() === 0 && date.getUTCSeconds() === 0 && date.getUTCMilliseconds() === 0;
}

function text(tag, content, className) {
	const el = document.createElement(tag);
	if (content !== undefined) el.textContent = content;
	if (className) el.className = className;
	return el;
}

function badge(label, className) {
	return text("span", label, "badge" + (className ? " " + className : ""));
}

function cell(label, ...children) {
	const td = document.createElement("td");
	td.dataset.label = label;
	td.append(...children);
	return td;
}

function renderRow(t) {
	const tr = document.createElement("tr");
	tr.dataset.id = String(t.id);
	if (t.revoked_at) tr.classList.add("revoked");

	const token = cell("Token", text("span", t.token_prefix, "token-prefix"));
	if (t.legacy) token.append(badge("legacy"));
	if (t.revoked_at) token.append(badge("revoked", "revoked"));

	const expires = cell("Expires");
	if (t.expires_at) {
		expires.append(timeElement(t.expires_at, { absolute: true }));
		if (t.expired) expires.append(badge("expired", "expired"));
	} else {
		expires.append(text("span", "Never", "never"));
	}

	const lastUsed = cell("Last used");
	lastUsed.append(t.last_used ? timeElement(t.last_used) : text("span", "Never", "never"));

	const uses = cell("Uses", String(t.use_count));
	uses.classList.add("num");

	const actions = cell("Actions");
	const box = text("div", undefined, "row-actions");
	const deliveries = text("button", "Deliveries");
	deliveries.type = "button";
	deliveries.dataset.action = "deliveries";
	deliveries.setAttribute("aria-label", "Recent deliveries of trigger " + t.token_prefix + " (" + t.description + ")");
	deliveries.addEventListener("click", () => showDeliveries(t, deliveries));
	box.append(deliveries);
	if (t.revoked_at) {
		box.append(revokedNote(t.revoked_at, t.revoked_by));
	} else if (session.can_manage) {
		const revoke = text("button", "Revoke", "danger");
		revoke.type = "button";
		revoke.dataset.action = "revoke";
		revoke.setAttribute("aria-label", "Revoke trigger " + t.token_prefix + " (" + t.description + ")");
		revoke.addEventListener("click", () => askRevoke(t, revoke));
		box.append(revoke);
	}
	actions.append(box);

	tr.append(
		token,
		cell("Project", t.project),
		cell("Description", t.description),
		cell("Owner", t.owner || "—"),
		cell("Created", timeElement(t.created_at)),
		expires,
		lastUsed,
		uses,
		actions,
	);
	return tr;
}

// When and by whom a token was revoked.
function revokedNote(iso, by) {
	const note = text("span", "Revoked ", "never");
	note.append(timeElement(iso));
	if (by) note.append(" by " + by);
	return note;
}

function setStatus(message) { $("status").textContent = message; }
function setError(message) { $("error").textContent = message; }

async function load() {
	const asked = ++listAsked;
	setError("");
	let page;
	try {
		page = await api("GET", "triggers", {
			params: {
				project: view.project, sort: view.sort, revoked: view.state === "revoked" ? "true" : "",
				page: view.page, per_page: perPage,
			},
		});
	} catch (err) {
		if (asked !== listAsked) return false;
		listAnswered = asked;
		setError("Could not load the trigger tokens: " + err.message);
		return false;
	}
	if (asked !== listAsked) return false;
	listAnswered = asked;
	if (page.page > page.total_pages) {
		// The list shrank since its pages were counted (revokes, another
		// user's too): its last page, page 1 of 1 once it is empty.
		view.page = page.total_pages;
		return load();
	}
	view.page = page.page;
	const rows = $("rows");
	rows.replaceChildren(...page.triggers.map(renderRow));
	$("empty").hidden = page.total > 0;
	const first = page.total === 0 ? 0 : (page.page - 1) * page.per_page + 1;
	const last = Math.min(page.page * page.per_page, page.total);
	$("count").textContent = page.total === 0 ? "" :
		"Showing " + first + "–" + last + " of " + page.total + (page.total === 1 ? " token" : " tokens");
	$("pager").hidden = page.total_pages <= 1;
	$("page-info").textContent = "Page " + page.page + " of " + page.total_pages;
	$("prev").disabled = page.page <= 1;
	$("next").disabled = page.page >= page.total_pages;
	document.body.dataset.loaded = "true";
	return true;
}

// The filters' fields show the view the list is of.
function showView() {
	$("project-filter").value = view.project;
	$("sort").value = view.sort;
	$("state").value = view.state;
}

// Dialogs: open modal, focus the first field, give focus back on close.
function openDialog(dialog, focusTarget) {
	lastFocus = document.activeElement;
	dialog.showModal();
	(focusTarget || dialog.querySelector("input, button")).focus();
}

function restoreFocus(fallback) {
	// A button gone or hidden meanwhile (revoked, or Add once read only) cannot take it.
	const usable = (el) => el && el.isConnected && el.checkVisibility();
	const target = usable(lastFocus) ? lastFocus : usable(fallback) ? fallback : $("project-filter");
	lastFocus = null;
	if (target) target.focus();
}

// Adding a trigger.
function openAdd() {
	$("add-form").reset();
	$("add-error").textContent = "";
	if (view.project) $("add-project").value = view.project;
	if (session.user) $("add-owner").value = session.user;
	openDialog($("add-dialog"), view.project ? $("add-description") : $("add-project"));
}

async function submitAdd(event) {
	event.preventDefault();
	const form = $("add-form");
	const body = {
		project: form.project.value.trim(),
		description: form.description.value.trim(),
		owner: form.owner.value.trim(),
		expires_at: form.expires_at.value,
	};
	if (!body.project || !body.description) {
		$("add-error").textContent = "Project and description are required.";
		(body.project ? form.description : form.project).focus();
		return;
	}
	$("add-submit").disabled = true;
	try {
		const created = await api("POST", "triggers", { body });
		$("add-dialog").close();
		showToken(created);
		showAdded(created.id, body.project);
	} catch (err) {
		$("add-error").textContent = await changeRefused(err, "The token was not created: ");
	} finally {
		$("add-submit").disabled = false;
	}
}

// The list after an add shows the new trigger: the active tokens (of its
// project, when the list was of another one), page 1. Never used, it comes
// after every used token by last use: when that is beyond page 1, the list
// is sorted by creation, where it comes first.
async function showAdded(id, project) {
	view.state = "active";
	view.page = 1;
	if (view.project && view.project !== project) view.project = project;
	showView();
	const shown = () => [...$("rows").children].some((tr) => tr.dataset.id === String(id));
	if (await load() && !shown() && view.sort !== "created") {
		view.sort = "created";
		showView();
		await load();
	}
}

// A refused change: with a stale CSRF token (the gateway restarted), the
// session is fetched again so that the next try works; a user the
// configuration no longer lets manage is told so, and the page stops
// offering Add and Revoke.
async function changeRefused(err, prefix) {
	if (err.status !== 403) return prefix + err.message;
	try { session = await api("GET", "session"); } catch { return prefix + err.message + ". Try again."; }
	if (session.can_manage) return prefix + err.message + ". Try again.";
	showSession();
	await load(); // before the dialog can close: its focus goes back to a button that is still there
	return prefix + err.message + ": you may no longer add or revoke tokens, this page is now read only for you.";
}

function gatewayBase() {
	return (session.gateway_url || location.origin).replace(/\/+$/, "") + session.path_prefix.replace(/\/+$/, "");
}

function showToken(created) {
	let token = created.token;
	const project = encodeURIComponent(created.project);
	const base = gatewayBase();
	const url = base + "/projects/" + project + "/trigger/pipeline";
	$("token-value").textContent = token;
	$("snippet-curl").textContent =
		"curl --request POST \\\n" +
		"     --form token=" + token + " \\\n" +
		"     --form ref=main \\\n" +
		"     \"" + url + "\"";
	$("snippet-ci").textContent =
		"trigger_pipeline:\n" +
		"  stage: deploy\n" +
		"  script:\n" +
		"    - 'curl --fail --request POST --form \"token=$TRIGGER_TOKEN\" --form ref=main \"" + url + "\"'\n" +
		"  rules:\n" +
		"    - if: $CI_COMMIT_TAG\n";
	$("snippet-webhook").textContent = base + "/projects/" + project + "/ref/main/trigger/pipeline?token=" + token;
	token = null;
	$("gateway-hint").hidden = !session.gateway_url || !session.gateway_url.startsWith("$");
	$("copy-status").textContent = "";
	lastFocus = $("add-button");
	const dialog = $("token-dialog");
	dialog.showModal();
	dialog.querySelector("button.copy").focus();
	setStatus("Trigger token " + created.token_prefix + " created for project " + created.project + ".");
}

// Closing the token dialog, however it closes (button or Escape), takes
// the token out of the page, in the same task as the dialog closes.
function forgetToken() {
	for (const id of ["token-value", "snippet-curl", "snippet-ci", "snippet-webhook"]) {
		$(id).textContent = "";
	}
	$("copy-status").textContent = "";
	restoreFocus($("add-button"));
}

async function copyFrom(id, button) {
	const value = $(id).textContent;
	try {
		if (!navigator.clipboard || !window.isSecureContext) throw new Error("no clipboard API");
		await navigator.clipboard.writeText(value);
	} catch {
		// Plain HTTP on another host than localhost: select it for the user's copy command.
		const range = document.createRange();
		range.selectNodeContents($(id));
		const selection = getSelection();
		selection.removeAllRanges();
		selection.addRange(range);
		if (!document.execCommand("copy")) {
			$("copy-status").textContent = "Selected: press Ctrl+C (⌘C) to copy.";
			return;
		}
	}
	$("copy-status").textContent = button.textContent.replace(/^Copy/, "Copied") + ".";
}

// The recent deliveries of a trigger: only variable names, never values.
function pipelineLink(d) {
	if (d.pipeline_id === null || d.pipeline_id === undefined) return text("span", "—", "never");
	const label = "#" + d.pipeline_id;
	let url = null;
	try {
		url = d.web_url ? new URL(d.web_url) : null;
	} catch { url = null; }
	if (!url || (url.protocol !== "https:" && url.protocol !== "http:")) return text("span", label);
	const a = text("a", label);
	a.href = url.href;
	a.rel = "noopener noreferrer";
	a.target = "_blank";
	return a;
}

function renderDelivery(d) {
	const tr = document.createElement("tr");
	const vars = d.variables && d.variables.length ? d.variables.join(", ") : "—";
	tr.append(
		cell("Time", timeElement(d.time)),
		cell("Source", d.source),
		cell("Ref", d.ref || "—"),
		cell("Variables", vars),
		cell("Outcome", d.outcome),
		cell("CI status", d.status ? String(d.status) : "—"),
		cell("Pipeline", pipelineLink(d)),
	);
	return tr;
}

async function showDeliveries(t, button) {
	const shown = ++deliveriesView;
	delete $("deliveries-dialog").dataset.loaded;
	$("deliveries-about").textContent = "Token " + t.token_prefix + " (" + t.description + "), project " + t.project + ": the last 20 uses, newest first.";
	$("deliveries-error").textContent = "";
	$("delivery-rows").replaceChildren();
	$("deliveries-empty").hidden = true;
	lastFocus = button;
	$("deliveries-dialog").showModal();
	$("deliveries-close").focus();
	try {
		const list = await api("GET", "triggers/" + t.id + "/deliveries");
		if (shown !== deliveriesView) return;
		$("delivery-rows").replaceChildren(...list.map(renderDelivery));
		$("deliveries-empty").hidden = list.length > 0;
	} catch (err) {
		if (shown !== deliveriesView) return;
		$("deliveries-error").textContent = "Could not load the deliveries: " + err.message;
	}
	$("deliveries-dialog").dataset.loaded = "true";
}

// Revoking a trigger.
function askRevoke(t, button) {
	pendingRevoke = { trigger: t, button };
	$("revoke-text").textContent = "Revoke the trigger token " + t.token_prefix + " (" + t.description + ") of project " + t.project + "?";
	$("revoke-error").textContent = "";
	lastFocus = button;
	const dialog = $("revoke-dialog");
	dialog.showModal();
	$("revoke-cancel").focus();
}

async function confirmRevoke() {
	const { trigger, button } = pendingRevoke;
	$("revoke-confirm").disabled = true;
	try {
		await api("DELETE", "triggers/" + trigger.id);
	} catch (err) {
		$("revoke-error").textContent = await changeRefused(err, "The token was not revoked: ");
		return;
	} finally {
		$("revoke-confirm").disabled = false;
	}
	pendingRevoke = null;
	const row = button.closest("tr");
	row.classList.add("revoked");
	row.querySelector("td").append(badge("revoked", "revoked"));
	const actions = button.parentElement;
	button.remove();
	actions.append(revokedNote(new Date().toISOString()));
	// A list asked for before the revoke may show the token active: ask again.
	if (listAnswered !== listAsked) load();
	// The button is gone: focus goes back to Add new token.
	lastFocus = $("add-button");
	$("revoke-dialog").close();
	setStatus("Trigger token " + trigger.token_prefix + " revoked.");
}

function applyFilters(event) {
	event.preventDefault();
	view = {
		project: $("project-filter").value.trim(),
		sort: $("sort").value,
		state: $("state").value,
		page: 1,
	};
	load();
}

// Who looks, and whether the page offers Add (Revoke comes with the rows).
function showSession() {
	$("who").textContent = (session.user ? "Signed in as " + session.user : "Caddy admin endpoint") +
		(session.can_manage ? " · may add and revoke tokens" : " · read only");
	$("add-button").hidden = !session.can_manage;
}

async function start() {
	try {
		session = await api("GET", "session");
	} catch (err) {
		setError("Could not open the page: " + err.message);
		return;
	}
	showSession();

	$("filters").addEventListener("submit", applyFilters);
	$("sort").addEventListener("change", applyFilters);
	$("state").addEventListener("change", applyFilters);
	$("prev").addEventListener("click", () => { view.page--; load(); });
	$("next").addEventListener("click", () => { view.page++; load(); });
	$("add-button").addEventListener("click", openAdd);
	$("add-form").addEventListener("submit", submitAdd);
	$("add-cancel").addEventListener("click", () => $("add-dialog").close());
	$("add-dialog").addEventListener("close", () => restoreFocus($("add-button")));
	$("token-done").addEventListener("click", () => { forgetToken(); $("token-dialog").close(); });
	$("token-dialog").addEventListener("cancel", forgetToken);
	$("token-dialog").addEventListener("close", forgetToken);
	for (const button of document.querySelectorAll("button.copy")) {
		button.addEventListener("click", () => copyFrom(button.dataset.copy, button));
	}
	$("deliveries-close").addEventListener("click", () => $("deliveries-dialog").close());
	$("deliveries-dialog").addEventListener("close", () => {
		// The event comes a task after the dialog closed: it may be open again, for another trigger.
		if ($("deliveries-dialog").open) return;
		deliveriesView++;
		delete $("deliveries-dialog").dataset.loaded;
		restoreFocus($("project-filter"));
	});
	$("revoke-cancel").addEventListener("click", () => $("revoke-dialog").close());
	$("revoke-confirm").addEventListener("click", confirmRevoke);
	$("revoke-dialog").addEventListener("close", () => { pendingRevoke = null; restoreFocus($("project-filter")); });

	await load();
}

start();
