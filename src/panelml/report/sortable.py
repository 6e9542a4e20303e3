"""The report's one inline script: click (or Enter on) a column header to sort a table.

Numbers sort numerically (the report's formats: ``-0.012``, ``1.2e-04``, ``∞``),
text alphabetically, and empty or missing cells (``–``) always last. Sorting is
stable, so sorting by a second column keeps the first's order among ties. The
page is complete without it: with scripts disabled the tables keep their order.
Tables of key-value facts (``table.kv``) are not made sortable.
"""

from __future__ import annotations

SORT_SCRIPT = """
(function () {
  "use strict";
  function key(cell) {
    var text = cell ? cell.textContent.trim() : "";
    if (text === "" || text === "\\u2013") { return null; }
    var number = Number(text.replace("\\u2212", "-").replace("-\\u221e", "-Infinity")
      .replace("\\u221e", "Infinity"));
    return isNaN(number) ? text.toLowerCase() : number;
  }
  function compare(a, b) {
    if (typeof a === typeof b) { return a < b ? -1 : a > b ? 1 : 0; }
    return typeof a === "number" ? -1 : 1;
  }
  function makeSortable(table) {
    if (!table.tHead || !table.tBodies.length || table.classList.contains("kv")) { return; }
    var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
    heads.forEach(function (th, column) {
      th.classList.add("sortable");
      th.tabIndex = 0;
      function sort() {
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        heads.forEach(function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows).map(function (row) {
          return { row: row, key: key(row.cells[column]) };
        });
        rows.sort(function (a, b) {
          if (a.key === null || b.key === null) {
            return (a.key === null) - (b.key === null);
          }
          var order = compare(a.key, b.key);
          return ascending ? order : -order;
        });
        rows.forEach(function (item) { body.appendChild(item.row); });
      }
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); sort(); }
      });
    });
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.data"), makeSortable);
})();
"""
"""Runs once at the end of the page; defines no globals."""
