// Views the installed domain packs contribute (GET /v1/console/views): for each, a navigation
// entry and a JavaScript module served at /console/packs/<pack>/<file>, imported on demand.
import { api } from './api.js';

/** [[route, label, view], ...] in the packs' order; a view that fails to load is left out. */
export async function packViews() {
  let list = [];
  try {
    list = (await api('GET', '/v1/console/views')).data ?? [];
  } catch {
    return [];
  }
  const out = [];
  for (const v of list) {
    try {
      const mod = await import(v.module);
      if (typeof mod[v.export] === 'function') out.push([v.route, v.label, mod[v.export]]);
    } catch (e) {
      console.warn(`could not load the ${v.pack} pack's view ${v.route}`, e);
    }
  }
  return out;
}
