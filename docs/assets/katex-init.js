// Render the maths (pymdownx.arithmatex, generic mode) with the KaTeX served from this site: no CDN, works offline.
// Material's instant navigation swaps pages without a reload, so render on every page change.
function renderMaths() {
  renderMathInElement(document.body, {
    delimiters: [
      { left: "\\[", right: "\\]", display: true },
      { left: "\\(", right: "\\)", display: false },
    ],
    throwOnError: false,
  });
}
if (typeof document$ !== "undefined") {
  document$.subscribe(renderMaths);
} else {
  document.addEventListener("DOMContentLoaded", renderMaths);
}
