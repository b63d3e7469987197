// Where the video tiles go on the stage: pure geometry, no DOM (the e2e layout
// test imports it under node too).
//
//   const plan = planStage({ width, height, featured: 1, others: 12, page: 0, shrink });
//   plan.featured[i], plan.others[i]: {x, y, w, h} in px from the stage's top left
//   plan.perPage, plan.pages, plan.page: the others are shown a page at a time
//
// Tiles are 16:9. For n tiles the grid takes the columns × rows that make them
// largest in the stage, whatever its shape; rows are centred, the last one too.
// Past what fits legibly (MIN_TILE_WIDTH, at most MAX_PER_PAGE on a desktop,
// MAX_PER_PAGE_NARROW on a phone) the others are paginated. Featured tiles
// (screen shares, the room's mix) take the main area and the others a strip:
// on the right of a landscape stage, at the bottom of a portrait one.

export const TILE_ASPECT = 16 / 9;
export const GAP = 8;
export const MIN_TILE_WIDTH = 128; // a name in 12.8 px type and the mic icon fit
export const MAX_PER_PAGE = 25;
export const MAX_PER_PAGE_NARROW = 6;
export const NARROW_STAGE = 600; // px: a phone, or a narrow window

// The largest tiles for n in width × height: {cols, rows, w, h}. With shrink
// (a stage that will be cut to the tiles' height, on a phone), of the layouts
// whose tiles are nearly as large (80 %), the one covering most of width × its
// own height: two rows of two rather than a column of three.
export function fitGrid(n, width, height, { gap = GAP, aspect = TILE_ASPECT, shrink = false } = {}) {
  if (n < 1 || width <= 0 || height <= 0) return { cols: 0, rows: 0, w: 0, h: 0 };
  const all = [];
  for (let cols = 1; cols <= n; cols++) {
    const rows = Math.ceil(n / cols);
    const w = Math.floor(Math.min((width - gap * (cols - 1)) / cols, ((height - gap * (rows - 1)) / rows) * aspect));
    all.push({ cols, rows, w, h: Math.floor(w / aspect) });
  }
  const widest = all.reduce((a, b) => (b.w > a.w ? b : a));
  if (!shrink) return widest;
  const cover = (g) => (n * g.w * g.h) / (width * (g.rows * g.h + (g.rows - 1) * gap));
  return all.filter((g) => g.w >= 0.8 * widest.w).reduce((a, b) => (cover(b) > cover(a) ? b : a));
}

// n tiles of the fitted size, rows centred, in the box {x, y, width, height}.
export function placeGrid(n, box, opts = {}) {
  const gap = opts.gap ?? GAP;
  const { cols, rows, w, h } = fitGrid(n, box.width, box.height, opts);
  const out = [];
  const top = box.y + (box.height - (rows * h + (rows - 1) * gap)) / 2;
  for (let r = 0; r < rows; r++) {
    const inRow = Math.min(cols, n - r * cols);
    const left = box.x + (box.width - (inRow * w + (inRow - 1) * gap)) / 2;
    for (let c = 0; c < inRow; c++) {
      out.push({ x: Math.round(left + c * (w + gap)), y: Math.round(top + r * (h + gap)), w, h });
    }
  }
  return out;
}

// How many of n tiles one page of width × height shows.
export function pageSize(n, width, height, opts = {}) {
  const cap = width < NARROW_STAGE ? MAX_PER_PAGE_NARROW : MAX_PER_PAGE;
  let k = Math.min(n, cap);
  while (k > 1 && fitGrid(k, width, height, opts).w < MIN_TILE_WIDTH) k--;
  return Math.max(1, k);
}

// The whole stage: featured tiles, then the current page of the others.
export function planStage({ width, height, featured = 0, others = 0, page = 0, gap = GAP, shrink = false }) {
  const plan = { featured: [], others: [], perPage: others, pages: 1, page: 0 };
  if (width <= 0 || height <= 0) return plan;
  let main = { x: 0, y: 0, width, height };
  let strip = main;
  if (featured && others) {
    if (width >= height) { // a strip on the right, a quarter of the width (two columns on a wide stage)
      const sw = Math.max(MIN_TILE_WIDTH, Math.round(width * 0.25));
      main = { x: 0, y: 0, width: width - sw - gap, height };
      strip = { x: width - sw, y: 0, width: sw, height };
    } else { // a strip at the bottom
      const sh = Math.max(MIN_TILE_WIDTH / TILE_ASPECT, Math.round(height * 0.3));
      main = { x: 0, y: 0, width, height: height - sh - gap };
      strip = { x: 0, y: height - sh, width, height: sh };
    }
  }
  if (featured) plan.featured = placeGrid(featured, main, { gap, shrink });
  if (!others) return plan;
  plan.perPage = pageSize(others, strip.width, strip.height, { gap, shrink });
  plan.pages = Math.ceil(others / plan.perPage);
  plan.page = Math.min(Math.max(0, page), plan.pages - 1);
  const onPage = Math.min(plan.perPage, others - plan.page * plan.perPage);
  plan.others = placeGrid(onPage, strip, { gap, shrink });
  return plan;
}
