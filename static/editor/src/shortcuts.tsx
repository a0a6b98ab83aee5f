// The shortcut sheet `?` opens: every key the canvas answers to, in one place.
import { Dialog } from "./dialogs";

const mod = typeof navigator !== "undefined" && /Mac|iPhone|iPad/.test(navigator.platform) ? "⌘" : "Ctrl";

export function ShortcutSheet({ tidyUp, onClose }: { tidyUp: boolean; onClose: () => void }) {
  const rows: [string, string][] = [
    [`${mod}+S`, "Save"],
    [`${mod}+Z`, "Undo"],
    [`${mod}+Shift+Z`, "Redo"],
    [`${mod}+C`, "Copy the selected nodes (as definition JSON)"],
    [`${mod}+V`, "Paste nodes, from this workflow or another"],
    [`${mod}+D`, "Duplicate the selected nodes"],
    [`${mod}+click`, "Add a node to the selection"],
    ["Shift+drag", "Select the nodes in a box"],
    ["Delete", "Delete the selection"],
    ["Escape", "Close the panel"],
    ["+ on a port", "Add a node after that port"],
    ["N", "Add a sticky note"],
    ...(tidyUp ? ([["Shift+T", "Tidy up"]] as [string, string][]) : []),
    ["?", "This sheet"],
  ];
  return (
    <Dialog title="Keyboard shortcuts" onClose={onClose}>
      <table className="cm-shortcuts" data-shortcut-sheet>
        <tbody>
          {rows.map(([keys, what]) => (
            <tr key={keys}>
              <th scope="row">
                <kbd>{keys}</kbd>
              </th>
              <td>{what}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </Dialog>
  );
}
