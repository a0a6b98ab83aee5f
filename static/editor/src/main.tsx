import { createRoot } from "react-dom/client";
import { ReactFlow, Background, Controls } from "@xyflow/react";
import "@xyflow/react/dist/style.css";

// Mounts the canvas on every element marked data-editor.
for (const el of document.querySelectorAll<HTMLElement>("[data-editor]")) {
  createRoot(el).render(
    <div style={{ height: "70vh" }}>
      <ReactFlow nodes={[]} edges={[]}>
        <Background />
        <Controls />
      </ReactFlow>
    </div>,
  );
}
