/* couverture: runtime of the HTML maps (popups, labels, search box, full-screen and print buttons).
 * Written for the project (MIT licence); needs only Leaflet, inlined before it.
 * The map's Python side (couverture.maps) calls cv.init(info) before the layers, the layers'
 * onEachFeature hooks below while they load, then cv.ready(map). window.couverture exposes
 * counts of what was drawn, for people and for the browser test. */
(function () {
  "use strict";
  var cv = {
    nCommunes: 0, nCpts: 0, nVoisines: 0, nProjets: 0, nZones: 0,
    nChevauchements: 0, nPropositions: 0, nAlternatives: 0, nDepartements: 0,
    nEtiquettes: 0, nPorteurs: 0, nVilles: 0, nCaches: 0,
    info: {}, communes: [], map: null, lastSearch: null
  };
  window.couverture = cv;

  function esc(s) {
    return String(s === null || s === undefined ? "" : s).replace(/[&<>"']/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c];
    });
  }
  function fold(s) {
    return String(s).normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase()
      .replace(/[-'’\s]+/g, " ").trim();
  }
  function row(k, v) { return "<tr><th>" + esc(k) + "</th><td>" + v + "</td></tr>"; }
  cv.esc = esc;

  cv.init = function (info) { cv.info = info || {}; };

  // style spec from Python: {by: property, styles: {value: style}, default: style}
  cv.styler = function (spec) {
    return function (feature) {
      var base = spec["default"] || {}, extra = {}, out = {}, k;
      if (spec.by && spec.styles) { extra = spec.styles[feature.properties[spec.by]] || {}; }
      for (k in base) { out[k] = base[k]; }
      for (k in extra) { out[k] = extra[k]; }
      return out;
    };
  };

  function tooltipTable(rows) {
    return "<table class='cv-tip'>" + rows.map(function (r) {
      return "<tr><th>" + esc(r[0]) + "</th><td>" + esc(r[1]) + "</td></tr>";
    }).join("") + "</table>";
  }

  // texts come formatted from Python (couverture._format); a missing value is left out
  function proposalHtml(p) {
    var head = esc(p.libelle) + " (" + esc(p.rang) + ")";  // « alternative 2, partie 1/3 »
    var who = p.option === "creation" ? "nouvelle CPTS" + (p.nom ? " « " + esc(p.nom) + " »" : "")
      : (p.cible ? "vers " + esc(p.cible) : "");
    return "<li><b>" + head + "</b> " + who +
      (p.texte ? "<br>" + esc(p.texte) : "") +
      (p.priorite ? "<br>priorité " + esc(p.priorite) : "") +
      (p.motif ? "<br><i>" + esc(p.motif) + "</i>" : "") + "</li>";
  }
  function rowIf(k, v) { return (v === null || v === undefined || v === "") ? "" : row(k, esc(v)); }
  function proposals(filter) {
    var out = (cv.info.propositions || []).filter(filter).map(proposalHtml);
    return out.length ? "<ul class='cv-props'>" + out.join("") + "</ul>" : "";
  }

  cv.cptsCard = function (id) {
    var c = (cv.info.cpts || {})[id];
    if (!c) { return ""; }
    return "<div class='cv-card'><h4 class='cv-stade-" + esc(c.stade_code) + "'>" +
      esc(c.nom) + "</h4><table>" +
      row("Stade", esc(c.stade)) +
      rowIf("Population", c.population) +
      rowIf("Taille ACI", c.taille) +
      rowIf("Communes", c.n_communes) +
      rowIf("Financement maximal", c.financement) +
      rowIf("Département principal", c.departement) +
      rowIf("Professionnels de santé", c.professionnels) +
      "</table>" + proposals(function (p) { return p.cpts_cible === id; }) + "</div>";
  };

  cv.zoneCard = function (id) {
    var z = (cv.info.zones || {})[id];
    if (!z) { return ""; }
    var title = z.nom ? esc(z.nom) + " <small>" + esc(id) + "</small>" : "Zone blanche " + esc(id);
    return "<div class='cv-card cv-zone-card'><h4>" + title + "</h4><table>" +
      rowIf("Population", z.population) +
      rowIf("Communes", z.n_communes) +
      rowIf("Superficie", z.superficie_km2) +
      row("CPTS voisines", z.cpts_voisines ? esc(z.cpts_voisines) : "aucune") +
      rowIf("Professionnels présents", z.professionnels) +
      "</table>" + proposals(function (p) { return p.zone_id === id; }) + "</div>";
  };

  cv.communePopup = function (p) {
    var html = "<div class='cv-popup'><h3>" + esc(p.nom) + " <small>" + esc(p.code) +
      "</small></h3><table>" + row("Population", esc(p.population) + " hab.") +
      row("Stade", esc(p.stade)) + "</table>";
    if (p.chevauchement) {
      html += "<p class='cv-note'>" + (p.chevauchement === "partage" ?
        "Commune partagée entre plusieurs CPTS" : "Chevauchement entre CPTS à arbitrer") + "</p>";
    }
    if (p.projets) { html += "<p class='cv-note'>Projet(s) avant lettre d'intention : " + esc(p.projets) + "</p>"; }
    (p.ids ? p.ids.split("|") : []).forEach(function (id) { html += cv.cptsCard(id); });
    if (p.zone) { html += cv.zoneCard(p.zone); }
    return html + "</div>";
  };

  // ---- layer hooks (onEachFeature) ----
  cv.onCommune = function (feature, layer) {
    cv.nCommunes += 1;
    var p = feature.properties;
    cv.communes.push({key: fold(p.nom), feature: feature, layer: layer});
    layer.bindTooltip(tooltipTable([["Commune", p.nom], ["Population", p.population + " hab."],
                                    ["Stade", p.stade], ["CPTS", p.cpts || "aucune"]]), {sticky: true});
    layer.bindPopup(function () { return cv.communePopup(p); }, {maxWidth: 360, maxHeight: 420});
  };
  // permanent labels (CPTS names, proposals), hidden below the zoom given to cv.ready
  function label(layer, text, kind) {
    if (!text) { return; }
    cv.nEtiquettes += 1;
    layer.bindTooltip(esc(text), {permanent: true, direction: "center", opacity: 1,
                                  className: "cv-label cv-label-" + kind});
  }
  cv.onCpts = function (feature, layer) { cv.nCpts += 1; label(layer, feature.properties.nom, "cpts"); };
  cv.onZone = function () { cv.nZones += 1; };
  cv.onOverlap = function () { cv.nChevauchements += 1; };
  cv.onProposal = function (feature, layer) {
    cv.nPropositions += 1;
    label(layer, feature.properties.etiquette, "proposition");
  };
  cv.onAlternative = function (feature, layer) {
    cv.nAlternatives += 1;
    label(layer, feature.properties.etiquette + " (" + feature.properties.rang + ")", "alternative");
  };
  cv.onProject = function (feature, layer) { cv.nProjets += 1; label(layer, feature.properties.nom, "projet"); };
  cv.circle = function (feature, latlng) {
    return L.circleMarker(latlng, {pane: "cv-porteurs", className: "cv-porteur"});
  };
  cv.onPorteur = function (feature, layer) {
    var p = feature.properties;
    cv.nPorteurs += 1;
    layer.bindTooltip(esc(p.nom), {sticky: true});
    layer.bindPopup("<div class='cv-popup'><h3>" + esc(p.nom) + "</h3><table>" +
      rowIf("Catégorie", p.categorie) + rowIf("FINESS", p.id) + rowIf("Commune", p.commune) +
      "</table><p class='cv-sub'>Porteur potentiel d'une CPTS</p></div>", {maxWidth: 320});
  };
  cv.onNeighbour = function (feature, layer) {
    cv.nVoisines += 1;
    var c = (cv.info.cpts || {})[feature.properties.id] || {};
    layer.bindTooltip(esc(c.nom) + " (" + esc(c.stade).toLowerCase() + ", hors département)", {sticky: true});
    layer.bindPopup(function () { return cv.cptsCard(feature.properties.id); }, {maxWidth: 340});
  };
  cv.onDepartement = function (feature, layer) {
    var p = feature.properties, rows = [["Département", p.nom], ["Population", p.population + " hab."]];
    cv.nDepartements += 1;
    cv.communes.push({key: fold(p.nom), feature: feature, layer: layer});
    (cv.info.stages || []).forEach(function (s) { rows.push(["≥ " + s[1], p["txt_" + s[0]]]); });
    rows.push(["Zones blanches", p.zones]);
    layer.bindTooltip(tooltipTable(rows) + (p.lien ? "<p class='cv-sub'>Cliquez pour ouvrir la carte</p>" : ""),
                      {sticky: true});
    if (feature.properties.lien) {
      layer.on("click", function () { window.location.href = feature.properties.lien; });
    }
  };

  // ---- national map: one choropleth restyled for the chosen stage ----
  cv.choropleth = function (layer, classes, outsideFill) {
    cv.choroLayer = layer;
    cv.classes = classes;
    cv.outsideFill = outsideFill;
  };
  cv.showStage = function (stage) {
    if (!cv.choroLayer) { return; }
    cv.stage = stage;
    cv.choroLayer.setStyle(function (f) {
      if (f.properties.hors) {  // outside the registry: off the scale, never "0 à 20 %"
        return {fillColor: cv.outsideFill, fillOpacity: 0.6, color: "#888", weight: 0.6, dashArray: "3"};
      }
      var t = f.properties["taux_" + stage], colour = cv.classes[0][1];
      cv.classes.forEach(function (c) { if (t >= c[0]) { colour = c[1]; } });
      return {fillColor: colour, fillOpacity: 0.85, color: "#333", weight: 0.8};
    });
  };

  // ---- search by name ----
  cv.search = function (query) {
    var q = fold(query || ""), best = null, i, c;
    if (!q) { return null; }
    for (i = 0; i < cv.communes.length && !best; i++) { if (cv.communes[i].key === q) { best = cv.communes[i]; } }
    for (i = 0; i < cv.communes.length && !best; i++) { if (cv.communes[i].key.indexOf(q) === 0) { best = cv.communes[i]; } }
    for (i = 0; i < cv.communes.length && !best; i++) { if (cv.communes[i].key.indexOf(q) >= 0) { best = cv.communes[i]; } }
    cv.lastSearch = best ? best.feature.properties.nom : null;
    var status = document.getElementById("cv-search-status");
    if (status) { status.textContent = best ? "" : "introuvable : " + query; }
    if (!best) { return null; }
    cv.map.fitBounds(best.layer.getBounds(), {maxZoom: 12});
    if (best.layer.getPopup()) { best.layer.openPopup(best.layer.getBounds().getCenter()); }
    if (cv.map._loaded) { cv.publish(); }
    return cv.lastSearch;
  };

  function control(position, className, build) {
    var C = L.Control.extend({
      options: {position: position},
      onAdd: function () {
        var div = L.DomUtil.create("div", (/cv-box/.test(className) ? "" : "leaflet-bar ") +
                                   "cv-control " + className);
        build(div);
        L.DomEvent.disableClickPropagation(div);
        L.DomEvent.disableScrollPropagation(div);
        return div;
      }
    });
    return new C();
  }

  cv.ready = function (map, opts) {
    cv.map = map;
    opts = opts || {};
    if (opts.title) {
      control("topleft", "cv-box cv-title", function (div) { div.innerHTML = opts.title; }).addTo(map);
    }
    L.control.zoom({position: "topleft", zoomInTitle: "Zoom avant", zoomOutTitle: "Zoom arrière"}).addTo(map);
    control("topleft", "cv-fullscreen", function (div) {
      var a = L.DomUtil.create("a", "", div);
      a.href = "#"; a.title = "Plein écran"; a.setAttribute("role", "button");
      a.setAttribute("aria-label", a.title);
      a.innerHTML = "<svg width='16' height='16' viewBox='0 0 16 16' style='vertical-align:middle'>" +
        "<path d='M1 6V1h5M10 1h5v5M15 10v5h-5M6 15H1v-5' fill='none' stroke='#333' stroke-width='2'/></svg>";
      L.DomEvent.on(a, "click", function (e) {
        L.DomEvent.preventDefault(e);
        var el = map.getContainer();
        if (document.fullscreenElement) { document.exitFullscreen(); }
        else if (el.requestFullscreen) { el.requestFullscreen(); }
      });
    }).addTo(map);
    document.addEventListener("fullscreenchange", function () { map.invalidateSize(); });
    control("topleft", "cv-print", function (div) {
      var a = L.DomUtil.create("a", "", div);
      a.href = "#"; a.title = "Imprimer la carte (titre et légende compris)"; a.setAttribute("role", "button");
      a.setAttribute("aria-label", "Imprimer la carte");
      a.innerHTML = "<svg width='16' height='16' viewBox='0 0 16 16' style='vertical-align:middle'>" +
        "<path d='M4 6V1h8v5M4 12H1V6h14v6h-3M4 9h8v6H4z' fill='none' stroke='#333' stroke-width='1.6'/></svg>";
      L.DomEvent.on(a, "click", function (e) {
        L.DomEvent.preventDefault(e);
        cv.printLayout(true);
        window.print();
      });
    }).addTo(map);
    // labels only where they can be read: from opts.labelMinZoom on
    if (opts.labelMinZoom) {
      var toggleLabels = function () {
        var off = map.getZoom() < opts.labelMinZoom;
        L.DomUtil[off ? "addClass" : "removeClass"](map.getContainer(), "cv-labels-off");
      };
      map.on("zoomend", toggleLabels);
      toggleLabels();
    }
    control("topleft", "cv-search", function (div) {
      var list = L.DomUtil.create("datalist", "", div);
      list.id = "cv-search-list";
      cv.communes.map(function (c) { return c.feature.properties.nom; }).sort()
        .forEach(function (n) { var o = document.createElement("option"); o.value = n; list.appendChild(o); });
      var input = L.DomUtil.create("input", "", div);
      input.type = "search"; input.id = "cv-search-input";
      input.placeholder = opts.searchPlaceholder || "Rechercher une commune…";
      input.setAttribute("list", list.id);
      input.setAttribute("aria-label", input.placeholder);
      var status = L.DomUtil.create("div", "cv-search-status", div);
      status.id = "cv-search-status";
      L.DomEvent.on(input, "change", function () { cv.search(input.value); });
      L.DomEvent.on(input, "keydown", function (e) { if (e.key === "Enter") { cv.search(input.value); } });
    }).addTo(map);
    if (opts.legend) {
      control("bottomright", "cv-box cv-legend", function (div) { div.innerHTML = opts.legend; }).addTo(map);
    }
    if (opts.stage) {
      cv.showStage(opts.stage);
      map.on("baselayerchange", function (e) {
        var s = (opts.stageLayers || {})[e.name];
        if (s) { cv.showStage(s); }
      });
    }
    addTowns(map);
    cv.bounds = opts.bounds || null;
    cv.fit();
    map.on("zoomend moveend overlayadd overlayremove", function () { cv.declutter(); });
    window.addEventListener("beforeprint", function () { cv.printLayout(true); });
    window.addEventListener("afterprint", function () { cv.printLayout(false); });
    // departement-35.html#impression: the printed layout on screen (checks, screenshots)
    if (/[#&]impression\b/.test(window.location.hash)) { cv.printLayout(true); }
    cv.declutter();
    // a link to a commune: departement-35.html#recherche=Rennes
    var m = /[#&]recherche=([^&]+)/.exec(window.location.hash);
    if (m) { cv.search(decodeURIComponent(m[1].replace(/\+/g, " "))); }
    cv.publish();
  };

  // ---- main towns, named offline from the units' own data (no basemap needed) ----
  function addTowns(map) {
    var towns = cv.info.villes || [];
    if (!towns.length || !map.getPane("cv-villes")) { return; }
    var group = L.featureGroup();
    towns.forEach(function (t, i) {
      var m = L.circleMarker([t[1], t[2]], {pane: "cv-villes", radius: i < 3 ? 4 : 3, weight: 1,
                                             color: "#fff", fillColor: "#111", fillOpacity: 1,
                                             interactive: false});
      m.bindTooltip(esc(t[0]), {permanent: true, direction: "right", offset: [4, 0], opacity: 1,
                                pane: "cv-villes",
                                className: "cv-label cv-label-ville" + (i < 3 ? " cv-ville-1" : "")});
      cv.nVilles += 1;
      group.addLayer(m);
    });
    group.addTo(map);
  }

  // ---- labels without collision at the displayed zoom: the more important kept, others hidden ----
  // proposals first (each must be read), then the three main towns, CPTS, other towns
  var PRIORITY = ["proposition", "ville-1", "cpts", "ville", "projet", "alternative"];
  function rank(el) {
    for (var i = 0; i < PRIORITY.length; i++) {
      if (el.classList.contains("cv-label-" + PRIORITY[i]) ||
          (PRIORITY[i] === "ville-1" && el.classList.contains("cv-ville-1"))) { return i; }
    }
    return PRIORITY.length;
  }
  function overlaps(a, b) {
    return a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
  }
  // the panels (title, legend) where they lie over the map: labels under them are hidden too
  function panelRects() {
    var out = [];
    [".cv-title", ".cv-legend", ".leaflet-control-layers"].forEach(function (sel) {
      var el = document.querySelector(sel);
      if (el && el.offsetParent !== null && cv.map && cv.map.getContainer().contains(el)) {
        out.push(el.getBoundingClientRect());
      }
    });
    return out;
  }
  cv.declutter = function () {
    if (!cv.map) { return; }
    var box = cv.map.getContainer().getBoundingClientRect();
    var labels = Array.prototype.slice.call(document.querySelectorAll(".leaflet-tooltip.cv-label"));
    labels.forEach(function (el) {
      el.classList.remove("cv-label-cache");
      el.style.marginTop = ""; el.style.marginLeft = "";
    });
    // below the label zoom only the towns show (the others are display:none, skipped below)
    labels.sort(function (a, b) { return rank(a) - rank(b); });
    var kept = panelRects(), hidden = 0;
    var free = function (r) {
      var outside = r.left < box.left || r.right > box.right || r.top < box.top || r.bottom > box.bottom;
      return !outside && !kept.some(function (k) { return overlaps(r, k); });
    };
    labels.forEach(function (el) {
      var r0 = el.getBoundingClientRect();
      if (!r0.width) { return; }
      // in place, else shifted a line up or down (two lines for a proposal), else hidden
      var h = r0.height + 1, steps = el.classList.contains("cv-label-proposition") ? 2 : 1;
      var shifts = [[0, 0]], k, r, placed = null;
      for (k = 1; k <= steps; k++) { shifts.push([0, -k * h], [0, k * h]); }
      shifts.push([-r0.width / 2, 0], [r0.width / 2, 0]);
      for (k = 0; k < shifts.length && !placed; k++) {
        r = {left: r0.left + shifts[k][0], right: r0.right + shifts[k][0],
             top: r0.top + shifts[k][1], bottom: r0.bottom + shifts[k][1]};
        if (free(r)) { placed = shifts[k]; kept.push(r); }
      }
      if (!placed) {
        el.classList.add("cv-label-cache");
        hidden += 1;
      } else if (placed[0] || placed[1]) {
        el.style.marginLeft = placed[0] + "px"; el.style.marginTop = placed[1] + "px";
      }
    });
    cv.nCaches = hidden;
  };

  // ---- the data fitted in the area the panels leave free ----
  cv.fit = function () {
    if (!cv.map || !cv.bounds) { return; }
    var map = cv.map, size = map.getSize(), left = 10, right = 10;
    var title = document.querySelector(".cv-title"), legend = document.querySelector(".cv-legend");
    var inside = function (el) { return el && map.getContainer().contains(el) && el.offsetParent !== null; };
    if (inside(title)) { left = Math.max(left, title.getBoundingClientRect().right -
                                         map.getContainer().getBoundingClientRect().left + 10); }
    if (inside(legend)) { right = Math.max(right, map.getContainer().getBoundingClientRect().right -
                                           legend.getBoundingClientRect().left + 10); }
    if (left + right > size.x * 0.6) { left = Math.min(left, size.x * 0.35); right = Math.min(right, size.x * 0.25); }
    map.fitBounds(cv.bounds, {paddingTopLeft: [left, 10], paddingBottomRight: [right, 10], animate: false});
  };

  // ---- print: the panels go to a margin column beside the map, never over the data ----
  cv.printLayout = function (on) {
    if (!cv.map) { return; }
    var body = document.body, margin = document.getElementById("cv-marge");
    var title = document.querySelector(".cv-title"), legend = document.querySelector(".cv-legend");
    if (on === L.DomUtil.hasClass(body, "cv-imprime")) { return; }
    if (on) {
      if (!margin) { margin = L.DomUtil.create("div", "", body); margin.id = "cv-marge"; }
      cv.homes = [];
      [title, legend].forEach(function (el) {
        if (el) { cv.homes.push([el, el.parentNode, el.nextSibling]); margin.appendChild(el); }
      });
      L.DomUtil.addClass(body, "cv-imprime");
    } else {
      (cv.homes || []).forEach(function (h) { h[1].insertBefore(h[0], h[2]); });
      L.DomUtil.removeClass(body, "cv-imprime");
    }
    cv.map.invalidateSize({animate: false});
    cv.fit();
    cv.declutter();
    cv.publish();
  };

  // boxes measured in the page (CSS pixels): labels shown, panels, zones blanches, map
  function rect(r) { return [Math.round(r.left), Math.round(r.top), Math.round(r.right), Math.round(r.bottom)]; }
  cv.measure = function () {
    var q = function (sel) { return Array.prototype.slice.call(document.querySelectorAll(sel)); };
    var shown = function (el) { var r = el.getBoundingClientRect(); return r.width > 0 && getComputedStyle(el).visibility !== "hidden" && getComputedStyle(el).display !== "none"; };
    var title = document.querySelector(".cv-title"), legend = document.querySelector(".cv-legend");
    return {
      etiquettes: q(".leaflet-tooltip.cv-label").filter(shown).map(function (el) {
        return [el.textContent].concat(rect(el.getBoundingClientRect()));
      }),
      propositions: q(".leaflet-tooltip.cv-label-proposition").filter(shown).map(function (el) {
        return el.textContent;
      }),
      zones: q("path.cv-zone").map(function (el) { return rect(el.getBoundingClientRect()); }),
      titre: title ? rect(title.getBoundingClientRect()) : null,
      legende: legend ? rect(legend.getBoundingClientRect()) : null,
      carte: cv.map ? rect(cv.map.getContainer().getBoundingClientRect()) : null,
      page: [0, 0, document.documentElement.scrollWidth, document.documentElement.scrollHeight]
    };
  };

  // what was drawn, readable from the DOM (the browser test reads it with --dump-dom)
  cv.publish = function () {
    var state = {}, k;
    for (k in cv) { if (typeof cv[k] === "number") { state[k] = cv[k]; } }
    state.recherche = cv.lastSearch;
    state.mesures = cv.measure();
    document.documentElement.setAttribute("data-couverture", JSON.stringify(state));
  };
})();
