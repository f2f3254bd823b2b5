/* couverture: « décision » mode of the département maps (project's own, MIT licence).
 * A task force draws a scenario commune by commune: each white commune goes to an extension of a
 * neighbouring CPTS, a rattachement temporaire (with a mentor), a new CPTS, or stays « sans
 * décision »; totals and warnings are recomputed on every change, the scenario is kept in the
 * browser's storage, exported as the CSV `plan-action --scenario` reads, and printed.
 * Data come from couverture.decision.payload (Python): units by position (the département's
 * own first, then those across its border), their rook adjacency in CSR form (adj0/adj), the
 * CPTS that may take communes, the recommended proposals, size classes and funding barème.
 * Needs Leaflet and couverture.js, loaded before it. */
(function () {
  "use strict";
  var cv = window.couverture;
  var PALETTE = ["#1f78b4", "#33a02c", "#e31a1c", "#ff7f00", "#6a3d9a", "#b15928",
                 "#a6cee3", "#b2df8a", "#fb9a99", "#fdbf6f", "#cab2d6", "#ffff99",
                 "#8dd3c7", "#bebada", "#80b1d3", "#fccde5"];
  var BASE_STYLE = {color: "#4d4d4d", weight: 0.6, opacity: 0.8, fillColor: "#ffffff", fillOpacity: 0};

  var D = {
    on: false, data: null, map: null, panel: null,
    state: {projects: [], of: {}, next: 1},  // of: unit position → project id
    undo: [], redo: [], selection: [], brush: null, lasso: false,
    layers: [], labels: {}, styleKey: [], message: "", errors: [], lastMs: 0, pos: {}
  };
  cv.decision = D;

  var fmt = new Intl.NumberFormat("fr-FR");
  function n(x) { return fmt.format(Math.round(x)); }
  function esc(s) { return cv.esc(s); }
  function fold(s) {
    return String(s || "").normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase()
      .replace(/[_\s'’-]+/g, " ").trim();
  }

  // ---------------------------------------------------------------- barème
  function taille(pop) {
    var t = D.data.tailles, i;
    for (i = 0; i < t.length; i++) {
      if (pop >= t[i][1] && (t[i][2] === null || pop < t[i][2])) { return t[i][0]; }
    }
    return t[t.length - 1][0];
  }
  function funding(t) { return D.data.bareme[String(t)]; }

  // ---------------------------------------------------------------- state
  function project(id) {
    var ps = D.state.projects, i;
    for (i = 0; i < ps.length; i++) { if (ps[i].id === id) { return ps[i]; } }
    return null;
  }
  function projectName(p) {
    if (p.type === "creation") { return p.nom; }
    var c = D.data.cpts[p.cpts];
    return (p.type === "extension" ? "Extension " : "Rattachement temporaire à ") + (c ? c.nom : "?");
  }
  // the label drawn on the map: the CPTS that takes the communes
  function shortName(p) {
    if (p.type === "creation") { return p.nom + " (nouvelle)"; }
    var c = D.data.cpts[p.cpts];
    return "→ " + (c ? c.nom : "?") + (p.type === "rattachement_temporaire" ? " (temporaire)" : "");
  }
  function unitsOf(id) {
    var out = [], k;
    for (k in D.state.of) { if (D.state.of[k] === id) { out.push(+k); } }
    return out.sort(function (a, b) { return a - b; });
  }
  // kept by commune code and CPTS id, not by position: a map rewritten for the same registry
  // may order them differently
  function serial() {
    var of = {}, k, cpts = D.data.cpts;
    for (k in D.state.of) { of[D.data.code[k]] = D.state.of[k]; }
    var projects = D.state.projects.map(function (p) {
      return {id: p.id, type: p.type, nom: p.nom, c: p.c,
              cpts: p.cpts === null ? null : cpts[p.cpts].id,
              mentor: p.mentor === null ? null : cpts[p.mentor].id};
    });
    return JSON.stringify({v: 2, projects: projects, of: of, next: D.state.next});
  }
  function restore(text) {
    var s = JSON.parse(text), of = {}, k, index = {}, gone = {};
    D.data.cpts.forEach(function (c, i) { index[c.id] = i; });
    var projects = (s.projects || []).filter(function (p) {
      var keep = p.cpts === null || index[p.cpts] !== undefined;
      if (!keep) { gone[p.id] = true; }
      return keep;
    }).map(function (p) {
      return {id: p.id, type: p.type, nom: p.nom, c: p.c,
              cpts: p.cpts === null ? null : index[p.cpts],
              mentor: p.mentor === null || index[p.mentor] === undefined ? null : index[p.mentor]};
    });
    for (k in s.of) {
      var u = D.pos[k];
      if (u !== undefined && u < D.data.nIn && D.data.blanche[u] && !gone[s.of[k]]) { of[u] = s.of[k]; }
    }
    D.state = {projects: projects, of: of, next: s.next || 1};
  }
  function save() {
    try {
      localStorage.setItem(D.data.cle, JSON.stringify({saved: new Date().toISOString(), state: serial()}));
    } catch (e) { /* storage refused (private mode): the export still works */ }
  }
  // every change goes through here: undoable, saved, drawn once; fn returns the message
  function change(fn) {
    var before = serial(), message = fn();
    prune();
    D.message = message || "";
    if (serial() !== before) {
      D.undo.push(before);
      if (D.undo.length > 200) { D.undo.shift(); }
      D.redo = [];
      save();
    }
    render();
  }
  function prune() {
    var used = {}, k;
    for (k in D.state.of) { used[D.state.of[k]] = true; }
    D.state.projects = D.state.projects.filter(function (p) { return used[p.id]; });
  }
  function newProject(fields) {
    var used = {}, c = 0;
    D.state.projects.forEach(function (p) { used[p.c] = true; });
    while (used[c] && c < PALETTE.length - 1) { c++; }
    var p = {id: "p" + D.state.next++, type: fields.type, cpts: fields.cpts === undefined ? null : fields.cpts,
             mentor: fields.mentor === undefined ? null : fields.mentor, nom: fields.nom || "", c: c};
    D.state.projects.push(p);
    return p;
  }
  function findProject(type, cpts, nom) {
    var ps = D.state.projects, i;
    for (i = 0; i < ps.length; i++) {
      if (ps[i].type !== type) { continue; }
      if (type === "creation" ? fold(ps[i].nom) === fold(nom) : ps[i].cpts === cpts) { return ps[i]; }
    }
    return null;
  }
  // the project a target stands for, created when needed
  function targetProject(t) {
    if (t.project && project(t.project)) { return project(t.project); }
    var p = findProject(t.type, t.cpts, t.nom);
    if (!p) { p = newProject(t); }
    if (t.type === "rattachement_temporaire" && t.mentor !== undefined) { p.mentor = t.mentor; }
    return p;
  }
  function assign(units, t) {
    var p = t ? targetProject(t) : null;
    units.forEach(function (i) {
      if (!D.data.blanche[i]) { return; }
      if (p) { D.state.of[i] = p.id; } else { delete D.state.of[i]; }
    });
    return p;
  }

  // ---------------------------------------------------------------- geometry of decisions
  function neighbours(i) { return D.data.adj.slice(D.data.adj0[i], D.data.adj0[i + 1]); }
  function components(units) {
    var inSet = {}, seen = {}, parts = [];
    units.forEach(function (u) { inSet[u] = true; });
    units.forEach(function (u) {
      if (seen[u]) { return; }
      var part = [], stack = [u];
      seen[u] = true;
      while (stack.length) {
        var x = stack.pop();
        part.push(x);
        neighbours(x).forEach(function (y) { if (inSet[y] && !seen[y]) { seen[y] = true; stack.push(y); } });
      }
      parts.push(part);
    });
    return parts;
  }
  // a piece of an extension touches its CPTS: one of its communes is a member (a project before
  // its lettre d'intention holds white communes) or borders one
  function touchesCpts(part, k) {
    return part.some(function (u) {
      return D.data.cu[u].indexOf(k) >= 0 || neighbours(u).some(function (y) {
        return D.data.cu[y].indexOf(k) >= 0;
      });
    });
  }
  // the plan's scenario reader takes two CPTS names for one when, without accents, case,
  // punctuation nor the word « CPTS », one holds the other (6 letters at least)
  function cptsKey(name) {
    return fold(name).replace(/[^a-z0-9]+/g, "_").replace(/(^|_)cpts(_|$)/g, "$1").replace(/^_+|_+$/g, "");
  }
  function sameCpts(a, b) {
    var ka = cptsKey(a), kb = cptsKey(b);
    if (!ka || !kb) { return false; }
    return ka === kb || (Math.min(ka.length, kb.length) >= 6 && (ka.indexOf(kb) >= 0 || kb.indexOf(ka) >= 0));
  }
  function distance2(lon1, lat1, lon2, lat2) {
    var dx = (lon1 - lon2) * Math.cos(lat1 * Math.PI / 180), dy = lat1 - lat2;
    return dx * dx + dy * dy;
  }
  function centre(units) {
    var x = 0, y = 0, w = 0;
    units.forEach(function (u) {
      if (D.data.lon[u] === null) { return; }
      var p = Math.max(D.data.pop[u], 1);
      x += D.data.lon[u] * p; y += D.data.lat[u] * p; w += p;
    });
    return w ? [y / w, x / w] : null;
  }

  // ---------------------------------------------------------------- totals
  function totals(p) {
    var units = unitsOf(p.id), d = D.data, added = 0, warn = [], c = null, before = null;
    if (p.type !== "creation") { c = d.cpts[p.cpts]; before = c ? c.pop : 0; }
    // a project before its LI already counts its own white communes: only the others add
    units.forEach(function (u) { if (!c || d.cu[u].indexOf(p.cpts) < 0) { added += d.pop[u]; } });
    var after = (before || 0) + added;
    var t = {communes: units.length, population_ajoutee: added,
             population_avant: before, population_apres: after,
             taille_avant: before === null ? null : taille(before), taille_apres: taille(after)};
    t.financement_avant = t.taille_avant === null ? null : funding(t.taille_avant);
    t.financement_apres = funding(t.taille_apres);
    var parts = components(units);
    if (p.type === "creation") {
      if (parts.length > 1) { warn.push("non contigu (" + parts.length + " morceaux)"); }
      if (after < d.plancher) { warn.push("création sous le plancher (" + n(d.plancher) + " hab.)"); }
      var twin = d.cpts.filter(function (c) { return sameCpts(c.nom, p.nom); })[0];
      if (twin) { warn.push("nom proche de « " + twin.nom + " » (registre) : renommer, ou choisir l'extension"); }
    } else if (p.type === "extension") {
      var apart = parts.filter(function (part) { return !touchesCpts(part, p.cpts); });
      if (apart.length && apart.length === parts.length) {
        // the plan's scenario reader refuses such an extension
        warn.push("non contigu à la CPTS : ne la touche nulle part (plan-action le refusera : " +
                  "rattachement temporaire ?)");
      } else if (apart.length) {
        var k = 0;
        apart.forEach(function (part) { k += part.length; });
        warn.push("non contigu à la CPTS (" + k + (k > 1 ? " communes" : " commune") + ")");
      }
    }
    if (after > d.plafond) { warn.push("au-delà du plafond (" + n(d.plafond) + " hab.)"); }
    var deps = {}, regs = {};
    units.forEach(function (u) { deps[d.dep[u]] = true; regs[d.reg[u]] = true; });
    if (c) {
      if (Object.keys(deps).some(function (x) { return c.deps.indexOf(x) < 0; })) {
        warn.push("franchit une limite de département");
      }
      if (Object.keys(regs).some(function (x) { return c.regs.indexOf(x) < 0; })) {
        warn.push("franchit une limite de région (ARS)");
      }
    } else {
      if (Object.keys(deps).length > 1) { warn.push("franchit une limite de département"); }
      if (Object.keys(regs).length > 1) { warn.push("franchit une limite de région (ARS)"); }
    }
    if (p.type === "rattachement_temporaire" && p.mentor === null) { warn.push("CPTS mentor à choisir"); }
    t.alertes = warn;
    t.units = units;
    return t;
  }
  function departementTotals() {
    var d = D.data, added = 0, white = 0, whitePop = 0, i;
    for (i = 0; i < d.nIn; i++) {
      if (!d.blanche[i]) { continue; }
      if (D.state.of[i] !== undefined) { added += d.pop[i]; } else { white += 1; whitePop += d.pop[i]; }
    }
    return {
      part_li: d.population ? 100 * (d.popLi + added) / d.population : 0,
      part_li_avant: d.population ? 100 * d.popLi / d.population : 0,
      population_ajoutee: added, blanches: white, population_blanche: whitePop,
      // the share of shared communes that no CPTS claims: neither covered nor white
      population_non_attribuee: d.popNonAttribuee || 0
    };
  }
  D.totals = function () {
    var out = {departement: departementTotals(), projets: {}};
    D.state.projects.forEach(function (p) { out.projets[projectName(p)] = totals(p); });
    return out;
  };

  // ---------------------------------------------------------------- CSV
  function cell(v) {
    v = v === null || v === undefined ? "" : String(v);
    return /[;"\n\r]/.test(v) ? '"' + v.replace(/"/g, '""') + '"' : v;
  }
  // how the file names a CPTS: its name, or its id when the registry gives that name to
  // several CPTS (plan-action --scenario refuses an ambiguous name)
  function fileName(k) {
    var c = D.data.cpts[k];
    if (!c) { return ""; }
    var twin = c.homonyme || D.data.cpts.some(function (o, i) { return i !== k && cptsKey(o.nom) === cptsKey(c.nom); });
    return twin ? c.id : c.nom;
  }
  D.csv = function () {
    var lines = [D.data.entete.join(";")];
    D.state.projects.forEach(function (p) {
      var c = p.type === "creation" ? p.nom : fileName(p.cpts);
      var mentor = p.type === "rattachement_temporaire" && p.mentor !== null ? fileName(p.mentor) : "";
      unitsOf(p.id).forEach(function (u) {
        lines.push([projectName(p), D.data.types[p.type], c, D.data.code[u], mentor].map(cell).join(";"));
      });
    });
    return "\ufeff" + lines.join("\r\n") + "\r\n";
  };
  function download() {
    var blob = new Blob([D.csv()], {type: "text/csv;charset=utf-8"});
    var a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = "scenario-" + D.data.departement + ".csv";
    document.body.appendChild(a);
    a.click();
    setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
    D.message = "Scénario exporté : " + a.download;
    render();
  }
  function parseCsv(text) {
    text = text.replace(/^\ufeff/, "");
    var first = text.split(/\r?\n/, 1)[0], sep = first.indexOf(";") >= 0 ? ";" : ",";
    var rows = [], row = [], field = "", quoted = false, i, ch;
    for (i = 0; i < text.length; i++) {
      ch = text[i];
      if (quoted) {
        if (ch === '"' && text[i + 1] === '"') { field += '"'; i++; }
        else if (ch === '"') { quoted = false; }
        else { field += ch; }
      } else if (ch === '"') { quoted = true; }
      else if (ch === sep) { row.push(field); field = ""; }
      else if (ch === "\n" || ch === "\r") {
        if (ch === "\r" && text[i + 1] === "\n") { i++; }
        row.push(field); rows.push(row); row = []; field = "";
      } else { field += ch; }
    }
    if (field !== "" || row.length) { row.push(field); rows.push(row); }
    return rows;
  }
  // a scenario file read back: all or nothing, every problem named with its line
  D.importCsv = function (text, name) {
    var rows = parseCsv(text), errors = [], head = (rows[0] || []).map(fold), col = {}, d = D.data;
    D.data.entete.forEach(function (h) { col[h] = head.indexOf(h.replace(/_/g, " ")); });
    if (col.projet < 0 || col.type < 0 || col.cpts < 0 || col.code_commune < 0) {
      D.errors = [name + " : en-tête attendu « " + D.data.entete.join(";") + " » (lu : « " + (rows[0] || []).join(";") + " »)"];
      render();
      return false;
    }
    var byName = {}, types = {}, k;
    // a name of several CPTS (homonyms) designates none: -1, its id is asked for
    d.cpts.forEach(function (c, i) {
      var f = fold(c.nom);
      byName[f] = byName[f] === undefined && !c.homonyme ? i : -1;
    });
    d.cpts.forEach(function (c, i) { byName[fold(c.id)] = i; });
    for (k in D.data.types) { types[fold(D.data.types[k])] = k; types[fold(k)] = k; }
    var state = {projects: [], of: {}, next: 1}, keep = D.state;
    D.state = state;
    rows.slice(1).forEach(function (r, j) {
      var line = j + 2, get = function (h) { return col[h] >= 0 ? String(r[col[h]] || "").trim() : ""; };
      if (r.every(function (v) { return !String(v).trim(); })) { return; }
      var type = types[fold(get("type"))], code = get("code_commune"), u = D.pos[code];
      var where = name + ", ligne " + line + " : ";
      if (!type) { errors.push(where + "type inconnu « " + get("type") + " » (création, extension ou rattachement temporaire)"); return; }
      if (u === undefined || u >= d.nIn) { errors.push(where + "commune « " + code + " » hors du département " + d.departement); return; }
      if (!d.blanche[u]) { errors.push(where + "commune « " + code + " » (" + d.nom[u] + ") déjà couverte par une CPTS"); return; }
      if (state.of[u] !== undefined) { errors.push(where + "commune « " + code + " » (" + d.nom[u] + ") dans deux projets"); return; }
      var t = {type: type};
      if (type === "creation") {
        t.nom = get("cpts");
        if (!t.nom) { errors.push(where + "colonne cpts vide : nom de la nouvelle CPTS"); return; }
      } else {
        t.cpts = byName[fold(get("cpts"))];
        if (t.cpts === undefined) { errors.push(where + "CPTS « " + get("cpts") + " » inconnue sur cette carte"); return; }
        if (t.cpts < 0) { errors.push(where + "CPTS « " + get("cpts") + " » ambiguë : plusieurs CPTS de ce nom, écrire son identifiant"); return; }
        if (type === "rattachement_temporaire") {
          var m = get("cpts_mentor");
          t.mentor = m ? byName[fold(m)] : null;
          if (t.mentor === undefined) { errors.push(where + "CPTS mentor « " + m + " » inconnue sur cette carte"); return; }
          if (t.mentor !== null && t.mentor < 0) { errors.push(where + "CPTS mentor « " + m + " » ambiguë : plusieurs CPTS de ce nom, écrire son identifiant"); return; }
        }
      }
      state.of[u] = targetProject(t).id;
    });
    D.state = keep;
    if (errors.length) { D.errors = errors.slice(0, 12).concat(errors.length > 12 ? ["… et " + (errors.length - 12) + " autres"] : []); render(); return false; }
    D.errors = [];
    change(function () { D.state = state; return "Scénario importé : " + name; });
    return true;
  };

  // ---------------------------------------------------------------- proposals
  D.fromProposals = function () {
    D.selection = []; D.brush = null;
    change(function () {
      D.state = {projects: [], of: {}, next: 1};
      D.data.propositions.forEach(function (pr) {
        var t;
        if (pr.option === "creation") {
          var big = pr.u.slice().sort(function (a, b) { return D.data.pop[b] - D.data.pop[a]; })[0];
          t = {type: "creation", nom: pr.nom || ("CPTS " + D.data.nom[big])};
        } else if (pr.cpts !== null) {
          t = {type: pr.option, cpts: pr.cpts};
          if (pr.option === "rattachement_temporaire") { t.mentor = pr.cpts; }
        } else { return; }
        var p = targetProject(t);
        pr.u.forEach(function (u) { if (D.data.blanche[u] && D.state.of[u] === undefined) { D.state.of[u] = p.id; } });
      });
      var k = D.data.propositions.length;
      return k ? "Scénario parti des " + k + (k > 1 ? " propositions recommandées" : " proposition recommandée")
        : "Aucune proposition recommandée sur cette carte : cliquez les communes blanches";
    });
  };
  D.clear = function () {
    D.selection = []; D.brush = null;
    change(function () {
      D.state = {projects: [], of: {}, next: 1};
      return "Scénario vidé : toutes les communes « sans décision »";
    });
  };
  D.undoLast = function () {
    if (!D.undo.length) { return; }
    D.redo.push(serial()); restore(D.undo.pop()); save(); D.message = "Annulé"; render();
  };
  D.redoLast = function () {
    if (!D.redo.length) { return; }
    D.undo.push(serial()); restore(D.redo.pop()); save(); D.message = "Rétabli"; render();
  };

  // ---------------------------------------------------------------- selection and targets
  function candidates(sel) {
    var d = D.data, score = {}, projects = {}, own = {};
    sel.forEach(function (u) { own[u] = true; });
    sel.forEach(function (u) {
      neighbours(u).forEach(function (y) {
        if (own[y]) { return; }
        d.cu[y].forEach(function (k) { score[k] = (score[k] || 0) + 1; });
        var pid = D.state.of[y];
        if (pid !== undefined) {
          projects[pid] = true;
          var p = project(pid);
          if (p && p.cpts !== null) { score[p.cpts] = (score[p.cpts] || 0) + 1; }
        }
      });
    });
    var cpts = Object.keys(score).map(Number).sort(function (a, b) { return score[b] - score[a] || a - b; });
    // a project already holding the whole selection is no choice
    var whole = function (p) { return sel.every(function (u) { return D.state.of[u] === p.id; }); };
    return {cpts: cpts, projects: D.state.projects.filter(function (p) { return projects[p.id] && !whole(p); })};
  }
  function matureNear(sel) {
    var c = centre(sel), d = D.data;
    var out = d.cpts.map(function (x, i) { return i; }).filter(function (i) { return d.cpts[i].stade === d.aci; });
    if (c) {
      out.sort(function (a, b) {
        return distance2(c[1], c[0], d.cpts[a].lon || 0, d.cpts[a].lat || 0) -
               distance2(c[1], c[0], d.cpts[b].lon || 0, d.cpts[b].lat || 0);
      });
    }
    return out;
  }
  function select(units, add) {
    if (!add) { D.selection = []; }
    units.forEach(function (u) {
      var at = D.selection.indexOf(u);
      if (at >= 0 && add && units.length === 1) { D.selection.splice(at, 1); }
      else if (at < 0) { D.selection.push(u); }
    });
  }
  function unitClick(u, shift) {
    var t0 = performance.now(), d = D.data;
    D.errors = [];
    if (u >= d.nIn || !d.blanche[u]) {
      var by = (d.cu[u] || []).map(function (k) { return d.cpts[k].nom; }).join(", ");
      D.message = d.nom[u] ? d.nom[u] + " est déjà couverte" + (by ? " (" + by + ")" : "") +
        " : hors décision" : "";
      render();
      D.lastMs = performance.now() - t0;
      return;
    }
    if (D.brush && !shift) {
      D.selection = [u];
      change(function () {
        var p = assign([u], D.brush);
        return d.nom[u] + " → " + (p ? projectName(p) : "sans décision");
      });
    } else {
      select([u], shift);
      D.message = "";
      render();
    }
    D.lastMs = performance.now() - t0;
    document.documentElement.setAttribute("data-decision-ms", D.lastMs.toFixed(1));
  }
  // a target chosen in the panel: the selection goes to it, and it becomes the brush
  function apply(t) {
    var sel = D.selection.slice();
    if (!sel.length) { return; }
    change(function () {
      var p = assign(sel, t);
      // the target stays the brush: the next clicks go to it
      D.brush = p ? {project: p.id, type: p.type, cpts: p.cpts, nom: p.nom, mentor: p.mentor,
                     label: projectName(p)} : null;
      return sel.length + (sel.length > 1 ? " communes → " : " commune → ") +
        (p ? projectName(p) : "sans décision");
    });
  }
  D.assignSelection = apply;  // for a console or a script: the panel's buttons call it

  // ---------------------------------------------------------------- drawing
  function styleOf(i) {
    var pid = D.state.of[i], sel = D.selection.indexOf(i) >= 0, p = pid !== undefined ? project(pid) : null;
    var s = {color: BASE_STYLE.color, weight: BASE_STYLE.weight, opacity: BASE_STYLE.opacity,
             fillColor: "#ffffff", fillOpacity: 0};
    if (p) { s.fillColor = PALETTE[p.c % PALETTE.length]; s.fillOpacity = 0.6; }
    if (sel) { s.color = "#0033cc"; s.weight = 3.5; s.opacity = 1; }
    return [s, (p ? p.id + ":" + p.c : "") + (sel ? "*" : "")];
  }
  // the commune's tooltip says where the scenario puts it
  function tip(i, layer) {
    var t = layer.getTooltip(), pid = D.state.of[i];
    if (!t) { return; }
    if (layer._cvTip === undefined) { layer._cvTip = t.getContent(); }
    t.setContent(layer._cvTip + (pid !== undefined && D.on ?
      "<p class='cv-sub'>Décision : " + esc(projectName(project(pid))) + "</p>" : ""));
  }
  function drawUnits() {
    var i, layer, st;
    for (i = 0; i < D.data.nIn; i++) {
      layer = D.layers[i];
      if (!layer) { continue; }
      st = styleOf(i);
      if (D.styleKey[i] !== st[1]) {
        if ((D.styleKey[i] || "").split("*")[0] !== st[1].split("*")[0]) { tip(i, layer); }
        layer.setStyle(st[0]);
        if (st[1].indexOf("*") >= 0) { layer.bringToFront(); }
        D.styleKey[i] = st[1];
      }
    }
  }
  // one permanent label per project, moved or renamed only when its communes or name change
  function drawLabels() {
    var keep = {};
    D.state.projects.forEach(function (p) {
      var c = centre(unitsOf(p.id)), text = esc(shortName(p)), old = D.labels[p.id];
      if (!c) { return; }
      keep[p.id] = true;
      if (old && old._cvKey === text + c.join()) { return; }
      if (old) { old.remove(); }
      var l = L.tooltip({permanent: true, direction: "center", className: "cv-label cv-label-decision",
                         opacity: 1, interactive: false}).setLatLng(c).setContent(text).addTo(D.map);
      l._cvKey = text + c.join();
      D.labels[p.id] = l;
    });
    Object.keys(D.labels).forEach(function (id) {
      if (!keep[id]) { D.labels[id].remove(); delete D.labels[id]; }
    });
  }
  function button(action, text, extra, title) {
    return "<button type='button' data-action='" + action + "'" + (extra || "") +
      (title ? " title='" + esc(title) + "'" : "") + ">" + text + "</button>";
  }
  function swatch(p) { return "<span class='cv-dec-swatch' style='background:" + PALETTE[p.c % PALETTE.length] + "'></span>"; }
  // thousands of euros: the table stays narrow (the exact amount is in the cell's data-v)
  function money(v) { return v === null ? "—" : n(v / 1000) + "\u00a0k€"; }
  function arrow(a, b, f) { return (a === null ? "" : f(a) + " → ") + f(b); }
  function stadeLabel(c) { return c.stade ? (D.data.stades[c.stade] || c.stade) : "projet avant lettre d'intention"; }

  function selectionHtml() {
    var d = D.data, sel = D.selection;
    if (!sel.length) {
      return "<p class='cv-dec-hint'>Cliquez une commune blanche (ou d'une proposition) pour la décider ; " +
        "Maj+clic ou le lasso pour en prendre plusieurs.</p>";
    }
    var pop = 0;
    sel.forEach(function (u) { pop += d.pop[u]; });
    var names = sel.slice(0, 6).map(function (u) {
      var pid = D.state.of[u];
      return esc(d.nom[u]) + (pid !== undefined ? " <small>(" + esc(projectName(project(pid))) + ")</small>" : "");
    }).join(", ") + (sel.length > 6 ? "… (+" + (sel.length - 6) + ")" : "");
    var cand = candidates(sel), html = "<div class='cv-dec-sel'><h3>Sélection : " + sel.length +
      (sel.length > 1 ? " communes" : " commune") + ", " + n(pop) + " hab.</h3><p>" + names + "</p>";
    if (cand.projects.length) {
      html += "<h4>Ajouter à un projet voisin</h4>" + cand.projects.map(function (p) {
        return button("project", swatch(p) + esc(projectName(p)), " data-p='" + p.id + "'");
      }).join("");
    }
    if (cand.cpts.length) {
      html += "<h4>CPTS voisines</h4><table class='cv-dec-cand'>" + cand.cpts.map(function (k) {
        var c = d.cpts[k];
        return "<tr><td>" + esc(c.nom) + " <small>" + esc(stadeLabel(c)) + ", " + n(c.pop) + " hab.</small></td><td>" +
          button("extension", "Extension", " data-k='" + k + "'", "Étendre " + c.nom + " à la sélection") +
          button("temporaire", "Temporaire", " data-k='" + k + "'", "Rattachement temporaire à " + c.nom + " (avec une CPTS mentor)") +
          "</td></tr>";
      }).join("") + "</table>";
    } else {
      html += "<p class='cv-dec-hint'>Aucune CPTS ne touche la sélection.</p>";
    }
    var mature = matureNear(sel).slice(0, 12);
    if (mature.length) {
      html += "<h4>Rattachement temporaire à une CPTS au stade ACI</h4><select id='cv-dec-mature'>" +
        mature.map(function (k) { return "<option value='" + k + "'>" + esc(d.cpts[k].nom) + "</option>"; }).join("") +
        "</select> " + button("temporaire-aci", "Rattacher");
    }
    var big = sel.slice().sort(function (a, b) { return d.pop[b] - d.pop[a]; })[0];
    html += "<h4>Nouvelle CPTS</h4><input id='cv-dec-nom' type='text' value='" + esc("CPTS " + d.nom[big]) +
      "' aria-label='Nom de la nouvelle CPTS'> " + button("creation", "Créer");
    html += "<p>" + button("aucune", "Sans décision", " class='cv-dec-none'") + " " + button("deselect", "Désélectionner") + "</p></div>";
    return html;
  }
  function projectsHtml() {
    var d = D.data;
    if (!D.state.projects.length) { return "<p class='cv-dec-hint'>Aucun projet pour l'instant.</p>"; }
    var rows = D.state.projects.map(function (p) {
      var t = totals(p), c = p.cpts !== null ? d.cpts[p.cpts] : null;
      var mentor = "";
      if (p.type === "rattachement_temporaire") {
        mentor = "<br><label>mentor : <select data-action='mentor' data-p='" + p.id + "'>" +
          "<option value=''>à choisir</option>" +
          matureNear(t.units).slice(0, 15).concat(p.mentor !== null ? [p.mentor] : [])
            .filter(function (k, i, a) { return a.indexOf(k) === i; })
            .map(function (k) {
              return "<option value='" + k + "'" + (k === p.mentor ? " selected" : "") + ">" + esc(d.cpts[k].nom) + "</option>";
            }).join("") + "</select></label>";
      }
      var name = p.type === "creation"
        ? "<input class='cv-dec-rename' data-action='rename' data-p='" + p.id + "' value='" + esc(p.nom) + "' aria-label='Nom du projet'>"
        : esc(projectName(p));
      var attrs = function (k, v) { return " data-k='" + k + "' data-v='" + (v === null ? "" : v) + "'"; };
      return "<tr data-projet='" + esc(projectName(p)) + "' data-id='" + p.id + "'>" +
        "<td>" + button("focus", swatch(p), " data-p='" + p.id + "' class='cv-dec-focus'",
                        "Montrer le projet sur la carte et sélectionner ses communes") + "</td><td>" + name + "<div class='cv-dec-type'>" + esc(D.data.types[p.type]) +
        (c ? " · " + esc(stadeLabel(c)) : "") + "</div>" + mentor +
        (t.alertes.length ? "<ul class='cv-dec-warn'>" + t.alertes.map(function (w) { return "<li>" + esc(w) + "</li>"; }).join("") + "</ul>" : "") +
        "</td><td class='n'" + attrs("communes", t.communes) + ">" + t.communes + "</td>" +
        "<td class='n'" + attrs("population_apres", t.population_apres) + " data-ajoutee='" + t.population_ajoutee + "'>" +
        arrow(t.population_avant, t.population_apres, n) +
        (c ? "<br><small>+" + n(t.population_ajoutee) + "</small>" : "") + "</td>" +
        "<td class='n'><span" + attrs("taille_apres", t.taille_apres) + " data-avant='" + (t.taille_avant === null ? "" : t.taille_avant) + "'>" +
        "taille " + arrow(t.taille_avant, t.taille_apres, String) + "</span><br><span" +
        attrs("financement_apres", t.financement_apres) + " data-avant='" + (t.financement_avant === null ? "" : t.financement_avant) + "'>" +
        arrow(t.financement_avant, t.financement_apres, money) + "</span></td></tr>";
    });
    return "<table class='cv-dec-projects'><thead><tr><th></th><th>Projet</th><th title='Communes'>Com.</th><th>Population</th>" +
      "<th>ACI : taille, max. / an</th></tr></thead><tbody>" + rows.join("") + "</tbody></table>";
  }
  function summaryHtml() {
    var t = departementTotals();
    return "<div class='cv-dec-summary'><p>Population couverte au stade lettre d'intention si chaque projet l'atteint : " +
      "<b id='cv-dec-part' data-v='" + t.part_li.toFixed(4) + "'>" + t.part_li.toFixed(1).replace(".", ",") + "\u00a0%</b>" +
      " <small>(aujourd'hui " + t.part_li_avant.toFixed(1).replace(".", ",") + "\u00a0%)</small></p>" +
      "<p>Reste blanc : <b id='cv-dec-blanc' data-communes='" + t.blanches + "' data-v='" + t.population_blanche + "'>" +
      t.blanches + (t.blanches > 1 ? " communes" : " commune") + ", " + n(t.population_blanche) + " hab.</b></p>" +
      (t.population_non_attribuee ? "<p>Part non attribuée des communes partagées : <b id='cv-dec-na' data-v='" +
        t.population_non_attribuee + "'>" + n(t.population_non_attribuee) + " hab.</b> <small>(parts des CPTS " +
        "inférieures à 100 % : ni couverte ni en zone blanche, à attribuer dans le registre)</small></p>" : "") + "</div>";
  }
  function render() {
    if (!D.on) { return; }
    var t0 = performance.now();
    drawUnits();
    drawLabels();
    var html = "<div class='cv-dec-head'><h2>Scénario — " + esc(D.data.nomDepartement) + " (" +
      esc(D.data.departement) + ")</h2>" +
      button("quit", "×", " class='cv-dec-close'", "Quitter le mode décision") + "</div>" +
      "<div class='cv-dec-tools'>" +
      button("proposals", "Partir des propositions", "", "Remplacer le scénario par les propositions recommandées") +
      button("clear", "Partir de zéro", "", "Toutes les communes « sans décision »") +
      button("undo", "↶ Annuler", D.undo.length ? "" : " disabled") +
      button("redo", "↷ Rétablir", D.redo.length ? "" : " disabled") +
      button("lasso", "Lasso", D.lasso ? " class='cv-on'" : "", "Entourer des communes à la souris (Maj : ajouter à la sélection)") +
      button("export", "Exporter CSV", "", "Scénario pour plan-action --scenario (projet;type;cpts;code_commune;cpts_mentor)") +
      button("import", "Importer…", "", "Reprendre un scénario exporté") +
      button("print", "Imprimer") +
      "<input type='file' id='cv-dec-file' class='cv-dec-file' accept='.csv,text/csv'></div>";
    if (D.brush) {
      html += "<p class='cv-dec-brush'>Pinceau : chaque clic affecte la commune à <b>" + esc(D.brush.label) +
        "</b> " + button("brush-off", "Arrêter (Échap)") + "</p>";
    }
    if (D.message) { html += "<p class='cv-dec-msg'>" + esc(D.message) + "</p>"; }
    if (D.errors.length) {
      html += "<ul class='cv-dec-errors'>" + D.errors.map(function (e) { return "<li>" + esc(e) + "</li>"; }).join("") + "</ul>";
    }
    html += summaryHtml() + selectionHtml() + "<h3 class='cv-dec-ph'>Projets du scénario</h3>" + projectsHtml();
    D.panel.innerHTML = html;
    document.documentElement.setAttribute("data-decision", JSON.stringify({
      projets: D.state.projects.length, selection: D.selection.length, annuler: D.undo.length,
      render_ms: Math.round(performance.now() - t0)
    }));
  }

  // ---------------------------------------------------------------- panel events
  function onPanelClick(e) {
    var b = e.target.closest("button[data-action]");
    if (!b) { return; }
    var a = b.getAttribute("data-action"), k = +b.getAttribute("data-k");
    if (a === "proposals") { D.fromProposals(); }
    else if (a === "clear") { D.clear(); }
    else if (a === "undo") { D.undoLast(); }
    else if (a === "redo") { D.redoLast(); }
    else if (a === "lasso") { D.lasso = !D.lasso; D.message = D.lasso ? "Lasso : tracez autour des communes, bouton enfoncé" : ""; render(); }
    else if (a === "export") { download(); }
    else if (a === "import") { document.getElementById("cv-dec-file").click(); }
    else if (a === "print") { D.preparePrint(true); setTimeout(function () { window.print(); }, 50); }
    else if (a === "quit") { D.toggle(false); }
    else if (a === "brush-off") { D.brush = null; render(); }
    else if (a === "deselect") { D.selection = []; D.brush = null; render(); }
    else if (a === "extension") { apply({type: "extension", cpts: k}); }
    else if (a === "temporaire") { apply({type: "rattachement_temporaire", cpts: k, mentor: defaultMentor(k)}); }
    else if (a === "temporaire-aci") {
      var m = +document.getElementById("cv-dec-mature").value;
      apply({type: "rattachement_temporaire", cpts: m, mentor: m});
    }
    else if (a === "creation") {
      var name = document.getElementById("cv-dec-nom").value.trim();
      if (!name) { D.errors = ["Nom de la nouvelle CPTS manquant"]; render(); return; }
      apply({type: "creation", nom: name});
    }
    else if (a === "project") { apply({project: b.getAttribute("data-p")}); }
    else if (a === "focus") { focus(b.getAttribute("data-p")); }
    else if (a === "aucune") { apply(null); }
  }
  // a project shown whole on the map, its communes selected (to move them together)
  function focus(pid) {
    var units = unitsOf(pid), d = D.data, pts = [];
    units.forEach(function (u) { if (d.lon[u] !== null) { pts.push([d.lat[u], d.lon[u]]); } });
    if (pts.length) { D.map.fitBounds(pts, {padding: [60, 60], maxZoom: 12}); }
    D.selection = units.slice();
    D.brush = null;
    D.message = "";
    render();
  }
  function defaultMentor(k) {
    var d = D.data;
    if (d.cpts[k].stade === d.aci) { return k; }
    var near = matureNear(D.selection);
    return near.length ? near[0] : null;
  }
  function onPanelChange(e) {
    var el = e.target, a = el.getAttribute("data-action");
    if (el.id === "cv-dec-file" && el.files && el.files[0]) {
      var f = el.files[0], reader = new FileReader();
      // UTF-8 (what the export writes), else Windows-1252 (a file saved again by Excel)
      reader.onload = function () {
        var bytes = new Uint8Array(reader.result), text;
        try { text = new TextDecoder("utf-8", {fatal: true}).decode(bytes); }
        catch (e) { text = new TextDecoder("windows-1252").decode(bytes); }
        el.value = "";
        D.importCsv(text, f.name);
      };
      reader.readAsArrayBuffer(f);
      return;
    }
    var p = project(el.getAttribute("data-p"));
    if (!p) { return; }
    if (a === "mentor") {
      change(function () {
        p.mentor = el.value === "" ? null : +el.value;
        return "Mentor de " + projectName(p) + " : " + (el.value === "" ? "à choisir" : D.data.cpts[+el.value].nom);
      });
    } else if (a === "rename") {
      var name = el.value.trim();
      if (!name || fold(name) === fold(p.nom)) { render(); return; }
      var other = findProject("creation", null, name);
      change(function () {
        if (other && other !== p) {  // the same name twice: one project
          var k;
          for (k in D.state.of) { if (D.state.of[k] === p.id) { D.state.of[k] = other.id; } }
        } else { p.nom = name; }
        return "Projet renommé : " + name;
      });
    }
  }

  // ---------------------------------------------------------------- lasso
  function inside(lon, lat, ring) {
    var c = false, i, j;
    for (i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      var xi = ring[i].lng, yi = ring[i].lat, xj = ring[j].lng, yj = ring[j].lat;
      if (((yi > lat) !== (yj > lat)) && (lon < (xj - xi) * (lat - yi) / (yj - yi) + xi)) { c = !c; }
    }
    return c;
  }
  D.lassoSelect = function (ring, add) {
    var d = D.data, found = [], i;
    for (i = 0; i < d.nIn; i++) {
      if (d.blanche[i] && d.lon[i] !== null && inside(d.lon[i], d.lat[i], ring)) { found.push(i); }
    }
    if (!add) { D.selection = []; }
    found.forEach(function (u) { if (D.selection.indexOf(u) < 0) { D.selection.push(u); } });
    D.message = found.length + (found.length > 1 ? " communes blanches entourées" : " commune blanche entourée");
    render();
  };
  function setupLasso(map) {
    var ring = null, line = null, shift = false;
    map.on("mousedown", function (e) {
      if (!D.on || !D.lasso) { return; }
      map.dragging.disable();
      ring = [e.latlng]; shift = e.originalEvent.shiftKey;
      line = L.polyline(ring, {color: "#0033cc", weight: 2, dashArray: "4 4", interactive: false}).addTo(map);
    });
    map.on("mousemove", function (e) {
      if (!ring) { return; }
      ring.push(e.latlng); line.setLatLngs(ring);
    });
    map.on("mouseup", function () {
      if (!ring) { return; }
      var r = ring;
      ring = null; line.remove(); map.dragging.enable();
      D.ignoreClick = performance.now();
      if (r.length > 2) { D.lassoSelect(r, shift); }
    });
  }

  // ---------------------------------------------------------------- mode on / off
  D.toggle = function (on) {
    if (on === undefined) { on = !D.on; }
    if (on === D.on) { return; }
    D.on = on;
    L.DomUtil[on ? "addClass" : "removeClass"](document.body, "cv-decision-on");
    D.layers.forEach(function (layer, i) {
      if (!layer) { return; }
      if (on) {
        layer._cvPopup = layer.getPopup();
        layer.unbindPopup();
      } else {
        if (layer._cvPopup) { layer.bindPopup(layer._cvPopup); }
        layer.setStyle(BASE_STYLE);
        tip(i, layer);
        D.styleKey[i] = undefined;
      }
    });
    if (!on) {
      Object.keys(D.labels).forEach(function (id) { D.labels[id].remove(); });
      D.labels = {};
      D.lasso = false; D.brush = null;
      document.documentElement.setAttribute("data-decision", JSON.stringify({off: true}));
    }
    D.map.invalidateSize();
    if (on && !D.fitted) { D.fitted = true; fit(); }
    render();
  };
  // the département in the space left by the panel
  function fit() {
    var d = D.data, w = 180, e = -180, s = 90, n2 = -90, i;
    for (i = 0; i < d.nIn; i++) {
      if (d.lon[i] === null) { continue; }
      w = Math.min(w, d.lon[i]); e = Math.max(e, d.lon[i]); s = Math.min(s, d.lat[i]); n2 = Math.max(n2, d.lat[i]);
    }
    // below the title box (the heading and the registry line in this mode)
    if (e > w) { D.map.fitBounds([[s, w], [n2, e]], {paddingTopLeft: [20, 90], paddingBottomRight: [20, 20]}); }
  }

  // printed: the map over the whole page width (redrawn for it), the projects on the next page
  D.preparePrint = function (on) {
    if (!D.on) { return; }
    L.DomUtil[on ? "addClass" : "removeClass"](document.body, "cv-dec-printing");
    D.map.invalidateSize({pan: false});
    fit();
  };
  window.addEventListener("beforeprint", function () { D.preparePrint(true); });
  window.addEventListener("afterprint", function () { D.preparePrint(false); });
  // a link followed from another page of the same map (a fiche, the report) selects its communes
  window.addEventListener("hashchange", function () { if (D.data) { fromHash(); } });

  // a link into the mode: departement-35.html#decision=propositions&selection=35001,35002
  function fromHash() {
    var h = window.location.hash, m = /[#&]decision(=([^&]*))?/.exec(h);
    if (!m) { return; }
    D.toggle(true);
    if (m[2] === "propositions" && !D.state.projects.length) { D.fromProposals(); }
    var sel = /[#&]selection=([^&]+)/.exec(h);
    if (sel) {
      var units = decodeURIComponent(sel[1]).split(",").map(function (c) { return D.pos[c.trim()]; })
        .filter(function (u) { return u !== undefined && u < D.data.nIn && D.data.blanche[u]; });
      select(units, false);
      render();
    }
  }

  D.init = function (map, data) {
    var i;
    D.map = map; D.data = data;
    data.code.forEach(function (c, i2) { D.pos[c] = i2; });
    D.layers = new Array(data.nIn);
    cv.communes.forEach(function (c) {
      var code = c.feature.properties.code, u = D.pos[code];
      if (u === undefined || u >= data.nIn) { return; }
      D.layers[u] = c.layer;
      c.layer.on("click", function (e) {
        if (!D.on) { return; }
        if (D.ignoreClick && performance.now() - D.ignoreClick < 300) { return; }
        L.DomEvent.stop(e);
        unitClick(u, e.originalEvent && e.originalEvent.shiftKey);
      });
    });
    for (i = 0; i < data.nIn; i++) { if (!D.layers[i]) { D.layers[i] = null; } }
    var panel = L.DomUtil.create("div", "cv-decision-panel", document.body);
    panel.id = "cv-decision";
    D.panel = panel;
    panel.addEventListener("click", onPanelClick);
    panel.addEventListener("change", onPanelChange);
    // Enter in the new CPTS's name creates it
    panel.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && e.target.id === "cv-dec-nom") {
        e.preventDefault();
        var b = panel.querySelector("button[data-action=creation]");
        if (b) { b.click(); }
      }
    });
    // the toggle button, under the print button
    var C = L.Control.extend({
      options: {position: "topleft"},
      onAdd: function () {
        var div = L.DomUtil.create("div", "leaflet-bar cv-control cv-decision-button");
        var a = L.DomUtil.create("a", "", div);
        a.href = "#"; a.title = "Mode décision : construire le scénario commune par commune";
        a.setAttribute("role", "button"); a.textContent = "Décision";
        L.DomEvent.on(a, "click", function (e) { L.DomEvent.preventDefault(e); D.toggle(); });
        L.DomEvent.disableClickPropagation(div);
        return div;
      }
    });
    new C().addTo(map);
    setupLasso(map);
    document.addEventListener("keydown", function (e) {
      if (!D.on || /INPUT|SELECT|TEXTAREA/.test((e.target || {}).tagName || "")) { return; }
      if (e.key === "Escape") { D.brush = null; D.selection = []; D.lasso = false; render(); }
      else if ((e.ctrlKey || e.metaKey) && e.key === "z") { e.preventDefault(); D.undoLast(); }
      else if ((e.ctrlKey || e.metaKey) && e.key === "y") { e.preventDefault(); D.redoLast(); }
    });
    // the work in progress of this map and registry, as it was left
    try {
      var kept = localStorage.getItem(data.cle);
      if (kept) {
        var k = JSON.parse(kept);
        restore(k.state);
        prune();
        D.message = "Travail en cours repris (enregistré le " + new Date(k.saved).toLocaleString("fr-FR") + ")";
      }
    } catch (e) { D.state = {projects: [], of: {}, next: 1}; }
    fromHash();
  };
})();
