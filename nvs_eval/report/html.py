"""A static, offline HTML report: ``index.html`` + per-scene pages + assets (no CDN, no server).

Tables are sortable (click a header); each scene page has an image viewer that switches between the ground truth,
each method's render and its heatmaps, or slides between any two of them. Every name is HTML-escaped.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

from ..util.atomic import atomic_write_text
from .table import Table, arrow

CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:1200px;color:#222;padding:0 1em}
table{border-collapse:collapse;margin:.6em 0 1.4em}
th,td{padding:.25em .7em;border-bottom:1px solid #ddd;text-align:right}
th:first-child,td:first-child{text-align:left}th{cursor:pointer;background:#f4f4f4;user-select:none}
tr.published td{font-style:italic;color:#1f5fa8}
td.sig{background:#e3eefb}td.best{font-weight:bold}td.second{text-decoration:underline}code,pre{background:#f6f6f6}
pre{padding:.6em;overflow-x:auto;font-size:.85em}.viewer{position:relative;display:inline-block}
.viewer img{display:block;max-width:100%;image-rendering:pixelated}.viewer .top{position:absolute;left:0;top:0}
.controls button{margin:.15em}.controls button.on{background:#246;color:#fff}figure{margin:.5em 0}
img.fig{max-width:100%}p.caption{margin-top:-1em;color:#555;font-size:.9em}
.thumbs{display:flex;flex-wrap:wrap;gap:.8em}.thumbs figure{width:560px}.thumbs img{width:100%}
"""

JS = """
function sortTable(th){const t=th.closest('table'),i=[...th.parentNode.children].indexOf(th),b=t.tBodies[0];
const rows=[...b.rows],asc=th.dataset.asc!=='1';th.dataset.asc=asc?'1':'0';
rows.sort((x,y)=>{const a=x.cells[i].dataset.v,c=y.cells[i].dataset.v;const na=parseFloat(a),nc=parseFloat(c);
const r=(isNaN(na)||isNaN(nc))?String(a).localeCompare(String(c)):na-nc;return asc?r:-r});
rows.forEach(r=>b.appendChild(r));}
document.querySelectorAll('th').forEach(th=>th.addEventListener('click',()=>sortTable(th)));
function setupViewer(v){const data=JSON.parse(v.querySelector('script[type="application/json"]').textContent);
const base=v.querySelector('img.base'),top=v.querySelector('img.top'),sel=v.querySelector('select.view'),
btns=v.querySelector('.controls'),slider=v.querySelector('input.slide'),selA=v.querySelector('select.a');
let layer=data.layers[0];
function src(view,l){return data.images[view][l]}
const full=v.querySelector('a.full');
function draw(){const view=sel.value;base.src=src(view,layer);
 const f=(data.full[view]||{})[layer];if(full){full.style.display=f?'inline':'none';if(f)full.href=f}
 if(selA.value){top.style.display='block';top.src=src(view,selA.value);
  top.style.clipPath='inset(0 '+(100-slider.value)+'% 0 0)'}
 else{top.style.display='none'}
 btns.querySelectorAll('button').forEach(b=>b.classList.toggle('on',b.dataset.layer===layer));v.dataset.shown=layer;}
data.layers.forEach(l=>{const b=document.createElement('button');b.textContent=l;b.dataset.layer=l;
 b.addEventListener('click',()=>{layer=l;draw()});btns.appendChild(b);
 const o=document.createElement('option');o.value=l;o.textContent=l;selA.appendChild(o)});
sel.addEventListener('change',draw);slider.addEventListener('input',draw);selA.addEventListener('change',draw);draw();}
document.querySelectorAll('.viewer-block').forEach(setupViewer);
"""


def _num(v: float) -> str:
    return repr(float(v))


def table_html(table: Table) -> str:
    arrows = {"up": "&uarr;", "down": "&darr;"}
    head = "".join(f"<th>{escape(c.label)} {arrows[arrow(c.metric)]}</th>" for c in table.columns)
    rows = []
    for i, (name, row) in enumerate(zip(table.rows, table.cells)):
        cells = "".join(f'<td class="{("", "best", "second")[c.rank]}" data-v="{_num(c.value)}">{escape(c.text)}'
                        + (f' <small>{escape(c.spread)}</small>' if c.spread else "") + ("&dagger;" if c.tied else "")
                        + "</td>" for c in row)
        cls = ' class="published"' if table.is_published(i) else ""
        rows.append(f'<tr{cls}><td data-v="{escape(name)}">{escape(name)}</td>{cells}</tr>')
    return (f'<h3>{escape(table.title)}</h3><table class="sortable" id="t-{escape(table.key)}"><thead><tr>'
            f"<th>{escape(table.row_header)}</th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
            f'<p class="caption">{escape(table.caption)}</p>')


def page(title: str, body: str, depth: int = 0) -> str:
    css = "../" * depth + "assets/report.css"
    js = "../" * depth + "assets/report.js"
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f'<link rel="stylesheet" href="{css}"></head><body>{body}<script src="{js}"></script></body></html>')


def viewer_html(images: dict[str, dict[str, str]], layers: list[str], full: dict[str, dict[str, str]] | None = None,
                preview: int | None = None) -> str:
    """``images``: view -> layer -> relative URL of its preview; ``full``: view -> layer -> URL of the
    full-resolution file (the original render or ground truth), linked from the viewer."""
    data = json.dumps({"images": images, "layers": layers, "full": full or {}}).replace("</", "<\\/")
    note = (f"Layers are previews (longest side at most {preview} px); the full-resolution files are linked. "
            if preview else "")
    opts = "".join(f'<option value="{escape(v)}">{escape(v)}</option>' for v in images)
    return ('<div class="viewer-block"><p>View <select class="view">' + opts + "</select> "
            'compare with <select class="a"><option value="">(none)</option></select> '
            'slide <input class="slide" type="range" min="0" max="100" value="50"></p>'
            f'<p class="caption">{escape(note)}<a class="full" href="#" style="display:none">open this layer at full '
            'resolution</a></p>'
            '<div class="controls"></div><div class="viewer"><img class="base" alt="base layer">'
            '<img class="top" alt="comparison layer" style="display:none"></div>'
            f'<script type="application/json">{data}</script></div>')


def write_assets(out: Path) -> None:
    atomic_write_text(out / "assets" / "report.css", CSS)
    atomic_write_text(out / "assets" / "report.js", JS)
