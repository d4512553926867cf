// People's accounts in the console: the pages the invitation and password-reset emails link to
// (/?invitation=TOKEN, /?password_reset=TOKEN), the tenant's users (admins) and the
// installation's tenants (installation administrators). docs/accounts.md has the API.

import { api, get, post, query } from './api.js';
import { table } from './ops.js';
import { h, badge, clear, empty, field, fieldErrors, load, pageHeader, timeEl, toast } from './ui.js';

const enc = encodeURIComponent;
const ROLES = ['viewer', 'operator', 'admin'];

// What a spent, expired or unknown link means for the person holding it.
const TOKEN_TEXT = {
  token_used: 'This link has already been used. Each link works once.',
  token_expired: 'This link has expired.',
  invalid_token: 'This link is not valid. Check that you opened the whole link from the email.',
};

/** The one-time token of an emailed link, when the page was opened with one. */
export function emailedLink() {
  const params = new URLSearchParams(location.search);
  for (const kind of ['invitation', 'password_reset']) {
    const token = params.get(kind);
    if (token) return { kind, token };
  }
  return null;
}

function card(title, intro, ...content) {
  return h('main#main.signin', h('div.signin-card',
    h('div.brand.brand-large', h('img', { src: '/console/favicon.svg', alt: '', width: 40, height: 40 }), h('span', 'Parley')),
    h('h1', title), intro ? h('p.hint.signin-intro', intro) : null, ...content));
}

/**
 * The page of an emailed link: accept an invitation (name and password) or choose a new
 * password. On success the person is signed in (`signIn(body)` opens the console session).
 */
export function emailedLinkPage(app, { kind, token }, { signIn, showSignIn }) {
  // The link is single-use: keep the token in this page only, not in the address bar or history.
  history.replaceState(null, '', location.pathname + location.hash);
  const invitation = kind === 'invitation';
  const name = h('input#link-name', { type: 'text', name: 'name', autocomplete: 'name', maxlength: 200 });
  const email = h('input#link-email', { type: 'email', name: 'email', autocomplete: 'username', spellcheck: false, required: true });
  const password = h('input#link-password', { type: 'password', name: 'password', autocomplete: 'new-password', required: true, minlength: 10, maxlength: 256 });
  const repeat = h('input#link-repeat', { type: 'password', name: 'repeat', autocomplete: 'new-password', required: true });
  const button = h('button#link-submit.btn.btn-primary.btn-block', { type: 'submit' }, invitation ? 'Accept and sign in' : 'Set password and sign in');
  const gone = h('div#link-gone', { hidden: true }, h('p#link-gone-text.form-error', { role: 'alert' }),
    h('button.btn.btn-block', { type: 'button', on: { click: () => showSignIn(null) } }, 'Go to sign-in'));
  const form = h('form.signin-form#link-form', { novalidate: true },
    invitation ? field('Your name (optional)', name) : field('Email', email, 'The address the reset link was sent to.'),
    field(invitation ? 'Password' : 'New password', password,
      invitation ? 'At least 10 characters. If you already have a Parley account, enter its password.' : 'At least 10 characters.'),
    field('Repeat the password', repeat),
    button);
  const errors = fieldErrors(form, { ...(invitation ? { name } : { email }), password, repeat },
    { invalid_name: 'name', invalid_password: 'password', invalid_credentials: 'password', invalid_email: 'email' });

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    errors.clear();
    if (!invitation && !email.value.trim()) return errors.show({ message: 'Enter the email address of your account.' }, 'email');
    if (password.value.length < 10) return errors.show({ message: 'Choose a password of at least 10 characters.' }, 'password');
    if (repeat.value !== password.value) return errors.show({ message: 'The two passwords are not the same.' }, 'repeat');
    button.disabled = true;
    let changed = false;
    try {
      let body;
      if (invitation) {
        const grant = await post('/v1/auth/accept-invitation', { token, password: password.value, ...(name.value.trim() ? { name: name.value.trim() } : {}) });
        body = { email: grant.email, password: password.value, tenant: grant.tenant_id };
      } else {
        await post('/v1/auth/password-reset/confirm', { token, password: password.value });
        body = { email: email.value.trim(), password: password.value };
      }
      changed = true;
      await signIn(body);
    } catch (e) {
      button.disabled = false;
      if (changed) {
        // The password is set; only the sign-in that follows failed (a mistyped email).
        showSignIn(`Your password is set, but signing in failed: ${e.message} Sign in below.`);
      } else if (TOKEN_TEXT[e.code]) {
        form.hidden = true;
        gone.querySelector('#link-gone-text').textContent = `${TOKEN_TEXT[e.code]} ${invitation
          ? 'Ask an administrator of the workspace to invite you again.' : 'Ask for a new one from the sign-in page.'}`;
        gone.hidden = false;
        gone.querySelector('button').focus();
      } else {
        errors.show(e);
      }
    }
  });

  clear(app).append(card(invitation ? 'Accept your invitation' : 'Choose a new password',
    invitation ? 'Choose the password you will sign in with.' : 'Set the new password of your account.', form, gone));
  (invitation ? name : email).focus();
}

/** "Forgot your password?": emails a reset link (the answer is the same whether or not the email has an account). */
export function forgotPassword(emailInput, report) {
  return h('button#signin-forgot.btn.btn-quiet.btn-small', { type: 'button', on: { click: async () => {
    const email = emailInput.value.trim();
    if (!email) {
      report('Enter your email above, then choose "Forgot your password?" again.', true);
      emailInput.focus();
      return;
    }
    try {
      await post('/v1/auth/password-reset', { email });
      report(`If ${email} has an account, a link to choose a new password is on its way.`, false);
    } catch (e) {
      report(e.message, true);
    }
  } } }, 'Forgot your password?');
}

// MARK: users

/** The tenant's people: invite by email with a role, change a role, remove and restore (admins). */
export function usersView(container, _params, { session }) {
  const email = h('input#invite-email', { type: 'email', name: 'email', autocomplete: 'off', spellcheck: false, required: true, maxlength: 254 });
  const role = h('select#invite-role', { name: 'role' }, ROLES.map((r) => h('option', { value: r }, r)));
  const send = h('button#invite-submit.btn.btn-primary', { type: 'submit' }, 'Send invitation');
  const invite = h('form.card#invite-form', { novalidate: true },
    h('h2', 'Invite someone'),
    h('div.form-grid', field('Email', email), field('Role', role, 'Viewers read; operators act; admins also manage people, keys and settings.')),
    h('div.form-actions', send));
  const errors = fieldErrors(invite, { email, role }, { invalid_email: 'email', already_a_member: 'email', invalid_role: 'role' });
  const showRemoved = h('input#users-removed', { type: 'checkbox' });
  const list = h('div.results#users-list');
  invite.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    errors.clear();
    send.disabled = true;
    try {
      const sent = await post('/v1/users/invitations', { email: email.value.trim(), role: role.value });
      toast(`Invitation sent to ${sent.email} as ${sent.role}.`, 'success');
      email.value = '';
    } catch (e) {
      errors.show(e);
    } finally {
      send.disabled = false;
    }
  });
  showRemoved.addEventListener('change', refresh);

  function refresh() {
    load(list, () => get(`/v1/users${query({ include_deleted: showRemoved.checked ? 'true' : '' })}`), (page) => {
      if (!page.data.length) { list.append(empty('No people yet', 'Invite someone above.')); return; }
      const { element, tbody } = table(['Email', 'Name', 'Role', 'Since', ''], 'People');
      for (const u of page.data) tbody.append(userRow(u));
      list.append(element);
    });
  }

  function userRow(u) {
    const self = u.email === session.key_name;
    const removed = Boolean(u.deleted_at);
    const roleSelect = h('select.user-role', { 'aria-label': `Role of ${u.email}`, disabled: self || removed },
      ROLES.map((r) => h('option', { value: r }, r)));
    roleSelect.value = u.role;
    roleSelect.addEventListener('change', async () => {
      try {
        const changed = await api('PATCH', `/v1/users/${enc(u.id)}`, { role: roleSelect.value });
        toast(`${changed.email} is now ${changed.role}.`, 'success');
      } catch (e) {
        roleSelect.value = u.role;
        toast(e.message, 'error');
      }
    });
    const actions = h('td.actions');
    if (removed) {
      actions.append(h('button.btn.btn-small', { type: 'button', on: { click: () => act('POST', `/v1/users/${enc(u.id)}/restore`, `${u.email} is back.`) } }, 'Restore'));
    } else if (!self) {
      // Two steps: the first click asks, the second removes.
      const remove = h('button.btn.btn-small.btn-danger.user-remove', { type: 'button', 'aria-label': `Remove ${u.email}`, on: { click: () => {
        if (remove.dataset.armed) return act('DELETE', `/v1/users/${enc(u.id)}`, `${u.email} was removed from the workspace.`);
        remove.dataset.armed = 'yes';
        remove.textContent = 'Confirm removal';
      } } }, 'Remove');
      actions.append(remove);
    }
    return h('tr', { dataset: { email: u.email } },
      h('td', u.email, self ? [' ', badge('you', 'success')] : null, removed ? [' ', badge('removed', 'failed')] : null, u.installation_admin ? [' ', badge('installation admin', 'open')] : null),
      h('td', u.name ?? '—'), h('td', roleSelect), h('td', timeEl(u.created_at)), actions);
  }

  async function act(method, path, done) {
    try {
      await api(method, path);
      toast(done, 'success');
    } catch (e) {
      toast(e.message, 'error');
    }
    refresh();
  }

  clear(container).append(pageHeader('Users', 'The people who sign in to this workspace, and their roles.'), invite,
    h('div.toolbar', h('h2.section-title', 'People'), h('label.check', showRemoved, ' Show removed')), list);
  refresh();
}

// MARK: tenants

/** The installation's tenants (installation administrators): create, rename, time zone, suspend, delete. */
export function tenantsView(container) {
  const name = h('input#new-tenant-name', { type: 'text', name: 'name', required: true, maxlength: 200 });
  const slug = h('input#new-tenant-slug', { type: 'text', name: 'slug', maxlength: 63, spellcheck: false, autocomplete: 'off' });
  const zones = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : [];
  const zone = h('input#new-tenant-zone', { type: 'text', name: 'time_zone', list: 'tenant-zone-list', autocomplete: 'off', spellcheck: false, value: 'UTC' });
  const create = h('button#new-tenant-submit.btn.btn-primary', { type: 'submit' }, 'Create tenant');
  const form = h('form.card#new-tenant-form', { novalidate: true }, h('h2', 'New tenant'),
    h('div.form-grid', field('Name', name), field('Slug (optional)', slug, 'Lower-case letters, digits and dashes; made from the name when empty.'),
      field('Time zone', zone, 'An IANA zone such as Europe/Paris.')),
    h('datalist#tenant-zone-list', zones.map((z) => h('option', { value: z }))),
    h('div.form-actions', create));
  const errors = fieldErrors(form, { name, slug, time_zone: zone },
    { invalid_name: 'name', invalid_slug: 'slug', slug_taken: 'slug', tenant_exists: 'slug', invalid_time_zone: 'time_zone' });
  const showDeleted = h('input#tenants-deleted', { type: 'checkbox' });
  const list = h('div.results#tenants-list');
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    errors.clear();
    create.disabled = true;
    try {
      const t = await post('/v1/admin/tenants', { name: name.value.trim(), time_zone: zone.value.trim() || 'UTC', ...(slug.value.trim() ? { slug: slug.value.trim() } : {}) });
      toast(`Created ${t.name} (${t.slug}).`, 'success');
      name.value = '';
      slug.value = '';
      refresh();
    } catch (e) {
      errors.show(e);
    } finally {
      create.disabled = false;
    }
  });
  showDeleted.addEventListener('change', refresh);

  function refresh() {
    load(list, () => get(`/v1/admin/tenants${query({ include_deleted: showDeleted.checked ? 'true' : '' })}`), (page) => {
      if (!page.data.length) { list.append(empty('No tenants')); return; }
      const { element, tbody } = table(['Name', 'Slug', 'Time zone', 'State', 'Created', ''], 'Tenants');
      for (const t of page.data) tbody.append(tenantRow(t));
      list.append(element);
    });
  }

  function tenantRow(t) {
    const deleted = Boolean(t.deleted_at);
    const label = `${t.name} (${t.slug})`;
    const tName = h('input.tenant-row-name', { type: 'text', value: t.name, 'aria-label': `Name of ${t.slug}`, disabled: deleted, maxlength: 200 });
    const tZone = h('input.tenant-row-zone', { type: 'text', value: t.time_zone, list: 'tenant-zone-list', 'aria-label': `Time zone of ${t.slug}`,
      disabled: deleted, spellcheck: false, autocomplete: 'off' });
    const save = h('button.btn.btn-small.tenant-save', { type: 'button', disabled: deleted, on: { click: () =>
      change({ name: tName.value.trim(), time_zone: tZone.value.trim() }, `Saved ${tName.value.trim()}.`) } }, 'Save');
    const suspend = h('button.btn.btn-small.tenant-suspend', { type: 'button', disabled: deleted, on: { click: () =>
      change({ suspended: !t.suspended_at }, t.suspended_at ? `${label} is active again.` : `${label} is suspended.`) } },
    t.suspended_at ? 'Unsuspend' : 'Suspend');
    const remove = h('button.btn.btn-small.btn-danger.tenant-delete', { type: 'button', disabled: deleted, 'aria-label': `Delete ${label}`, on: { click: async () => {
      if (!remove.dataset.armed) { remove.dataset.armed = 'yes'; remove.textContent = 'Confirm delete'; return; }
      try {
        await api('DELETE', `/v1/admin/tenants/${enc(t.id)}`);
        toast(`${label} was deleted.`, 'success');
      } catch (e) { toast(e.message, 'error'); }
      refresh();
    } } }, 'Delete');
    async function change(body, done) {
      try {
        await api('PATCH', `/v1/admin/tenants/${enc(t.id)}`, body);
        toast(done, 'success');
        refresh();
      } catch (e) { toast(e.message, 'error'); }
    }
    const state = deleted ? badge('deleted', 'failed') : t.suspended_at ? badge('suspended', 'pending') : badge('active', 'success');
    return h('tr', { dataset: { slug: t.slug } }, h('td', tName), h('td.mono', t.slug), h('td', tZone), h('td', state), h('td', timeEl(t.created_at)),
      h('td.actions', save, suspend, remove));
  }

  clear(container).append(pageHeader('Tenants', 'Every workspace of this installation (installation administrators only).'), form,
    h('div.toolbar', h('h2.section-title', 'Tenants'), h('label.check', showDeleted, ' Show deleted')), list);
  refresh();
}
