#!/usr/bin/env python3
"""Draws docs/context_shift.svg: how the context window slides in the two modes.

    python3 scripts/context_figure.py [docs/context_shift.svg]

W = 8, a 3-token prompt, 14 draws. Each row is one draw: the tokens of the row so far
(prompt and generated), the ones the draw is conditioned on coloured and numbered with
the position they take, the new token (the draw) at the end. The rules are those of
src/generate.c (docs/generation.md): exact keeps the last min(n, W) tokens; half restarts
the window with the last W // 2 tokens when the next token would go at position W.
"""
import sys

W, P, DRAWS = 8, 3, 14
CELL, GAP_X, TOP, LEFT = 22, 40, 58, 70


def windows(shift):
    """(start, n) of the window of each draw."""
    out, start, n = [], max(0, P - W), P
    for _ in range(DRAWS):
        if shift == "exact":
            start = max(0, n - W)
        elif n - start > W:
            start = n - max(1, W // 2)
        out.append((start, n))
        n += 1
    return out


def panel(x0, title, shift, note):
    parts = [f'<text x="{x0}" y="{TOP - 30}" class="t">{title}</text>',
             f'<text x="{x0}" y="{TOP - 14}" class="n">{note}</text>']
    for row, (start, n) in enumerate(windows(shift)):
        y = TOP + row * CELL
        if x0 == LEFT:
            parts.append(f'<text x="{x0 - 8}" y="{y + 15}" class="l" text-anchor="end">draw {row + 1}</text>')
        for i in range(n + 1):
            x = x0 + i * CELL
            if i == n:  # the token being drawn
                parts.append(f'<rect x="{x}" y="{y}" width="{CELL - 2}" height="{CELL - 2}" class="new"/>')
                continue
            inside = start <= i < n
            cls = "win" if inside else "out"
            fill = "p" if i < P else "g"
            parts.append(f'<rect x="{x}" y="{y}" width="{CELL - 2}" height="{CELL - 2}" class="{cls} {fill}"/>')
            if inside:
                parts.append(f'<text x="{x + CELL / 2 - 1}" y="{y + 15}" class="c">{i - start}</text>')
        if shift == "half" and row > 0 and start != windows(shift)[row - 1][0]:
            parts.append(f'<text x="{x0 + (n + 1) * CELL + 4}" y="{y + 15}" class="n">restart: prefill '
                         f'{n - start}, then cached</text>')
        if shift == "exact" and n > W:
            parts.append(f'<text x="{x0 + (n + 1) * CELL + 4}" y="{y + 15}" class="n">recompute {W}</text>')
    return parts


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "docs/context_shift.svg"
    width_panel = (P + DRAWS + 1) * CELL + 190
    w, h = LEFT + 2 * width_panel + GAP_X, TOP + DRAWS * CELL + 40
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}">',
             "<style>.t{font:bold 15px sans-serif}.n{font:12px sans-serif;fill:#444}"
             ".l{font:12px sans-serif;fill:#444}.c{font:11px monospace;text-anchor:middle;fill:#fff}"
             ".win.p{fill:#1f5fa8}.win.g{fill:#3d8fd9}.out{fill:#ddd}.new{fill:#e8a33d}</style>",
             f'<rect width="{w}" height="{h}" fill="#fff"/>']
    parts += panel(LEFT, "exact (nanoGPT's crop)", "exact",
                   f"W = {W}: every draw sees the last min(n, W) tokens at positions 0..")
    parts += panel(LEFT + width_panel + GAP_X, "half (the default)", "half",
                   f"W = {W}: a full window restarts with its last W/2 = {W // 2} tokens")
    y = h - 14
    parts.append(f'<rect x="{LEFT}" y="{y - 11}" width="12" height="12" class="win p"/>'
                 f'<text x="{LEFT + 16}" y="{y}" class="n">prompt token in the window (its position)</text>'
                 f'<rect x="{LEFT + 300}" y="{y - 11}" width="12" height="12" class="win g"/>'
                 f'<text x="{LEFT + 316}" y="{y}" class="n">generated token in the window</text>'
                 f'<rect x="{LEFT + 530}" y="{y - 11}" width="12" height="12" class="out"/>'
                 f'<text x="{LEFT + 546}" y="{y}" class="n">outside the window</text>'
                 f'<rect x="{LEFT + 690}" y="{y - 11}" width="12" height="12" class="new"/>'
                 f'<text x="{LEFT + 706}" y="{y}" class="n">the token drawn</text>')
    parts.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(parts) + "\n")


if __name__ == "__main__":
    main()
