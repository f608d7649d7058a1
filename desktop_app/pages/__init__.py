"""One file per step of the workflow; each page is a form, Start/Cancel, progress, and a results area."""
