// Accessible names that contain the visible label (WCAG 2.1, 2.5.3 "Label in Name"; axe-core's
// label-content-name-mismatch). tests/test_site.py runs axe-core on every page at two widths.
document.addEventListener("DOMContentLoaded", () => {
  // myst-nb's folded cells show "Show code cell source": let that text be the name, not "Toggle hidden content".
  for (const summary of document.querySelectorAll('summary[aria-label="Toggle hidden content"]')) {
    summary.removeAttribute("aria-label");
  }
  // The theme's search field shows "Search Ctrl+K": its text is its name.
  for (const field of document.querySelectorAll(".search-button-field[aria-label]")) {
    field.removeAttribute("aria-label");
  }
  // The colour-mode button shows one icon, titled with its mode: the name holds all three titles.
  for (const button of document.querySelectorAll(".theme-switch-button")) {
    button.setAttribute("aria-label", "Color mode: Light, Dark or System Settings");
  }
});
