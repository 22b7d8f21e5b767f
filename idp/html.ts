/** Server-rendered pages: no script, one inline style, labelled fields, errors announced. */

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const STYLE = `body{font-family:system-ui,sans-serif;background:#f4f5f7;color:#1b1f24;margin:0}
main{max-width:24rem;margin:4rem auto;background:#fff;padding:2rem;border-radius:.5rem;box-shadow:0 1px 4px #0002}
h1{font-size:1.4rem;margin-top:0}label{display:block;margin:1rem 0 .25rem;font-weight:600}
input{width:100%;box-sizing:border-box;padding:.6rem;font-size:1rem;border:1px solid #6b7280;border-radius:.25rem}
input:focus,button:focus{outline:3px solid #2563eb;outline-offset:1px}
button{margin-top:1.5rem;width:100%;padding:.7rem;font-size:1rem;background:#1d4ed8;color:#fff;border:0;border-radius:.25rem}
.error{background:#fde8e8;color:#8a1c1c;padding:.75rem;border-radius:.25rem}.hint{color:#4b5563;font-size:.9rem}`;

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · Lanyard</title><style>${STYLE}</style></head>
<body><main>
${body}
</main></body>
</html>
`;
}

function errorBlock(error: string | undefined): string {
  return error ? `<p class="error" role="alert" id="form-error">${escapeHtml(error)}</p>` : '';
}

export function loginPage(options: {
  csrf: string;
  error?: string;
  username?: string;
  clientName: string;
}): string {
  const describedBy = options.error ? ' aria-describedby="form-error"' : '';
  return page(
    'Sign in',
    `<h1>Sign in</h1>
<p class="hint">to continue to ${escapeHtml(options.clientName)}</p>
${errorBlock(options.error)}
<form method="post" action="/login">
<input type="hidden" name="csrf" value="${escapeHtml(options.csrf)}">
<label for="username">Username</label>
<input id="username" name="username" autocomplete="username" required maxlength="128" value="${escapeHtml(options.username ?? '')}"${describedBy} autofocus>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required maxlength="1024"${describedBy}>
<button type="submit">Sign in</button>
</form>`,
  );
}

export function mfaPage(options: { csrf: string; error?: string }): string {
  const describedBy = options.error
    ? ' aria-describedby="form-error code-hint"'
    : ' aria-describedby="code-hint"';
  return page(
    'Two-step verification',
    `<h1>Two-step verification</h1>
${errorBlock(options.error)}
<form method="post" action="/login/mfa">
<input type="hidden" name="csrf" value="${escapeHtml(options.csrf)}">
<label for="code">Authentication code</label>
<input id="code" name="code" autocomplete="one-time-code" inputmode="numeric" required maxlength="64"${describedBy} autofocus>
<p class="hint" id="code-hint">Enter the 6-digit code from your authenticator app, or one of your recovery codes.</p>
<button type="submit">Verify</button>
</form>`,
  );
}

export function messagePage(title: string, message: string): string {
  return page(title, `<h1>${escapeHtml(title)}</h1>\n<p role="alert">${escapeHtml(message)}</p>`);
}

/** The first step of enrolment: the QR code (server-rendered SVG), the key to type, the first code. */
export function enrolPage(options: { csrf: string; qrSvg: string; secret: string; error?: string }): string {
  const describedBy = options.error ? 'form-error enrol-hint' : 'enrol-hint';
  const key = options.secret.match(/.{1,4}/g)!.join(' ');
  return page(
    'Set up two-step verification',
    `<h1>Set up two-step verification</h1>
${errorBlock(options.error)}
<p>Scan this code with your authenticator app.</p>
<div role="img" aria-label="QR code of your new authenticator key" style="width:14rem;margin:0 auto">${options.qrSvg}</div>
<p class="hint">Cannot scan it? Enter this key instead: <code>${escapeHtml(key)}</code></p>
<form method="post" action="/account/mfa">
<input type="hidden" name="csrf" value="${escapeHtml(options.csrf)}">
<label for="code">Code from the app</label>
<input id="code" name="code" autocomplete="one-time-code" inputmode="numeric" required maxlength="64" aria-describedby="${describedBy}" autofocus>
<p class="hint" id="enrol-hint">Enter the 6-digit code the app shows for this account.</p>
<button type="submit">Turn on two-step verification</button>
</form>`,
  );
}

/** Shown once, right after enrolment: only hashes of these codes are kept. */
export function recoveryCodesPage(options: {
  codes: string[];
  csrf: string;
  continueLogin: boolean;
}): string {
  const next = options.continueLogin
    ? `<form method="post" action="/account/mfa/continue">
<input type="hidden" name="csrf" value="${escapeHtml(options.csrf)}">
<button type="submit" autofocus>I have saved them, continue</button>
</form>`
    : '<p>Two-step verification is on. You can close this page.</p>';
  return page(
    'Save your recovery codes',
    `<h1 tabindex="-1" autofocus>Save your recovery codes</h1>
<p role="alert">Two-step verification is on. Each of these codes signs you in once if you lose your authenticator. They are shown only now.</p>
<ul>${options.codes.map((code) => `<li><code>${escapeHtml(code)}</code></li>`).join('')}</ul>
${next}`,
  );
}

/** For a user already enrolled: replacing the authenticator needs a current code first. */
export function enrolledPage(options: { csrf: string; error?: string }): string {
  const describedBy = options.error ? ' aria-describedby="form-error"' : '';
  return page(
    'Two-step verification',
    `<h1>Two-step verification is on</h1>
${errorBlock(options.error)}
<p>To move it to a new authenticator app, first confirm with a code from the current one (or a recovery code).</p>
<form method="post" action="/account/mfa/replace">
<input type="hidden" name="csrf" value="${escapeHtml(options.csrf)}">
<label for="code">Current authentication code</label>
<input id="code" name="code" autocomplete="one-time-code" required maxlength="64"${describedBy} autofocus>
<button type="submit">Replace authenticator</button>
</form>`,
  );
}
