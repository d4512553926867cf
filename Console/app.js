// Parley console: sign-in, the shell and a hash router. No build step; ES modules only.

import { ApiError, api, onUnauthorized, setCsrfToken } from './api.js';
import { emailedLink, emailedLinkPage, forgotPassword, tenantsView, usersView } from './accounts.js';
import { agentsView } from './agents.js';
import { chatView } from './chat.js';
import { handoffsView } from './handoffs.js';
import { jobsView, messageView, outboxView, settingsView, templatesView, workflowsView } from './ops.js';
import { packViews } from './packs.js';
import { h, clear, setTimeZone, toast } from './ui.js';

const app = document.getElementById('app');
const CORE_NAV = [
  ['chat', 'Chat', chatView],
  ['handoffs', 'Hand-offs', handoffsView],
  ['agents', 'Agents', agentsView],
  ['workflows', 'Workflows', workflowsView],
  ['jobs', 'Jobs', jobsView],
  ['outbox', 'Outbox', outboxView],
  ['templates', 'Templates', templatesView],
];
// Settings stays last, after the packs' views, the tenant's users (admins) and the installation's
// tenants (installation administrators).
const SETTINGS_NAV = ['settings', 'Settings', settingsView];
const USERS_NAV = ['users', 'Users', usersView];
const TENANTS_NAV = ['tenants', 'Tenants', tenantsView];
// The installed packs' views (GET /v1/console/views) join the navigation after sign-in.
let NAV = [...CORE_NAV, SETTINGS_NAV];
let ROUTES = routesOf(NAV);

function routesOf(nav) {
  return Object.fromEntries([...nav.map(([k, , v]) => [k, v]), ['messages', messageView]]);
}

let session = null;
let cleanup = null;

function accepted(s) {
  session = s;
  setCsrfToken(s.csrf_token);
  setTimeZone(s.tenant.time_zone);
}

onUnauthorized(() => {
  if (!session) return;
  session = null;
  setCsrfToken(null);
  showSignIn('Your session has ended. Please sign in again.');
});

async function signInWith(body) {
  accepted(await api('POST', '/v1/auth/session', body));
  location.hash = '#/chat';
  shell();
}

async function start() {
  // The link of an invitation or password-reset email.
  const link = emailedLink();
  if (link) return emailedLinkPage(app, link, { signIn: signInWith, showSignIn });
  const token = location.hash.match(/^#signin=([0-9a-f]{16,128})$/i)?.[1];
  if (token) {
    // The token is single-use: drop it from the address bar and history first.
    history.replaceState(null, '', location.pathname);
    try {
      accepted(await api('POST', '/v1/auth/session', { token }));
      location.hash = '#/chat';
      return shell();
    } catch (e) {
      return showSignIn(e.message);
    }
  }
  try {
    accepted(await api('GET', '/v1/auth/session', undefined, { quiet401: true }));
    shell();
  } catch (e) {
    showSignIn(e instanceof ApiError && e.status !== 401 ? e.message : null);
  }
}

function showSignIn(message) {
  cleanup?.();
  cleanup = null;
  const error = h('p#signin-error.form-error', { role: 'alert', hidden: !message }, message ?? '');
  // Either form signs in; both report into the one error line.
  const submit = (form, button, body, focus) => async (ev) => {
    ev.preventDefault();
    button.disabled = true;
    const label = button.textContent;
    button.textContent = 'Signing in…';
    try {
      accepted(await api('POST', '/v1/auth/session', body()));
      if (!location.hash.startsWith('#/')) location.hash = '#/chat';
      shell();
    } catch (e) {
      error.hidden = false;
      error.textContent = e.code === 'invalid_api_key' ? 'That API key is not valid.'
        : e.code === 'invalid_credentials' ? 'That email or password is not correct.' : e.message;
      button.disabled = false;
      button.textContent = label;
      focus.focus();
      focus.select();
    }
  };

  const email = h('input#signin-email', { type: 'email', name: 'email', autocomplete: 'username', spellcheck: false, required: true });
  const password = h('input#signin-password', { type: 'password', name: 'password', autocomplete: 'current-password', required: true });
  const passwordButton = h('button#signin-password-submit.btn.btn-block', { type: 'submit' }, 'Sign in with email');
  const passwordForm = h('form.signin-form.signin-password', {},
    h('label', { for: 'signin-email' }, 'Email'), email,
    h('label', { for: 'signin-password' }, 'Password'), password, passwordButton);
  passwordForm.addEventListener('submit', submit(passwordForm, passwordButton, () => ({ email: email.value, password: password.value }), password));
  passwordForm.append(forgotPassword(email, (text, isError) => {
    error.hidden = false;
    error.textContent = text;
    error.className = isError ? 'form-error' : 'form-note';
  }));

  const key = h('input#api-key', {
    type: 'password', name: 'api_key', autocomplete: 'off', spellcheck: false, required: true,
    placeholder: 'prk_…', 'aria-describedby': 'signin-help',
  });
  const button = h('button.btn.btn-primary.btn-block', { type: 'submit' }, 'Sign in');
  const form = h('form.signin-form', {},
    h('label', { for: 'api-key' }, 'API key'), key,
    h('p#signin-help.hint', 'Use an API key from your administrator, or the sign-in link Parley printed when it first started; or sign in with your account below.'),
    button);
  form.addEventListener('submit', submit(form, button, () => ({ api_key: key.value }), key));

  clear(app).append(h('main#main.signin', h('div.signin-card',
    h('div.brand.brand-large', h('img', { src: '/console/favicon.svg', alt: '', width: 40, height: 40 }), h('span', 'Parley')),
    h('h1', 'Sign in to the console'), error, form, h('hr.signin-divider'), passwordForm)));
  key.focus();
}

async function shell() {
  // Only installation administrators may list the tenants: the answer says whether this is one.
  const [packs, installationAdmin] = await Promise.all([packViews(),
    api('GET', '/v1/admin/tenants', undefined, { quiet401: true }).then(() => true, () => false)]);
  NAV = [...CORE_NAV, ...packs, ...(session?.role === 'admin' ? [USERS_NAV] : []), ...(installationAdmin ? [TENANTS_NAV] : []), SETTINGS_NAV];
  ROUTES = routesOf(NAV);
  if (!session) return;
  const main = h('main#main.main', { tabindex: -1 });
  const nav = h('nav.nav', { 'aria-label': 'Main' }, h('ul', NAV.map(([k, label]) => h('li', h('a', { href: `#/${k}`, dataset: { route: k } }, label)))));
  const signOut = h('button.btn.btn-quiet.btn-small', { type: 'button', on: { click: async () => {
    try { await api('DELETE', '/v1/auth/session'); } catch (e) { toast(e.message, 'error'); return; }
    session = null;
    setCsrfToken(null);
    history.replaceState(null, '', location.pathname);
    showSignIn('You have signed out.');
  } } }, 'Sign out');
  const tenantName = h('span.tenant-name', { title: `Workspace ${session.tenant.slug}` }, session.tenant.name);
  const tenantChanged = (t) => {
    session.tenant = { ...session.tenant, name: t.name, time_zone: t.time_zone };
    tenantName.textContent = t.name;
    setTimeZone(t.time_zone);
  };
  clear(app).append(
    h('header.topbar',
      h('a.brand', { href: '#/chat' }, h('img', { src: '/console/favicon.svg', alt: '', width: 24, height: 24 }), h('span', 'Parley')),
      nav,
      h('div.account', tenantName,
        h('span.role', session.role), h('span.key-name.muted.small', { title: 'Signed in as' }, session.key_name), signOut)),
    main);
  const route = () => {
    if (!session) return;
    const [path] = location.hash.replace(/^#\/?/, '').split('?');
    const [name, ...params] = path.split('/').filter(Boolean).map(decodeURIComponent);
    const view = ROUTES[name] ?? chatView;
    for (const a of nav.querySelectorAll('a')) {
      if (a.dataset.route === (ROUTES[name] ? (name === 'messages' ? 'outbox' : name) : 'chat')) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    cleanup?.();
    cleanup = null;
    main.className = `main view-${ROUTES[name] ? name : 'chat'}`;
    const done = view(main, params, { session, tenantChanged });
    cleanup = typeof done === 'function' ? done : null;
  };
  window.onhashchange = route;
  route();
}

start();
