// Signs in through the provider's dev login and consent pages in headless Chromium.
//
// Environment: START_URL (a 127.0.0.1 URL of the client that redirects to the provider),
// LOGIN, PASSWORD, optional TIMEOUT_MS (default 30000) and SCREENSHOT_DIR (default the system
// temporary directory). Once the browser is back on START_URL's origin it prints one JSON line
// {"url", "status", "text", "cookies"}: the final URL, the HTTP status of the last page, the
// page's visible text and the names of the cookies that origin set. Any failure exits 1 with a
// message and a screenshot path on stderr.

import { realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { isLoopback, launchConfinedBrowser } from './browser.mjs';

// Each login or consent page is one step; more than this means the provider keeps asking,
// for example because the login name is unknown.
const MAX_STEPS = 6;

function requiredEnv(name) {
  const value = process.env[name];
  if (value === undefined || value === '') throw new Error(`environment variable ${name} is missing`);
  return value;
}

async function promptOf(page) {
  const input = await page.$('form input[name="prompt"]');
  return input ? input.getAttribute('value') : null;
}

// Waits for the main frame to commit the next document rather than for a URL change, because
// the response to a rejected login has the URL that the form was posted to.
async function submitAndWait(page, timeout) {
  const navigated = page.waitForEvent('framenavigated', {
    predicate: (frame) => frame === page.mainFrame(),
    timeout,
  });
  await page.click('form button[type="submit"]');
  await navigated;
  await page.waitForLoadState('load', { timeout });
}

export async function signIn(page, { startUrl, login, password, timeout }) {
  const clientOrigin = new URL(startUrl).origin;

  // The status of the last document the main frame received, skipping redirects.
  let lastStatus = null;
  page.on('response', (response) => {
    const request = response.request();
    if (request.isNavigationRequest() && request.frame() === page.mainFrame()
        && !(response.status() >= 300 && response.status() < 400)) {
      lastStatus = response.status();
    }
  });

  await page.goto(startUrl, { timeout, waitUntil: 'load' });
  let lastPrompt = null;
  for (let step = 0; new URL(page.url()).origin !== clientOrigin; step += 1) {
    if (step >= MAX_STEPS) {
      throw new Error(`still on the provider after ${MAX_STEPS} pages (last prompt: ${lastPrompt}); `
        + `is ${JSON.stringify(login)} one of the provider's users?`);
    }
    const prompt = await promptOf(page);
    if (prompt === 'login') {
      await page.fill('input[name="login"]', login);
      await page.fill('input[name="password"]', password);
    } else if (prompt !== 'consent') {
      const text = (await page.innerText('body')).replace(/\s+/g, ' ').trim().slice(0, 500);
      throw new Error(`unexpected page ${page.url()} (status ${lastStatus}): ${text}`);
    }
    lastPrompt = prompt;
    await submitAndWait(page, timeout);
  }

  const cookies = await page.context().cookies(clientOrigin);
  return {
    url: page.url(),
    status: lastStatus,
    text: await page.innerText('body'),
    cookies: cookies.map((cookie) => cookie.name),
  };
}

async function main() {
  const startUrl = requiredEnv('START_URL');
  if (!isLoopback(startUrl)) throw new Error(`START_URL must be on 127.0.0.1, got ${startUrl}`);
  const options = {
    startUrl,
    login: requiredEnv('LOGIN'),
    password: requiredEnv('PASSWORD'),
    timeout: Number(process.env.TIMEOUT_MS ?? '30000'),
  };

  const { browser, context } = await launchConfinedBrowser();
  const page = await context.newPage();
  try {
    const result = await signIn(page, options);
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } catch (err) {
    const screenshot = join(process.env.SCREENSHOT_DIR ?? tmpdir(), `lockgate-login-${process.pid}-${Date.now()}.png`);
    let saved = screenshot;
    try {
      await page.screenshot({ path: screenshot, fullPage: true });
    } catch (shotErr) {
      saved = `none (${shotErr.message})`;
    }
    err.message = `${err.message}\n  page: ${page.url()}\n  screenshot: ${saved}`;
    throw err;
  } finally {
    await browser.close();
  }
}

// Run only as a program, so selfcheck.mjs can import signIn. argv[1] may contain `..` or a
// symbolic link, while import.meta.url is always the resolved path.
if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    console.error(`login.mjs: sign-in failed: ${err.message}`);
    process.exit(1);
  });
}
