import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";
import tailwindcss from "@tailwindcss/vite";

// Two entries built into ../dist, which the Go binary embeds: the canvas island (editor-<hash>.js and its
// stylesheet editor-<hash>.css) and the Tailwind stylesheet every page links (app-<hash>.css). Every name carries
// a hash of its content, so a browser may keep a file forever and a new build is fetched at once; manifest.json
// maps each entry to its files, and the server reads it at start to write the hashed URLs into pages
// (handlers/static.go). scripts/precompress.mjs then writes a .gz and a .br beside each file.
export default defineConfig({
  plugins: [react(), tailwindcss()],
  // Fixes React's production build: nothing else would set process.env.NODE_ENV in a browser bundle.
  define: { "process.env.NODE_ENV": '"production"' },
  build: {
    outDir: "../dist",
    // Old hashed files would otherwise pile up in the embedded folder.
    emptyOutDir: true,
    // Not the default .vite/manifest.json: go:embed leaves out names starting with a dot.
    manifest: "manifest.json",
    target: "es2022",
    cssTarget: ["chrome111", "edge111", "firefox128", "safari16.4"],
    sourcemap: false,
    modulePreload: false,
    rollupOptions: {
      input: { editor: "src/main.tsx", app: "styles/app.css" },
      output: {
        entryFileNames: "[name]-[hash].js",
        chunkFileNames: "[name]-[hash].js",
        assetFileNames: "[name]-[hash][extname]",
      },
    },
  },
});
