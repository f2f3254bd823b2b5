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
    nEtiquettes: 0, nPorteurs: 0,
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
    var head = esc(p.libelle) + (p.recommandee ? " (recommandée)" : " (alternative)");
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
      "</table>" + proposals(function (p) { return p.cpts_cible === id; }) + "</div>";
  };

  cv.zoneCard = function (id) {
    var z = (cv.info.zones || {})[id];
    if (!z) { return ""; }
    return "<div class='cv-card cv-zone-card'><h4>Zone blanche " + esc(id) + "</h4><table>" +
      rowIf("Population", z.population) +
      rowIf("Communes", z.n_communes) +
      rowIf("Superficie", z.superficie_km2) +
      row("CPTS voisines", z.cpts_voisines ? esc(z.cpts_voisines) : "aucune") +
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
    label(layer, feature.properties.etiquette + " (alternative)", "alternative");
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
      L.DomEvent.on(a, "click", function (e) { L.DomEvent.preventDefault(e); window.print(); });
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
    // a link to a commune: departement-35.html#recherche=Rennes
    var m = /[#&]recherche=([^&]+)/.exec(window.location.hash);
    if (m) { cv.search(decodeURIComponent(m[1].replace(/\+/g, " "))); }
    cv.publish();
  };

  // what was drawn, readable from the DOM (the browser test reads it with --dump-dom)
  cv.publish = function () {
    var state = {}, k;
    for (k in cv) { if (typeof cv[k] === "number") { state[k] = cv[k]; } }
    state.recherche = cv.lastSearch;
    document.documentElement.setAttribute("data-couverture", JSON.stringify(state));
  };
})();
