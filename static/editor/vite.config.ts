import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// The canvas is one island mounted by a templ page: one ES module, ../dist/editor.js, and its stylesheet,
// ../dist/editor.css, next to the Tailwind stylesheet; the Go binary embeds ../dist. The names carry no hash so
// that templ can name them; they change only with a new binary.
export default defineConfig({
  plugins: [react()],
  // Fixes React's production build: nothing else would set process.env.NODE_ENV in a browser bundle.
  define: { "process.env.NODE_ENV": '"production"' },
  build: {
    outDir: "../dist",
    emptyOutDir: false,
    target: "es2022",
    sourcemap: false,
    cssCodeSplit: false,
    modulePreload: false,
    rollupOptions: {
      input: "src/main.tsx",
      output: {
        entryFileNames: "editor.js",
        assetFileNames: "editor[extname]",
      },
    },
  },
});
