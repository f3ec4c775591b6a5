// Dongui portal: live validation, showing only the fields a request needs, and opening the
// private link. Progressive enhancement: every page works without this script.
"use strict";
(function () {
  function $(sel, root) { return (root || document).querySelector(sel); }
  function $$(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }

  // Language links keep the private link's fragment (the token never goes to the server).
  $$("a[data-keep-hash]").forEach(function (a) {
    a.addEventListener("click", function () { if (location.hash) { a.href = a.href.split("#")[0] + location.hash; } });
  });

  // --- the status page: the token travels in the fragment, then in a POST body ---------------
  var tokenForm = $("#token-form");
  if (tokenForm) {
    var match = /(?:^#|&)t=([^&]+)/.exec(location.hash);
    if (match && !$("#open-error")) {
      $("#f-token").value = decodeURIComponent(match[1]);
      tokenForm.action = location.pathname + location.hash;   // keeps #t= in the address bar
      $(".loading", tokenForm).hidden = false;
      tokenForm.submit();
    }
  }

  // --- after filing: copy the private link ------------------------------------------------------
  $$("button[data-copy]").forEach(function (button) {
    if (!navigator.clipboard) { return; }
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText($(button.dataset.copy).value).then(function () {
        $(".copied").textContent = button.dataset.copied;
      });
    });
  });

  // --- the request form -------------------------------------------------------------------------
  var form = $("#request-form");
  if (!form) { return; }
  var d = form.dataset, minor = Number(d.minor) || 14, touched = {};   // the clinic's law's age

  function value(name) {
    var checked = $("input[name=" + name + "]:checked", form);
    if (checked) { return checked.value; }
    var el = $("[name=" + name + "]:not([type=radio])", form);
    return el ? el.value.trim() : "";
  }
  function visible(el) { return !el.parentElement.closest("[hidden]"); }  // inside no hidden section

  function showWhen() {
    $$("[data-show-when]", form).forEach(function (el) {
      var rule = el.dataset.showWhen.split(":"), allowed = rule[1].split(",");
      el.hidden = allowed.indexOf(value(rule[0])) < 0;
    });
  }
  function age(born, today) {
    var years = today.getUTCFullYear() - born.getUTCFullYear();
    if (today.getUTCMonth() < born.getUTCMonth() ||
        (today.getUTCMonth() === born.getUTCMonth() && today.getUTCDate() < born.getUTCDate())) { years -= 1; }
    return years;
  }
  function birth() {
    var raw = value("birth_date");
    // Vietnamese is also written day/month/year (05/05/2016), as the server accepts it.
    var dmy = /^(\d{1,2})[\/.-](\d{1,2})[\/.-](\d{4})$/.exec(raw);
    if (dmy && document.documentElement.lang === "vi") {
      raw = dmy[3] + "-" + ("0" + dmy[2]).slice(-2) + "-" + ("0" + dmy[1]).slice(-2);
    }
    if (!/^\d{4}-\d{2}-\d{2}$/.test(raw)) { return null; }
    var date = new Date(raw + "T00:00:00Z");
    return isNaN(date) || date.toISOString().slice(0, 10) !== raw ? null : date;
  }

  // The same checks as the server (services/dsr/portal/form.py); the server's are the ones that count.
  function check() {
    var errors = {}, who = value("who"), type = value("type"), today = new Date(d.today + "T00:00:00Z");
    if (!type) { errors.type = d.msgChoose; }
    if (!who) { errors.who = d.msgChoose; }
    var required = ["name", "birth_date", "contact"];
    if (who === "legal_representative" || who === "agent") { required.push("requester_name"); }
    if (who === "legal_representative") { required.push("relationship_detail"); }
    if (type === "rectification") { required.push("correction_item", "correction_corrected"); }
    if (type === "objection") { required.push("objects_to"); }
    if (type === "complaint") { required.push("complaint"); }
    required.forEach(function (name) { if (!value(name)) { errors[name] = d.msgRequired; } });
    var raw = value("birth_date"), born = birth();
    if (raw && !born) { errors.birth_date = d.msgDateFormat; }
    else if (born && born > today) { errors.birth_date = d.msgDateFuture; }
    else if (born && born.getUTCFullYear() < 1900) { errors.birth_date = d.msgDateOld; }
    var contact = value("contact");
    if (contact && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(contact) && contact.replace(/\D/g, "").length < 7) {
      errors.contact = d.msgContact;
    }
    var sid = value("subject_id");
    if (sid && !/^[A-Za-z0-9._:@-]+$/.test(sid)) { errors.subject_id = d.msgSubjectId; }
    var limit = minor, child = born && born <= today && age(born, today) < limit;
    if (child && who === "agent") { errors.who = d.msgAgentChild.replace("{age}", limit); }
    var hint = $("#hint-birth_date");
    hint.hidden = !(child && who === "self");
    hint.textContent = hint.hidden ? "" : d.msgChildSelf.replace(/\{age\}/g, limit);
    return errors;
  }

  function show(errors, all) {
    $$("[data-error-for]", form).forEach(function (p) {
      var name = p.dataset.errorFor, message = errors[name];
      var field = p.closest("[data-field]"), shown = message && (all || touched[name]) && visible(p);
      p.textContent = shown ? message : "";
      p.hidden = !shown;
      if (field) { field.classList.toggle("invalid", !!shown); }
      $$("[name=" + name + "]", form).forEach(function (input) {
        if (shown) { input.setAttribute("aria-invalid", "true"); } else { input.removeAttribute("aria-invalid"); }
      });
    });
  }

  function refresh(event) {
    if (event && event.target.name) { touched[event.target.name] = true; }
    showWhen();
    show(check(), false);
  }
  form.addEventListener("input", refresh);
  form.addEventListener("change", refresh);
  form.addEventListener("focusout", function (event) {
    if (event.target.name && event.target.value) { touched[event.target.name] = true; show(check(), false); }
  });
  form.addEventListener("submit", function (event) {
    var errors = check(), names = $$("[data-error-for]", form).map(function (p) {
      return p.dataset.errorFor;   // in the order of the page
    }).filter(function (name) { return errors[name] && visible($("#err-" + name)); });
    if (!names.length) { return; }
    event.preventDefault();
    show(errors, true);
    var first = $("[name=" + names[0] + "]", form);
    if (first) { first.focus(); }
  });
  showWhen();
  var summary = $("#error-summary");
  if (summary) { summary.focus(); }
})();
