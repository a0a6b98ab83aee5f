// Entry of the canvas island: mounts the editor on every element marked data-editor, configured only by its data-*
// attributes (the templ page owns the markup; CSP forbids inline scripts, so nothing else can pass settings).
import { createRoot } from "react-dom/client";
import "@xyflow/react/dist/style.css";
import "./editor.css";
import { Api } from "./api";
import { Editor } from "./Editor";
import { parseFlags } from "./flags";

function mount(el: HTMLElement) {
  if (el.dataset.editorMounted) return;
  const workflowId = el.dataset.workflowId;
  if (!workflowId) {
    el.textContent = "The editor needs data-workflow-id.";
    return;
  }
  el.dataset.editorMounted = "true";
  const api = new Api((el.dataset.api || "/ui/api/v1").replace(/\/$/, ""));
  const root = createRoot(el);
  root.render(<Editor api={api} workflowId={workflowId} canEdit={el.dataset.canEdit === "true"} canRun={el.dataset.canRun === "true"} canCreateCredentials={el.dataset.canCreateCredentials === "true"} flags={parseFlags(el.dataset.flags)} debugExecution={el.dataset.debugExecution || undefined} />);
  // HTMX may swap the element out without a page load: unmount then, which also closes a live run's stream.
  const mo = new MutationObserver(() => {
    if (!el.isConnected) {
      mo.disconnect();
      root.unmount();
    }
  });
  mo.observe(document.body, { childList: true, subtree: true });
}

function mountAll() {
  for (const el of document.querySelectorAll<HTMLElement>("[data-editor]")) mount(el);
}

// Pages swapped in by HTMX announce themselves with htmx:load.
document.addEventListener("htmx:load", mountAll);
if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", mountAll);
else mountAll();
