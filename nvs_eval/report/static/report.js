// nvs-eval report: sortable tables and the image viewer (no library; works opened straight from disk).
function sortTable(th){const t=th.closest('table'),i=[...th.parentNode.children].indexOf(th),b=t.tBodies[0];
const rows=[...b.rows],asc=th.dataset.asc!=='1';th.dataset.asc=asc?'1':'0';
rows.sort((x,y)=>{const a=x.cells[i].dataset.v,c=y.cells[i].dataset.v;const na=parseFloat(a),nc=parseFloat(c);
const r=(isNaN(na)||isNaN(nc))?String(a).localeCompare(String(c)):na-nc;return asc?r:-r});
rows.forEach(r=>b.appendChild(r));}
document.querySelectorAll('table.sortable th').forEach(th=>th.addEventListener('click',()=>sortTable(th)));
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
