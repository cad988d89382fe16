// Draws the workflow diagram from its Mermaid text (vendored Mermaid, no network). Strict security level: labels
// are text, never HTML. The drawing fits the page's width; a button shows it at full size (scrolling sideways).
mermaid.initialize({ startOnLoad: false, securityLevel: "strict", theme: "neutral", state: { useMaxWidth: true } });
mermaid.run({ querySelector: "pre.mermaid" }).then(function () {
  document.body.dataset.diagram = "drawn";
  var figure = document.querySelector("figure.diagram");
  var toggle = document.getElementById("diagram-size");
  if (!figure || !toggle) { return; }
  toggle.hidden = false;
  toggle.addEventListener("click", function () {
    var full = figure.classList.toggle("full-size");
    toggle.setAttribute("aria-pressed", full ? "true" : "false");
    toggle.textContent = full ? "Fit the diagram to the page" : "Show the diagram at full size";
  });
});
