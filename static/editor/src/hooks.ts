// Small hooks shared by the editor's components.
import { useEffect, useState, type RefObject } from "react";

/** The app's resolved theme: <html data-theme="light|dark">, which changes when the user toggles it. */
export function useTheme(): "light" | "dark" {
  const read = () => (document.documentElement.dataset.theme === "dark" ? "dark" : "light");
  const [theme, setTheme] = useState<"light" | "dark">(read);
  useEffect(() => {
    const mo = new MutationObserver(() => setTheme(read()));
    mo.observe(document.documentElement, { attributes: true, attributeFilter: ["data-theme"] });
    return () => mo.disconnect();
  }, []);
  return theme;
}

/**
 * Whether the island is narrow (a phone): the width of its own element, not the viewport's, decides, since the
 * page may give the island less than the whole window.
 */
export function useNarrow(ref: RefObject<HTMLElement | null>, below = 760): boolean {
  const [narrow, setNarrow] = useState(() => window.innerWidth < below);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    const ro = new ResizeObserver((entries) => {
      const w = entries[0]?.contentRect.width ?? el.clientWidth;
      if (w > 0) setNarrow(w < below);
    });
    ro.observe(el);
    return () => ro.disconnect();
  }, [ref, below]);
  return narrow;
}
