// Draws every <pre class="mermaid"> with the bundled Mermaid. securityLevel "strict" sanitises labels.
mermaid.initialize({ startOnLoad: true, securityLevel: "strict", theme: "default" });
