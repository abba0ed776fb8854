// The login and consent page: server-rendered HTML and CSS, no JavaScript, every value escaped.
import type { AuthorizationRequest } from './authorize-request.js'

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }
export const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => ESCAPES[c]!)

const STYLE = `
body{font:16px/1.5 system-ui,sans-serif;background:#f4f5f7;color:#1d2330;margin:0;display:flex;min-height:100vh;align-items:center;justify-content:center}
main{background:#fff;border-radius:8px;box-shadow:0 1px 4px #0002;padding:2rem;width:min(22rem,90vw)}
h1{font-size:1.25rem;margin:0 0 1rem}ul{padding-left:1.2rem}label{display:block;margin:.75rem 0 .25rem;font-weight:600}
input[type=text],input[type=password]{width:100%;box-sizing:border-box;padding:.5rem;border:1px solid #767b86;border-radius:4px;font:inherit}
input[aria-invalid=true]{border-color:#b42318}
.actions{display:flex;gap:.5rem;margin-top:1.25rem}button{flex:1;padding:.6rem;border-radius:4px;border:1px solid #1d4ed8;font:inherit;cursor:pointer}
button[value=approve]{background:#1d4ed8;color:#fff}button[value=deny]{background:#fff;color:#1d4ed8}
.error{background:#fde8e8;color:#8b1c1c;padding:.5rem .75rem;border-radius:4px}.muted{color:#5b6272;font-size:.9rem}`

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(title)}</title><style>${STYLE}</style></head><body><main>${body}</main></body></html>`
}

/** Non-text contrast (WCAG 2.1 SC 1.4.11): input borders are #767b86 on white, 4.2:1 (3:1 needed). */
export interface LoginPageOptions {
  /** The path this page was served at: the form posts back to it. */
  readonly action: string
  readonly request: AuthorizationRequest
  readonly csrfToken: string
  readonly username?: string
  readonly error?: string
  /** What each scope means to a user, from the config's `scopes`; a scope without one shows as is. */
  readonly scopeDescriptions: ReadonlyMap<string, string>
}

export function renderLoginPage({ action, request, csrfToken, username, error, scopeDescriptions }: LoginPageOptions): string {
  const hidden: Record<string, string | undefined> = {
    response_type: request.responseType,
    client_id: request.client.id,
    redirect_uri: request.redirectUriGiven ? request.redirectUri : undefined,
    scope: request.scopeGiven ? request.scopes.join(' ') : undefined,
    state: request.state,
    code_challenge: request.codeChallenge,
    code_challenge_method: request.codeChallenge ? request.codeChallengeMethod : undefined,
    csrf: csrfToken,
  }
  const fields = Object.entries(hidden)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `<input type="hidden" name="${k}" value="${escapeHtml(v!)}">`)
    .join('')
  const scopeItem = (scope: string) => {
    const description = scopeDescriptions.get(scope)
    return `<li>${description ? `${escapeHtml(description)} <span class="muted">(${escapeHtml(scope)})</span>` : escapeHtml(scope)}</li>`
  }
  const scopes = request.scopes.length ? `<p>It asks to:</p><ul>${request.scopes.map(scopeItem).join('')}</ul>` : '<p>It asks for no particular access.</p>'
  // Without JavaScript: autofocus puts the cursor in the first empty field, which after a wrong
  // password (the username kept) is the password; the error is tied to both fields.
  const focusUsername = !username
  const invalid = error ? ' aria-invalid="true" aria-describedby="form-error"' : ''
  return page(
    'Sign in',
    `<h1>Sign in to continue to ${escapeHtml(request.client.name)}</h1>${scopes}
${error ? `<p class="error" id="form-error" role="alert">${escapeHtml(error)}</p>` : ''}
<form method="post" action="${escapeHtml(action)}">${fields}
<label for="username">Username</label><input type="text" id="username" name="username" autocomplete="username" required value="${escapeHtml(username ?? '')}"${invalid}${focusUsername ? ' autofocus' : ''}>
<label for="password">Password</label><input type="password" id="password" name="password" autocomplete="current-password" required${invalid}${focusUsername ? '' : ' autofocus'}>
<div class="actions"><button type="submit" name="decision" value="approve">Sign in and allow</button><button type="submit" name="decision" value="deny" formnovalidate>Deny</button></div>
</form><p class="muted">You will be sent back to ${escapeHtml(new URL(request.redirectUri).origin === 'null' ? request.redirectUri : new URL(request.redirectUri).origin)}.</p>`,
  )
}

export function renderErrorPage(message: string): string {
  return page(
    'Cannot continue',
    `<h1>This sign-in cannot continue</h1><p class="error" role="alert">${escapeHtml(message)}</p>
<p class="muted">Go back to the application and try again. If it keeps happening, tell its developers.</p>`,
  )
}
