// The one DOM helper of the client (app.js and the media modules).
//
//   h('button', { type: 'button', class: 'btn', onclick: go, hidden: true }, 'Label', child)
//
// Attributes: false or null leave the attribute out, true sets it empty, a key
// starting with "on" adds an event listener. Strings become text nodes, never HTML.

export function h(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v == null) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) if (c != null) e.append(c);
  return e;
}
